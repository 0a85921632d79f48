"""Seeded ballistic-missile and radar simulator writing the early-warning formats.

Kept as one module: the flight model, radar model and file writing run on one seeded
random stream; split, a module could draw from it out of order.

Physics (``docs/formats/warning-files.md`` frame): spherical, non-rotating Earth, inverse-square
gravity ``g(r) = −μ r/|r|³``. A missile starts at rest on the ground and flies

* **boost** (``0 ≤ τ < t_b``, τ = time since launch): thrust acceleration along a pitch program,
  ``a_T(τ) = a₀ / (1 − f τ/t_b)`` (mass depletion, ``f`` the propellant fraction), direction
  ``u = cos γ ĥ + sin γ r̂`` where ``r̂`` is local vertical, ``ĥ = n̂ × r̂`` the local horizontal
  towards the aim point in the launch/aim great-circle plane (normal ``n̂``), and the flight
  elevation ``γ`` is 90° for a vertical rise ``τ < t_v`` then falls linearly to ``γ_b`` at burnout;
* **ballistic** after burnout, gravity only, until the altitude crosses zero (impact).

``r̈ = g(r) + a_T(τ) u`` is integrated with classical RK4 (0.5 s in boost with nodes exactly at
``t_v`` and ``t_b``, 1 s after burnout); states between nodes are cubic-Hermite interpolated from
the node positions/velocities and velocities/accelerations (errors of millimetres).

The launch is *solved* so that the missile lands on the aim point (the flight stays in the
launch/aim plane, so only down-range is solved): **minimum-energy** finds the shortest burn
``t_b`` whose best pitch ``γ_b`` just reaches the aim (``max_γ R(γ, t_b) = R_aim``, by Brent's
method over ``t_b``); **lofted** and **depressed** burn longer (5–25 % surplus) and take the
high or the low root of ``R(γ_b) = R_aim``.

Radars (:class:`accord.warning.io.Sensor`) scan at ``scan_offset_s + k·scan_period_s``; a missile
in flight inside a sensor's coverage (:func:`in_coverage`) is detected with probability ``pd`` and
measured as (range, az, el) plus Gaussian noise; each scan also holds Poisson(``clutter_per_scan``)
false detections uniform in the coverage volume. Same :class:`ScenarioSpec` (same seed) → identical
output.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from accord.errors import InputError
from accord.warning import libm
from accord.warning.frames import (
    EARTH_RADIUS_M,
    MU,
    ecef_to_lla,
    ecef_to_rae,
    great_circle_m,
    lla_to_ecef,
    rae_to_ecef,
)
from accord.warning.io import (
    Detections,
    DetectionsHeader,
    Event,
    Sensor,
    Truth,
    parse_sensor,
    write_detections,
    write_events,
    write_truth,
)
from accord.warning.io.fileset import write_file_set
from accord.warning.sim_kernels import ballistic_arc, boost_accels, boost_batch

TRAJECTORIES = ("minimum-energy", "lofted", "depressed")
DT_BOOST_S = 0.5
DT_BALLISTIC_S = 1.0
MAX_FLIGHT_S = 4000.0

#: The three radars of the sample scenarios (``shared/scenarios/east-sea-*``).
DEFAULT_SENSORS: tuple[Sensor, ...] = tuple(parse_sensor(s) for s in (
    {"id": "KOR-GP1", "lat_deg": 36.6, "lon_deg": 127.4, "alt_m": 300.0, "sigma_range_m": 40.0,
     "sigma_az_rad": 0.0015, "sigma_el_rad": 0.0015, "scan_period_s": 2.0, "scan_offset_s": 0.3,
     "pd": 0.9, "clutter_per_scan": 5.0, "min_range_m": 50000.0, "max_range_m": 900000.0,
     "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 20.0, "az_half_width_deg": 60.0},
    {"id": "JPN-TPY1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
     "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "scan_period_s": 1.0, "scan_offset_s": 0.0,
     "pd": 0.9, "clutter_per_scan": 5.0, "min_range_m": 50000.0, "max_range_m": 2000000.0,
     "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 260.0, "az_half_width_deg": 60.0},
    {"id": "JPN-TPY2", "lat_deg": 35.7, "lon_deg": 135.2, "alt_m": 50.0, "sigma_range_m": 20.0,
     "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "scan_period_s": 1.0, "scan_offset_s": 0.5,
     "pd": 0.9, "clutter_per_scan": 5.0, "min_range_m": 50000.0, "max_range_m": 2000000.0,
     "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 295.0, "az_half_width_deg": 60.0},
))

#: The sample radars with a shorter reach (Korean 600 km, Japanese 800 km): most flights are seen
#: by the Korean radar in the boost, by nobody in mid-course, then by the Japanese ones — a
#: coverage gap and a hand-over between partners' radars (track-continuity tests and benches).
GAP_SENSORS: tuple[Sensor, ...] = tuple(
    dataclasses.replace(s, max_range_m=600e3 if s.id.startswith("KOR") else 800e3) for s in DEFAULT_SENSORS)

#: Where random scenarios launch from and aim at (lat/lon boxes as in the sample scenarios).
LAUNCH_BOX = ((38.8, 40.2), (125.2, 127.3))
AIM_BOX = ((37.0, 46.0), (129.5, 142.0))
RANGE_KM = (300.0, 1500.0)
#: Burn-time surplus over the minimum-energy burn drawn for random lofted/depressed shots.
SURPLUS = {"lofted": (0.1, 0.25), "depressed": (0.05, 0.12), "minimum-energy": (0.0, 0.0)}


# --------------------------------------------------------------------------------------------
# Coverage (shared with scoring: the truth set is "in flight and inside a sensor's coverage")
# --------------------------------------------------------------------------------------------
def in_coverage(sensor: Sensor, xyz: np.ndarray) -> np.ndarray:
    """Boolean mask of ECEF points (``(..., 3)``) inside ``sensor``'s coverage.

    ``min_range ≤ r ≤ max_range``, ``min_el ≤ el ≤ max_el`` (degrees) and the azimuth within
    ``az_half_width`` of ``az_center`` (difference wrapped to (−180°, 180°]).
    """
    rae = ecef_to_rae(xyz, sensor.ecef, sensor.basis, exact=True)
    el = np.degrees(rae[..., 2])
    daz = np.mod(np.degrees(rae[..., 1]) - sensor.az_center_deg + 180.0, 360.0) - 180.0
    return ((rae[..., 0] >= sensor.min_range_m) & (rae[..., 0] <= sensor.max_range_m)
            & (el >= sensor.min_el_deg) & (el <= sensor.max_el_deg)
            & (np.abs(daz) <= sensor.az_half_width_deg))


def in_any_coverage(sensors: Sequence[Sensor], xyz: np.ndarray) -> np.ndarray:
    """Mask of points inside at least one sensor's coverage."""
    p = np.asarray(xyz, dtype=float)
    mask = np.zeros(p.shape[:-1], dtype=bool)
    for s in sensors:
        mask |= in_coverage(s, p)
    return mask


