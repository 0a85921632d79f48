"""Which areas an impact names: the chance it falls in each area's sea (:func:`impact_chances`)
and the naming by those chances (:func:`name_by_chance`, :func:`name_areas`).

Part of :mod:`accord.warning.alerts.rules`: the impact test (:func:`.region.assess_region`)
calls these once the 95 % ellipse touches the party's land or territorial sea. The boost-phase
counterpart, the chance that a flight before burnout *ends* in an area's sea, is
:func:`.boost.boost_impact_chances`.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from accord.warning.alerts.geography import AdminArea, Geography
from accord.warning.alerts.rules.geometry import Ellipse, ellipse_points_m
from accord.warning.alerts.rules.settings import AlertRules
from accord.warning.identity import CHI2_2_95


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
    the party's land or territorial sea (``territory_m``) within ``reach_m`` (the rules pass
    :func:`sea_reach`: the territorial sea's 12 nmi, + ``margin_m`` once ``area_lead_s`` is left)
    of the area's land (``parts``: area, its land near the ellipse, in the same projection as
    ``centre_m``). The audit's "truly threatened" test
    (:func:`accord.warning.alerts.audit.missile_threats`) is the region widened by ``margin_m``,
    the documented margin a named area is judged with. Mass in the territory within
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


def sea_reach(geography: Geography, rules: AlertRules, time_left_s: float) -> float:
    """How far from an area's land its region for :func:`impact_chances` reaches: its sea
    (``territorial_m``) while more than ``area_lead_s`` is left before the impact, and once that
    is left, its sea widened by ``margin_m`` — the region the audit judges an area truly
    threatened by (:func:`accord.warning.alerts.audit.missile_threats`). An early warning names
    only the areas the impact is likely to fall in (``area_probability_early``); the last
    naming, the one that must warn every threatened area before the missile arrives, names every
    area whose sea the impact may fall in or miss by less than the margin (``area_probability``):
    an impact 3 km outside the 12-nmi line of an island's sea is as much a threat to its people
    as one 3 km inside, and the margin is the one the overflight test names by."""
    return geography.territorial_m + (rules.margin_m if time_left_s <= rules.area_lead_s else 0.0)


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
    * earlier, only the areas with at least ``area_probability_early``, and none yet (``[]``)
      when no area has it — not even the likeliest: the prediction has time to firm up, and a
      later one names the areas then likely (added by an Update, which a new area sends at
      once), at the latest once ``area_lead_s`` is left.

    So an early warning names a subset of what the same ellipse names later, and a neighbour
    with a modest chance is added only if it keeps it when the time left runs short."""
    if time_left_s <= rules.area_lead_s:
        return name_by_chance(chances, rules.area_probability) or None
    order = sorted(chances.items(), key=lambda kv: (-kv[1], kv[0]))
    return [c for c, q in order if q >= rules.area_probability_early]
