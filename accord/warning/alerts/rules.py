"""Alert rules per party and the geometric assessment of one prediction against them.

Kept as one module: the rule settings and the assessment that reads them (impact, overflight,
and before burnout the boost rule) are one decision, and the ellipse geometry is shared by all
three; split, each half would need the other's private geometry.

Japan's practice, which the defaults follow: warn when a missile **may land in the territory or
the territorial sea** (12 nmi), or **may pass over the territory**; a landing in the exclusive
economic zone alone does not trigger a public alert.

The 95 % impact ellipse
-----------------------
With the 2×2 impact covariance ``P`` in the local East-North plane, the 95 % region is
``{d : dᵀ P⁻¹ d ≤ χ²₂(0.95)}``, χ²₂(0.95) = −2 ln 0.05 = 5.9915. Its semi-axes are
``sqrt(χ² λᵢ)`` along the eigenvectors of ``P``. When the prediction carries
``impact_ellipse_95`` we use it as given; the covariance is the fallback. The ellipse is drawn
as a polygon of ``ELLIPSE_VERTICES`` points in an azimuthal-equidistant projection centred on the
predicted impact point, where distances from the centre are exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from pyproj import Geod
from scipy.spatial import cKDTree
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from accord.core.safe_yaml import load_yaml
from accord.errors import ConfigError, InputError
from accord.warning.alerts.geography import (AdminArea, Geography, NamedRegion, local_projection, lonlat_box,
                                             project, projected_bounds)
from accord.warning.identity import CHI2_2_95
from accord.warning.types import Prediction

ELLIPSE_VERTICES = 48
NMI_M = 1852.0


@dataclass(frozen=True)
class AlertRules:
    """One party's alert rules (the ``alerts:`` section of its node configuration).

    ``areas`` limits the areas of responsibility to those admin-area codes (empty: all of the
    party's areas). ``margin_m`` is the stated margin: an area is named when the ellipse or the
    ground track comes within this distance of it (or of its territorial sea).
    """

    party: str
    areas: tuple[str, ...] = ()
    margin_m: float = 5_000.0
    alert_on_overflight: bool = True
    clear_hysteresis_m: float = 5_000.0       # an open alert clears only when this far outside
    clear_hold_s: float = 30.0                # ... for this long, on predictions of the same arc
    min_update_interval_s: float = 20.0       # rate limit for Updates that add no new area
    material_shift_m: float = 10_000.0        # impact point moved this far: Update
    material_axis_ratio: float = 0.5          # semi-major axis changed by this fraction: Update
    material_time_s: float = 30.0             # impact time changed by this much: Update
    clear_after_impact_s: float = 30.0        # Cancel this long after the predicted impact time
    confirm_window_s: float = 90.0            # tracked to within this of impact: "assessed to have fallen"
    expires_after_impact_s: float = 900.0     # CAP <expires> = impact time + this
    suspect_hold_s: float = 10.0              # a track that jumped off its arc alerts anew only
                                              # after its new arc has held this long
    boost_alert_probability: float = 0.9      # a boost-phase prediction names an area only when
                                              # the flight reaches it with at least this probability
    area_probability: float = 0.2             # an impact names an area when it falls in its sea
                                              # with at least this chance (:func:`name_by_chance`) ...
    area_probability_early: float = 0.5       # ... or, while more than ``area_lead_s`` is left
                                              # before the predicted impact, this chance
    area_lead_s: float = 240.0                # the warning time kept for an area's people
                                              # (:func:`name_areas`)

    @classmethod
    def from_config(cls, data: dict, *, party: str | None = None, source: str = "<config>") -> "AlertRules":
        """Build from a mapping (a YAML section); unknown keys and bad values raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: 'alerts' must be a mapping, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown alert rule key(s) {', '.join(unknown)}")
        kw: dict = {}
        for k, v in data.items():
            if k == "areas":
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                    raise ConfigError(f"{source}: field 'areas' must be a list of area codes")
                kw[k] = tuple(v)
            elif k == "party":
                kw[k] = str(v).upper()
            elif k == "alert_on_overflight":
                if not isinstance(v, bool):
                    raise ConfigError(f"{source}: field {k!r} must be true or false")
                kw[k] = v
            else:
                try:
                    kw[k] = float(v)
                except (TypeError, ValueError):
                    raise ConfigError(f"{source}: field {k!r} must be a number, got {v!r}") from None
                if not math.isfinite(kw[k]) or kw[k] < 0:
                    raise ConfigError(f"{source}: field {k!r} must be a finite number ≥ 0, got {v!r}")
        if party is not None:
            if "party" in kw and kw["party"] != party.upper():
                raise ConfigError(f"{source}: alerts.party {kw['party']} differs from the node's party {party}")
            kw["party"] = party.upper()
        if "party" not in kw:
            raise ConfigError(f"{source}: alert rules need a 'party'")
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path, *, party: str | None = None) -> "AlertRules":
        """Read the ``alerts:`` section of a node's YAML configuration (``party`` from the node)."""
        try:
            doc = load_yaml(Path(path).read_text(encoding="utf-8"), source=str(path)) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        section = dict(doc.get("alerts") or {})
        party = party or doc.get("party")
        return cls.from_config(section, party=party, source=str(path))

    def validate(self, geography: Geography) -> "AlertRules":
        """Check the party and area codes against the geography (ConfigError names the culprit)."""
        pg = geography.party(self.party)
        codes = {a.code for a in pg.areas}
        bad = [c for c in self.areas if c not in codes]
        if bad:
            raise ConfigError(f"party {self.party}: unknown area code(s) {', '.join(bad)} "
                              f"(e.g. {', '.join(sorted(codes)[:3])})")
        return self


@dataclass(frozen=True)
class Ellipse:
    """The 95 % impact ellipse: centre, semi-axes (m), major-axis bearing (° from north)."""

    lat_deg: float
    lon_deg: float
    semi_major_m: float
    semi_minor_m: float
    bearing_deg: float


