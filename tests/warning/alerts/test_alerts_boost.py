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
