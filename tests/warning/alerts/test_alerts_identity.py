"""One missile, one incident; no all-clear from another missile's prediction (issues #21, #18).

The exercise failure these reproduce: a missile aimed into the territorial sea off Shimane was
tracked to its last second, but at the impact second the threat carrying the alert was taken
over by another missile's track, and the engine believed that track's prediction (impact 160 s
later, ~390 km north) and cleared: "All clear … no longer expected to fall". The missile did land
off Shimane.
"""

from __future__ import annotations

from dataclasses import replace

from alerts_helpers import make_pred, path
from test_alerts_engine import check_chain, collect, engine, xml_texts

from accord.exercise.alerting import alert_step, make_engine
from accord.warning.alerts import DEFAULT_EPOCH

SHIMANE = (35.62, 132.75)        # ~10 km off Shimane's coast: its territorial sea
NORTH_390 = (39.13, 132.9)       # the Sea of Japan, ~390 km north
IMPACT_T = 516.0


def shimane(t: float, track: str = "T3", **kw):
    """The Shimane missile's prediction at ``t``: the ellipse shrinks from 30 km to 0.2 km."""
    left = max(IMPACT_T - t, 1.0)
    a = max(200.0, 30_000.0 * left / 400.0)
    return make_pred(t, *SHIMANE, a, a / 2, 120, impact_t=IMPACT_T, track=track, **kw)


def north(t: float, track: str = "T9", **kw):
    """Another missile: falls in the open sea ~390 km north, 160 s after the Shimane one."""
    return make_pred(t, *NORTH_390, 1_500, 500, 10, impact_t=IMPACT_T + 160, track=track, **kw)


def test_another_missiles_prediction_at_the_impact_second_never_gives_an_all_clear(geo):
    e, out = engine(geo), []
    for t in range(120, 516, 2):
        collect(e.on_prediction(shimane(t), t), out)
    assert out[0].msg_type == "Alert" and "JPN-32" in out[0].area_codes
    # the impact second: the threat's track now carries the other missile's prediction
    collect(e.on_prediction(north(516, track="T3"), 516), out)
    assert all(m.msg_type != "Cancel" for m in out), [(m.msg_type, m.reason) for m in out]
    assert e.suspect_tracks() == {"T3": 516}
    for t in range(517, 700):
        collect(e.on_prediction(north(t, track="T3"), t), out)
        collect(e.on_time(t), out)
    tail = [(m.msg_type, m.reason, m.t) for m in out if m.reason in ("impact", "clear-impact")]
    assert tail == [("Update", "impact", 516), ("Cancel", "clear-impact", 546)]
    assert [m.msg_type for m in out].count("Cancel") == 1
    fallen, cancel = out[-2], out[-1]
    assert "believed to have fallen in the territorial waters off Shimane" in fallen.texts["en"].headline
    assert "Missile fall: the missile is assessed to have fallen in the territorial waters off Shimane" \
        in cancel.texts["en"].headline
    for m in out:
        assert "no longer expected" not in xml_texts(m) and "Sea of Japan" not in m.texts["en"].headline
    check_chain(out)
    assert e.open_incidents() == []


def test_partner_track_of_another_missile_never_joins_the_threat(geo):
    """The exercise's path: JPN's own track of the Shimane missile, KOR's track of the other one
    (the position-only fusion associated them at the impact second). Each goes to the engine
    under its own name; the arcs keep them apart."""
    eng = make_engine("JPN", status="Exercise", sender="accord-jpn@exercise.invalid", epoch=DEFAULT_EPOCH)
    log = []
    for t in range(120, 600, 2):
        own = [shimane(t)] if t <= IMPACT_T else []
        if t == IMPACT_T + 2:
            own = [shimane(IMPACT_T - 1, status="lost")]  # the tracker drops it after the impact
        partner = {("KOR", "T9"): north(t)} if t >= 400 else {}
        log += alert_step(eng, t, own, partner)
    kinds = [(m["msg_type"], m["reason"]) for m in log]
    assert kinds[0] == ("Alert", "alert") and kinds[-2:] == [("Update", "impact"), ("Cancel", "clear-impact")]
    assert all(m["sources"] == ["JPN:T3"] for m in log)
    assert {m["incident"] for m in log} == {"JPN-JPN:T3-1"}