def impact_ellipse(pred: Prediction, *, source: str = "prediction") -> Ellipse:
    """The prediction's 95 % ellipse, from ``impact_ellipse_95`` or else ``impact_cov_en_m2``.

    Raises :class:`InputError` naming the field when neither gives a finite, positive ellipse
    (an alert must never be drawn from a prediction without its uncertainty).
    """
    if not (math.isfinite(pred.impact_lat_deg) and math.isfinite(pred.impact_lon_deg)
            and -90 <= pred.impact_lat_deg <= 90 and -180 <= pred.impact_lon_deg <= 180):
        raise InputError("impact point is not a finite latitude/longitude", source=_where(pred, source),
                         field="impact_lat_deg/impact_lon_deg")
    e = pred.impact_ellipse_95
    vals = (e.semi_major_m, e.semi_minor_m, e.bearing_deg) if e is not None else (math.nan,) * 3
    if math.isfinite(vals[0]) and math.isfinite(vals[1]) and math.isfinite(vals[2]) and vals[0] > 0 and vals[1] > 0:
        a, b = max(vals[0], vals[1]), min(vals[0], vals[1])
        brg = vals[2] if vals[0] >= vals[1] else vals[2] + 90.0
        return Ellipse(pred.impact_lat_deg, pred.impact_lon_deg, a, b, brg % 180.0)
    cov = pred.impact_cov_en_m2
    if cov is not None and len(cov) == 4 and all(math.isfinite(c) for c in cov):
        P = np.array(cov, dtype=float).reshape(2, 2)
        P = 0.5 * (P + P.T)
        lam, vec = np.linalg.eigh(P)
        if lam[0] > 0:
            a, b = math.sqrt(CHI2_2_95 * lam[1]), math.sqrt(CHI2_2_95 * lam[0])
            east, north = vec[:, 1]
            return Ellipse(pred.impact_lat_deg, pred.impact_lon_deg, a, b,
                           math.degrees(math.atan2(east, north)) % 180.0)
    raise InputError("prediction has no usable impact covariance or 95 % ellipse "
                     "(semi-axes must be finite and > 0)", source=_where(pred, source),
                     field="impact_ellipse_95/impact_cov_en_m2")


def _where(pred: Prediction, source: str) -> str:
    """How an error names the prediction (built only when there is one)."""
    return f"{source} track {pred.track_id} t={pred.t}"


def ellipse_polygon_m(e: Ellipse, n: int = ELLIPSE_VERTICES, centre: tuple[float, float] | None = None) -> Polygon:
    """The ellipse in the AEQD plane centred on its own centre (x east, y north, metres), or
    moved to ``centre`` (the same coordinates as ``shapely.affinity.translate`` gives)."""
    cos_th, sin_th = _unit_circle(n)
    pts = ellipse_points_m(e, e.semi_major_m * cos_th, e.semi_minor_m * sin_th)
    if centre is not None:
        pts = pts + np.asarray(centre, dtype=float)
    return shapely.polygons(shapely.linearrings(pts))   # what Polygon(pts) builds, without its checks


