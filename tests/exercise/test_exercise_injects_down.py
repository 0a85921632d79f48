"""Injects aimed at a node that has crashed and not yet restarted (found by mypy: the runner used
``NodeState.node`` without checking it, and the run died with AttributeError on ``None``)."""

from pathlib import Path

import yaml

from accord.exercise.runner import run_exercise
from accord.exercise.scenario import load_scenario

DRILL = Path(__file__).parent / "data" / "small-drill.yaml"


def test_injects_on_a_crashed_node_wait_for_its_restart_or_say_why_not(tmp_path):
    s = yaml.safe_load(DRILL.read_text(encoding="utf-8"))
    s.update(duration_s=40, links=[], injects=[
        {"t": 5, "type": "node_crash", "node": "KOR", "restart_after_s": 20},
        {"t": 10, "type": "forged_envelope", "node": "USA", "to": "KOR", "kind": "warning.track"},
        {"t": 11, "type": "policy_violation", "node": "KOR", "to": "USA", "kind": "intel.stix"},
        {"t": 12, "type": "ledger_rewrite", "node": "KOR"},
        {"t": 30, "type": "node_crash", "node": "USA", "restart_after_s": 60},
        {"t": 35, "type": "forged_envelope", "node": "JPN", "to": "USA", "kind": "warning.track"},
    ])
    path = tmp_path / "down.yaml"
    path.write_text(yaml.safe_dump(s), encoding="utf-8")
    injects = run_exercise(load_scenario(path), tmp_path / "out", progress=False).metrics["injects"]

    by_type = {(i["type"], i["to"]): i for i in injects}
    assert len(injects) == 6
    # played once KOR is back (restart at t = 25), not while it was down (t 10-12)
    forged = by_type[("forged_envelope", "KOR")]
    assert forged["t"] >= 25 and forged["caught"] and "rejected it: forged" in forged["how"]
    violation = by_type[("policy_violation", "USA")]
    assert violation["t"] >= 25 and violation["caught"], violation
    rewrite = by_type[("ledger_rewrite", None)]
    assert rewrite["t"] >= 25 and "rebuilt its ledger" in rewrite["how"]
    # USA restarts after the end of the run: the inject is reported as not played, not crashed on
    late = by_type[("forged_envelope", "USA")]
    assert not late["caught"] and "USA down until the end of the run" in late["how"]
