"""The alert rules' assessment computed the plain way, as a reference for the tests of the fast
one (``test_alerts_exact.py``): every field at once, each area clipped, projected and measured
on its own, the ellipse translated to its centre, every impact node tested against every area.
A copy of :func:`accord.warning.alerts.rules.assess` before its cost was cut; the fast one must
give the same values, bit for bit."""

# ruff: noqa: E501
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from accord.warning.alerts.geography import AdminArea, Geography, NamedRegion, local_projection, project
from accord.warning.alerts.rules import (BOOST_CROSS_K, BOOST_STEP_M, NODE_WEIGHT, NODES, AlertRules, AreaHit, Ellipse,
                                         boost_impact_chances, boost_reach, ellipse_polygon_m,
                                         impact_ellipse, name_areas)
from accord.warning.alerts.rules.boost import _shifted
from accord.warning.alerts.rules.geometry import lonlat_bounds, projection_centre, ring_latlon
from accord.warning.alerts.rules.overflight import cross_sigma_m, overflight_is_early
from accord.warning.alerts.rules.region import _far_nearest
from accord.warning.identity import CHI2_2_95
from accord.warning.types import Prediction


@dataclass(frozen=True)
class PlainAssessment:
    party: str
    ellipse: Ellipse
    ring_latlon: tuple[tuple[float, float], ...]
    impact_hits: tuple[AreaHit, ...]
    overflight_hits: tuple[AreaHit, ...]
    distance_to_territory_m: float
    impact_on_land: bool
    corridor_latlon: tuple[tuple[float, float], ...] = ()
    impact_region: NamedRegion | None = None
    nearest: tuple[AdminArea, float, float] | None = None
    lost: bool = False
    area_codes: tuple[str, ...] = field(default=())
    track_distance_m: float = math.inf
    impact_chances: tuple[tuple[str, float], ...] = ()


def assess(pred: Prediction, rules: AlertRules, geography: Geography) -> PlainAssessment:
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
    threat = {c for c, q in boost_threat_chances(pred, rules, geography).items()
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
            threat &= {c for c, q in boost_threat_chances(_shifted(pred, k), rules, geography).items()
                       if q >= rules.boost_alert_probability}
    areas = {x.code: x for x in geography.party(rules.party).areas}
    falls |= threat
    return replace(a, impact_hits=tuple(AreaHit(areas[c], math.nan, "waters") for c in sorted(falls)),
                   overflight_hits=tuple(h for h in a.overflight_hits if h.area.code in over),
                   area_codes=tuple(sorted(falls | over)),
                   impact_chances=tuple(sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))))