@functools.lru_cache(maxsize=8)
def _unit_circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of ``n`` angles evenly around the circle (computed once per ``n``; read-only)."""
    th = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    c.flags.writeable = False
    s.flags.writeable = False
    return c, s


def ellipse_points_m(e: Ellipse, along_major_m: np.ndarray, along_minor_m: np.ndarray) -> np.ndarray:
    """Points (n × 2, x east, y north, metres from the ellipse's centre) at the given offsets
    along its major axis (towards ``bearing_deg``) and its minor axis (90° clockwise of it)."""
    u = np.array([math.sin(math.radians(e.bearing_deg)), math.cos(math.radians(e.bearing_deg))])
    v = np.array([u[1], -u[0]])
    return np.outer(along_major_m, u) + np.outer(along_minor_m, v)


def _centre(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, 1), round(lon, 1)


T = TypeVar("T")


class Lazy(Generic[T]):
    """A value computed by ``fn`` (pure) on first use, then kept: the parts of an
    :class:`Assessment` that only a message reads (its CAP polygons, the wording's places),
    which most assessments — of predictions that send nothing — never need. Equal (and hashed)
    as its value."""

    __slots__ = ("_fn", "_value")

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn: Callable[[], T] | None = fn
        self._value: Any = None

    @classmethod
    def of(cls, value: T) -> "Lazy[T]":
        out: Lazy[T] = cls(lambda: value)
        out.get()
        return out

    def get(self) -> T:
        if self._fn is not None:
            self._value, self._fn = self._fn(), None
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lazy) and self.get() == other.get()

    def __hash__(self) -> int:
        return hash(self.get())

    def __repr__(self) -> str:
        return f"Lazy({self.get()!r})"


@dataclass(frozen=True)
class AreaHit:
    area: AdminArea
    distance_m: float  # from the ellipse (or ground track) to the area's land
    via: str           # "land" | "waters" | "overflight"


@dataclass(frozen=True)
class Assessment:
    """What one prediction means for one party."""

    party: str
    ellipse: Ellipse
    ring_lazy: Lazy[tuple[tuple[float, float], ...]]  # ring_latlon
    impact_hits: tuple[AreaHit, ...]              # areas the ellipse touches within the margin
    overflight_hits: tuple[AreaHit, ...]          # areas the ground track overflies within the margin
    distance_to_territory_m: float                # ellipse to land + territorial sea (0 if touching)
    land_lazy: Lazy[bool]                         # impact_on_land
    corridor_lazy: Lazy[tuple[tuple[float, float], ...]] = field(default_factory=lambda: Lazy.of(()))
    region_lazy: Lazy[NamedRegion | None] = field(default_factory=lambda: Lazy.of(None))
    nearest_lazy: Lazy[tuple[AdminArea, float, float] | None] = field(default_factory=lambda: Lazy.of(None))
    lost: bool = False
    area_codes: tuple[str, ...] = field(default=())
    track_distance_m: float = math.inf            # ground track to the nearest area's land (if
                                                  # within margin + hysteresis; else inf)
    impact_chances: tuple[tuple[str, float], ...] = ()  # area code → chance the impact threatens
                                                  # it (:func:`impact_chances`), highest first

    # What only a message reads (CAP polygons, wording) is computed on first use (:class:`Lazy`):
    @property
    def ring_latlon(self) -> tuple[tuple[float, float], ...]:
        """Closed ring of the ellipse (before burnout: of the path at risk), (lat, lon)."""
        return self.ring_lazy.get()

    @property
    def corridor_latlon(self) -> tuple[tuple[float, float], ...]:
        """Overflight corridor ring, (lat, lon); () when the track overflies nothing."""
        return self.corridor_lazy.get()

    @property
    def impact_region(self) -> NamedRegion | None:
        return self.region_lazy.get()

    @property
    def impact_on_land(self) -> bool:
        """The ellipse touches an area's land (wording)."""
        return self.land_lazy.get()

    @property
    def nearest(self) -> tuple[AdminArea, float, float] | None:
        """The area nearest the ellipse, the distance (m) and bearing (° from it)."""
        return self.nearest_lazy.get()

    @property
    def impact_threat(self) -> bool:
        return bool(self.impact_hits)

    @property
    def overflight(self) -> bool:
        return bool(self.overflight_hits)

    @property
    def qualifies(self) -> bool:
        return self.impact_threat or self.overflight

    def areas(self) -> list[AdminArea]:
        seen: dict[str, AdminArea] = {}
        for h in self.impact_hits + self.overflight_hits:
            seen.setdefault(h.area.code, h.area)
        return list(seen.values())


def _lonlat_bounds(bounds_m: tuple, pad_m: float, inv) -> tuple[float, float, float, float]:
    """Lon/lat box holding a metric box grown by ``pad_m`` (corners and edge midpoints of the
    box, inverse-projected, plus 0.05° for the curvature of its edges between them)."""
    x0, y0, x1, y1 = bounds_m[0] - pad_m, bounds_m[1] - pad_m, bounds_m[2] + pad_m, bounds_m[3] + pad_m
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = inv.transform(np.array([x0, xm, x1, x0, x1, x0, xm, x1]),
                             np.array([y0, y0, y0, ym, ym, y1, y1, y1]))
    return (float(lon.min()) - 0.05, max(float(lat.min()) - 0.05, -90.0),
            float(lon.max()) + 0.05, min(float(lat.max()) + 0.05, 90.0))


def _ring_latlon(poly_m: BaseGeometry, inv) -> tuple[tuple[float, float], ...]:
    """The CAP ring (lat, lon) of an area at risk drawn in the local projection; a region in
    pieces (a boost path's buffer can fall apart) is drawn as its convex hull, which covers every
    piece, and nothing drawable as ``()``."""
    if not isinstance(poly_m, Polygon):
        poly_m = poly_m.convex_hull
    if not isinstance(poly_m, Polygon) or poly_m.is_empty:
        return ()
    xy = np.asarray(poly_m.exterior.coords)
    lon, lat = inv.transform(xy[:, 0], xy[:, 1])
    ring = list(zip(np.round(lat, 4).tolist(), np.round(lon, 4).tolist()))
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return tuple(ring)


#: A boost-phase prediction names an area only when its path, moved this many σ to either side
#: (``track_sigma_m``), still touches it: the flight plane is not known better than that.
BOOST_CROSS_K = 3.0


def assess(pred: Prediction, rules: AlertRules, geography: Geography) -> Assessment:
    """Assess one prediction against one party's rules (pure; no state): :func:`_assess`; for a
    boost-phase prediction (``status="boost"``) the path the flight reaches with at least
    ``boost_alert_probability`` (:func:`boost_reach`), and only the areas it touches also when
    moved :data:`BOOST_CROSS_K` σ to either side."""
    if pred.status != "boost":
        return _assess(pred, rules, geography)
    cut = boost_reach(pred, rules.boost_alert_probability)
    if len(cut.ground_track) < 2:
        return _assess(cut, rules, geography, boost=True)
    from dataclasses import replace

    a = _assess(cut, rules, geography, boost=True)
    a = replace(a, impact_hits=(), area_codes=tuple(sorted({h.area.code for h in a.overflight_hits})))
    # impact: where the flight *ends* in an area's sea with at least the probability (reaching
    # the sea and flying on is no impact there)
    chances = boost_impact_chances(pred, rules, geography)
    falls = {c for c, q in chances.items() if q >= rules.boost_alert_probability}
    over = {h.area.code for h in a.overflight_hits}
    # threatened: the flight ends in the area's sea or passes within margin_m of its land (one
    # event, the truth's; at least each of the two above)
    threat = {c for c, q in boost_threat_chances(pred, rules, geography, rules.boost_alert_probability).items()
              if q >= rules.boost_alert_probability} - falls - over
    if not (falls or over or threat) or not cut.track_sigma_m:
        return replace(a, impact_hits=(), overflight_hits=(), area_codes=())
    for k in (-BOOST_CROSS_K, BOOST_CROSS_K):
        if over:
            over &= set(_assess(_shifted(cut, k), rules, geography, boost=True).area_codes)
        if falls:
            falls &= {c for c, q in boost_impact_chances(_shifted(pred, k), rules, geography).items()
                      if q >= rules.boost_alert_probability}
        if threat:
            threat &= {c for c, q in boost_threat_chances(_shifted(pred, k), rules, geography,
                                                          rules.boost_alert_probability).items()
                       if q >= rules.boost_alert_probability}
    areas = {x.code: x for x in geography.party(rules.party).areas}
    falls |= threat
    return replace(a, impact_hits=tuple(AreaHit(areas[c], math.nan, "waters") for c in sorted(falls)),
                   overflight_hits=tuple(h for h in a.overflight_hits if h.area.code in over),
                   area_codes=tuple(sorted(falls | over)),
                   impact_chances=tuple(sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))))


#: Boost-phase paths are resampled to steps of at most this (m) to weigh where the flight ends.
BOOST_STEP_M = 2_000.0


