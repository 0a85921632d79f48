"""Two open incidents of one missile are merged into one (issue #18: one missile, one incident).

A node's ballistic track of a missile whose incident still stands on a partner's boost guess (a
flight 2,000 km on: the arc the track is tested against) is on no incident's arc, so it starts an
incident of its own; the partner's boost track then latches ballistic and the first incident
takes that track's arc (the hand-over, test_alerts_boost_handover.py). Both incidents then follow
one arc: one missile, two incidents open. The older survives; the other's tracks are bound to it,
the areas only the other warns are carried by an Update of the survivor, and the other is closed
by a Cancel that names no area (no all-clear) — not within ``clear_hold_s`` of its Alert.
"""

from __future__ import annotations

import json
from dataclasses import replace

from alerts_helpers import make_pred, path
from test_alerts_boost_handover import AKITA_SEA, TRUE_IMPACT_T, ballistic, boost_far, by_incident, here
from test_alerts_engine import check_chain, collect, engine

from accord.warning.alerts import AlertEngine, validate

FIRST, SECOND = "JPN-KOR:T3-1", "JPN-JPN:T3-2"


def run(e, own, *, until: int = 460, others=lambda t: []):
    """KOR's boost guess alerts (100 s); JPN's own ballistic track ``own(t)`` from 120 s (on no
    incident's arc: a second incident); KOR's track latches ballistic at 131 s, its arc taken
    10 s later; ``others(t)``: more predictions of the moment."""
    out: list = []
    for t in range(100, 120, 2):
        collect(e.on_predictions([boost_far(t)], t), out)
    for t in range(120, 132, 2):
        collect(e.on_predictions([boost_far(t), own(t)] + others(t), t), out)
    assert [(m.incident, m.msg_type) for m in out] == [(FIRST, "Alert"), (SECOND, "Alert")]
    for t in range(132, until, 2):
        collect(e.on_predictions([own(t), ballistic(t - 1, "KOR:T3")] + others(t), t), out)
    return out


def finish(e, out):
    for t in range(460, 600, 2):
        collect(e.on_time(t), out)
    assert e.open_incidents() == []
    check_chain(out)
    return by_incident(out)


def test_a_second_incident_of_one_missile_is_merged_into_the_first(geo):
    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    out = run(e, lambda t: ballistic(t, "JPN:T3"))
    assert e.open_incidents() == ["KOR:T3"]     # one missile, one incident open
    # KOR's arc was taken at 142 s: two incidents on one arc until the second's Alert (120 s)
    # is more than 30 s old; then it is closed by a Cancel naming no area
    merged = [m for m in out if m.reason == "merged"]
    assert [(m.incident, m.msg_type, m.area_codes) for m in merged] == [(SECOND, "Cancel", ())]
    assert 150 < merged[0].t <= 154
    validate(merged[0].xml)
    assert b"<responseType>AllClear</responseType>" not in merged[0].xml
    assert FIRST.encode() in merged[0].xml       # it says which incident the warning goes on in
    # the survivor drives on both tracks' predictions
    assert all(m.incident == FIRST for m in out if m.t > merged[0].t)
    assert any(m.basis.track_id == "JPN:T3" for m in out if m.t > merged[0].t)
    incidents = finish(e, out)
    assert [(m.msg_type, m.reason, m.t) for m in incidents[FIRST][-2:]] == [
        ("Update", "impact", TRUE_IMPACT_T), ("Cancel", "clear-impact", TRUE_IMPACT_T + 30)]
    assert incidents[FIRST][-1].sources == ("JPN:T3", "KOR:T3")
    assert incidents[SECOND][-1] is merged[0]
    # no Cancel names Akita before the missile has fallen there
    assert all("JPN-05" not in m.area_codes for m in out if m.msg_type == "Cancel" and m.t < TRUE_IMPACT_T)


def wide(t: float):
    """JPN's own track with a wider ellipse, south of KOR's on the same arc: it names Yamagata
    (JPN-06) besides Akita, where KOR's names Akita alone."""
    gt = path(*here(t), 39.2, 139.85, 20)
    return make_pred(t, 39.2, 139.85, 40_000.0, 20_000.0, 0.0, impact_t=TRUE_IMPACT_T, track="JPN:T3",
                     ground_track=gt)


def test_the_areas_only_the_duplicate_warns_are_carried_by_the_survivor(geo):
    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    out = run(e, wide)
    assert [m.area_codes for m in out if m.incident == SECOND][0] == ("JPN-05", "JPN-06")
    merged = [m for m in out if m.reason == "merged"]
    # first the survivor's Update naming Yamagata too, then the duplicate's Cancel naming nothing
    assert [(m.incident, m.msg_type, m.area_codes) for m in merged] == [
        (FIRST, "Update", ("JPN-05", "JPN-06")), (SECOND, "Cancel", ())]
    assert merged[0].t == merged[1].t
    assert "山形" in merged[0].texts["ja"].headline + merged[0].texts["ja"].description
    incidents = finish(e, out)
    assert incidents[FIRST][-1].area_codes == ("JPN-03", "JPN-05", "JPN-06")   # every area warned
    assert all(m.msg_type != "Cancel" or m.t >= TRUE_IMPACT_T for m in incidents[FIRST])


