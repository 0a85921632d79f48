"""The radars as arrays: sites, East-North-Up bases, noise and coverage, and the measurement model.

A radar measures ``z = h(p) + w``, ``w ~ N(0, R)``, ``R = diag(σ_r², σ_az², σ_el²)``, with

    d = B (p − s)  (ENU),  ρ = |d|,  az = atan2(e, n) ∈ [0, 2π),  el = asin(u / ρ),

where ``s`` is the site and ``B`` the rows East, North, Up (``accord.warning.frames``). Its
Jacobian with respect to ``p`` is ``H_p = (∂h/∂d) B`` with, writing ``ρ_h = √(e² + n²)``,

    ∂ρ/∂d = dᵀ/ρ,   ∂az/∂d = [n, −e, 0]/ρ_h²,   ∂el/∂d = [−e u, −n u, ρ_h²] / (ρ² ρ_h).

Coverage (the scoring rule of ``docs/formats/warning-files.md``): ``min_range ≤ ρ ≤ max_range``,
``min_el ≤ el ≤ max_el`` and ``|wrap(az − az_center)| ≤ az_half_width``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from accord.errors import InputError
from accord.warning.frames import enu_basis, lla_to_ecef
from accord.warning.tracking.kernels import coverage

if TYPE_CHECKING:
    from accord.core.items import Item

TWO_PI = 2.0 * np.pi
_FIELDS = ("lat_deg", "lon_deg", "alt_m", "sigma_range_m", "sigma_az_rad", "sigma_el_rad",
           "min_range_m", "max_range_m", "min_el_deg", "max_el_deg", "az_center_deg",
           "az_half_width_deg")


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap angles to [−π, π) (azimuth innovations across north)."""
    return (a + np.pi) % TWO_PI - np.pi


class Coverage(NamedTuple):
    """Radars' coverage (rows of :class:`SensorArray`): what ``kernels.coverage`` and the
    bookkeeping kernel read."""

    site: np.ndarray
    basis: np.ndarray
    range_lim: np.ndarray
    el_lim: np.ndarray
    az_center: np.ndarray
    az_half: np.ndarray