def _assess(pred: Prediction, rules: AlertRules, geography: Geography, boost: bool = False) -> PlainAssessment:
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
    fwd, inv = local_projection(*projection_centre(e.lat_deg, e.lon_deg))
    cx, cy = fwd.transform(e.lon_deg, e.lat_deg)
    ell_m = shapely.affinity.translate(ellipse_polygon_m(e), cx, cy)
    if boost:
        # Before burnout the region at risk is the path the flight reaches with at least
        # ``boost_alert_probability`` (cut by :func:`assess`), not the (wide) ellipse of every
        # impact the class allows.
        if len(pred.ground_track) < 2:
            return PlainAssessment(rules.party, e, ring_latlon(ell_m, inv), (), (), math.inf, False)
        ell_m = project(LineString([(lon, lat) for lat, lon in pred.ground_track]), fwd).buffer(500.0, quad_segs=2)
    ring = ring_latlon(ell_m, inv)
    aor = set(rules.areas)

    reach = geography.territorial_m + rules.margin_m + rules.clear_hysteresis_m
    candidates = geography.areas_within(rules.party, project(ell_m, inv), reach)
    x0, y0, x1, y1 = lonlat_bounds(ell_m.bounds, reach, inv)
    if x1 - x0 > 180:  # the zone wraps the antimeridian: look everywhere in longitude
        x0, x1 = -180.0, 180.0
    clip = (x0, y0, x1, y1)

    impact_hits: list[AreaHit] = []
    dist_terr = math.inf
    terr_m: BaseGeometry | None = None
    # not only when an area is within reach: behind and off straight baselines the territorial sea
    # lies farther than ``territorial_m`` from the nearest area's land
    terr_ll = geography.territorial_in(rules.party, *clip)
    if terr_ll is not None and not terr_ll.is_empty:
        terr_m = project(terr_ll, fwd)
        dist_terr = float(ell_m.distance(terr_m))
    impact_on_land = False
    nearest: tuple[AdminArea, float, float] | None = None
    near_parts: list[tuple[AdminArea, BaseGeometry, float]] = []
    for a in candidates:
        part = shapely.clip_by_rect(a.geometry, *clip)
        if part.is_empty:
            continue
        part_m = project(part, fwd)
        d = float(ell_m.distance(part_m))
        if d == 0.0:
            impact_on_land = impact_on_land or not aor or a.code in aor
        if nearest is None or d < nearest[1]:
            p_near = shapely.ops.nearest_points(part_m, shapely.Point(cx, cy))[0]
            brg = math.degrees(math.atan2(cx - p_near.x, cy - p_near.y)) % 360
            nearest = (a, d, brg)
        if aor and a.code not in aor:
            continue
        if boost:
            # the boost's lateral test (:func:`assess`): the moved path still over the land, or
            # through the area's territorial sea
            if d <= rules.margin_m or (dist_terr == 0.0 and d <= geography.territorial_m + rules.margin_m):
                impact_hits.append(AreaHit(a, d, "waters"))
        elif d <= geography.territorial_m + rules.margin_m:
            near_parts.append((a, part_m, d))
    chances: dict[str, float] = {}
    if dist_terr > 0.0:
        # The ellipse does not touch land or territorial sea: an EEZ-only (or high-seas) landing.
        impact_hits = []
    elif not boost:
        owner = nearest[0] if nearest is not None else \
            geography.nearest_area(rules.party, e.lon_deg, e.lat_deg)
        time_left = pred.impact_t - pred.t
        chances = impact_chances(e, (cx, cy), terr_m, near_parts, geography.territorial_m + (rules.margin_m if time_left <= rules.area_lead_s else 0.0),
                                 owner if not aor or owner.code in aor else None)
        named = name_areas(chances, rules, time_left)
        if named is None and (not aor or owner.code in aor):
            # the ellipse touches the territory and time is short: an alert, naming the likeliest
            named = [max(chances.items(), key=lambda kv: (kv[1], kv[0]))[0]] if chances else [owner.code]
        named = named or []
        by_code = {a.code: (a, d) for a, _, d in near_parts}
        if owner.code not in by_code:
            by_code[owner.code] = (owner, nearest[1] if nearest is not None else math.inf)
        impact_hits = [AreaHit(by_code[c][0], by_code[c][1], "land" if by_code[c][1] <= rules.margin_m else "waters")
                       for c in named]

    if nearest is None:
        nearest = _far_nearest(e, geography.nearest_area(rules.party, e.lon_deg, e.lat_deg))

    over_hits: list[AreaHit] = []
    corridor: tuple[tuple[float, float], ...] = ()
    track_d = math.inf
    if rules.alert_on_overflight and len(pred.ground_track) >= 2:
        over_hits, corridor, track_d = _overflight(pred, rules, geography)

    region = geography.where(e.lat_deg, e.lon_deg)
    hits_sorted = tuple(sorted(impact_hits, key=lambda h: h.area.code))
    over_sorted = tuple(sorted(over_hits, key=lambda h: h.area.code))
    codes = tuple(sorted({h.area.code for h in hits_sorted + over_sorted}))
    return PlainAssessment(rules.party, e, ring, hits_sorted, over_sorted, dist_terr, impact_on_land,
                      corridor, region, nearest, pred.status == "lost", codes, track_d,
                      tuple(sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))))


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
    u = np.array([math.sin(math.radians(e.bearing_deg)), math.cos(math.radians(e.bearing_deg))])
    v = np.array([u[1], -u[0]])
    xy = (np.outer(NODES[:, 0] * e.semi_major_m / s, u) + np.outer(NODES[:, 1] * e.semi_minor_m / s, v)
          + np.asarray(centre_m))
    shapely.prepare(territory_m)
    inside = shapely.contains_xy(territory_m, xy[:, 0], xy[:, 1])
    if not inside.any():
        return {}
    pts = shapely.points(xy[inside])
    claimed = np.zeros(len(pts), dtype=bool)
    out: dict[str, float] = {}
    for a, part_m, _ in parts:
        near = shapely.dwithin(part_m, pts, reach_m)
        claimed |= near
        if near.any():
            out[a.code] = out.get(a.code, 0.0) + float(near.sum()) * NODE_WEIGHT
    left = float((~claimed).sum()) * NODE_WEIGHT
    if left > 0.0 and owner is not None:
        out[owner.code] = out.get(owner.code, 0.0) + left
    return out