def test_a_reacquired_missile_continues_its_incident_with_an_update(geo):
    e, out = engine(geo), []
    for t in range(120, 300, 2):
        collect(e.on_prediction(shimane(t, track="T3"), t), out)
    collect(e.on_prediction(shimane(299, track="T3", status="lost"), 300), out)
    assert out[-1].reason == "lost"
    # a coverage gap, then a new track of the same missile (a wider first ellipse, a few km off)
    for t in range(330, 530, 2):
        p = shimane(t, track="T7")
        if t < 340:
            p = make_pred(t, SHIMANE[0] + 0.05, SHIMANE[1] - 0.05, 25_000, 12_000, 120,
                          impact_t=IMPACT_T + 4, track="T7")
        collect(e.on_prediction(p, t), out)
    collect(e.on_time(600), out)
    assert [m.msg_type for m in out].count("Alert") == 1
    assert [m.reason for m in out if m.t >= 330][0] == "reacquired"
    assert len({m.incident for m in out}) == 1
    assert out[-1].msg_type == "Cancel" and out[-1].reason == "clear-impact"
    assert out[-1].sources == ("T3", "T7")
    check_chain(out)


def test_two_missiles_on_crossing_paths_keep_their_own_incidents(geo):
    e, out = engine(geo), []
    hokkaido = (43.3, 140.0)
    for t in range(200, 500, 2):
        # track ids cross over half way: each track id follows the other missile from t = 350
        a, b = ("T1", "T2") if t < 350 else ("T2", "T1")
        collect(e.on_predictions([shimane(t, track=a),
                                  make_pred(t, *hokkaido, 8_000, 4_000, 90, impact_t=700, track=b)], t), out)
    for t in range(500, 760):
        collect(e.on_time(t), out)
    incidents: dict[str, list] = {}
    for m in out:
        incidents.setdefault(m.incident, []).append(m)
    assert len(incidents) == 2
    for msgs in incidents.values():
        assert [m.msg_type for m in msgs].count("Alert") == 1 and msgs[-1].msg_type == "Cancel"
        # Shimane's tracked to its impact; Hokkaido's predictions stop 200 s before its own
        assert msgs[-1].reason == ("clear-unconfirmed" if "JPN-01" in msgs[0].area_codes else "clear-impact")
        hokkaido_named = {"JPN-01" in m.area_codes for m in msgs}
        assert len(hokkaido_named) == 1  # each keeps its own missile's areas: no switch
    check_chain(out)


def test_one_stray_prediction_neither_clears_nor_alerts_anew(geo):
    e, out = engine(geo), []
    for t in range(120, 200, 2):
        collect(e.on_prediction(shimane(t), t), out)
    hokkaido_stray = make_pred(200, 43.3, 140.0, 8_000, 4_000, 90, impact_t=700, track="T3")
    collect(e.on_prediction(hokkaido_stray, 200), out)   # off the arc: held, not a new Alert
    for t in range(202, 600, 2):
        collect(e.on_prediction(shimane(t), t) if t <= IMPACT_T else e.on_time(t), out)
    assert [m.msg_type for m in out].count("Alert") == 1
    assert [m.msg_type for m in out].count("Cancel") == 1 and out[-1].reason == "clear-impact"
    assert e.suspect_tracks() == {} and e.open_incidents() == []


def test_a_suspect_track_alerts_for_its_new_arc_only_once_that_has_held(geo):
    # named by the lower bar throughout (area_lead_s: test_alerts_naming.py)
    e, out = engine(geo, suspect_hold_s=10.0, area_lead_s=1_000.0), []
    for t in range(120, 200, 2):
        collect(e.on_prediction(shimane(t), t), out)
    hokkaido = (43.3, 140.0)
    first_new = None
    for t in range(200, 240, 2):
        msgs = collect(e.on_prediction(make_pred(t, *hokkaido, 8_000, 4_000, 90, impact_t=700, track="T3"), t), out)
        if any(m.msg_type == "Alert" for m in msgs) and first_new is None:
            first_new = t
    assert first_new == 210  # 10 s after the jump
    assert len(e.open_incidents()) == 2


def test_no_alert_once_the_predicted_impact_time_has_passed(geo):
    e = engine(geo)
    assert e.on_prediction(shimane(520, track="T5"), 520) == []


def test_tracker_marks_a_prediction_off_its_own_arc_suspect():
    from accord.warning.sim import DEFAULT_SENSORS
    from accord.warning.tracking import Tracker

    trk = Tracker(DEFAULT_SENSORS)
    assert trk._mark_suspects([shimane(300, track="T1")]) == [shimane(300, track="T1")]
    assert trk._mark_suspects([shimane(302, track="T1")]) == [shimane(302, track="T1")]
    # the track's prediction jumps 390 km and 160 s: suspect, and its arc stays the old one
    assert trk._mark_suspects([north(304, track="T1")]) == [north(304, track="T1", status="suspect")]
    assert trk._mark_suspects([north(306, track="T1")])[0].status == "suspect"
    # a new arc that holds for suspect_hold_s becomes the track's arc
    assert trk._mark_suspects([north(314, track="T1")])[0].status == "tracking"
    assert trk._mark_suspects([north(316, track="T1")])[0].status == "tracking"


