"""The alert engine's fast path decides exactly as the plain one.

A prediction of a track bound to no incident whose ellipse and ground track lie far from the
party's land, territorial sea and areas is not assessed unless something needs more than "it
does not qualify" (:meth:`AlertEngine._out_of_reach`, :class:`accord.warning.alerts.engine._Deferred`).
Two properties: every prediction the test calls out of reach really does not qualify (random
predictions near and far from the parties' coasts, boost-phase ones included, under random
rules), and engines with and without the fast path give byte-identical messages and state on the
seeded salvos of ``test_alerts_salvos`` (hand-overs, gaps, identity errors, a restart).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from alerts_helpers import make_pred, offset, path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.warning import identity
from accord.warning.alerts import AlertEngine, AlertRules
from accord.warning.alerts.engine import _Deferred
from accord.warning.alerts.geography import lonlat_box
from accord.warning.alerts.rules import assess
from accord.warning.types import Prediction

PARTIES = ("JPN", "KOR", "USA")


def _coast_point(geo, party: str, k: int) -> tuple[float, float]:
    """A vertex of the party's territorial sea outline (lat, lon), chosen by ``k``."""
    xy = shapely.get_coordinates(geo.party(party).territorial)
    x, y = xy[k % len(xy)]
    return float(y), float(x)


def _move(lat: float, lon: float, dist_m: float, brg_deg: float) -> tuple[float, float]:
    r = 6_371_000.0
    lat2 = lat + math.degrees(dist_m * math.cos(math.radians(brg_deg)) / r)
    lon2 = lon + math.degrees(dist_m * math.sin(math.radians(brg_deg)) / (r * max(math.cos(math.radians(lat)), 0.05)))
    return max(min(lat2, 80.0), -80.0), (lon2 + 180.0) % 360.0 - 180.0


BEARINGS = st.one_of(st.sampled_from([0.0, 90.0, 180.0, 270.0]), st.floats(0, 360))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party=st.sampled_from(PARTIES), k=st.integers(0, 10**6), passing=st.booleans(),
       dist=st.one_of(st.floats(0, 150_000), st.floats(0, 600_000)), brg=BEARINGS,
       a=st.one_of(st.floats(300, 30_000), st.floats(500, 600_000)), ratio=st.floats(0.05, 1.0),
       ebrg=st.floats(0, 180), track_len=st.floats(0, 1_500_000), track_brg=BEARINGS,
       status=st.sampled_from(["tracking", "tracking", "lost", "boost"]),
       margin=st.floats(0, 60_000), hyst=st.floats(0, 60_000), overflight=st.booleans())
def test_out_of_reach_never_hides_a_qualifying_prediction(geo, party, k, passing, dist, brg, a, ratio, ebrg,
                                                          track_len, track_brg, status, margin, hyst, overflight):
    lat0, lon0 = _coast_point(geo, party, k)
    if passing:
        # a ground track passing ``dist`` from the coast point on bearing ``track_brg`` (the
        # case where only the path, not the impact, comes near the party)
        mlat, mlon = _move(lat0, lon0, dist, track_brg + 90.0)
        slat, slon = _move(mlat, mlon, track_len / 2, track_brg + 180.0)
        lat, lon = _move(mlat, mlon, track_len / 2 + 200_000.0, track_brg)
    else:
        lat, lon = _move(lat0, lon0, dist, brg)
        slat, slon = _move(lat, lon, track_len, track_brg)          # where the ground track starts
    gt = path(slat, slon, lat, lon, n=24) if track_len > 0 and abs(slon - lon) < 180 else ()
    p = make_pred(100, lat, lon, a, a * ratio, ebrg, impact_t=400, ground_track=gt,
                  status=status)
    if status == "boost":
        p = Prediction(**{**p.__dict__, "reach_prob": tuple(np.linspace(1.0, 0.5, len(gt)).tolist()),
                          "track_sigma_m": (2_000.0,) * len(gt)})
    rules = AlertRules(party=party, margin_m=margin, clear_hysteresis_m=hyst, alert_on_overflight=overflight)
    eng = AlertEngine(rules, geo, "accord.test.example", "Exercise")
    if eng._out_of_reach(p):
        assert not assess(p, rules, geo).qualifies


