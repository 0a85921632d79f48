"""The alert path's cheaper forms give what the forms they replace give, exactly.

* The engine computes a prediction's assessment on first use (:class:`engine._Lazy`): engines
  that assess every prediction at once and on first use send byte-identical messages and keep
  the same state on the seeded salvos; a bad prediction still raises before any state changes.
* ``Geography.areas_within_bounds`` compares the areas' envelopes as arrays: the same areas, in
  the same order, as the party's STRtree query; ``meets_party`` queries all boxes at once: the
  same answer as one box at a time.
* ``impact_chances`` settles a node near a few vertices by comparing every pair: the same
  nodes as the k-d tree up to the rounding the 1 m slack absorbs.

Each comparison is made against the replaced form written out here, on random inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from alerts_helpers import make_pred, path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from accord.errors import InputError
from accord.warning.alerts import AlertEngine, AlertRules
from accord.warning.alerts import engine as engine_mod
from accord.warning.alerts.geography import lonlat_box
from accord.warning.alerts.rules.chances import _near_a_vertex
from accord.warning.types import Ellipse95

PARTIES = ("JPN", "KOR", "USA")


# --- the engine: assessed on first use -----------------------------------------------------

def _eager(m: pytest.MonkeyPatch) -> None:
    """The plain form: every prediction assessed when it arrives."""
    m.setattr(engine_mod.AlertEngine, "_assessment",
              lambda self, p: engine_mod._Deferred(self, p) if (p.track_id not in self._by_track
                                                               and self._out_of_reach(p))
              else self.assess(p))


@pytest.mark.parametrize(("seed", "party"), [pytest.param(seed, party, id=f"{seed}-{party}")
                                             for seed in (2, 7) for party in ("JPN", "KOR")])
def test_lazy_and_eager_assessments_give_the_same_messages_and_state_on_random_salvos(geo, monkeypatch, seed,
                                                                                      party):
    import test_alerts_salvos as salvos

    computed = []
    orig = engine_mod.AlertEngine.assess

    def counting(self, p):
        computed.append(p.track_id)
        return orig(self, p)

    with monkeypatch.context() as m:
        m.setattr(engine_mod.AlertEngine, "assess", counting)
        lazy, _ = salvos.feed(seed, missiles=4, party=party, geo=geo)
    n_lazy = len(computed)
    computed.clear()
    with monkeypatch.context() as m:
        m.setattr(engine_mod.AlertEngine, "assess", counting)
        _eager(m)
        eager, _ = salvos.feed(seed, missiles=4, party=party, geo=geo)
    n_eager = len(computed)
    assert [x.xml for x in lazy] == [x.xml for x in eager]
    assert lazy                  # each of these cases alerts: the equality compares messages
    assert n_lazy <= n_eager


def test_lazy_and_eager_engines_keep_the_same_state_step_by_step(geo, monkeypatch):
    """A track handed a tighter impact by its incident (its own prediction never read), beside
    one far off: the snapshots agree after every prediction."""
    rules = AlertRules(party="JPN")
    preds = []
    for i, t in enumerate(range(100, 400, 5)):
        # the ellipse widens and narrows: the incident keeps the tighter impact for a while
        a = 4_000 + 30_000 * abs(np.sin(i / 6))
        preds.append(make_pred(t, 40.8, 140.7 + 0.002 * i, a, 3_000, 30, impact_t=420,
                               ground_track=path(39.0, 132.0, 40.8, 140.7 + 0.002 * i, n=24), track="T1"))
        preds.append(make_pred(t, 35.0, 124.0 + 0.01 * i, 5_000, 2_000, 0, impact_t=420,
                               ground_track=path(37.0, 125.0, 35.0, 124.0), track="T2"))

    def run():
        eng = AlertEngine(rules, geo, "accord.test.example", "Exercise")
        return [([x.xml for x in eng.on_prediction(p, p.t)], json.dumps(eng.snapshot(), sort_keys=True))
                for p in preds]

    lazy = run()
    with monkeypatch.context() as m:
        _eager(m)
        eager = run()
    assert lazy == eager
    assert any(ms for ms, _ in lazy)


def test_a_bad_prediction_still_raises_before_any_state_changes(geo):
    eng = AlertEngine(AlertRules(party="JPN"), geo, "accord.test.example", "Exercise")
    good = make_pred(100, 40.8, 140.7, 8_000, 3_000, 30, impact_t=420, ground_track=path(39.0, 132.0, 40.8, 140.7))
    assert eng.on_prediction(good, 100.0)
    before = json.dumps(eng.snapshot(), sort_keys=True)
    bad = make_pred(101, 40.8, 140.7, 8_000, 3_000, 30, impact_t=420, track="T1")
    bad = bad.__class__(**{**bad.__dict__, "impact_ellipse_95": Ellipse95(float("nan"), 1.0, 0.0),
                           "impact_cov_en_m2": None})
    with pytest.raises(InputError):
        eng.on_predictions([good.__class__(**{**good.__dict__, "t": 101.0}), bad], 101.0)
    assert json.dumps(eng.snapshot(), sort_keys=True) == before


# --- the geography's box queries ----------------------------------------------------------

def _tree_areas(geo, party, bounds, distance_m):
    """The plain form of ``areas_within_bounds``: the party's STRtree, queried with the box."""
    x0, y0, x1, y1 = bounds
    box = lonlat_box((y0, y1), (x0, x1), distance_m)
    if box is None:
        dlat = distance_m / 110_000.0
        box = (-180.0, max(y0 - dlat, -90.0), 180.0, min(y1 + dlat, 90.0))
    areas = geo.party(party).areas
    idx = shapely.STRtree([a.geometry for a in areas]).query(shapely.box(*box))
    return [areas[i].code for i in sorted(idx)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party=st.sampled_from(PARTIES), k=st.integers(0, 10**6), w=st.floats(0, 3), h=st.floats(0, 3),
       d=st.one_of(st.just(0.0), st.floats(0, 400_000)), edge=st.sampled_from([None, 0, 1, 2, 3]))