def _boost_samples(pred: Prediction):
    """A boost path resampled to steps of at most :data:`BOOST_STEP_M` in a local projection:
    ``(fwd, inv, x, y, reach, f)`` (reach interpolated linearly between the path's points; ``f``
    the points' fractional indices along the path), or None
    for a path without two points or reach probabilities."""
    gt, reach = pred.ground_track, pred.reach_prob
    if len(gt) < 2 or len(reach) != len(gt):
        return None
    lat = np.array([q[0] for q in gt])
    lon = np.array([q[1] for q in gt])
    fwd, inv = local_projection(*_centre(float(lat.mean()), float(lon.mean())))
    x, y = fwd.transform(lon, lat)
    x, y, r = np.asarray(x), np.asarray(y), np.asarray(reach, dtype=float)
    n = np.maximum(np.ceil(np.hypot(np.diff(x), np.diff(y)) / BOOST_STEP_M).astype(int), 1)
    f = np.concatenate([i + np.arange(k) / k for i, k in enumerate(n)] + [[len(x) - 1.0]])
    idx = np.arange(len(x))
    return fwd, inv, np.interp(f, idx, x), np.interp(f, idx, y), np.interp(f, idx, r), f


#: The resampled points interpolated in lon/lat lie this near (m) the ones interpolated in the
#: projection (between two points of a boost path, ≤ ~60 km apart, the two interpolations part
#: by far less); used only to widen a prefilter.
BOOST_LONLAT_SLACK_M = 2_000.0


