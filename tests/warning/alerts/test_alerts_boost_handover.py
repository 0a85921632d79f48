"""A track's own boost → ballistic hand-over: an incident whose reference is a boost prediction
follows the same track's ballistic arc once that arc has held ``suspect_hold_s``, even when the
arc lies off the boost reference's (a boost prediction is a wide guess from a class prior; the
track's own arc after burnout is better information, not an association jump).

Salvo seed 10 with the boost prior's range bound at 4,000 km (docs/alerts.md, "A longer range
bound was measured too"): KOR's boost predictions of S05 put its impact 2,000 km into the Pacific
(1,218 s) and warned four areas; the motor stopped at 128 s and the missile fell in JPN-32 at
665 s. KOR's ballistic predictions, off the boost arc, were detached as suspect, JPN's own track
started a second incident, and the first stayed open, warning areas the missile never reached,
until 30 s after the boost reference's impact time.
"""

from __future__ import annotations

from dataclasses import replace

from alerts_helpers import make_pred, path
from test_alerts_engine import check_chain, collect, engine

LAT = 39.7
BOOST_TRACK = path(LAT, 134.0, LAT, 150.0, n=60)   # over Akita (JPN-05) and Iwate (JPN-03)
AKITA_SEA = (LAT, 139.9)                          # ~10 km off Akita: its territorial sea
TRUE_IMPACT_T = 500.0
BOOST_IMPACT_T = 1_200.0


def here(t: float) -> tuple[float, float]:
    """The sub-missile point at ``t``: over the Sea of Japan, moving east."""
    return (LAT, 134.0 + 0.01 * (t - 100.0))


def boost_far(t: float, track: str = "KOR:T3"):
    """The class prior's wrong guess: a flight 2,000 km on, over Akita and Iwate into the Pacific."""
    gt = (here(t),) + BOOST_TRACK[10:]
    p = make_pred(t, LAT, 160.0, 1_500_000.0, 100_000.0, 90.0, impact_t=BOOST_IMPACT_T, track=track,
                  ground_track=gt, status="boost")
    return replace(p, reach_prob=(1.0,) * len(gt), track_sigma_m=(2_000.0,) * len(gt), impact_t_sigma_s=60.0)


def boost_late(t: float, track: str = "KOR:T3"):
    """The boost posterior after the motor stopped: near the truth, too unsure to name an area."""
    gt = path(*here(t), *AKITA_SEA, 20)
    p = make_pred(t, *AKITA_SEA, 300_000.0, 60_000.0, 90.0, impact_t=TRUE_IMPACT_T + 5.0, track=track,
                  ground_track=gt, status="boost")
    return replace(p, reach_prob=(0.5,) * len(gt), track_sigma_m=(5_000.0,) * len(gt), impact_t_sigma_s=30.0)


def ballistic(t: float, track: str):
    """After burnout: the missile falls in Akita's sea at 500 s (JPN-05 only)."""
    a = max(2_000.0, 30_000.0 - 500.0 * (t - 130.0))
    return make_pred(t, *AKITA_SEA, a, a / 2, 90.0, impact_t=TRUE_IMPACT_T, track=track,
                     ground_track=path(*here(t), *AKITA_SEA, 20))


def by_incident(out):
    incidents: dict[str, list] = {}
    for m in out:
        incidents.setdefault(m.incident, []).append(m)
    return incidents


def _boost_alert(e, out):
    for t in range(100, 120, 2):
        collect(e.on_predictions([boost_far(t)], t), out)
    assert [(m.msg_type, m.area_codes) for m in out] == [("Alert", ("JPN-03", "JPN-05"))]


