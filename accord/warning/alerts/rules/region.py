"""The geometric assessment of one region at risk against one party's territory
(:func:`assess_region`): the 95 % impact ellipse (or, before burnout, the path at risk) against
the party's land and territorial sea, the areas it names, the nearest area for the wording, and
the overflight test.

Part of :mod:`accord.warning.alerts.rules`: :func:`accord.warning.alerts.rules.assess` calls it
for a prediction after burnout; the boost-phase rule (:mod:`.boost`) calls it on the path the
flight reaches and on that path moved to either side. The areas an impact names come from
:mod:`.chances`, the overflight from :mod:`.overflight`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import shapely
import shapely.ops
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from accord.warning.alerts.geography import AdminArea, Geography, local_projection, project, projected_bounds
from accord.warning.alerts.rules.assessment import AreaHit, Assessment, Lazy
from accord.warning.alerts.rules.chances import impact_chances, name_areas, sea_reach
from accord.warning.alerts.rules.geometry import (Ellipse, ellipse_polygon_m, impact_ellipse, lonlat_bounds,
                                                  projection_centre, ring_latlon)
from accord.warning.alerts.rules.overflight import assess_overflight, track_lonlat
from accord.warning.alerts.rules.settings import AlertRules
from accord.warning.types import Prediction


_GEOD = Geod(ellps="WGS84")


def assess_region(pred: Prediction, rules: AlertRules, geography: Geography, boost: bool = False) -> Assessment:
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
    ell_m = ellipse_polygon_m(e, centre=(cx, cy))
    if boost:
        # Before burnout the region at risk is the path the flight reaches with at least
        # ``boost_alert_probability`` (cut by :func:`.boost.assess_boost`), not the (wide)
        # ellipse of every impact the class allows.
        if len(pred.ground_track) < 2:
            return Assessment(rules.party, e, Lazy(functools.partial(ring_latlon, ell_m, inv)), (), (),
                              math.inf, Lazy.of(False))
        ell_m = project(track_lonlat(pred.ground_track), fwd).buffer(500.0, quad_segs=2)
    ring = Lazy(functools.partial(ring_latlon, ell_m, inv))
    aor = set(rules.areas)

    reach = geography.territorial_m + rules.margin_m + rules.clear_hysteresis_m
    candidates = geography.areas_within_bounds(rules.party, projected_bounds(ell_m, inv), reach)
    x0, y0, x1, y1 = lonlat_bounds(ell_m.bounds, reach, inv)
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
            # the boost's lateral test (:func:`.boost.assess_boost`): the moved path still over
            # the land, or within 12 nmi + margin of it while it meets the party's territory
            # anywhere (not necessarily this area's sea: docs/alerts.md, "Before burnout")
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
        if nearest is None or nearest[1] > reach:
            # no area's land within reach (sea off straight baselines, or an islet's): the nearest
            # of the candidates, found by their boxes, need not be the nearest area
            far = _nearest_far(geography, rules.party, ell_m, fwd, inv)
            nearest = far if far is not None and (nearest is None or far[1] < nearest[1]) else nearest
        owner = nearest[0] if nearest is not None else \
            geography.nearest_area(rules.party, e.lon_deg, e.lat_deg)
        time_left = pred.impact_t - pred.t
        chances = impact_chances(e, (cx, cy), terr_m, near_parts, sea_reach(geography, rules, time_left),
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

    near: Lazy[tuple[AdminArea, float, float] | None] = \
        Lazy(functools.partial(_nearest_of, land, e, geography, rules.party, cx, cy))
    on_land = Lazy(lambda: land.get()[0])

    over_hits: list[AreaHit] = []
    corridor: Lazy[tuple[tuple[float, float], ...]] = Lazy.of(())
    track_d = math.inf
    if rules.alert_on_overflight and len(pred.ground_track) >= 2:
        over_hits, corridor, track_d = assess_overflight(pred, rules, geography)

    region = Lazy(functools.partial(geography.where, e.lat_deg, e.lon_deg))
    hits_sorted = tuple(sorted(impact_hits, key=lambda h: h.area.code))
    over_sorted = tuple(sorted(over_hits, key=lambda h: h.area.code))
    codes = tuple(sorted({h.area.code for h in hits_sorted + over_sorted}))
    return Assessment(rules.party, e, ring, hits_sorted, over_sorted, dist_terr, on_land,
                      corridor, region, near, pred.status == "lost", codes, track_d,
                      tuple(sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))))


def _far_nearest(e: Ellipse, area: AdminArea) -> tuple[AdminArea, float, float]:
    """Distance and bearing from ``area``'s nearest point to a far-off impact point (wording
    only): geodesic on the WGS84 ellipsoid."""
    c = shapely.Point(e.lon_deg, e.lat_deg)
    q = shapely.ops.nearest_points(area.geometry, c)[0]
    az, _, d = _GEOD.inv(q.x, q.y, c.x, c.y)
    return (area, float(d), float(az) % 360)


FAR_OWNER_M = 400_000.0
"""How far from an ellipse that touches territorial sea with no area within reach its owner is
looked for (straight baselines lie tens of km off the coast, their sea 12 nmi beyond)."""


def _nearest_far(geography: Geography, party: str, ell_m: BaseGeometry, fwd: Any, inv: Any
                 ) -> tuple[AdminArea, float, BaseGeometry] | None:
    """The party's area nearest the ellipse in metres (as :func:`_near_land` measures), within
    :data:`FAR_OWNER_M`: the territorial sea it touches lies farther than ``territorial_m`` from
    every area's land. (The nearest in degrees from the impact point, which the wording uses, may
    be another area: a degree of longitude is shorter than one of latitude.)"""
    candidates = geography.areas_within_bounds(party, projected_bounds(ell_m, inv), FAR_OWNER_M)
    x0, y0, x1, y1 = lonlat_bounds(ell_m.bounds, FAR_OWNER_M, inv)
    if x1 - x0 > 180:
        x0, x1 = -180.0, 180.0
    return _near_land(geography, candidates, (x0, y0, x1, y1), fwd, ell_m, set())[1]


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