def _resampled_lonlat(pred: Prediction, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of :func:`_boost_samples`' points at fractional indices ``f``, interpolated in
    lon/lat (within :data:`BOOST_LONLAT_SLACK_M` of them; for a prefilter)."""
    gt = pred.ground_track
    lat = np.array([q[0] for q in gt])
    lon = np.unwrap(np.array([q[1] for q in gt]), period=360.0)
    idx = np.arange(len(gt))
    return (np.interp(f, idx, lon) + 180.0) % 360.0 - 180.0, np.interp(f, idx, lat)


def boost_impact_chances(pred: Prediction, rules: AlertRules, geography: Geography) -> dict[str, float]:
    """Before burnout, the chance that the flight *ends* where it threatens each area: along
    the ground track, the probability of ending between two points is the drop of ``reach_prob``
    between them; summed over the stretches in the party's land or territorial sea within
    ``territorial_m`` of the area's land (the region of :func:`impact_chances`)."""
    s = _boost_samples(pred)
    if s is None:
        return {}
    fwd, inv, xs, ys, rs, _ = s
    mass = np.append(rs[:-1] - rs[1:], rs[-1])           # ends between points; beyond the last
    xm = np.append((xs[:-1] + xs[1:]) / 2, xs[-1])
    ym = np.append((ys[:-1] + ys[1:]) / 2, ys[-1])
    keep = mass > 0
    if not keep.any():
        return {}
    xm, ym, mass = xm[keep], ym[keep], mass[keep]
    reach_m = geography.territorial_m
    box = _lonlat_bounds((xm.min(), ym.min(), xm.max(), ym.max()), reach_m, inv)
    terr_ll = geography.territorial_in(rules.party, *box)
    if terr_ll is None or terr_ll.is_empty:
        return {}
    terr_m = project(terr_ll, fwd)
    shapely.prepare(terr_m)
    inside = shapely.contains_xy(terr_m, xm, ym)
    if not inside.any():
        return {}
    pts, w = shapely.points(xm[inside], ym[inside]), mass[inside]
    aor = set(rules.areas)
    out: dict[str, float] = {}
    for ar in geography.areas_within(rules.party, project(shapely.multipoints(pts), inv), reach_m):
        if aor and ar.code not in aor:
            continue
        part = shapely.clip_by_rect(ar.geometry, *box)
        if part.is_empty:
            continue
        near = shapely.dwithin(project(part, fwd), pts, reach_m)
        if near.any():
            out[ar.code] = float(w[near].sum())
    return out


def boost_threat_chances(pred: Prediction, rules: AlertRules, geography: Geography,
                         floor: float = 0.0) -> dict[str, float]:
    """Before burnout, the chance that the flight *threatens* each area: that it ends in the
    area's sea (as :func:`boost_impact_chances`) or passes within ``margin_m`` of its land.
    Along the path the two are disjoint: the flight either ends in the sea before it first
    comes within ``margin_m`` of the land, or it reaches that point — so the chance is the chance
    of ending in the sea before it plus ``reach_prob`` there. The point is taken at the far end
    of the first resampled step (≤ :data:`BOOST_STEP_M`) within ``margin_m`` of the land and the
    ending there left out: a lower bound, never more than the path gives.

    ``floor``: only the areas whose chance may reach it. The chance is at most ``reach_prob``
    where the path first enters the area's sea or margin, so an area none of whose region is
    near the part of the path reached with ``floor`` is left out without measuring."""
    s = _boost_samples(pred)
    if s is None:
        return {}
    fwd, inv, xs, ys, rs, _ = s
    mass = np.append(rs[:-1] - rs[1:], rs[-1])           # ends between points; beyond the last
    xm = np.append((xs[:-1] + xs[1:]) / 2, xs[-1])
    ym = np.append((ys[:-1] + ys[1:]) / 2, ys[-1])
    reached = np.flatnonzero(rs >= floor) if floor > 0.0 else np.arange(len(rs))
    if not len(reached) or not (mass > 0).any():
        return {}
    reach_m = geography.territorial_m
    # a midpoint within reach_m of the land, or a step within margin_m, has its first point
    # within this of the land
    pad = max(reach_m, rules.margin_m) + BOOST_STEP_M
    lon, lat = _resampled_lonlat(pred, s[5])
    head = shapely.multipoints(shapely.points(lon[: reached[-1] + 1], lat[: reached[-1] + 1]))
    aor = set(rules.areas)
    out: dict[str, float] = {}
    n = len(xs)
    for ar in geography.areas_within(rules.party, head, pad + BOOST_LONLAT_SLACK_M):
        if aor and ar.code not in aor:
            continue
        x0, y0, x1, y1 = ar.geometry.bounds
        b = lonlat_box([y0, y1], [x0, x1], pad + BOOST_LONLAT_SLACK_M)
        near = (np.ones(n, dtype=bool) if b is None else
                (lon >= b[0]) & (lon <= b[2]) & (lat >= b[1]) & (lat <= b[3]))
        if not near.any():
            continue
        seg = np.flatnonzero(near[:-1] | near[1:])                  # steps (and their midpoints)
        mid = np.append(seg, n - 1) if near[-1] else seg
        box = _lonlat_bounds((xs[near].min(), ys[near].min(), xs[near].max(), ys[near].max()), pad, inv)
        terr_ll = geography.territorial_in(rules.party, *box)
        part = shapely.clip_by_rect(ar.geometry, *box)
        if terr_ll is None or terr_ll.is_empty or part.is_empty:
            continue
        terr_m, part_m = project(terr_ll, fwd), project(part, fwd)
        shapely.prepare(terr_m)
        shapely.prepare(part_m)
        pts = shapely.points(xm[mid], ym[mid])
        sea = (mass[mid] > 0) & shapely.contains_xy(terr_m, xm[mid], ym[mid]) & shapely.dwithin(part_m, pts, reach_m)
        first = n
        if len(seg):
            steps = shapely.linestrings(np.stack([np.column_stack([xs[seg], ys[seg]]),
                                                  np.column_stack([xs[seg + 1], ys[seg + 1]])], axis=1))
            over = np.flatnonzero(shapely.dwithin(part_m, steps, rules.margin_m))
            if len(over):
                first = int(seg[over[0]])
        q = float(mass[mid][sea & (mid < first)].sum())
        if first < n:
            q += float(rs[first + 1])
        if q > 0.0:
            out[ar.code] = min(q, 1.0)
    return out


def _shifted(pred: Prediction, k: float) -> Prediction:
    """``pred`` with its ground track moved ``k`` × ``track_sigma_m`` to the left of the path."""
    from dataclasses import replace

    lat = np.radians([p[0] for p in pred.ground_track])
    lon = np.radians([p[1] for p in pred.ground_track])
    u = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    d = np.gradient(u, axis=0)
    left = np.cross(u, d)
    left /= np.maximum(np.linalg.norm(left, axis=1, keepdims=True), 1e-12)
    sig = np.asarray(pred.track_sigma_m, dtype=float)[: len(u)]
    q = u + (k * sig / 6_371_000.0)[:, None] * left
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    gt = tuple(zip(np.degrees(np.arcsin(np.clip(q[:, 2], -1, 1))).tolist(),
                   np.degrees(np.arctan2(q[:, 1], q[:, 0])).tolist()))
    return replace(pred, ground_track=gt)


def _assess(pred: Prediction, rules: AlertRules, geography: Geography, boost: bool = False) -> Assessment:
    """One prediction against one party's rules (``boost``: ``pred``'s path is the region at risk).

    * impact threat: the 95 % ellipse intersects the party's land ∪ territorial sea. Named
      areas: those whose land is within ``margin_m`` of the ellipse (``via="land"``) or whose
      territorial sea the ellipse touches (within ``territorial_m + margin_m`` of their land,
      ``via="waters"``); where it touches sea farther out than that — an islet's, or sea measured
      from straight baselines off the coast — the nearest area (``via="waters"``).
    * overflight: the predicted ground track comes within ``margin_m`` of an area's land
      (``track_distance_m``: how near it comes, when within ``margin_m + clear_hysteresis_m``).
    """
    geography.party(rules.party)  # an unknown party is a ConfigError before anything else
    e = impact_ellipse(pred)
    fwd, inv = local_projection(*_centre(e.lat_deg, e.lon_deg))
    cx, cy = fwd.transform(e.lon_deg, e.lat_deg)
    ell_m = ellipse_polygon_m(e, centre=(cx, cy))
    if boost:
        # Before burnout the region at risk is the path the flight reaches with at least
        # ``boost_alert_probability`` (cut by :func:`assess`), not the (wide) ellipse of every
        # impact the class allows.
        if len(pred.ground_track) < 2:
            return Assessment(rules.party, e, Lazy(functools.partial(_ring_latlon, ell_m, inv)), (), (),
                              math.inf, Lazy.of(False))
        ell_m = project(_track_lonlat(pred.ground_track), fwd).buffer(500.0, quad_segs=2)
    ring = Lazy(functools.partial(_ring_latlon, ell_m, inv))
    aor = set(rules.areas)

    reach = geography.territorial_m + rules.margin_m + rules.clear_hysteresis_m
    candidates = geography.areas_within_bounds(rules.party, projected_bounds(ell_m, inv), reach)
    x0, y0, x1, y1 = _lonlat_bounds(ell_m.bounds, reach, inv)
    if x1 - x0 > 180:  # the zone wraps the antimeridian: look everywhere in longitude
        x0, x1 = -180.0, 180.0
    clip = (x0, y0, x1, y1)

    impact_hits: list[AreaHit] = []
    near_parts: list[tuple[AdminArea, BaseGeometry, float]] = []
    dist_terr = math.inf
    terr_m: BaseGeometry | None = None
    # not only when an area is within reach: behind and off straight baselines the territorial sea
    # lies farther than ``territorial_m`` from the nearest area's land
    terr_ll = geography.territorial_in(rules.party, *clip)
    if terr_ll is not None and not terr_ll.is_empty:
        terr_m = project(terr_ll, fwd)
        dist_terr = float(ell_m.distance(terr_m))
    near_land = functools.partial(_near_land, geography, candidates, clip, fwd, ell_m, aor)
    land: Lazy[tuple[bool, tuple[AdminArea, float, BaseGeometry] | None, list]]
    if boost or dist_terr == 0.0:
        land = Lazy.of(near_land())
    else:
        # an EEZ-only (or high-seas) landing: the areas' land near it only for a message's wording
        land = Lazy(near_land)
    for a, part_m, d in (land.get()[2] if not (dist_terr > 0.0 and not boost) else ()):
        if boost:
            # the boost's lateral test (:func:`assess`): the moved path still over the land, or
            # through the area's territorial sea
            if d <= rules.margin_m or (dist_terr == 0.0 and d <= geography.territorial_m + rules.margin_m):
                impact_hits.append(AreaHit(a, d, "waters"))
        elif d <= geography.territorial_m + rules.margin_m:
            near_parts.append((a, part_m, d))
    nearest = land.get()[1] if dist_terr == 0.0 or boost else None
    chances: dict[str, float] = {}
    if dist_terr > 0.0:
        # The ellipse does not touch land or territorial sea: an EEZ-only (or high-seas) landing.
        impact_hits = []
    elif not boost:
        owner = nearest[0] if nearest is not None else \
            geography.nearest_area(rules.party, e.lon_deg, e.lat_deg)
        chances = impact_chances(e, (cx, cy), terr_m, near_parts, geography.territorial_m,
                                 owner if not aor or owner.code in aor else None)
        named = name_areas(chances, rules, pred.impact_t - pred.t)
        if named is None and (not aor or owner.code in aor):
            # the ellipse touches the territory and time is short: an alert, naming the likeliest
            named = [max(chances.items(), key=lambda kv: (kv[1], kv[0]))[0]] if chances else [owner.code]
        named = named or []
        by_code = {a.code: (a, d) for a, _, d in near_parts}
        if owner.code not in by_code:
            by_code[owner.code] = (owner, nearest[1] if nearest is not None else math.inf)
        impact_hits = [AreaHit(by_code[c][0], by_code[c][1], "land" if by_code[c][1] <= rules.margin_m else "waters")
                       for c in named]

    near: Lazy[tuple[AdminArea, float, float] | None] = \
        Lazy(functools.partial(_nearest_of, land, e, geography, rules.party, cx, cy))
    on_land = Lazy(lambda: land.get()[0])

    over_hits: list[AreaHit] = []
    corridor: Lazy[tuple[tuple[float, float], ...]] = Lazy.of(())
    track_d = math.inf
    if rules.alert_on_overflight and len(pred.ground_track) >= 2:
        over_hits, corridor, track_d = _overflight(pred, rules, geography)

    region = Lazy(functools.partial(geography.where, e.lat_deg, e.lon_deg))
    hits_sorted = tuple(sorted(impact_hits, key=lambda h: h.area.code))
    over_sorted = tuple(sorted(over_hits, key=lambda h: h.area.code))
    codes = tuple(sorted({h.area.code for h in hits_sorted + over_sorted}))
    return Assessment(rules.party, e, ring, hits_sorted, over_sorted, dist_terr, on_land,
                      corridor, region, near, pred.status == "lost", codes, track_d,
                      tuple(sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))))


