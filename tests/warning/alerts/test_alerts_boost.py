"""The boost-phase alert rule: a prediction made before burnout (``status="boost"``) names an
area only where the flight reaches it with at least ``boost_alert_probability`` and where its
path, moved 3 σ to either side, still touches it; it may raise or widen a warning but never
clears it, and the track's ballistic predictions continue its incident."""

from __future__ import annotations

from dataclasses import replace

from alerts_helpers import make_pred, path
from test_alerts_engine import collect, engine

from accord.warning.alerts import AlertRules
from accord.warning.alerts.rules import assess

# over Aomori (JPN-02) at 41° N, Hokkaido's nearest land ~45 km north
TRACK = path(41.0, 134.0, 41.0, 146.0, n=40)


def boost_pred(t, reach_at_aomori=1.0, sigma_m=2_000.0, track="T1"):
    reach = tuple(1.0 if lon < 139.0 else reach_at_aomori for _, lon in TRACK)
    p = make_pred(t, 41.0, 146.0, 600_000.0, 60_000.0, 90.0, impact_t=700.0, track=track,
                  ground_track=TRACK, status="boost")
    return replace(p, reach_prob=reach, track_sigma_m=(sigma_m,) * len(TRACK))


def test_boost_prediction_names_only_what_the_flight_reaches_with_the_rules_probability(geo):
    rules = AlertRules(party="JPN")
    a = assess(boost_pred(100.0), rules, geo)
    assert a.qualifies and a.area_codes == ("JPN-02",)          # Aomori, not Hokkaido nor Akita
    assert not assess(boost_pred(100.0, reach_at_aomori=0.8), rules, geo).qualifies
    assert assess(boost_pred(100.0, reach_at_aomori=0.8), replace(rules, boost_alert_probability=0.75),
                  geo).area_codes == ("JPN-02",)
    # the wide 95 % ellipse (600 km) is not the region: far areas it touches are not named
    assert "JPN-01" not in a.area_codes


def test_boost_prediction_with_an_uncertain_plane_names_nothing(geo):
    rules = AlertRules(party="JPN")
    assert assess(boost_pred(100.0, sigma_m=2_000.0), rules, geo).area_codes == ("JPN-02",)
    # moved 3 × 40 km to either side the path leaves Aomori: not named
    assert not assess(boost_pred(100.0, sigma_m=40_000.0), rules, geo).qualifies


def test_rules_read_the_boost_probability():
    r = AlertRules.from_config({"boost_alert_probability": 0.95}, party="JPN")
    assert r.boost_alert_probability == 0.95


def test_boost_alert_is_continued_by_the_ballistic_track_and_never_cleared_by_boost(geo):
    eng = engine(geo)
    out: list = []
    first = collect(eng.on_prediction(boost_pred(100.0), 100.0), out)
    assert [m.msg_type for m in first] == ["Alert"]
    # the boost posterior wavers below the threshold for a minute: the warning stands
    for t in range(101, 161):
        assert collect(eng.on_prediction(boost_pred(float(t), reach_at_aomori=0.3), float(t)), out) == []
    assert collect(eng.on_time(200.0), out) == [] and eng.open_incidents()
    # burnout: the same track's ballistic prediction continues the incident (an Update)
    ball = make_pred(205.0, 41.0, 146.0, 30_000.0, 8_000.0, 90.0, impact_t=700.0, track="T1",
                     ground_track=TRACK[20:])
    msgs = collect(eng.on_prediction(ball, 205.0), out)
    assert [m.msg_type for m in msgs] == ["Update"]
    assert msgs[0].references and len(eng.open_incidents()) == 1


def test_an_impact_names_an_area_by_the_chance_it_falls_in_its_sea(geo):
    """A wide ellipse over Tsugaru: every area it falls in with area_probability or more is
    named, and a neighbour the ellipse only grazes is not (the old rule named every area the 95 %
    ellipse came within 5 km of). Within ``area_lead_s`` of the impact (earlier, see
    test_alerts_naming.py)."""
    from alerts_helpers import make_pred

    from accord.warning.alerts.rules import impact_chances, name_by_chance  # noqa: F401

    rules = AlertRules(party="JPN")
    a = assess(make_pred(101, 41.2, 140.25, 60_000, 25_000, 60, impact_t=300), rules, geo)
    ch = dict(a.impact_chances)
    assert a.area_codes == ("JPN-01", "JPN-02") and ch["JPN-02"] > ch["JPN-01"] >= 0.2
    # a higher threshold leaves Hokkaido (0.41) out, a lower one never adds an area with no chance
    assert assess(make_pred(101, 41.2, 140.25, 60_000, 25_000, 60, impact_t=300),
                  replace(rules, area_probability=0.5), geo).area_codes == ("JPN-02",)
    # grazing: 0.19 and 0.02 — only the likeliest is named (an alert, as the ellipse touches)
    g = assess(make_pred(100, 41.0, 139.1, 120_000, 50_000, 60, impact_t=300), rules, geo)
    assert g.area_codes == ("JPN-01",) and dict(g.impact_chances)["JPN-02"] < 0.05


def test_name_by_chance_names_every_likely_area_or_covers_a_spread_ellipse():
    from accord.warning.alerts.rules import name_by_chance

    assert name_by_chance({"A": 0.5, "B": 0.25, "C": 0.1}, 0.2) == ["A", "B"]
    # none reaches 0.2 but together they do: highest first until less than 0.2 is left unnamed
    assert name_by_chance({"A": 0.15, "B": 0.12, "C": 0.1, "D": 0.05}, 0.2) == ["A", "B"]
    assert name_by_chance({"A": 0.05, "B": 0.04}, 0.2) == []


def test_boost_names_an_impact_area_only_where_the_flight_ends_not_where_it_flies_through(geo):
    """Reaching an area's territorial sea with probability 1 and flying on is no impact there:
    the chance of ending in it is the drop of reach_prob across it."""
    from accord.warning.alerts.rules import boost_impact_chances

    rules = AlertRules(party="JPN")
    # flies through Aomori's and Hokkaido's seas (reach 1.0 all along): no impact chance there
    p = boost_pred(100.0)
    assert boost_impact_chances(p, rules, geo).get("JPN-02", 0.0) == 0.0
    # the flight ends over Aomori's land between lon 140 and 141.5
    reach = tuple(1.0 if lon < 140.0 else 0.0 if lon > 141.5 else (141.5 - lon) / 1.5 for _, lon in TRACK)
    q = replace(p, reach_prob=reach)
    assert boost_impact_chances(q, rules, geo)["JPN-02"] > 0.9
