"""The boost-phase rule: what a prediction before burnout (``status="boost"``) names
(:func:`assess_boost`).

Before burnout the region at risk is the part of the ground track the flight reaches with at
least ``boost_alert_probability`` (:func:`boost_reach`), not the wide ellipse of every impact the
missile class allows. An area is named when the flight passes over it, ends in its sea
(:func:`boost_impact_chances`) or threatens it (:func:`boost_threat_chances`) with at least that
probability — and, the lateral test, still does with the path moved :data:`BOOST_CROSS_K` σ to
either side (:func:`_shifted`).

Part of :mod:`accord.warning.alerts.rules`: :func:`accord.warning.alerts.rules.assess` hands a
boost-phase prediction here; the geometry of each path is measured by
:func:`.region.assess_region`.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from accord.warning.alerts.geography import Geography, local_projection, lonlat_box, project
from accord.warning.alerts.rules.assessment import AreaHit, Assessment
from accord.warning.alerts.rules.geometry import lonlat_bounds, projection_centre
from accord.warning.alerts.rules.region import assess_region
from accord.warning.alerts.rules.settings import AlertRules
from accord.warning.types import Prediction


#: A boost-phase prediction names an area only when its path, moved this many σ to either side
#: (``track_sigma_m``), still touches it: the flight plane is not known better than that.
BOOST_CROSS_K = 3.0


def assess_boost(pred: Prediction, rules: AlertRules, geography: Geography) -> Assessment:
    """Assess a boost-phase prediction (``status="boost"``) against one party's rules (pure; no
    state): :func:`.region.assess_region` of the path the flight reaches with at least
    ``boost_alert_probability`` (:func:`boost_reach`), and only the areas it touches also when
    moved :data:`BOOST_CROSS_K` σ to either side."""
    cut = boost_reach(pred, rules.boost_alert_probability)
    if len(cut.ground_track) < 2:
        return assess_region(cut, rules, geography, boost=True)
    from dataclasses import replace

    a = assess_region(cut, rules, geography, boost=True)
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
            over &= set(assess_region(_shifted(cut, k), rules, geography, boost=True).area_codes)
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


def boost_reach(pred: Prediction, probability: float) -> Prediction:
    """A boost-phase prediction cut to the part of its ground track that the flight reaches
    with at least ``probability`` (``reach_prob``); no ground track when not even its start
    qualifies."""
    from dataclasses import replace

    keep = [i for i, q in enumerate(pred.reach_prob) if q >= probability]
    n = (keep[-1] + 1) if keep and keep[0] == 0 else 0
    return replace(pred, ground_track=pred.ground_track[:n], track_sigma_m=pred.track_sigma_m[:n])


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
    fwd, inv = local_projection(*projection_centre(float(lat.mean()), float(lon.mean())))
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


#: Longest step (m) between a boost path's points for which :data:`BOOST_LONLAT_SLACK_M` holds;
#: a path with a longer one has its resampled points inverse-projected instead.
BOOST_LONLAT_MAX_STEP_M = 60_000.0


def _resampled_lonlat(pred: Prediction, s: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of :func:`_boost_samples`' points ``s``, interpolated in lon/lat (within
    :data:`BOOST_LONLAT_SLACK_M` of them; for a prefilter) — or, on a path with a step longer
    than :data:`BOOST_LONLAT_MAX_STEP_M` (where the two interpolations part by more), the
    points themselves, inverse-projected."""
    _, inv, xs, ys, _, f = s
    per_step = np.bincount(np.floor(f[:-1]).astype(int))
    if per_step.max(initial=0) > BOOST_LONLAT_MAX_STEP_M / BOOST_STEP_M:   # ceil(step / BOOST_STEP_M) each
        lon_p, lat_p = inv.transform(xs, ys)
        return np.asarray(lon_p), np.asarray(lat_p)
    gt = pred.ground_track
    lat = np.array([q[0] for q in gt])
    lon = np.unwrap(np.array([q[1] for q in gt]), period=360.0)
    idx = np.arange(len(gt))
    return (np.interp(f, idx, lon) + 180.0) % 360.0 - 180.0, np.interp(f, idx, lat)


def _steps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The segments ``a[i]``–``b[i]`` as geometries, a zero-length one as its point (GEOS's
    distance from a prepared polygon to a zero-length line string is not the point's)."""
    steps = shapely.linestrings(np.stack([a, b], axis=1))
    same = (a == b).all(axis=1)
    if same.any():
        steps[same] = shapely.points(a[same])
    return steps


def _end_masses(xs: np.ndarray, ys: np.ndarray, rs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chance of ending on each resampled step (the drop of reach across it; beyond the
    last point, its reach) and where: the steps' midpoints, the last point for the last."""
    mass = np.append(rs[:-1] - rs[1:], rs[-1])
    return mass, np.append((xs[:-1] + xs[1:]) / 2, xs[-1]), np.append((ys[:-1] + ys[1:]) / 2, ys[-1])


def boost_impact_chances(pred: Prediction, rules: AlertRules, geography: Geography) -> dict[str, float]:
    """Before burnout, the chance that the flight *ends* where it threatens each area: along
    the ground track, the probability of ending between two points is the drop of ``reach_prob``
    between them; summed over the stretches in the party's land or territorial sea within
    ``territorial_m`` of the area's land (the region of :func:`impact_chances`)."""
    s = _boost_samples(pred)
    if s is None:
        return {}
    fwd, inv, xs, ys, rs, _ = s
    mass, xm, ym = _end_masses(xs, ys, rs)
    keep = mass > 0
    if not keep.any():
        return {}
    xm, ym, mass = xm[keep], ym[keep], mass[keep]
    reach_m = geography.territorial_m
    box = lonlat_bounds((xm.min(), ym.min(), xm.max(), ym.max()), reach_m, inv)
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
    mass, xm, ym = _end_masses(xs, ys, rs)
    reached = np.flatnonzero(rs >= floor) if floor > 0.0 else np.arange(len(rs))
    if not len(reached) or not (mass > 0).any():
        return {}
    reach_m = geography.territorial_m
    # a midpoint within reach_m of the land, or a step within margin_m, has its first point
    # within this of the land
    pad = max(reach_m, rules.margin_m) + BOOST_STEP_M
    lon, lat = _resampled_lonlat(pred, s)
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
        box = lonlat_bounds((xs[near].min(), ys[near].min(), xs[near].max(), ys[near].max()), pad, inv)
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
            steps = _steps(np.column_stack([xs[seg], ys[seg]]), np.column_stack([xs[seg + 1], ys[seg + 1]]))
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