def test_the_incident_follows_its_tracks_own_ballistic_arc_once_it_has_held(geo):
    e, out = engine(geo, suspect_hold_s=10.0), []
    _boost_alert(e, out)
    # the motor stops: the boost posterior moves near the truth but names nothing (no narrowing),
    # and the node's own ballistic track of the missile falls in that boost prediction's region
    for t in range(120, 132, 2):
        preds = [boost_late(t)] + ([ballistic(t, "JPN:T3")] if t >= 126 else [])
        collect(e.on_predictions(preds, t), out)
    assert [m.msg_type for m in out] == ["Alert"] and len(e.open_incidents()) == 1
    # the boost track latches ballistic, off the boost reference's arc: held for suspect_hold_s
    narrowed = None
    for t in range(132, 460, 2):
        msgs = collect(e.on_predictions([ballistic(t, "JPN:T3"), ballistic(t - 1, "KOR:T3")], t), out)
        if narrowed is None and msgs:
            narrowed = msgs[0]
        if t < 142:
            assert msgs == [], [(m.msg_type, m.area_codes, m.t) for m in msgs]
    assert e.suspect_tracks() == {}
    assert narrowed is not None and narrowed.t == 142
    assert (narrowed.msg_type, narrowed.area_codes) == ("Update", ("JPN-05",))
    assert narrowed.basis.status == "tracking"
    for t in range(460, 600, 2):
        collect(e.on_time(t), out)
    incidents = by_incident(out)
    assert len(incidents) == 1, incidents.keys()
    tail = [(m.msg_type, m.reason, m.t) for m in out if m.reason in ("impact", "clear-impact")]
    assert tail == [("Update", "impact", 500), ("Cancel", "clear-impact", 530)]
    assert out[-1].sources == ("JPN:T3", "KOR:T3")
    assert [m.msg_type for m in out].count("Alert") == 1 and e.open_incidents() == []
    # no message after the hand-over names Iwate (JPN-03), the boost guess' area; the Cancel
    # names every area ever warned
    assert all("JPN-03" not in m.area_codes for m in out if narrowed.t <= m.t and m.msg_type != "Cancel")
    assert out[-1].area_codes == ("JPN-03", "JPN-05")
    check_chain(out)


def test_a_handed_over_arc_that_shows_no_threat_clears_the_warning(geo):
    """The same hand-over when the track's own arc falls outside the territory: an all-clear
    (``clear-moved``) once the arc has held ``suspect_hold_s`` and then ``clear_hold_s``."""
    e, out = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0), []
    _boost_alert(e, out)
    sea = (LAT, 137.0)   # the open Sea of Japan, ~230 km off Akita
    for t in range(120, 300, 2):
        p = make_pred(t, *sea, 5_000.0, 2_000.0, 90.0, impact_t=400.0, track="KOR:T3",
                      ground_track=path(*here(t), *sea, 20))
        collect(e.on_predictions([p], t), out)
    assert [(m.msg_type, m.reason, m.t) for m in out] == [("Alert", "alert", 100),
                                                         ("Cancel", "clear-moved", 160)]
    assert e.open_incidents() == []


