"""Alerts through whole exercises: real radars, trackers, federation, fusion and node crashes (#21).

* The issue's exercise: a missile tracked into Shimane's territorial sea while another missile's
  track crosses the picture; the JPN node is killed while the alert is open and restarted from
  its directory. The alert must carry on across the restart (same incident, references to the
  messages issued before the crash), say the missile is believed to have fallen off Shimane, and
  end with a Cancel whose reason is the impact.
* Seeded random salvos (:func:`accord.exercise.salvos.random_salvo`: crossing paths, lofted and
  overflying shots, coverage gaps, partner hand-overs, node crashes, a partition), audited
  against the truth for both alerting parties (:mod:`accord.warning.alerts.audit`).

Small salvos keep this fast; ``bench/alerts.py --salvos K`` runs larger ones.
"""

from __future__ import annotations

import pytest

from accord.warning.alerts.outlines import geography
from accord.exercise.runner import Runner
from accord.exercise.salvos import random_salvo
from accord.exercise.scenario import Scenario, builtin_text, parse_scenario
from accord.node import Node
from accord.warning.alerts import AlertRules
from accord.warning.alerts.audit import AlertRecord, audit_alerts, missile_threats


def run(scenario: Scenario, tmp_path) -> Runner:
    r = Runner(scenario, tmp_path / "out")
    r.run(progress=False)
    return r


def audit(r: Runner, party: str):
    threats = missile_threats(r.sim.truth, r.sim.events, geography(), AlertRules(party=party))
    return audit_alerts([AlertRecord.of(m) for m in r.alerts_log if m["party"] == party], threats)


def shimane_with_a_crash() -> Scenario:
    base = parse_scenario(builtin_text("trilateral-warning")).model_dump(mode="json")
    launches = [
        {"id": "M-SHIMANE", "t": 30, "launch": {"lat_deg": 39.0, "lon_deg": 125.7},
         "aim": {"lat_deg": 35.62, "lon_deg": 132.75}, "profile": "minimum-energy"},
        {"id": "M-NORTH", "t": 150, "launch": {"lat_deg": 39.8, "lon_deg": 127.0},
         "aim": {"lat_deg": 38.9, "lon_deg": 133.5}, "profile": "lofted"},
        {"id": "M-X", "t": 90, "launch": {"lat_deg": 38.9, "lon_deg": 126.0},
         "aim": {"lat_deg": 37.0, "lon_deg": 134.0}, "profile": "minimum-energy"}]
    return Scenario.model_validate({**base, "name": "shimane-crash", "duration_s": 700,
                                    "launches": {"explicit": launches},
                                    "injects": [{"t": 300, "type": "node_crash", "node": "JPN",
                                                 "restart_after_s": 40}]})


def test_an_alert_open_when_its_node_crashes_is_resumed_and_closed_on_the_impact(tmp_path):
    r = run(shimane_with_a_crash(), tmp_path)
    jpn = [m for m in r.alerts_log if m["party"] == "JPN"]
    shimane = [m for m in jpn if "JPN-32" in m["area_codes"]]
    assert {m["incident"] for m in shimane} == {shimane[0]["incident"]}   # one incident, across the crash
    assert shimane[0]["msg_type"] == "Alert" and shimane[0]["t"] < 300
    assert any(m["t"] > 340 for m in shimane)                          # it went on after the restart
    assert [(m["msg_type"], m["reason"]) for m in shimane[-2:]] == [("Update", "impact"), ("Cancel", "clear-impact")]
    impact_t = next(e.impact_t for e in r.sim.events if e.id == "M-SHIMANE")
    assert abs(shimane[-2]["t"] - impact_t) <= 4.0 and shimane[-1]["t"] >= impact_t + 30.0
    # the Cancel references every message of the incident, those issued before the crash too
    with Node.open(r.states["JPN"].dir) as n:
        stored = {i.body["identifier"]: i.body for i in n.items("warning.alert")}
    cancel = stored[shimane[-1]["identifier"]]
    assert len(cancel["references"]) == len(shimane) - 1
    assert [ref.split(",")[1] for ref in cancel["references"]] == [m["identifier"] for m in shimane[:-1]]
    assert all("no longer expected" not in stored[m["identifier"]]["cap_xml"] for m in shimane)
    for party in ("JPN", "KOR"):
        a = audit(r, party)
        assert a.false_all_clears == [] and a.never_closed == [] and a.switched == [], (party, a)
        assert a.duplicated == [], (party, a)


@pytest.mark.parametrize("seed", [3])
def test_a_random_salvo_with_crashes_never_clears_falsely_always_closes_and_never_switches(tmp_path, seed):
    sc = random_salvo(seed, 3)
    assert any(i.type == "node_crash" for i in sc.injects)
    r = run(sc, tmp_path)
    total = sum(audit(r, p).incidents for p in ("JPN", "KOR"))
    assert total >= 1  # not vacuous
    for party in ("JPN", "KOR"):
        a = audit(r, party)
        assert a.false_all_clears == [] and a.never_closed == [] and a.switched == [], (party, a)
        assert a.duplicated == [], (party, a)
