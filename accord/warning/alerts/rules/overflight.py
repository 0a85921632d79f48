"""The overflight test: the predicted ground track comes within ``margin_m`` of an area's land
(:func:`assess_overflight`) — and, while more than ``area_lead_s`` is left before it gets there,
does so with a high chance across the track's own uncertainty (:func:`overflight_chance`) — and
the CAP corridor drawn for it.

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
import shapely.ops
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


#: Spacing of the points at which the track is tested for where it first comes within
#: ``margin_m`` of an area (:func:`overflight_is_early`).
ENTRY_STEP_M = 2_000.0


def cross_sigma_m(pred: Prediction) -> float:
    """The 1-σ of the predicted impact point across the ground track (m): the impact
    covariance (``impact_cov_en_m2``, East-North) along the normal to the track's last segment;
    0 without a covariance or a track."""
    cov = pred.impact_cov_en_m2
    gt = pred.ground_track
    if cov is None or len(gt) < 2:
        return 0.0
    (la0, lo0), (la1, lo1) = gt[-2], gt[-1]
    de = math.radians((lo1 - lo0 + 180.0) % 360.0 - 180.0) * math.cos(math.radians(la1))
    dn = math.radians(la1 - la0)
    h = math.hypot(de, dn)
    if h == 0.0:
        return 0.0
    ne, nn = -dn / h, de / h                      # the unit normal (East, North)
    var = ne * ne * cov[0] + ne * nn * (cov[1] + cov[2]) + nn * nn * cov[3]
    return math.sqrt(var) if var > 0.0 else 0.0


def overflight_chance(d_m: float, margin_m: float, sigma_m: float) -> float:
    """The chance that the true track comes within ``margin_m`` of land the predicted one passes
    ``d_m`` from, its error across the track Gaussian with 1-σ ``sigma_m`` (land to one side:
    the true track is that much nearer it): Φ((margin − d) / σ); with no error, 1 or 0."""
    if sigma_m <= 0.0:
        return 1.0 if d_m <= margin_m else 0.0
    return 0.5 * math.erfc((d_m - margin_m) / (sigma_m * math.sqrt(2.0)))


def overflight_is_early(pred: Prediction, rules: AlertRules, track_m: BaseGeometry, part_m: BaseGeometry,
                        d_m: float, sigma_end_m: float) -> tuple[bool, float]:
    """Whether an overflight the predicted track makes (``d_m`` ≤ ``margin_m`` from the area's
    land ``part_m``) is still more than ``area_lead_s`` away, and its chance
    (:func:`overflight_chance`) at the track's point nearest the land. Along the track the
    time and the error across it are taken in proportion to the ground distance from its first
    point (the sub-missile point now, known to the tracker's metres) to the impact (the time
    left, ``sigma_end_m``): the points of a predicted track are evenly spaced in the arc's
    angle. The time to the overflight is that of the first point within ``margin_m`` of the
    land (tested every :data:`ENTRY_STEP_M`); within ``area_lead_s`` the chance is not needed
    (``nan``)."""
    length = float(track_m.length)
    left = pred.impact_t - pred.t
    if length <= 0.0 or left <= rules.area_lead_s:
        return False, math.nan
    near = shapely.ops.nearest_points(track_m, part_m)[0]
    f_near = float(track_m.project(near)) / length
    if f_near * left <= rules.area_lead_s:
        return False, math.nan
    # the first point of the track within the margin: not after the nearest one
    pts = shapely.get_coordinates(shapely.segmentize(track_m, ENTRY_STEP_M))
    shapely.prepare(part_m)
    within = np.flatnonzero(shapely.dwithin(part_m, shapely.points(pts), rules.margin_m))
    if within.size:
        f_entry = float(track_m.project(shapely.Point(pts[within[0]]))) / length
        if f_entry * left <= rules.area_lead_s:
            return False, math.nan
    return True, overflight_chance(d_m, rules.margin_m, f_near * sigma_end_m)


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
    # an overflight far ahead is named only with a high chance across the track's uncertainty
    # (ballistic predictions; the boost rule tests its path moved across by its own σ)
    sigma_end = cross_sigma_m(pred) if pred.status != "boost" else 0.0
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
            if sigma_end > 0.0:
                early, chance = overflight_is_early(pred, rules, track_m, part_m, d, sigma_end)
                if early and chance < rules.overflight_probability_early:
                    continue
            hits.append(AreaHit(a, d, "overflight"))
            over_land.append(part_m)
    # the corridor's outline only for a message (most tracks overfly nothing; most that do send none)
    corridor: Lazy[tuple[tuple[float, float], ...]] = \
        Lazy(functools.partial(_corridor, track_m, over_land, rules.margin_m, inv)) if hits else Lazy.of(())
    return hits, corridor, track_d

