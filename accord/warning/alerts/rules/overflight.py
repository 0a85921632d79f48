"""The overflight test: the predicted ground track comes within ``margin_m`` of an area's land
(:func:`assess_overflight`), and the CAP corridor drawn for it.

Part of :mod:`accord.warning.alerts.rules`: called by the impact test
(:func:`.region.assess_region`) for every prediction with a ground track, when the party's rules
alert on overflight.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from accord.warning.alerts.geography import Geography, local_projection, project, projected_bounds
from accord.warning.alerts.rules.assessment import AreaHit, Lazy
from accord.warning.alerts.rules.geometry import projection_centre, ring_latlon
from accord.warning.alerts.rules.settings import AlertRules
from accord.warning.types import Prediction


def _corridor(track_m: BaseGeometry, parts_m: list[BaseGeometry], margin_m: float, inv: Any) -> tuple[tuple[float, float], ...]:
    """The CAP polygon of an overflight: the part of the corridor (the track's buffer by
    ``margin_m``) over, or within the margin of, the land it overflies (``parts_m``), as one
    simplified outline (its convex hull when the land cuts it into pieces)."""
    corridor_m = track_m.buffer(margin_m, quad_segs=4)
    over = shapely.union_all([corridor_m.intersection(p.buffer(margin_m, quad_segs=2)) for p in parts_m])
    outline = over if isinstance(over, Polygon) else over.convex_hull
    outline = outline.simplify(500.0)
    if isinstance(outline, Polygon) and not outline.is_empty:
        return ring_latlon(outline, inv)
    return ()


def track_lonlat(ground_track: tuple[tuple[float, float], ...]) -> BaseGeometry:
    """The ground track (lat, lon pairs) as a lon/lat LineString (built from an array: the same
    coordinates as from a list of tuples, without a Python loop)."""
    return shapely.linestrings(np.array(ground_track, dtype=float)[:, ::-1])


def assess_overflight(pred: Prediction, rules: AlertRules, geography: Geography):
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
    fwd, inv = local_projection(*projection_centre(mid_lat, mid_lon))
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