#: Quadrature of the impact distribution inside its 95 % ellipse: ``RINGS`` rings of equal
#: probability (Mahalanobis radius ``r`` with ``P(r) = 1 − exp(−r²/2)``, each ring at the middle
#: of its share of the 95 %) × ``RAYS`` directions, every node carrying 0.95 / (RINGS × RAYS).
RINGS, RAYS = 24, 48
_q = 0.95 * (np.arange(RINGS) + 0.5) / RINGS
_r = np.sqrt(-2.0 * np.log1p(-_q))
_th = 2 * math.pi * (np.arange(RAYS)[None, :] + 0.5 * (np.arange(RINGS)[:, None] % 2)) / RAYS
NODES = np.column_stack([(_r[:, None] * np.cos(_th)).ravel(), (_r[:, None] * np.sin(_th)).ravel()])
NODE_WEIGHT = 0.95 / len(NODES)


def impact_chances(e: Ellipse, centre_m: tuple[float, float], territory_m: BaseGeometry | None,
                   parts: list[tuple[AdminArea, BaseGeometry, float]], reach_m: float,
                   owner: AdminArea | None) -> dict[str, float]:
    """The chance that the impact falls in each area's sea: the probability mass of the Gaussian
    impact distribution (the ellipse's, inside its 95 % ellipse; :data:`NODES`) that falls in
    the party's land or territorial sea (``territory_m``) within ``reach_m`` (the rules pass the
    territorial sea's 12 nmi) of the area's land (``parts``: area, its land near the ellipse, in
    the same projection as ``centre_m``). The audit's "truly threatened" test
    (:func:`accord.warning.alerts.audit.missile_threats`) is the same region widened by
    ``margin_m``, the documented margin a named area is judged with. Mass in the territory within
    reach of no area (an islet's sea, sea far off a straight baseline) counts for ``owner``, the
    nearest area."""
    if territory_m is None or territory_m.is_empty:
        return {}
    s = math.sqrt(CHI2_2_95)
    xy = (ellipse_points_m(e, NODES[:, 0] * e.semi_major_m / s, NODES[:, 1] * e.semi_minor_m / s)
          + np.asarray(centre_m))
    shapely.prepare(territory_m)
    inside = shapely.contains_xy(territory_m, xy[:, 0], xy[:, 1])
    if not inside.any():
        return {}
    xy = xy[inside]
    # only the nodes within reach (+1 m, far above rounding) of a part's bounding box can be
    # within reach of the part; those are tested exactly, on the prepared part (GEOS
    # ``isWithinDistance``, through an index of its edges)
    cands = []
    for _, part_m, _ in parts:
        x0, y0, x1, y1 = part_m.bounds
        dx = np.maximum(np.maximum(x0 - xy[:, 0], xy[:, 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - xy[:, 1], xy[:, 1] - y1), 0.0)
        cands.append(np.flatnonzero(dx * dx + dy * dy <= (reach_m + 1.0) ** 2))
    # a node in (or on) a part is at distance 0 from it: within reach without measuring (GEOS's
    # ``isWithinDistance`` also settles such points by their location in the prepared polygon
    # before any edge's distance); so is one within reach − 1 m of a vertex of the part; only
    # the others are made points and measured. (Reach under a metre: every node is measured.)
    settle = reach_m >= 1.0
    tests: list[tuple[np.ndarray, np.ndarray]] = []   # per part: nodes in it, nodes to measure
    wanted = np.zeros(len(xy), dtype=bool)
    for (_, part_m, _), cand in zip(parts, cands):
        if cand.size:
            shapely.prepare(part_m)
        if cand.size and settle:
            on = shapely.intersects_xy(part_m, xy[cand, 0], xy[cand, 1])
            rest = cand[~on]
            if rest.size:
                # a node within reach − 1 m of one of the part's vertices (points of the part)
                # is within reach of the part: GEOS's distance to it is at most the distance to
                # that vertex, up to rounding of nanometres
                v = shapely.get_coordinates(part_m)
                if len(v) and np.isfinite(v).all():
                    by_vertex = _near_a_vertex(v, xy[rest], reach_m - 1.0)
                    on[~on] = by_vertex
                    rest = rest[~by_vertex]
            tests.append((cand[on], rest))
        else:
            tests.append((cand[:0], cand))
        wanted[tests[-1][1]] = True
    # the nodes measured against any part, made points once (in order)
    pts = np.empty(len(xy), dtype=object)
    used = np.flatnonzero(wanted)
    if used.size:
        pts[used] = shapely.points(xy[used])
    claimed = np.zeros(len(xy), dtype=bool)
    out: dict[str, float] = {}
    for (a, part_m, _), (on, rest) in zip(parts, tests):
        near = np.zeros(len(xy), dtype=bool)
        near[on] = True
        if rest.size:
            near[rest] = shapely.dwithin(part_m, pts[rest], reach_m)
        claimed |= near
        if near.any():
            out[a.code] = out.get(a.code, 0.0) + float(near.sum()) * NODE_WEIGHT
    left = float((~claimed).sum()) * NODE_WEIGHT
    if left > 0.0 and owner is not None:
        out[owner.code] = out.get(owner.code, 0.0) + left
    return out


#: Up to this many (node, vertex) pairs, :func:`_near_a_vertex` compares every pair; beyond, it
#: builds a k-d tree of the vertices.
PAIRS_BY_ARRAY = 100_000


def _near_a_vertex(v: np.ndarray, q: np.ndarray, r: float) -> np.ndarray:
    """Which points ``q`` lie less than ``r`` (up to rounding of nanometres) from one of the
    vertices ``v``: every pair measured at once for a few, a k-d tree for many (a node's
    settling in :func:`impact_chances` needs only that it be within reach − 1 m; either way
    the rounding is far below that metre)."""
    if len(v) * len(q) <= PAIRS_BY_ARRAY:
        dx = q[:, 0, None] - v[None, :, 0]
        dy = q[:, 1, None] - v[None, :, 1]
        return (dx * dx + dy * dy).min(axis=1) < r * r
    dv, _ = cKDTree(v).query(q, k=1, distance_upper_bound=r)
    return np.isfinite(dv)


def name_by_chance(chances: dict[str, float], probability: float) -> list[str]:
    """The areas an impact names (chances from :func:`impact_chances`): every area the impact
    falls in with at least ``probability``; when none does but together they reach it (a wide
    ellipse spread over several areas), the areas in order of their chance, highest first,
    until the chances of those left unnamed add up to less than ``probability``. Nothing when
    all of them together are below it."""
    order = sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))
    named = [c for c, q in order if q >= probability]
    if named:
        return named
    left = sum(c for _, c in order)
    for code, c in order:
        if left < probability:
            break
        named.append(code)
        left -= c
    return named


