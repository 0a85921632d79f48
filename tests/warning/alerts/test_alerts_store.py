"""Open incidents survive a node crash: the engine's state is in the node's database with the
messages it issued, and after a restart the engine closes each incident when its threat ends.

The crash is real: a child process runs the node and the engine and is killed with SIGKILL while
an alert is open; the test then reopens the node directory in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alerts_helpers import make_pred
from test_alerts_engine import check_chain, collect

from accord.errors import InputError
from accord.node import Node
from accord.warning.alerts import AlertEngine, AlertRules
from accord.warning.alerts.store import AlertStore

SENDER = "accord.jpn.example"
HOKKAIDO = (43.3, 140.0)

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from alerts_helpers import make_pred
    from accord.node import Node
    from accord.warning.alerts import AlertRules, Geography
    from accord.warning.alerts.store import AlertStore

    node = Node.init({node!r}, "JPN")
    store = AlertStore(node)
    engine = store.engine(AlertRules(party="JPN"), Geography.load(parties=["JPN"]), {sender!r}, "Exercise")
    for t in range(300, 352, 2):
        p = make_pred(t, 43.3, 140.0, 30_000 - 400 * (t - 300), 12_000, 90, impact_t=400, track="JPN:T4")
        store.save(engine, [m.to_item() for m in engine.on_predictions([p], t) + engine.on_time(t)])
    print(len(node.items("warning.alert")), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)   # no close, no clean-up: the process just dies
""")


def test_an_open_alert_survives_a_kill_and_is_closed_after_the_restart(tmp_path, geo):
    node_dir = tmp_path / "jpn"
    code = CHILD.format(tests=str(Path(__file__).parent), node=str(node_dir), sender=SENDER)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    issued_before = int(r.stdout.strip())
    assert issued_before >= 2  # the Alert and at least one Update

    node = Node.open(node_dir)
    try:
        before = [i.body for i in node.items("warning.alert")]
        assert len(before) == issued_before
        store = AlertStore(node)
        engine = store.engine(AlertRules(party="JPN"), geo, SENDER, "Exercise")
        assert engine.open_incidents() == ["JPN:T4"]
        out: list = []
        for t in range(352, 440):
            msgs = collect(engine.on_time(t), out)
            store.save(engine, [m.to_item() for m in msgs])
        assert [(m.msg_type, m.reason) for m in out] == [("Update", "impact"), ("Cancel", "clear-impact")]
        assert engine.open_incidents() == []
        # the chain continues the one issued before the crash: same incident, every reference
        refs = [f"{b['sender']},{b['identifier']},{b['sent']}" for b in before]
        assert list(out[0].references) == refs and list(out[1].references) == refs + [out[0].ref]
        assert {b["incident"] for b in before} == {out[0].incident}
        assert len(node.items("warning.alert")) == issued_before + 2
        # and the closed incident stays closed across another restart
        again = AlertStore(node).engine(AlertRules(party="JPN"), geo, SENDER, "Exercise")
        assert again.open_incidents() == [] and again.on_time(1_000) == []
    finally:
        node.close()


def test_a_restored_engine_continues_the_incident_with_the_restarted_trackers_new_track(geo):
    e, out = AlertEngine(AlertRules(party="JPN"), geo, SENDER, "Exercise"), []
    for t in range(300, 330, 2):
        collect(e.on_prediction(make_pred(t, *HOKKAIDO, 20_000, 8_000, 90, impact_t=500, track="JPN:T4"), t), out)
    state = json.loads(json.dumps(e.snapshot()))  # through JSON, as the store keeps it
    e2 = AlertEngine.restore(state, AlertRules(party="JPN"), geo, SENDER, "Exercise")
    assert e2.snapshot() == e.snapshot()
    # the restarted tracker numbers its tracks from T1 again: a new track of the same arc
    for t in range(360, 600, 2):
        p = make_pred(t, *HOKKAIDO, 6_000, 3_000, 90, impact_t=500, track="JPN:T1") if t < 500 else None
        collect(e2.on_prediction(p, t) if p else e2.on_time(t), out)
    assert [m.msg_type for m in out].count("Alert") == 1
    assert out[-1].msg_type == "Cancel" and out[-1].reason == "clear-impact"
    assert out[-1].sources == ("JPN:T1", "JPN:T4")
    check_chain(out)


def test_a_damaged_or_foreign_snapshot_is_refused(geo):
    e = AlertEngine(AlertRules(party="JPN"), geo, SENDER, "Exercise")
    e.on_prediction(make_pred(300, *HOKKAIDO, 20_000, 8_000, 90, impact_t=500), 300)
    snap = e.snapshot()
    with pytest.raises(InputError, match="snapshot"):
        AlertEngine.restore({"format": "other"}, AlertRules(party="JPN"), geo, SENDER, "Exercise")
    with pytest.raises(InputError, match="damaged"):
        AlertEngine.restore({**snap, "incidents": [{"name": "T1"}]}, AlertRules(party="JPN"), geo, SENDER,
                            "Exercise")
    from accord.errors import ConfigError
    with pytest.raises(ConfigError, match="JPN's, not KOR's"):
        AlertEngine.restore(snap, AlertRules(party="KOR"), geo, SENDER, "Exercise")


@pytest.mark.sqlite_only  # looks at the SQLite file
def test_the_store_writes_nothing_when_nothing_changed(tmp_path, geo):
    with Node.init(tmp_path / "n", "JPN") as node:
        store = AlertStore(node)
        e = store.engine(AlertRules(party="JPN"), geo, SENDER, "Exercise")
        msgs = e.on_prediction(make_pred(300, *HOKKAIDO, 20_000, 8_000, 90, impact_t=500), 300)
        assert len(store.save(e, [m.to_item() for m in msgs])) == 1
        size = node.ledger.size
        assert store.save(e, []) == [] and node.ledger.size == size
        assert os.path.getsize(tmp_path / "n" / "accord.db") > 0