# --------------------------------------------------------------------------------------------
# Flight
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchSpec:
    """One missile: where/when it launches, where it aims, the trajectory kind and the motor.

    ``burn_time_s``/``burnout_elev_deg`` are solved by :func:`solve_launch` when left ``None``.
    """

    id: str
    launch_t: float
    launch_lat_deg: float
    launch_lon_deg: float
    aim_lat_deg: float
    aim_lon_deg: float
    trajectory: str = "minimum-energy"
    thrust_accel: float = 38.0      # a₀, m/s² at ignition
    propellant_fraction: float = 0.12  # f: thrust acceleration grows to a₀/(1−f) at burnout
    vertical_s: float = 6.0        # t_v
    energy_surplus: float = 0.15   # lofted/depressed burn (1+surplus)× the minimum-energy burn
    burn_time_s: float | None = None
    burnout_elev_deg: float | None = None


@dataclass(frozen=True)
class _Motor:
    r0: np.ndarray        # launch site ECEF
    e1: np.ndarray        # plane basis: e1 = r̂0 (up at the launch site)
    e2: np.ndarray        # e2 = n̂ × r̂0 (horizontal towards the aim)
    a0: float
    f: float
    tv: float
    tb: float


def _accel(tau: float, r: np.ndarray, m: _Motor, gamma_b: np.ndarray | None) -> np.ndarray:
    """In-plane ``g(r) + a_T(τ) u(τ, r)``; thrust only in boost (``gamma_b`` given).

    The flight stays in the launch/aim plane (central gravity, thrust in the plane), so it is
    integrated in plane coordinates held as complex numbers ``x + iy`` (x up at the launch site,
    y towards the aim): ``ĥ = i r̂``, so ``u = cos γ ĥ + sin γ r̂ = r̂ (sin γ + i cos γ)``.
    """
    rn = np.abs(r)
    acc = (-MU / libm.cube(rn)) * r
    if gamma_b is None:
        return acc
    frac = min(max((tau - m.tv) / (m.tb - m.tv), 0.0), 1.0)
    gamma = np.pi / 2 - (np.pi / 2 - gamma_b) * frac
    a_t = m.a0 / (1.0 - m.f * min(tau, m.tb) / m.tb)
    return acc + (a_t / rn) * r * (np.sin(gamma) + 1j * np.cos(gamma))