def test_two_missiles_on_one_arc_seconds_apart_stay_two_incidents_while_the_duplicate_merges(geo):
    """A second missile on the same arc, 30 s behind (a salvo from one point): a third incident
    (its track's missile is elsewhere), which no merge takes in."""
    def behind(t: float):
        p = ballistic(t, "USA:T1")
        return replace(p, ground_track=path(*here(t - 30), *AKITA_SEA, 20), impact_t_sigma_s=10.0)

    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    out = run(e, lambda t: ballistic(t, "JPN:T3"), others=lambda t: [behind(t)] if t >= 140 else [])
    third = [m for m in out if m.msg_type == "Alert"][2]
    assert third.sources == ("USA:T1",)
    assert [(m.incident, m.msg_type) for m in out if m.reason == "merged"] == [(SECOND, "Cancel")]
    assert e.open_incidents() == ["KOR:T3", "USA:T1"]
    incidents = finish(e, out)
    assert len(incidents) == 3
    assert incidents[third.incident][-1].reason == "clear-impact"


def test_a_merge_survives_a_restart(geo):
    """The areas carried from a merged duplicate stay warned by the survivor after a restart."""
    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    out = run(e, wide, until=160)
    assert [m.msg_type for m in out if m.reason == "merged"] == ["Update", "Cancel"]
    snap = json.loads(json.dumps(e.snapshot()))
    assert [i.get("carried") for i in snap["incidents"]] == [["JPN-06"]]
    e = AlertEngine.restore(snap, e.rules, geo, e.sender, e.status)
    assert e.snapshot() == snap


def test_a_snapshot_whose_alert_reference_is_damaged_is_refused_on_restore(geo):
    """The merge reads when an incident's Alert went out from its first reference: a damaged one
    is a damaged snapshot (a clear error at restore), not a failure at a merge later on."""
    import pytest

    from accord.errors import InputError

    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    run(e, wide, until=140)
    snap = json.loads(json.dumps(e.snapshot()))
    for bad in ("no commas", "a,b,2026-01-01T00:01:40"):
        damaged = json.loads(json.dumps(snap))
        damaged["incidents"][1]["refs"][0] = bad
        with pytest.raises(InputError, match="damaged"):
            AlertEngine.restore(damaged, e.rules, geo, e.sender, e.status)


def north(t: float):
    """A third tracker's (USA's) track of the missile, north of KOR's on the same arc: it names
    Aomori (JPN-02) besides Akita. Its impact time comes down to the true one by 140 s (off JPN's
    arc at first: an incident of its own)."""
    return make_pred(t, 40.4, 139.9, 40_000.0, 20_000.0, 0.0, impact_t=TRUE_IMPACT_T + 6.0 * max(0.0, 140.0 - t),
                     track="USA:T2", ground_track=path(*here(t), 40.4, 139.9, 20))


def test_two_duplicates_merged_at_once_leave_every_area_they_warn_warned(geo):
    """Three incidents of one missile: the survivor takes both duplicates in at one moment. Its
    second merge Update named the second duplicate's areas only: Yamagata, carried from the
    first duplicate (just closed by a Cancel naming no area), was named by no open incident."""
    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0)
    out: list = []
    for t in range(100, 120, 2):
        collect(e.on_predictions([boost_far(t)], t), out)
    for t in range(120, 132, 2):
        collect(e.on_predictions([boost_far(t), wide(t), north(t)], t), out)
    for t in range(132, 200, 2):
        collect(e.on_predictions([wide(t), north(t), ballistic(t - 1, "KOR:T3")], t), out)
    assert [m.msg_type for m in out if m.reason == "merged"].count("Cancel") == 2
    assert e.open_incidents() == ["KOR:T3"]
    last = [m for m in out if m.incident == FIRST][-1]
    assert {"JPN-02", "JPN-05", "JPN-06"} <= set(last.area_codes)   # Aomori and Yamagata stay warned
    incidents = finish(e, out)
    assert {"JPN-02", "JPN-06"} <= set(incidents[FIRST][-1].area_codes)   # the all-clear names them


def test_a_duplicate_merged_without_an_update_keeps_its_areas_through_the_next_merge(geo):
    """The survivor's last message names every area the first duplicate warns (Iwate, Akita):
    that one is closed by its Cancel alone. Its reference has narrowed to Akita since (the change
    held back by ``min_update_interval_s``); a second duplicate merged at the same moment brought
    an Update built on that reference, which named Iwate no more — warned by the first duplicate,
    whose Cancel names no area."""
    def east(t: float, track: str = "JPN:T3"):   # JPN's track: Iwate (JPN-03) and Akita
        return make_pred(t, 39.7, 140.75, 40_000.0, 20_000.0, 90.0, impact_t=TRUE_IMPACT_T, track=track,
                         ground_track=path(*here(t), 39.7, 140.75, 20))

    def kor(t: float):    # KOR's arc names Iwate and Akita, then (from 146 s) Akita alone
        return east(t, "KOR:T3") if t < 146 else ballistic(t, "KOR:T3")

    def south(t: float):  # USA's: Yamagata (JPN-06) and Akita, off JPN's arc until 140 s
        return replace(wide(t), track_id="USA:T2", impact_t=TRUE_IMPACT_T + 6.0 * max(0.0, 140.0 - t))

    e = engine(geo, suspect_hold_s=10.0, clear_hold_s=30.0, min_update_interval_s=60.0)
    out: list = []
    for t in range(100, 120, 2):
        collect(e.on_predictions([boost_far(t)], t), out)
    for t in range(120, 132, 2):
        collect(e.on_predictions([boost_far(t), east(t), south(t)], t), out)
    for t in range(132, 200, 2):
        collect(e.on_predictions([east(t), south(t), kor(t - 1)], t), out)
    assert [m.msg_type for m in out if m.reason == "merged"].count("Cancel") == 2
    assert e.open_incidents() == ["KOR:T3"]
    last = [m for m in out if m.incident == FIRST][-1]
    assert {"JPN-03", "JPN-05", "JPN-06"} <= set(last.area_codes), last.area_codes
