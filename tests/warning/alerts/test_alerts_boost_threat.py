"""The boost rule's threat chance: before burnout an area is threatened when the flight ends in
its sea *or* passes within ``margin_m`` of its land — one event, the one the truth is judged
by. Along the path the two are disjoint (the flight ends in the sea before it first comes
within the margin of the land, or it reaches that point), so its chance is the chance of
ending in the sea before that point plus ``reach_prob`` there: an area may be threatened with
0.9 while neither the chance of ending in its sea nor that of overflying its land reaches it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from alerts_helpers import make_pred, path
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_alerts_fastpath import BEARINGS, _coast_point, _move

from accord.warning.alerts import AlertRules
from accord.warning.alerts.rules import assess, boost_impact_chances, boost_reach, boost_threat_chances

# east along 41° N over Aomori (JPN-02): Japan's territorial sea from ~140.05° E, within 5 km of
# Aomori's land from ~140.27° E, land 140.3–141.45° E, out of the sea again at ~141.65° E
TRACK = path(41.0, 134.0, 41.0, 146.0, n=241)          # a point every 0.05°


def reach_of(knots):
    """``reach_prob`` piecewise linear in longitude through ``knots`` [(lon, reach)]."""
    lons, vals = zip(*knots)
    return tuple(float(np.interp(lon, lons, vals)) for _, lon in TRACK)


#: the flight ends before Japan's sea with 0.05, in Aomori's sea before its land with 0.35
#: (140.05–140.20° E), in its sea past the land with 0.2 (141.30–141.55° E), and flies on past
#: the sea with 0.4: it threatens Aomori with 0.95 (0.35 + reach 0.6 at the land), ends in its
#: sea with 0.55, and overflies its land with 0.6
KNOTS = [(134.0, 1.0), (139.0, 1.0), (139.5, 0.95), (140.05, 0.95), (140.20, 0.6), (141.30, 0.6),
         (141.55, 0.4), (146.0, 0.4)]


def boost(knots=KNOTS, sigma_m=2_000.0):
    p = make_pred(100.0, 41.0, 142.0, 600_000.0, 60_000.0, 90.0, impact_t=700.0, ground_track=TRACK,
                  status="boost")
    return replace(p, reach_prob=reach_of(knots), track_sigma_m=(sigma_m,) * len(TRACK))


def test_threat_is_the_sea_before_the_land_plus_the_reach_of_the_land(geo):
    rules = AlertRules(party="JPN")
    p = boost()
    # each separate test below the threshold …
    assert boost_impact_chances(p, rules, geo)["JPN-02"] == pytest.approx(0.55, abs=0.01)
    cut = boost_reach(p, rules.boost_alert_probability)
    assert max(lon for _, lon in cut.ground_track) < 140.1          # the 0.9 path stops short of the land
    # … their union (not their sum, 1.15: ending in the sea past the land is part of reaching it)
    assert boost_threat_chances(p, rules, geo)["JPN-02"] == pytest.approx(0.95, abs=0.01)
    a = assess(p, rules, geo)
    assert a.qualifies and a.area_codes == ("JPN-02",)              # not Hokkaido, 45 km north
    assert [h.area.code for h in a.impact_hits] == ["JPN-02"] and not a.overflight_hits


def test_threat_below_the_threshold_names_nothing(geo):
    rules = AlertRules(party="JPN")
    assert not assess(boost(), replace(rules, boost_alert_probability=0.97), geo).qualifies
    # less ends in the sea before the land (0.95 → 0.8, then 0.6): 0.2 + 0.6 = 0.8
    knots = [(134.0, 1.0), (139.0, 1.0), (139.5, 0.8)] + KNOTS[3:]
    knots[3] = (140.05, 0.8)
    p = boost(knots)
    assert boost_threat_chances(p, rules, geo)["JPN-02"] == pytest.approx(0.8, abs=0.01)
    assert not assess(p, rules, geo).qualifies


def test_threat_needs_the_moved_paths_too(geo):
    # moved 3 × 40 km to either side the path misses Aomori's land and most of its sea
    assert not assess(boost(sigma_m=40_000.0), AlertRules(party="JPN"), geo).qualifies


def test_flying_through_the_sea_and_past_the_land_is_reaching_it(geo):
    """Reach 0.95 all the way over the land and beyond: no chance of ending in the sea, and
    the threat is the overflight, 0.95 (the path the 0.9 cut keeps does overfly it)."""
    rules = AlertRules(party="JPN")
    p = boost([(134.0, 1.0), (139.0, 1.0), (139.5, 0.95), (146.0, 0.95)])
    assert boost_impact_chances(p, rules, geo).get("JPN-02", 0.0) == 0.0
    assert boost_threat_chances(p, rules, geo)["JPN-02"] == pytest.approx(0.95, abs=0.001)
    assert assess(p, rules, geo).area_codes == ("JPN-02",)


def test_an_end_short_of_the_sea_threatens_nothing(geo):
    """Everything ends before Japan's sea (reach 0 from 139.8° E): no threat anywhere."""
    p = boost([(134.0, 1.0), (139.0, 1.0), (139.8, 0.0), (146.0, 0.0)])
    assert boost_threat_chances(p, AlertRules(party="JPN"), geo) == {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(party=st.sampled_from(["JPN", "KOR", "USA"]), k=st.integers(0, 10**6), dist=st.floats(0, 60_000),
       brg=BEARINGS, length=st.floats(50_000, 1_500_000), n=st.integers(2, 40),
       drops=st.lists(st.floats(0.0, 1.0), min_size=40, max_size=40), start=st.floats(0.5, 1.0),
       margin=st.sampled_from([0.0, 5_000.0, 20_000.0]), floor=st.sampled_from([0.0, 0.5, 0.9]))
# found by Hypothesis: a path of two points 735 km apart, whose lon/lat-interpolated points part
# from the projected ones by far more than the prefilter's slack (the long-step fallback)
@example(party="KOR", k=60279, dist=0.0, brg=26.0, length=735_199.0, n=2, drops=[0.0, 1.0] + [0.0] * 38,
         start=1.0, margin=0.0, floor=0.0)
def test_the_threat_chance_equals_the_plain_one(geo, party, k, dist, brg, length, n, drops, start, margin, floor):
    """The threat chance with its prefilters (the part of the path reached with ``floor``, the
    path near each area, the territory near it) gives every area that reaches ``floor`` the
    chance the plain computation gives (``plain_rules``: the whole path, the whole box)."""
    import plain_rules

    lat0, lon0 = _coast_point(geo, party, k)
    mlat, mlon = _move(lat0, lon0, dist, brg + 90.0)
    slat, slon = _move(mlat, mlon, length / 2, brg + 180.0)
    elat, elon = _move(mlat, mlon, length / 2, brg)
    if abs(slon - elon) >= 180:
        return
    gt = path(slat, slon, elat, elon, n=n)
    reach = start * np.cumprod(1.0 - np.array(drops[:n]) * 0.3)
    p = replace(make_pred(100.0, elat, elon, 300_000.0, 30_000.0, brg % 180, ground_track=gt, status="boost"),
                reach_prob=tuple(reach.tolist()), track_sigma_m=(2_000.0,) * n)
    rules = AlertRules(party=party, margin_m=margin)
    plain = plain_rules.boost_threat_chances(p, rules, geo)
    fast = boost_threat_chances(p, rules, geo, floor)
    assert {c for c, q in fast.items() if q >= floor} == {c for c, q in plain.items() if q >= floor}
    for c, q in fast.items():
        if q >= floor:
            assert q == pytest.approx(plain[c], abs=1e-9)