def name_areas(chances: dict[str, float], rules: AlertRules, time_left_s: float) -> list[str] | None:
    """The areas an impact names, by their chances (:func:`impact_chances`) and the time left
    before the predicted impact:

    * within ``area_lead_s`` of the impact (the warning time kept for an area's people), every
      area the impact may fall in with at least ``area_probability`` (:func:`name_by_chance`);
      ``None`` when none does — the caller then names the likeliest area, as the 95 % ellipse
      touches the territory and there is no time left to wait;
    * earlier, only the areas with at least ``area_probability_early``, and when none has it the
      likeliest area if its chance reaches ``area_probability``; otherwise none yet (``[]``):
      the prediction has time to firm up, and a later one names the areas then likely (added
      by an Update, which a new area sends at once).

    So an early warning names a subset of what the same ellipse names later, and a neighbour
    with a modest chance is added only if it keeps it when the time left runs short."""
    if time_left_s <= rules.area_lead_s:
        return name_by_chance(chances, rules.area_probability) or None
    order = sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))
    named = [c for c, q in order if q >= rules.area_probability_early]
    if not named and order and order[0][1] >= rules.area_probability:
        named = [order[0][0]]
    return named


_GEOD = Geod(ellps="WGS84")


def boost_reach(pred: Prediction, probability: float) -> Prediction:
    """A boost-phase prediction cut to the part of its ground track that the flight reaches
    with at least ``probability`` (``reach_prob``); no ground track when not even its start
    qualifies."""
    from dataclasses import replace

    keep = [i for i, q in enumerate(pred.reach_prob) if q >= probability]
    n = (keep[-1] + 1) if keep and keep[0] == 0 else 0
    return replace(pred, ground_track=pred.ground_track[:n], track_sigma_m=pred.track_sigma_m[:n])


def _far_nearest(e: Ellipse, area: AdminArea) -> tuple[AdminArea, float, float]:
    """Distance and bearing from ``area``'s nearest point to a far-off impact point (wording
    only): geodesic on the WGS84 ellipsoid."""
    c = shapely.Point(e.lon_deg, e.lat_deg)
    q = shapely.ops.nearest_points(area.geometry, c)[0]
    az, _, d = _GEOD.inv(q.x, q.y, c.x, c.y)
    return (area, float(d), float(az) % 360)