def test_out_of_reach_is_taken_far_from_the_party_and_not_near_it(geo):
    eng = AlertEngine(AlertRules(party="JPN"), geo, "accord.test.example", "Exercise")
    # the Yellow Sea, flown from the Korean peninsula's west coast: far from Japan
    assert eng._out_of_reach(make_pred(100, 36.0, 123.5, 20_000, 8_000, 0, ground_track=path(37.0, 125.0, 36.0, 123.5)))
    # the same impact point with a huge ellipse, or a path from Honshu: not
    assert not eng._out_of_reach(make_pred(100, 36.0, 123.5, 900_000, 8_000, 0))
    assert not eng._out_of_reach(make_pred(100, 36.0, 123.5, 20_000, 8_000, 0, ground_track=path(36.5, 136.0, 36.0, 123.5)))
    # just off Hokkaido's coast
    assert not eng._out_of_reach(make_pred(100, 43.3, 139.9, 8_000, 4_000, 90))


def test_lonlat_box_holds_the_radius_and_refuses_poles_and_the_antimeridian():
    x0, y0, x1, y1 = lonlat_box([40.0], [135.0], 100_000.0)
    for brg in range(0, 360, 15):
        lat, lon = _move(40.0, 135.0, 99_000.0, brg)
        assert x0 <= lon <= x1 and y0 <= lat <= y1
    assert lonlat_box([84.5], [0.0], 100_000.0) is None
    assert lonlat_box([52.0], [179.5], 100_000.0) is None
    assert lonlat_box([52.0, 52.0], [-170.0, 170.0], 1.0) is None
    assert lonlat_box([], [], 1.0) is None


def _plain(monkeypatch):
    monkeypatch.setattr(AlertEngine, "_out_of_reach", lambda self, p: False)


# one case a test, so the cases spread over the suite's processes (each runs the engine twice)
SALVO_CASES = [pytest.param(seed, party, id=f"{seed}-{party}") for seed in (1, 5, 9) for party in ("JPN", "KOR")]


def _same_messages_on_salvo(geo, monkeypatch, seed: int, party: str, fast, plain) -> list:
    """Feeds the seeded salvo of ``test_alerts_salvos`` once with ``fast`` and once with ``plain``
    applied (each a function patching a ``monkeypatch`` context), asserts the two runs give
    byte-identical messages, and returns the fast run's messages for the caller's own checks."""
    import test_alerts_salvos as salvos

    runs = []
    for patch in (fast, plain):
        with monkeypatch.context() as m:
            patch(m)
            runs.append(salvos.feed(seed, missiles=4, party=party, geo=geo)[0])
    fast_msgs, plain_msgs = runs
    assert [x.xml for x in fast_msgs] == [x.xml for x in plain_msgs]
    return fast_msgs


@pytest.mark.parametrize(("seed", "party"), SALVO_CASES)
def test_fast_and_plain_engines_give_the_same_messages_on_random_salvos(geo, monkeypatch, seed, party):
    deferred = []
    orig = _Deferred.__init__

    def count(self, engine, pred):
        deferred.append(pred.track_id)
        orig(self, engine, pred)

    fast = _same_messages_on_salvo(geo, monkeypatch, seed, party,
                                   fast=lambda m: m.setattr(_Deferred, "__init__", count), plain=_plain)
    assert deferred   # the fast path was taken, not only the plain one
    assert fast or party == "KOR"   # every JPN case alerts: the equality compares messages


def test_fast_and_plain_engines_keep_the_same_state(geo, monkeypatch):
    """Predictions far off, then near, then off again: deferred assessments are computed when an
    incident takes their track, and the engines' snapshots agree at every step."""
    rules = AlertRules(party="JPN")
    preds = []
    for i, t in enumerate(range(100, 400, 5)):
        f = i / 60
        # a track from the Yellow Sea curving onto Hokkaido and away again
        lat, lon = 36.0 + 7.0 * math.sin(math.pi * f), 123.5 + 17.5 * math.sin(math.pi * f)
        preds.append(make_pred(t, lat, lon, 30_000 * (1 - f) + 500, 8_000, 30, impact_t=420,
                               ground_track=path(37.0, 125.0, lat, lon, n=24), track="T1"))
        preds.append(make_pred(t, 35.0, 124.0 + 0.01 * i, 5_000, 2_000, 0, impact_t=420,
                               ground_track=path(37.0, 125.0, 35.0, 124.0), track="T2"))
    eng = AlertEngine(rules, geo, "accord.test.example", "Exercise")
    fast = [(eng.on_prediction(p, p.t), json.dumps(eng.snapshot(), sort_keys=True)) for p in preds]
    with monkeypatch.context() as m:
        _plain(m)
        eng2 = AlertEngine(rules, geo, "accord.test.example", "Exercise")
        plain = [(eng2.on_prediction(p, p.t), json.dumps(eng2.snapshot(), sort_keys=True)) for p in preds]
    assert [([x.xml for x in ms], s) for ms, s in fast] == [([x.xml for x in ms], s) for ms, s in plain]
    assert any(ms for ms, _ in fast)