def _overflight(pred: Prediction, rules: AlertRules, geography: Geography):
    pts = [(lon, lat) for lat, lon in pred.ground_track]
    lons = [p[0] for p in pts]
    if max(lons) - min(lons) > 180:  # crosses the antimeridian: unwrap to 0..360 for the centre
        lons = [x + 360 if x < 0 else x for x in lons]
    mid_lon = (min(lons) + max(lons)) / 2
    mid_lon = mid_lon - 360 if mid_lon > 180 else mid_lon
    mid_lat = (min(p[1] for p in pts) + max(p[1] for p in pts)) / 2
    fwd, inv = local_projection(*projection_centre(mid_lat, mid_lon))
    track_m = project(LineString(pts), fwd)
    corridor_m = None  # built at the first hit: most tracks overfly nothing
    # land this near the track keeps an open alert open (the clearing hysteresis)
    reach = rules.margin_m + rules.clear_hysteresis_m
    hits: list[AreaHit] = []
    aor = set(rules.areas)
    over_land = []
    # at least a metre: a line buffered by 0 is empty and its bounds NaN (GEOS then clips
    # nothing: every area measured whole, with a RuntimeWarning)
    x0, y0, x1, y1 = project(track_m.buffer(max(reach, 1.0), quad_segs=2), inv).bounds
    if x1 - x0 > 180:
        x0, x1 = -180.0, 180.0
    track_d = math.inf
    # an overflight far ahead: the rules' own test (nothing of it was cut for cost)
    sigma_end = cross_sigma_m(pred) if pred.status != "boost" else 0.0
    for a in geography.areas_within(rules.party, LineString(pts), reach):
        if aor and a.code not in aor:
            continue
        part = shapely.clip_by_rect(a.geometry, x0, y0, x1, y1)
        if part.is_empty:
            continue
        part_m = project(part, fwd)
        d = float(track_m.distance(part_m))
        track_d = min(track_d, d)
        if d <= rules.margin_m:
            if sigma_end > 0.0:
                early, chance = overflight_is_early(pred, rules, track_m, part_m, d, sigma_end)
                if early and chance < rules.overflight_probability_early:
                    continue
            hits.append(AreaHit(a, d, "overflight"))
            if corridor_m is None:
                corridor_m = track_m.buffer(rules.margin_m, quad_segs=4)
            over_land.append(corridor_m.intersection(part_m.buffer(rules.margin_m, quad_segs=2)))
    corridor: tuple[tuple[float, float], ...] = ()
    if hits:
        # The CAP polygon: the part of the corridor over (or within the margin of) the land,
        # as one simplified outline (its convex hull when the land cuts it into pieces).
        over = shapely.union_all(over_land)
        outline = over if isinstance(over, Polygon) else over.convex_hull
        outline = outline.simplify(500.0)
        if isinstance(outline, Polygon) and not outline.is_empty:
            corridor = ring_latlon(outline, inv)
    return hits, corridor, track_d


def boost_threat_chances(pred: Prediction, rules: AlertRules, geography: Geography) -> dict[str, float]:
    """The plain threat chance (``rules.boost_threat_chances`` without its prefilters): the
    whole path resampled, the territory in its whole box, every area near it measured."""
    gt, reach = pred.ground_track, pred.reach_prob
    if len(gt) < 2 or len(reach) != len(gt):
        return {}
    lat = np.array([q[0] for q in gt])
    lon = np.array([q[1] for q in gt])
    fwd, inv = local_projection(*projection_centre(float(lat.mean()), float(lon.mean())))
    x, y = fwd.transform(lon, lat)
    x, y, r = np.asarray(x), np.asarray(y), np.asarray(reach, dtype=float)
    n = np.maximum(np.ceil(np.hypot(np.diff(x), np.diff(y)) / BOOST_STEP_M).astype(int), 1)
    f = np.concatenate([i + np.arange(k) / k for i, k in enumerate(n)] + [[len(x) - 1.0]])
    idx = np.arange(len(x))
    xs, ys, rs = np.interp(f, idx, x), np.interp(f, idx, y), np.interp(f, idx, r)
    mass = np.append(rs[:-1] - rs[1:], rs[-1])
    xm = np.append((xs[:-1] + xs[1:]) / 2, xs[-1])
    ym = np.append((ys[:-1] + ys[1:]) / 2, ys[-1])
    if not (mass > 0).any():
        return {}
    reach_m = geography.territorial_m
    pad = max(reach_m, rules.margin_m)
    box = lonlat_bounds((xs.min(), ys.min(), xs.max(), ys.max()), pad, inv)
    terr_ll = geography.territorial_in(rules.party, *box)
    if terr_ll is None or terr_ll.is_empty:
        return {}
    terr_m = project(terr_ll, fwd)
    ends = shapely.points(xm, ym)
    inside = shapely.contains_xy(terr_m, xm, ym) & (mass > 0)
    a, b = np.column_stack([xs[:-1], ys[:-1]]), np.column_stack([xs[1:], ys[1:]])
    steps = np.array([shapely.Point(p) if (p == q).all() else shapely.LineString([p, q]) for p, q in zip(a, b)],
                     dtype=object)
    out: dict[str, float] = {}
    aor = set(rules.areas)
    for ar in geography.areas_within(rules.party, project(shapely.multipoints(shapely.points(xs, ys)), inv), pad):
        if aor and ar.code not in aor:
            continue
        part = shapely.clip_by_rect(ar.geometry, *box)
        if part.is_empty:
            continue
        part_m = project(part, fwd)
        sea = np.zeros(len(xm), dtype=bool)
        sea[inside] = shapely.dwithin(part_m, ends[inside], reach_m)
        over = np.flatnonzero(shapely.dwithin(part_m, steps, rules.margin_m))
        first = int(over[0]) if len(over) else len(xm)
        q = float(mass[:first][sea[:first]].sum()) + (float(rs[first + 1]) if first < len(xm) else 0.0)
        if q > 0.0:
            out[ar.code] = min(q, 1.0)
    return out