# Two missiles of one salvo, side by side in their boost (salvo seed 9: S02 over Hokkaido, S03
# into the open sea, ~12 km apart 90 s after launch): a partner's boost prediction of the first
# starts the incident, and the node's own ballistic track of the second falls in the boost's
# wide region and at the same place.
BOOST_PATH = path(41.0, 130.0, 41.0, 146.0, n=60)      # over Aomori (JPN-02), into the Pacific


def boost_a(t: float):
    """Missile A before burnout, seen by a partner: it overflies Aomori (reach 1.0 all along)."""
    p = make_pred(t, 41.0, 146.0, 600_000.0, 60_000.0, 90.0, impact_t=700.0, track="KOR:T2",
                  ground_track=BOOST_PATH, status="boost")
    return replace(p, reach_prob=(1.0,) * len(BOOST_PATH), track_sigma_m=(2_000.0,) * len(BOOST_PATH))


def ballistic_a(t: float, track: str):
    """Missile A after burnout: on the boost's path, moving ~2 km/s east."""
    lon = 130.0 + 0.024 * (t - 100.0)
    a = max(5_000.0, 60_000.0 - 300.0 * (t - 150.0))
    return make_pred(t, 41.0, 146.0, a, a / 4, 90.0, impact_t=700.0, track=track,
                     ground_track=path(41.0, lon, 41.0, 146.0))


def ballistic_b(t: float):
    """Missile B, beside A in its boost (7 km): falls in the open Sea of Japan, 330 km off Japan."""
    lon = 130.05 + 0.02 * (t - 106.0)
    a = max(3_000.0, 40_000.0 - 600.0 * (t - 106.0))
    return make_pred(t, 41.0, 136.0, a, a / 4, 90.0, impact_t=540.0, track="JPN:T1",
                     ground_track=path(40.95, lon, 41.0, 136.0))


def test_another_missile_bound_through_a_boost_arc_never_clears_the_warning(geo):
    e, out = engine(geo), []
    for t in (100, 102, 104):
        collect(e.on_predictions([boost_a(t)], t), out)
    assert [(m.msg_type, m.area_codes) for m in out] == [("Alert", ("JPN-02",))]
    inc = out[0].incident
    # B's ballistic predictions: on the boost's wide arc, at the same place as A, not a threat
    for t in range(106, 150, 2):
        collect(e.on_predictions([ballistic_b(t)], t), out)
    assert [m.msg_type for m in out] == ["Alert"], [(m.msg_type, m.reason, m.t) for m in out]
    assert e.open_incidents() == ["KOR:T2"]
    # A's own ballistic track from the node's tracker joins A's incident (no second Alert), and
    # the partner's track of A, past burnout, confirms it: B's track is detached as suspect
    suspect_at = None
    for t in range(150, 260, 2):
        preds = [ballistic_a(t, "JPN:T2"), ballistic_b(t)]
        if t >= 190:
            preds.append(ballistic_a(t - 1, "KOR:T2"))
        collect(e.on_predictions(preds, t), out)
        if suspect_at is None and "JPN:T1" in e.suspect_tracks():
            suspect_at = t
    assert suspect_at == 192
    assert [m.msg_type for m in out].count("Alert") == 1 and {m.incident for m in out} == {inc}
    assert all(m.msg_type != "Cancel" for m in out)
    # no message of A's incident ever rests on B's prediction
    assert all(m.basis.track_id != "JPN:T1" for m in out)
    for t in range(260, 760, 10):
        collect(e.on_time(t), out)
    assert out[-1].msg_type == "Cancel" and out[-1].t >= 700 and e.open_incidents() == []
    assert out[-1].sources == ("JPN:T2", "KOR:T2")
    check_chain(out)


def test_a_provisional_track_stays_provisional_across_a_restart(geo):
    import json

    from accord.warning.alerts import AlertEngine

    e, out = engine(geo), []
    for t in (100, 102, 104):
        collect(e.on_predictions([boost_a(t)], t), out)
    for t in range(106, 120, 2):
        collect(e.on_predictions([ballistic_b(t)], t), out)
    e = AlertEngine.restore(json.loads(json.dumps(e.snapshot())), e.rules, geo, e.sender, e.status)
    for t in range(120, 180, 2):
        collect(e.on_predictions([ballistic_b(t)], t), out)
    assert [m.msg_type for m in out] == ["Alert"] and e.open_incidents() == ["KOR:T2"]