def _near_land(geography: Geography, candidates: list[AdminArea], clip: tuple[float, float, float, float],
               fwd: Any, ell_m: BaseGeometry, aor: set[str]
               ) -> tuple[bool, tuple[AdminArea, float, BaseGeometry] | None, list[tuple[AdminArea, BaseGeometry, float]]]:
    """The candidate areas' land in the clip box, projected, and its distance to the ellipse
    (``ell_m``): whether the ellipse touches land of the areas of responsibility (``aor``, empty:
    all), the nearest area (any), its distance and land, and (area, land, distance) of each area
    of responsibility, in the candidates' order. Clipped, projected (one transform for all) and
    measured as arrays: the same coordinates and distances as one area at a time."""
    on_land = False
    nearest: tuple[AdminArea, float, BaseGeometry] | None = None
    out: list[tuple[AdminArea, BaseGeometry, float]] = []
    if not candidates:
        return on_land, nearest, out
    parts = shapely.clip_by_rect(np.array([a.geometry for a in candidates], dtype=object), *clip)
    keep = ~shapely.is_empty(parts)
    kept = [a for a, k in zip(candidates, keep) if k]
    if not kept:
        return on_land, nearest, out
    parts_m = project(parts[keep], fwd)
    dist = shapely.distance(ell_m, parts_m)
    for a, part_m, d in zip(kept, parts_m, dist.tolist()):
        if d == 0.0:
            on_land = on_land or not aor or a.code in aor
        if nearest is None or d < nearest[1]:
            nearest = (a, d, part_m)
        if aor and a.code not in aor:
            continue
        out.append((a, part_m, d))
    return on_land, nearest, out


def _nearest_of(land: Lazy, e: Ellipse, geography: Geography, party: str, cx: float, cy: float
                ) -> tuple[AdminArea, float, float]:
    """``nearest`` of an assessment (wording): the nearest area of :func:`_near_land`, or for
    an ellipse far from all (none in the clip box) the party's nearest area."""
    nearest = land.get()[1]
    if nearest is None:
        return _far_nearest(e, geography.nearest_area(party, e.lon_deg, e.lat_deg))
    return _near_bearing(nearest[0], nearest[1], nearest[2], cx, cy)


def _near_bearing(area: AdminArea, d: float, part_m: BaseGeometry, cx: float, cy: float) -> tuple[AdminArea, float, float]:
    """``nearest`` of an assessment: the area, its distance and the bearing from its land's
    point nearest the impact point (``cx``, ``cy``, in the projection of ``part_m``)."""
    p_near = shapely.ops.nearest_points(part_m, shapely.Point(cx, cy))[0]
    return (area, d, math.degrees(math.atan2(cx - p_near.x, cy - p_near.y)) % 360)


def _corridor(track_m: BaseGeometry, parts_m: list[BaseGeometry], margin_m: float, inv: Any) -> tuple[tuple[float, float], ...]:
    """The CAP polygon of an overflight: the part of the corridor (the track's buffer by
    ``margin_m``) over, or within the margin of, the land it overflies (``parts_m``), as one
    simplified outline (its convex hull when the land cuts it into pieces)."""
    corridor_m = track_m.buffer(margin_m, quad_segs=4)
    over = shapely.union_all([corridor_m.intersection(p.buffer(margin_m, quad_segs=2)) for p in parts_m])
    outline = over if isinstance(over, Polygon) else over.convex_hull
    outline = outline.simplify(500.0)
    if isinstance(outline, Polygon) and not outline.is_empty:
        return _ring_latlon(outline, inv)
    return ()


def _track_lonlat(ground_track: tuple[tuple[float, float], ...]) -> BaseGeometry:
    """The ground track (lat, lon pairs) as a lon/lat LineString (built from an array: the same
    coordinates as from a list of tuples, without a Python loop)."""
    return shapely.linestrings(np.array(ground_track, dtype=float)[:, ::-1])


def _overflight(pred: Prediction, rules: AlertRules, geography: Geography):
    gt = np.array(pred.ground_track, dtype=float)
    lats, lons = gt[:, 0], gt[:, 1]
    lon_lo, lon_hi = float(lons.min()), float(lons.max())
    if lon_hi - lon_lo > 180:  # crosses the antimeridian: unwrap to 0..360 for the centre
        un = np.where(lons < 0, lons + 360, lons)
        mid_lon = (float(un.min()) + float(un.max())) / 2
    else:
        mid_lon = (lon_lo + lon_hi) / 2
    mid_lon = mid_lon - 360 if mid_lon > 180 else mid_lon
    lat_lo, lat_hi = float(lats.min()), float(lats.max())
    mid_lat = (lat_lo + lat_hi) / 2
    track_ll = shapely.linestrings(gt[:, ::-1])
    # land this near the track keeps an open alert open (the clearing hysteresis)
    reach = rules.margin_m + rules.clear_hysteresis_m
    aor = set(rules.areas)
    # (the track's bounds are its coordinates' least and greatest, as GEOS's envelope)
    areas = [a for a in geography.areas_within_bounds(rules.party, (lon_lo, lat_lo, lon_hi, lat_hi), reach)
             if not aor or a.code in aor]
    if not areas:
        # no area near: nothing overflown, nothing within reach (what the measuring below gives
        # for no areas, without projecting the track)
        return [], Lazy.of(()), math.inf
    fwd, inv = local_projection(*_centre(mid_lat, mid_lon))
    track_m = project(track_ll, fwd)
    hits: list[AreaHit] = []
    over_land: list[BaseGeometry] = []
    # at least a metre: a line buffered by 0 is empty and its bounds NaN (GEOS then clips
    # nothing: every area measured whole, with a RuntimeWarning)
    x0, y0, x1, y1 = projected_bounds(track_m.buffer(max(reach, 1.0), quad_segs=2), inv)
    if x1 - x0 > 180:
        x0, x1 = -180.0, 180.0
    track_d = math.inf
    # clipped, projected (one transform for all) and measured as arrays: the same coordinates
    # and distances as one area at a time
    parts = shapely.clip_by_rect(np.array([a.geometry for a in areas], dtype=object), x0, y0, x1, y1)
    keep = ~shapely.is_empty(parts)
    areas = [a for a, k in zip(areas, keep) if k]
    parts_m = project(parts[keep], fwd) if areas else parts[keep]
    dist = shapely.distance(track_m, parts_m).tolist() if areas else []
    for a, part_m, d in zip(areas, parts_m, dist):
        track_d = min(track_d, d)
        if d <= rules.margin_m:
            hits.append(AreaHit(a, d, "overflight"))
            over_land.append(part_m)
    # the corridor's outline only for a message (most tracks overfly nothing; most that do send none)
    corridor: Lazy[tuple[tuple[float, float], ...]] = \
        Lazy(functools.partial(_corridor, track_m, over_land, rules.margin_m, inv)) if hits else Lazy.of(())
    return hits, corridor, track_d