def test_a_one_off_ballistic_prediction_off_the_boost_arc_narrows_nothing(geo):
    """A bad latch for one prediction (or ballistic predictions that never hold one arc) is no
    hand-over: the boost warning stands, and ends on the boost reference."""
    e, out = engine(geo, suspect_hold_s=10.0), []
    _boost_alert(e, out)
    collect(e.on_predictions([ballistic(120, "KOR:T3")], 120), out)
    for t in range(122, 200, 2):
        collect(e.on_predictions([boost_far(t)], t), out)
    # then ballistic predictions that jump between two arcs every 6 s: never held 10 s
    for t in range(200, 260, 2):
        p = ballistic(t, "KOR:T3")
        if (t // 6) % 2:
            p = replace(p, impact_t=TRUE_IMPACT_T + 200.0)
        collect(e.on_predictions([p], t), out)
    assert [m.msg_type for m in out] == ["Alert"], [(m.msg_type, m.reason, m.area_codes, m.t) for m in out]
    assert e.suspect_tracks() == {} and len(e.open_incidents()) == 1
    for t in range(260, int(BOOST_IMPACT_T) + 60, 10):
        collect(e.on_time(t), out)
    assert [(m.msg_type, m.t) for m in out] == [("Alert", 100), ("Cancel", BOOST_IMPACT_T + 30)]
    check_chain(out)


def test_a_pending_hand_over_survives_a_restart(geo):
    import json

    from accord.warning.alerts import AlertEngine

    e, out = engine(geo, suspect_hold_s=10.0), []
    _boost_alert(e, out)
    for t in range(132, 138, 2):
        collect(e.on_predictions([ballistic(t, "KOR:T3")], t), out)
    e = AlertEngine.restore(json.loads(json.dumps(e.snapshot())), e.rules, geo, e.sender, e.status)
    for t in range(138, 146, 2):
        collect(e.on_predictions([ballistic(t, "KOR:T3")], t), out)
    assert [(m.msg_type, m.area_codes, m.t) for m in out] == [("Alert", ("JPN-03", "JPN-05"), 100),
                                                             ("Update", ("JPN-05",), 142)]


def test_a_pending_hand_over_keeps_the_incident_open_past_the_boost_guess_impact(geo):
    """The boost guess falls short (impact at 200 s) of the track's own arc (500 s): while the
    hand-over waits, the incident ends no earlier than the arc's impact — no all-clear on the
    boost guess' flight time for a missile still flying."""
    e, out = engine(geo, suspect_hold_s=100.0), []
    for t in range(100, 120, 2):
        collect(e.on_predictions([replace(boost_far(t), impact_t=200.0)], t), out)
    assert [m.msg_type for m in out] == ["Alert"]
    for t in range(132, 240, 2):
        collect(e.on_predictions([ballistic(t, "KOR:T3")], t), out)
        collect(e.on_time(t + 1), out)
    assert [(m.msg_type, m.area_codes, m.t) for m in out] == [("Alert", ("JPN-03", "JPN-05"), 100),
                                                             ("Update", ("JPN-05",), 232)]


def other_missile(t: float):
    """Missile B, beside A over the Sea of Japan, on A's boost guess: over Akita and Iwate into
    the Pacific, as the guess said (1,150 s)."""
    return make_pred(t, LAT, 158.0, 20_000.0, 8_000.0, 90.0, impact_t=1_150.0, track="JPN:T9",
                     ground_track=(here(t),) + BOOST_TRACK[10:])


def test_another_track_bound_through_the_boost_guess_is_detached_once_the_arc_is_handed_over(geo):
    """A track bound through the boost reference is provisional; the hand-over gives the incident
    a ballistic arc, and a provisional track off it is detached as a suspect (then alerts for its
    own missile once its arc has held), as after any confirmed ballistic prediction."""
    e, out = engine(geo, suspect_hold_s=10.0), []
    _boost_alert(e, out)
    for t in range(120, 132, 2):
        collect(e.on_predictions([boost_far(t), other_missile(t)], t), out)
    # B's track is bound through A's boost guess (provisional), and drives as it names every area
    assert [(m.msg_type, m.area_codes, m.basis.track_id) for m in out] == [
        ("Alert", ("JPN-03", "JPN-05"), "KOR:T3"), ("Update", ("JPN-03", "JPN-05"), "JPN:T9")]
    assert e.open_incidents() == ["KOR:T3"]
    for t in range(132, 200, 2):
        collect(e.on_predictions([other_missile(t), ballistic(t - 1, "KOR:T3")], t), out)
    incidents = by_incident(out)
    assert len(incidents) == 2, [(m.incident, m.msg_type, m.area_codes, m.t) for m in out]
    a_msgs, b_msgs = incidents["JPN-KOR:T3-1"], incidents["JPN-JPN:T9-2"]
    assert e.open_incidents() == ["KOR:T3", "JPN:T9"]
    # A's incident narrows to Akita on its track's own arc (B's last prediction drove at 142,
    # the hand-over's moment, so at 144), and no message of it after the hand-over rests on B's
    # predictions, nor on B's impact
    narrowed = next(m for m in a_msgs if m.area_codes == ("JPN-05",))
    assert narrowed.msg_type == "Update" and narrowed.t == 144
    assert all(m.basis.track_id == "KOR:T3" and m.basis.impact_lon_deg == AKITA_SEA[1]
               for m in a_msgs if m.t >= narrowed.t)
    assert all(m.msg_type != "Cancel" for m in out)
    # B: a suspect from the hand-over, its own Alert once its arc has held suspect_hold_s
    assert b_msgs[0].msg_type == "Alert" and set(b_msgs[0].area_codes) >= {"JPN-03", "JPN-05"}
    assert narrowed.t + 10 <= b_msgs[0].t <= narrowed.t + 14
    check_chain(out)


def test_with_no_hold_a_single_ballistic_prediction_is_still_no_hand_over(geo):
    """``suspect_hold_s`` may be 0: the hand-over then needs a second prediction on the same arc,
    never one alone (a one-off latch took the arc and narrowed the warning at once)."""
    e, out = engine(geo, suspect_hold_s=0.0), []
    _boost_alert(e, out)
    assert collect(e.on_predictions([ballistic(120, "KOR:T3")], 120), out) == []   # nothing narrowed
    assert len(e.open_incidents()) == 1 and [m.msg_type for m in out] == ["Alert"]
    msgs = collect(e.on_predictions([ballistic(122, "KOR:T3")], 122), out)        # the arc held: taken
    assert [(m.msg_type, m.area_codes) for m in msgs] == [("Update", ("JPN-05",))]