# --- the arc test's pre-check, the lazy overflight corridor ---------------------------------
# ``same_arc`` rejects pairs whose impact points are certainly too far apart
# (``_surely_apart``) before computing the full arc distance; ``_overflight`` builds its corridor
# only at the first area the track overflies. The plain forms: the full arc distance for every
# pair (the corridor is built by the same call either way).

def _no_arc_pre_check(m):
    m.setattr(identity, "_surely_apart", lambda ref, new, gate: False)


FINITE = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=1500, deadline=None)
@given(lat=st.floats(-80, 80), lon=st.floats(-180, 180), dn=st.floats(-3_000_000, 3_000_000),
       de=st.one_of(st.floats(-3_000_000, 3_000_000), st.floats(-2_000, 2_000)),
       a=st.floats(1, 400_000), b=st.floats(1, 400_000), brg=st.floats(0, 180), dt=st.floats(-300, 300),
       cov=st.one_of(st.none(), st.tuples(st.floats(0, 1e11, **FINITE), st.floats(-1e10, 1e10, **FINITE),
                                           st.floats(0, 1e11, **FINITE))),
       sig=st.one_of(st.none(), st.floats(0.1, 50)))
def test_arc_pre_check_rejects_only_pairs_the_arc_test_rejects(lat, lon, dn, de, a, b, brg, dt, cov, sig):
    from dataclasses import replace

    ref = make_pred(100, lat, lon, a, b, brg, impact_t=400)
    lat2, lon2 = offset(lat, lon, de, dn)
    new = make_pred(101, max(min(lat2, 89.0), -89.0), (lon2 + 180.0) % 360.0 - 180.0, b, a, brg, impact_t=400 + dt,
                    cov=None if cov is None else (cov[0], cov[1], cov[1], cov[2]))
    if sig is not None:
        ref, new = replace(ref, impact_t_sigma_s=sig), replace(new, impact_t_sigma_s=2 * sig)
    for r, n in ((ref, new), (new, ref)):
        if identity._surely_apart(r, n, identity.IDENTITY_GATE):
            assert not identity.arc_distance(r, n) <= identity.IDENTITY_GATE


def test_arc_pre_check_is_taken_for_far_pairs_and_not_near_ones():
    ref = make_pred(100, 40.0, 135.0, 5_000, 2_000, 0)
    assert identity._surely_apart(ref, make_pred(101, 41.0, 135.0, 5_000, 2_000, 0), identity.IDENTITY_GATE)
    assert not identity._surely_apart(ref, make_pred(101, 40.01, 135.0, 5_000, 2_000, 0), identity.IDENTITY_GATE)
    # a covariance that is not positive semi-definite: no bound, the full test decides
    assert not identity._surely_apart(ref, make_pred(101, 41.0, 135.0, cov=(1e6, 2e6, 2e6, 1e6)),
                                      identity.IDENTITY_GATE)


@pytest.mark.parametrize(("seed", "party"), SALVO_CASES)
def test_with_and_without_the_arc_pre_check_the_messages_are_the_same_on_random_salvos(geo, monkeypatch, seed,
                                                                                        party):
    taken = []
    orig = identity._surely_apart

    def count(ref, new, gate):
        apart = orig(ref, new, gate)
        taken.append(apart)
        return apart

    fast = _same_messages_on_salvo(geo, monkeypatch, seed, party,
                                   fast=lambda m: m.setattr(identity, "_surely_apart", count), plain=_no_arc_pre_check)
    assert any(taken) or not fast   # where incidents opened, the pre-check settled some pair alone