def _rk4(tau: float, r: np.ndarray, v: np.ndarray, dt: float, m: _Motor,
         gamma_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One classical Runge–Kutta step of ``r̈ = a(τ, r)`` (complex in-plane states)."""
    k1v = _accel(tau, r, m, gamma_b)
    k2v = _accel(tau + dt / 2, r + dt / 2 * v, m, gamma_b)
    k3v = _accel(tau + dt / 2, r + dt / 2 * v + dt * dt / 4 * k1v, m, gamma_b)
    k4v = _accel(tau + dt, r + dt * v + dt * dt / 2 * k2v, m, gamma_b)
    return (r + dt * v + dt * dt / 6 * (k1v + k2v + k3v),
            v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v))


def _boost_taus(m: _Motor) -> np.ndarray:
    n1 = max(1, math.ceil(m.tv / DT_BOOST_S))
    n2 = max(1, math.ceil((m.tb - m.tv) / DT_BOOST_S))
    return np.concatenate([np.linspace(0.0, m.tv, n1 + 1), np.linspace(m.tv, m.tb, n2 + 1)[1:]])


def _boost(m: _Motor, gamma_b: np.ndarray):
    """RK4 through the boost for a batch of burnout elevations: in-plane (r, v) at burnout and
    whether each flew into the ground. Compiled (:func:`accord.warning.sim_kernels.boost_batch`)
    where :func:`compiled_boost` found it gives the bits of :func:`_boost_numpy`, else that."""
    fused = compiled_boost()
    if fused is None:
        return _boost_numpy(m, gamma_b)[:3]
    r, v, crashed, _, _ = boost_batch(_boost_taus(m), np.ascontiguousarray(gamma_b, dtype=float),
                                      float(m.a0), float(m.f), float(m.tv), float(m.tb), fused)
    return r, v, crashed


@functools.cache
def compiled_boost() -> bool | None:
    """Whether the compiled flight (:mod:`accord.warning.sim_kernels`) reproduces numpy's
    arithmetic on this machine, and how: ``fused`` (True/False) if its boost over a batch of pitch
    programs and its nodes of a whole flight give the bits of the numpy reference
    (:func:`_boost_numpy`, :func:`_flight_nodes_numpy`) on a probe motor; None if neither form
    does, and the numpy reference is flown instead. Checked once per process (the kernels are
    compiled, or loaded from their on-disk cache, here)."""
    m = _Motor(r0=np.zeros(3), e1=np.zeros(3), e2=np.zeros(3), a0=38.0, f=0.12, tv=5.3, tb=25.1)
    batch = _boost_numpy(m, _GAMMA_GRID)[:3]
    nodes = _flight_nodes_numpy(m, float(_GAMMA_GRID[30]))
    assert not isinstance(nodes, str)
    want = [np.asarray(z, dtype=complex).reshape(-1) for z in nodes]
    for fused in (True, False):
        got = boost_batch(_boost_taus(m), _GAMMA_GRID, m.a0, m.f, m.tv, m.tb, fused)[:3]
        nodes = _flight_nodes_compiled(m, float(_GAMMA_GRID[30]), fused)
        if isinstance(nodes, str):
            continue
        flight = [np.asarray(z, dtype=complex).reshape(-1) for z in nodes]
        if all(a.tobytes() == b.tobytes() for a, b in zip((*got, *flight), (*batch, *want))):
            return fused
    return None


def _boost_numpy(m: _Motor, gamma_b: np.ndarray, record: bool = False):
    """The numpy reference of :func:`_boost` (``_rk4``/``_accel`` on the batch)."""
    n = gamma_b.shape[0]
    r = np.full(n, EARTH_RADIUS_M + 0j)
    v = np.zeros(n, dtype=complex)
    taus = _boost_taus(m)
    rs, vs = [r[:1].copy()], [v[:1].copy()]
    crashed = np.zeros(n, dtype=bool)
    for k in range(len(taus) - 1):
        r, v = _rk4(taus[k], r, v, taus[k + 1] - taus[k], m, gamma_b)
        crashed |= np.abs(r) < EARTH_RADIUS_M - 1.0
        if record:
            rs.append(r[:1].copy()); vs.append(v[:1].copy())
    return r, v, crashed, taus, rs, vs


def _kepler_range(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Down-range (m) where the conic from in-plane (complex) burnout states meets the sphere.

    Orbit equation ``|r| = p / (1 + e cos ν)`` with ``p = h²/μ``, eccentricity vector
    ``e = ((v² − μ/|r|) r − (r·v) v)/μ``; impact is the descending root ``ν_i = 2π − acos c``,
    ``c = (p/R − 1)/e``; range angle = polar angle at burnout + ``ν_i − ν_b``. NaN if the conic
    never comes down (``|c| > 1``) or the burnout is already below ground.
    """
    x, y, vx, vy = r.real, r.imag, v.real, v.imag
    rn = np.hypot(x, y)
    h = x * vy - y * vx
    v2 = vx * vx + vy * vy
    rv = x * vx + y * vy
    ex = ((v2 - MU / rn) * x - rv * vx) / MU
    ey = ((v2 - MU / rn) * y - rv * vy) / MU
    e = np.hypot(ex, ey)
    p = h * h / MU
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (p / EARTH_RADIUS_M - 1.0) / e
        omega = libm.arctan2(ey, ex)
        phi_b = libm.arctan2(y, x)
        nu_b = np.mod(phi_b - omega, 2 * np.pi)
        nu_i = 2 * np.pi - libm.arccos(c)
        ang = phi_b + (nu_i - nu_b)
    ok = (np.abs(c) <= 1.0) & (h > 0) & (rn >= EARTH_RADIUS_M - 1.0) & (nu_i >= nu_b)
    return np.where(ok, ang * EARTH_RADIUS_M, np.nan)


def _fly(m: _Motor, gamma_b: np.ndarray) -> np.ndarray:
    """Down-range (m) of a batch of pitch programs; NaN if it crashes in boost or never lands."""
    r, v, crashed = _boost(m, gamma_b)
    rng = _kepler_range(r, v)
    return np.where(crashed, np.nan, rng)


def _motor(spec: LaunchSpec, tb: float) -> _Motor:
    r0 = lla_to_ecef(spec.launch_lat_deg, spec.launch_lon_deg, 0.0)
    ra = lla_to_ecef(spec.aim_lat_deg, spec.aim_lon_deg, 0.0)
    n = np.cross(r0, ra)
    nn = np.linalg.norm(n)
    if nn < 1e3 * EARTH_RADIUS_M:
        raise InputError(f"missile {spec.id}: aim point coincides with the launch point")
    e1 = r0 / np.linalg.norm(r0)
    e2 = np.cross(n / nn, e1)
    return _Motor(r0=r0, e1=e1, e2=e2, a0=spec.thrust_accel, f=spec.propellant_fraction,
                  tv=spec.vertical_s, tb=tb)


_GAMMA_GRID = np.radians(np.linspace(-20.0, 84.0, 53))


def _max_range(spec: LaunchSpec, tb: float) -> tuple[float, float]:
    """(max down-range over the pitch grid, its burnout elevation) for burn time ``tb``."""
    rng = _fly(_motor(spec, tb), _GAMMA_GRID)
    rng = np.where(np.isfinite(rng), rng, 0.0)
    i = int(np.argmax(rng))
    if 0 < i < len(rng) - 1:  # parabola through the three best points
        y0, y1, y2 = rng[i - 1:i + 2]
        h = _GAMMA_GRID[1] - _GAMMA_GRID[0]
        denom = y0 - 2 * y1 + y2
        off = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
        return float(y1 - 0.25 * (y0 - y2) * off), float(_GAMMA_GRID[i] + off * h)
    return float(rng[i]), float(_GAMMA_GRID[i])


def solve_launch(spec: LaunchSpec) -> LaunchSpec:
    """Solve burn time and burnout elevation so the missile lands on the aim point."""
    if spec.trajectory not in TRAJECTORIES:
        raise InputError(f"missile {spec.id}: trajectory must be one of {TRAJECTORIES}",
                         field="trajectory")
    if spec.burn_time_s is not None and spec.burnout_elev_deg is not None:
        return spec
    target = float(great_circle_m(spec.launch_lat_deg, spec.launch_lon_deg,
                                  spec.aim_lat_deg, spec.aim_lon_deg, exact=True))
    tb_lo, tb_hi = spec.vertical_s + 5.0, 300.0
    # Brent's method evaluates the bracket's ends again and ends on a burn time it has flown:
    # each burn time's batch is flown once
    max_range = functools.cache(functools.partial(_max_range, spec))
    if max_range(tb_hi)[0] < target:
        raise InputError(f"missile {spec.id}: aim point {target / 1e3:.0f} km away is out of reach")
    if max_range(tb_lo)[0] > target:
        raise InputError(f"missile {spec.id}: aim point {target / 1e3:.0f} km away is too close")
    tb_min = brentq(lambda tb: max_range(tb)[0] - target, tb_lo, tb_hi, xtol=1e-2)
    if spec.trajectory == "minimum-energy":
        gamma = max_range(tb_min)[1]

        # the optimum is flat in γ: close the last metres with the burn time at that γ
        def miss(tb_: float) -> float:
            return float(_fly(_motor(spec, tb_), np.array([gamma]))[0]) - target
        lo, hi = tb_min * 0.98, tb_min * 1.02
        tb = brentq(miss, lo, hi, xtol=1e-6) if miss(lo) < 0 < miss(hi) else tb_min
    else:
        found: float | None = None
        surplus = spec.energy_surplus
        for _ in range(4):  # a surplus too large for a depressed shot: halve it
            tb = tb_min * (1.0 + surplus)
            m = _motor(spec, tb)
            rng = _fly(m, _GAMMA_GRID)
            rng = np.where(np.isfinite(rng), rng, 0.0) - target
            i_max = int(np.argmax(rng))
            pairs = ([(i, i + 1) for i in range(i_max, len(rng) - 1)] if spec.trajectory == "lofted"
                     else [(i - 1, i) for i in range(i_max, 0, -1)])
            for j, k in pairs:
                if (rng[j] >= 0) != (rng[k] >= 0):
                    found = brentq(lambda g: float(_fly(m, np.array([g]))[0]) - target,
                                   _GAMMA_GRID[j], _GAMMA_GRID[k], xtol=1e-9)
                    break
            if found is not None:
                break
            surplus /= 2
        if found is None:
            raise InputError(f"missile {spec.id}: no {spec.trajectory} trajectory reaches the aim")
        gamma = found
    return dataclasses.replace(spec, burn_time_s=float(tb), burnout_elev_deg=float(np.degrees(gamma)))


@dataclass(frozen=True)
class Flight:
    """A solved flight: nodes of the integration, Hermite-interpolated in between."""

    spec: LaunchSpec
    t: np.ndarray          # (K,) absolute times of the nodes
    r: np.ndarray          # (K, 3)
    v: np.ndarray          # (K, 3)
    a_start: np.ndarray    # (K-1, 3) acceleration at the start of each interval
    a_end: np.ndarray      # (K-1, 3) acceleration at the end of each interval (left limit)
    burnout_t: float
    impact_t: float
    impact_ecef: np.ndarray

    @property
    def launch_t(self) -> float:
        return self.spec.launch_t

    def state_at(self, times: np.ndarray) -> np.ndarray:
        """ECEF (x, y, z, vx, vy, vz) at absolute ``times`` within the flight, shape (M, 6)."""
        tq = np.clip(np.asarray(times, dtype=float), self.t[0], self.t[-1])
        k = np.clip(np.searchsorted(self.t, tq, side="right") - 1, 0, len(self.t) - 2)
        dt = (self.t[k + 1] - self.t[k])[:, None]
        s = ((tq - self.t[k])[:, None]) / dt
        s3 = libm.cube(s)   # libm's bits on every CPU (accord.warning.libm)
        h00 = 2 * s3 - 3 * s**2 + 1
        h10 = s3 - 2 * s**2 + s
        h01 = -2 * s3 + 3 * s**2
        h11 = s3 - s**2
        p = h00 * self.r[k] + h10 * dt * self.v[k] + h01 * self.r[k + 1] + h11 * dt * self.v[k + 1]
        v = (h00 * self.v[k] + h10 * dt * self.a_start[k] + h01 * self.v[k + 1]
             + h11 * dt * self.a_end[k])
        return np.concatenate([p, v], axis=1)

    def event(self) -> Event:
        lat0, lon0 = self.spec.launch_lat_deg, self.spec.launch_lon_deg
        ilat, ilon, _ = ecef_to_lla(self.impact_ecef, exact=True)
        alt = np.linalg.norm(self.r, axis=1) - EARTH_RADIUS_M
        return Event(id=self.spec.id, launch_t=self.launch_t, launch_lat_deg=lat0,
                     launch_lon_deg=lon0, burnout_t=self.burnout_t, impact_t=self.impact_t,
                     impact_lat_deg=float(ilat), impact_lon_deg=float(ilon),
                     range_km=float(great_circle_m(lat0, lon0, ilat, ilon, exact=True)) / 1e3,
                     apogee_km=float(alt.max()) / 1e3, lofted=self.spec.trajectory == "lofted")


Nodes = tuple[list | np.ndarray, list | np.ndarray, list | np.ndarray, list | np.ndarray, list | np.ndarray]


def _flight_nodes(m: _Motor, gamma_b: float) -> Nodes | str:
    """The flight's nodes ``(τ, r, v, a_start, a_end)`` (in-plane, complex), or why there are none
    (``"crashed"``, ``"no impact"``): compiled (:mod:`accord.warning.sim_kernels`) where
    :func:`compiled_boost` found it gives the bits of :func:`_flight_nodes_numpy`, else that."""
    fused = compiled_boost()
    return _flight_nodes_numpy(m, gamma_b) if fused is None else _flight_nodes_compiled(m, gamma_b, fused)


def _flight_nodes_compiled(m: _Motor, gamma_b: float, fused: bool) -> Nodes | str:
    """:func:`_flight_nodes` by the kernels, reproducing numpy's complex products as ``fused``."""
    gb = np.array([gamma_b])
    taus = _boost_taus(m)
    r, v, crashed, rs, vs = boost_batch(taus, gb, float(m.a0), float(m.f), float(m.tv), float(m.tb), fused)
    if crashed[0]:
        return "crashed"
    acc = boost_accels(taus, rs, gamma_b, float(m.a0), float(m.f), float(m.tv), float(m.tb), fused)
    t, rb, vb, as_, ae, landed = ballistic_arc(r[0], v[0], float(taus[-1]), float(m.tb), MAX_FLIGHT_S,
                                               DT_BALLISTIC_S, fused)
    if not landed:
        return "no impact"
    return (np.concatenate([taus, t]), np.concatenate([rs, rb]), np.concatenate([vs, vb]),
            np.concatenate([acc[:-1], as_]), np.concatenate([acc[1:], ae]))


def _flight_nodes_numpy(m: _Motor, gamma_b: float) -> Nodes | str:
    """The numpy reference of :func:`_flight_nodes`: RK4 with :func:`_rk4` node by node."""
    gb = np.array([gamma_b])
    r, v, crashed, taus, rs, vs = _boost_numpy(m, gb, record=True)
    if crashed[0]:
        return "crashed"
    tau = [float(x) for x in taus]
    rr, vv = list(rs), list(vs)
    acc_s = [_accel(taus[k], rs[k], m, gb)[0] for k in range(len(taus) - 1)]
    acc_e = [_accel(taus[k + 1], rs[k + 1], m, gb)[0] for k in range(len(taus) - 1)]
    t_now = float(taus[-1])
    while t_now - m.tb < MAX_FLIGHT_S:
        acc_s.append(_accel(t_now, r, m, None)[0])
        r, v = _rk4(t_now, r, v, DT_BALLISTIC_S, m, None)
        t_now += DT_BALLISTIC_S
        acc_e.append(_accel(t_now, r, m, None)[0])
        tau.append(t_now); rr.append(r[:1].copy()); vv.append(v[:1].copy())
        if abs(r[0]) < EARTH_RADIUS_M:
            return tau, rr, vv, acc_s, acc_e
    return "no impact"


def fly(spec: LaunchSpec) -> Flight:
    """Solve (if needed) and integrate one missile's flight from launch to impact (RK4)."""
    spec = solve_launch(spec)
    assert spec.burn_time_s is not None and spec.burnout_elev_deg is not None  # solve_launch sets both
    m = _motor(spec, spec.burn_time_s)
    nodes = _flight_nodes(m, np.radians(spec.burnout_elev_deg))
    if nodes == "crashed":
        raise InputError(f"missile {spec.id}: the pitch program flies into the ground")
    if nodes == "no impact":
        raise InputError(f"missile {spec.id}: no impact within {MAX_FLIGHT_S:.0f} s")
    assert not isinstance(nodes, str)
    tau, rr, vv, acc_s, acc_e = nodes

    def to_ecef(z: list | np.ndarray) -> np.ndarray:  # in-plane complex → ECEF
        c = np.asarray(z, dtype=complex).reshape(-1)
        return c.real[:, None] * m.e1 + c.imag[:, None] * m.e2

    flight = Flight(spec=spec, t=spec.launch_t + np.asarray(tau), r=to_ecef(rr), v=to_ecef(vv),
                    a_start=to_ecef(acc_s), a_end=to_ecef(acc_e), burnout_t=spec.launch_t + spec.burn_time_s,
                    impact_t=float("nan"), impact_ecef=np.full(3, np.nan))

    def alt_at(t: float) -> float:
        return float(np.linalg.norm(flight.state_at(np.array([t]))[0, :3]) - EARTH_RADIUS_M)

    t_imp = brentq(alt_at, flight.t[-2], flight.t[-1], xtol=1e-9)
    imp = flight.state_at(np.array([t_imp]))[0, :3]
    return dataclasses.replace(flight, impact_t=float(t_imp), impact_ecef=imp)


# --------------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScenarioSpec:
    """What to simulate: sensors, missiles, how long (``None``: until the last impact), seed."""

    sensors: tuple[Sensor, ...]
    launches: tuple[LaunchSpec, ...]
    duration: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class SimResult:
    """A simulated scenario, in the shapes the files hold."""

    header: DetectionsHeader
    detections: Detections
    truth: Truth
    events: tuple[Event, ...]
    flights: tuple[Flight, ...]
    duration: float
    is_target: np.ndarray  # per detection: True for a missile return, False for clutter


def _clutter(sensor: Sensor, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform in the coverage volume, as (range, az, el).

    Volume element ``r² cos(el) dr daz del``: ``r³`` uniform, ``sin(el)`` uniform, ``az`` uniform.
    """
    r3 = rng.uniform(sensor.min_range_m**3, sensor.max_range_m**3, n)
    s_el = rng.uniform(math.sin(math.radians(sensor.min_el_deg)),
                       math.sin(math.radians(sensor.max_el_deg)), n)
    az = np.radians(sensor.az_center_deg + rng.uniform(-1.0, 1.0, n) * sensor.az_half_width_deg)
    return np.stack([libm.cbrt(r3), np.mod(az, 2 * np.pi), libm.arcsin(s_el)], axis=-1)


def simulate(spec: ScenarioSpec, progress: Callable[[str], None] | None = None) -> SimResult:
    """Fly every missile, then scan every radar: detections (with misses and clutter) and truth."""
    if not spec.sensors:
        raise InputError("a scenario needs at least one sensor")
    ids = [ln.id for ln in spec.launches]
    if len(set(ids)) != len(ids):
        raise InputError("missile ids must be unique", field="id")
    flights = []
    for ln in spec.launches:
        if progress:
            progress(ln.id)
        flights.append(fly(ln))
    duration = spec.duration
    if duration is None:
        duration = float(math.ceil(max((f.impact_t for f in flights), default=60.0)))
    rng = np.random.default_rng(spec.seed)

    t_all, s_all, rae_all, tgt_all = [], [], [], []
    for si, s in enumerate(spec.sensors):
        n_scans = int(math.floor((duration - s.scan_offset_s) / s.scan_period_s + 1e-9)) + 1
        scans = s.scan_offset_s + s.scan_period_s * np.arange(max(n_scans, 0))
        for f in flights:
            sel = scans[(scans >= f.launch_t) & (scans <= f.impact_t)]
            if sel.size == 0:
                continue
            pos = f.state_at(sel)[:, :3]
            seen = in_coverage(s, pos) & (rng.random(sel.size) < s.pd)
            rae = ecef_to_rae(pos[seen], s.ecef, s.basis, exact=True)
            noise = rng.standard_normal(rae.shape) * [s.sigma_range_m, s.sigma_az_rad, s.sigma_el_rad]
            rae = rae + noise
            rae[:, 1] = np.mod(rae[:, 1], 2 * np.pi)
            rae[:, 2] = np.clip(rae[:, 2], -np.pi / 2, np.pi / 2)
            t_all.append(sel[seen]); s_all.append(np.full(int(seen.sum()), si))
            rae_all.append(rae); tgt_all.append(np.ones(int(seen.sum()), dtype=bool))
        counts = rng.poisson(s.clutter_per_scan, scans.size)
        total = int(counts.sum())
        t_all.append(np.repeat(scans, counts)); s_all.append(np.full(total, si))
        rae_all.append(_clutter(s, total, rng)); tgt_all.append(np.zeros(total, dtype=bool))
    t = np.concatenate(t_all) if t_all else np.zeros(0)
    sidx = np.concatenate(s_all).astype(np.int64) if s_all else np.zeros(0, dtype=np.int64)
    rae = np.concatenate(rae_all).reshape(-1, 3) if rae_all else np.zeros((0, 3))
    tgt = np.concatenate(tgt_all) if tgt_all else np.zeros(0, dtype=bool)
    # time order; within a scan the order is random (returns carry no identity)
    order = np.lexsort((rng.random(t.size), sidx, t))
    header = DetectionsHeader(sensors=tuple(spec.sensors))
    det = Detections.from_arrays(t[order], sidx[order], rae[order], header.sensor_ids)

    tt, ti, ts, tp = [], [], [], []
    for f in flights:
        secs = np.arange(math.ceil(f.launch_t), math.floor(min(f.impact_t, duration)) + 1, dtype=float)
        if secs.size == 0:
            continue
        tt.append(secs); ti.append(np.full(secs.size, f.spec.id, dtype=object))
        ts.append(f.state_at(secs))
        tp.append(np.where(secs < f.burnout_t, "boost", "ballistic").astype(object))
    if tt:
        t_tr = np.concatenate(tt)
        o = np.lexsort((np.concatenate(ti).astype(str), t_tr))
        truth = Truth(t=t_tr[o], ids=np.concatenate(ti)[o], state=np.concatenate(ts)[o],
                      phase=np.concatenate(tp)[o])
    else:
        truth = Truth(np.zeros(0), np.zeros(0, dtype=object), np.zeros((0, 6)), np.zeros(0, dtype=object))
    return SimResult(header=header, detections=det, truth=truth,
                     events=tuple(f.event() for f in flights), flights=tuple(flights),
                     duration=duration, is_target=tgt[order])


def write_scenario(directory: str | Path, result: SimResult) -> Path:
    """Write ``detections.jsonl``, ``truth.jsonl`` and ``events.jsonl`` into ``directory`` as one
    set (:func:`accord.warning.io.fileset.write_file_set`): an earlier scenario there is replaced
    whole, and an interrupted write leaves it as it was, never new detections beside old truth."""
    return write_file_set(directory, {
        "detections.jsonl": lambda p: write_detections(p, result.header, result.detections),
        "truth.jsonl": lambda p: write_truth(p, result.truth),
        "events.jsonl": lambda p: write_events(p, result.events),
    }, what="scenario")


def random_launches(seed: int, missiles: int, *, window_s: tuple[float, float] = (5.0, 120.0),
                    lofted_fraction: float = 0.2, depressed_fraction: float = 0.1) -> tuple[LaunchSpec, ...]:
    """``missiles`` random launches like the sample scenarios' (300–1,500 km into the East Sea)."""
    rng = np.random.default_rng([seed, 7919])
    out = []
    for i in range(missiles):
        while True:
            la, lo = (rng.uniform(*LAUNCH_BOX[0]), rng.uniform(*LAUNCH_BOX[1]))
            aa, ao = (rng.uniform(*AIM_BOX[0]), rng.uniform(*AIM_BOX[1]))
            rkm = float(great_circle_m(la, lo, aa, ao, exact=True)) / 1e3
            if RANGE_KM[0] <= rkm <= RANGE_KM[1]:
                break
        u = rng.random()
        kind = ("lofted" if u < lofted_fraction else
                "depressed" if u < lofted_fraction + depressed_fraction else "minimum-energy")
        out.append(LaunchSpec(id=f"M{i + 1:03d}", launch_t=round(float(rng.uniform(*window_s)), 2),
                              launch_lat_deg=round(float(la), 4), launch_lon_deg=round(float(lo), 4),
                              aim_lat_deg=round(float(aa), 4), aim_lon_deg=round(float(ao), 4),
                              trajectory=kind, thrust_accel=round(float(rng.uniform(32.0, 45.0)), 2),
                              vertical_s=round(float(rng.uniform(4.0, 8.0)), 2),
                              energy_surplus=round(float(rng.uniform(*SURPLUS[kind])), 3)))
    return tuple(out)


def random_scenario(seed: int, missiles: int, *, sensors: Sequence[Sensor] = DEFAULT_SENSORS,
                    duration: float | None = None, pd: float | None = None,
                    clutter_per_scan: float | None = None) -> ScenarioSpec:
    """A seeded scenario like ``shared/scenarios/east-sea-*`` (``pd``/clutter overridable)."""
    over = {k: v for k, v in (("pd", pd), ("clutter_per_scan", clutter_per_scan)) if v is not None}
    ss = tuple(parse_sensor({**s.to_json(), **over}, source="overrides") for s in sensors)  # re-validated
    return ScenarioSpec(sensors=ss, launches=random_launches(seed, missiles), duration=duration, seed=seed)


__all__ = ["DEFAULT_SENSORS", "Flight", "GAP_SENSORS", "LaunchSpec", "ScenarioSpec", "SimResult", "TRAJECTORIES",
           "fly", "in_any_coverage", "in_coverage", "random_launches", "random_scenario", "rae_to_ecef",
           "simulate", "solve_launch", "write_scenario"]