@dataclass(frozen=True)
class SensorArray:
    """All radars of a scenario as stacked arrays (index = header order)."""

    ids: tuple[str, ...]
    site: np.ndarray        # (S, 3) ECEF
    basis: np.ndarray       # (S, 3, 3) rows E, N, U
    R: np.ndarray           # (S, 3, 3)
    sigma: np.ndarray       # (S, 3) σ_r, σ_az, σ_el
    range_lim: np.ndarray   # (S, 2)
    el_lim: np.ndarray      # (S, 2) radians
    az_center: np.ndarray   # (S,) radians
    az_half: np.ndarray     # (S,) radians

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_sensors(cls, sensors: "Sequence[Any] | SensorArray") -> "SensorArray":
        """Build from header sensors: :class:`accord.warning.io.Sensor` objects or header dicts
        (a :class:`SensorArray` is returned as it is)."""
        if isinstance(sensors, SensorArray):
            return sensors
        if sensors is None or len(sensors) == 0:
            raise InputError("at least one sensor is needed", field="sensors")
        ids: list[str] = []
        rows: list[list[float]] = []
        for i, s in enumerate(sensors):
            get = s.get if isinstance(s, Mapping) else (lambda k, _s=s: getattr(_s, k, None))
            sid = get("id")
            if not isinstance(sid, str) or not sid:
                raise InputError(f"sensor #{i} has no string id", field="id")
            row = []
            for k in _FIELDS:
                v = get(k)
                if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not np.isfinite(v):
                    raise InputError(f"sensor {sid!r}: {k} must be a finite number, got {v!r}", field=k)
                row.append(float(v))
            ids.append(sid)
            rows.append(row)
        if len(set(ids)) != len(ids):
            raise InputError("duplicate sensor id", field="id")
        a = np.asarray(rows)
        lat, lon, alt = a[:, 0], a[:, 1], a[:, 2]
        sig = a[:, 3:6]
        if np.any(sig <= 0):
            raise InputError("sensor sigmas must be > 0", field="sigma")
        R = np.zeros((len(ids), 3, 3))
        R[:, [0, 1, 2], [0, 1, 2]] = sig**2
        return cls(ids=tuple(ids), site=lla_to_ecef(lat, lon, alt), basis=enu_basis(lat, lon), R=R,
                   sigma=sig, range_lim=a[:, 6:8], el_lim=np.radians(a[:, 8:10]),
                   az_center=np.radians(a[:, 10]), az_half=np.radians(a[:, 11]))

    def index(self, sensor: str | int) -> int:
        """Index of a sensor given by id or index; unknown → :class:`InputError`."""
        if isinstance(sensor, (int, np.integer)) and not isinstance(sensor, bool):
            if 0 <= int(sensor) < len(self.ids):
                return int(sensor)
            raise InputError(f"unknown sensor index {int(sensor)} (have {len(self.ids)} sensors)",
                             field="sensor")
        try:
            return self.ids.index(sensor)
        except ValueError:
            raise InputError(f"unknown sensor {sensor!r} (known: {', '.join(self.ids)})",
                             field="sensor") from None

    def measure(self, p: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``(ρ, az, el)`` (…, 3) of positions ``p`` (…, 3) and Jacobian ``H_p`` (…, 3, 3)."""
        B = self.basis[s]
        d = (p - self.site[s]) @ B.T
        e, n, u = d[..., 0], d[..., 1], d[..., 2]
        h2 = e * e + n * n
        rho2 = h2 + u * u
        rho = np.sqrt(rho2)
        h = np.sqrt(h2)
        z = np.empty_like(d)
        z[..., 0] = rho
        z[..., 1] = np.arctan2(e, n) % TWO_PI
        z[..., 2] = np.arctan2(u, h)
        Hd = np.empty(d.shape + (3,))
        Hd[..., 0, :] = d / rho[..., None]
        Hd[..., 1, 0] = n / h2
        Hd[..., 1, 1] = -e / h2
        Hd[..., 1, 2] = 0.0
        k = u / (rho2 * h)
        Hd[..., 2, 0:2] = d[..., 0:2] * -k[..., None]
        Hd[..., 2, 2] = h / rho2
        return z, Hd @ B

    def to_ecef(self, rae: np.ndarray, s: int) -> np.ndarray:
        """Detections ``(ρ, az, el)`` (m, 3) → ECEF (m, 3)."""
        rng, az, el = rae[:, 0], rae[:, 1], rae[:, 2]
        ce = np.cos(el)
        enu = np.stack([rng * ce * np.sin(az), rng * ce * np.cos(az), rng * np.sin(el)], axis=-1)
        return self.site[s] + enu @ self.basis[s]

    def position_cov(self, rae: np.ndarray, s: int) -> np.ndarray:
        """ECEF covariance (m, 3, 3) of the positions of detections: ``J R Jᵀ``, ``J = ∂p/∂z``."""
        rng, az, el = rae[:, 0], rae[:, 1], rae[:, 2]
        ce, se, ca, sa = np.cos(el), np.sin(el), np.cos(az), np.sin(az)
        J = np.empty((rae.shape[0], 3, 3))  # ∂(e, n, u)/∂(ρ, az, el)
        J[:, 0, 0], J[:, 0, 1], J[:, 0, 2] = ce * sa, rng * ce * ca, -rng * se * sa
        J[:, 1, 0], J[:, 1, 1], J[:, 1, 2] = ce * ca, -rng * ce * sa, -rng * se * ca
        J[:, 2, 0], J[:, 2, 1], J[:, 2, 2] = se, 0.0, rng * ce
        Je = self.basis[s].T @ J  # to ECEF
        return Je @ self.R[s] @ np.swapaxes(Je, -1, -2)

    def coverage(self, s: int) -> "Coverage":
        """Sensor ``s``'s coverage as the bookkeeping kernel reads it (its rows, kept 2-D)."""
        sl = slice(s, s + 1)
        return Coverage(self.site[sl], self.basis[sl], self.range_lim[sl], self.el_lim[sl], self.az_center[sl],
                        self.az_half[sl])

    def in_coverage(self, p: np.ndarray, s: int | None = None) -> np.ndarray:
        """Whether positions ``p`` (N, 3) are inside sensor ``s``'s coverage (or any sensor's)."""
        sl = slice(None) if s is None else slice(s, s + 1)
        return coverage(np.ascontiguousarray(p, dtype=float), self.site[sl], self.basis[sl],
                        self.range_lim[sl], self.el_lim[sl], self.az_center[sl], self.az_half[sl])


def latest_radars(items: Iterable[Item]) -> dict[tuple[str, str], Item]:
    """The radars among ``warning.radar`` items: the latest item (by ``created``) per
    (originator, radar ``id``) whose body is a sensor of the warning-file header
    (``docs/formats/warning-files.md``: site, noise and coverage, as :meth:`SensorArray.from_sensors`
    reads it). An item that is not one is left out: it neither counts as a radar nor hides the
    radar's latest valid item. Keyed in the order each radar's first valid item was created."""
    latest: dict[tuple[str, str], Item] = {}
    for item in sorted(items, key=lambda i: i.created):
        try:
            SensorArray.from_sensors([item.body])
        except (InputError, TypeError):
            continue
        latest[(item.originator, item.body["id"])] = item
    return latest