def test_areas_within_bounds_are_the_tree_query(geo, party, k, w, h, d, edge):
    areas = geo.party(party).areas
    if edge is not None:
        # a box beside an area's envelope, one of its edges on the envelope's: touching counts,
        # as in the tree (the box is grown by a distance of 0 m: lonlat_box keeps it as it is)
        x0, y0, x1, y1 = areas[k % len(areas)].geometry.bounds
        bounds = [(x1, y0, x1 + w, y1), (x0 - w, y0, x0, y1), (x0, y1, x1, y1 + h), (x0, y0 - h, x1, y0)][edge]
        d = 0.0
    else:
        xy = shapely.get_coordinates(geo.party(party).territorial)
        x, y = xy[k % len(xy)]
        bounds = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    got = [a.code for a in geo.areas_within_bounds(party, bounds, d)]
    assert got == _tree_areas(geo, party, bounds, d)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party=st.sampled_from(PARTIES), k=st.integers(0, 10**6),
       boxes=st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(0, 2), st.floats(0, 2)),
                      min_size=0, max_size=3))
def test_meets_party_is_one_box_at_a_time(geo, party, k, boxes):
    xy = shapely.get_coordinates(geo.party(party).territorial)
    x, y = xy[k % len(xy)]
    bs = [(x + dx, y + dy, x + dx + w, y + dy + h) for dx, dy, w, h in boxes]
    parts = geo._reach_parts[party]
    tree = shapely.STRtree(parts)
    plain = any(bool(shapely.intersects(parts[tree.query(shapely.box(*b))], shapely.box(*b)).any()) for b in bs)
    assert geo.meets_party(party, bs) == plain


def test_the_box_queries_see_near_and_far(geo):
    """Not vacuous: near the coast they find areas and parts, far off none."""
    assert geo.areas_within_bounds("JPN", (139.0, 35.0, 140.0, 36.0), 10_000.0)
    assert not geo.areas_within_bounds("JPN", (170.0, 10.0, 171.0, 11.0), 10_000.0)
    assert geo.meets_party("JPN", [(170.0, 10.0, 171.0, 11.0), (139.0, 35.0, 140.0, 36.0)])
    assert not geo.meets_party("JPN", [(170.0, 10.0, 171.0, 11.0)])


# --- impact_chances: the vertex settle -----------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), nv=st.integers(1, 400), nq=st.integers(1, 1200),
       r=st.floats(0.0, 40_000.0))
def test_near_a_vertex_is_the_k_d_tree(seed, nv, nq, r):
    rng = np.random.default_rng(seed)
    v = rng.uniform(-30_000, 30_000, (nv, 2))
    q = rng.uniform(-60_000, 60_000, (nq, 2))
    d = np.sqrt(((q[:, None, :] - v[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    got = _near_a_vertex(v, q, r)
    tree = np.isfinite(cKDTree(v).query(q, k=1, distance_upper_bound=r)[0])
    # the two agree but where a node lies within a millimetre of the bound, where either
    # answer leaves it within reach (the rules settle only at reach - 1 m)
    clear = np.abs(d - r) > 1e-3
    assert (got[clear] == tree[clear]).all()
    assert (got[clear] == (d[clear] < r)).all()
