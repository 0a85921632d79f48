"""Several processes, one node (SQLite WAL): the ledger, the inbox and the partner leases hold
across real processes (not threads), and ``node serve --workers N`` / ``--join`` serve one node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accord.api.deps import create_token
from accord.core import merkle
from accord.federation import share_many
from accord.federation.leases import Leases
from accord.node import Node
from federation_harness import (ROOT, NodeProcess, children, db, free_port, ledger_events, make_nodes, note, outbox_states,
                                received, wait_for)

pytestmark = pytest.mark.timeout(300)


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


def _ledger_is_one_sequence(dir: Path) -> int:
    """Indices 0..n-1 with no gap, ``accord ledger verify`` passes, and the stored tree head is
    the root recomputed from the leaf bytes alone. Returns n."""
    conn = db(dir)
    try:
        rows = conn.execute("SELECT idx, leaf FROM ledger_leaves ORDER BY idx").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(len(rows))), "ledger indices have a gap or a repeat"
    r = subprocess.run([sys.executable, "-m", "accord.cli.main", "ledger", "verify", "--dir", str(dir)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    node = Node.open(dir)
    try:
        assert node.ledger.root() == merkle.mth_of_entries([bytes(r[1]) for r in rows])
        assert node.ledger.size == len(rows)
    finally:
        node.close()
    return len(rows)


_APPENDER = """
import sys, time
from pathlib import Path
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.node import Node
d, tag, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
node = Node.open(d)
while not go.exists():
    time.sleep(0.005)
for i in range(n):
    item = new_item("test.note", {"w": tag, "i": i}, Marking.parse("RESTRICTED"), node.party, node.clock.now())
    if i % 3 == 0:
        node.put_items([item, new_item("test.note", {"w": tag, "i": i, "b": 1}, Marking.parse("RESTRICTED"),
                                       node.party, node.clock.now())])
    else:
        node.put_item(item)
node.close()
"""


@pytest.mark.parametrize("writers", [2, 4])
def test_ledger_stays_one_sequence_under_writers_in_several_processes(tmp_path, writers):
    Node.init(tmp_path / "n", party="JPN").close()
    go = tmp_path / "go"
    procs = [_python(_APPENDER, str(tmp_path / "n"), f"w{k}", "120", str(go)) for k in range(writers)]
    time.sleep(1.0)  # let them all open the node and wait at the start line
    go.touch()
    _finish(procs)
    size = _ledger_is_one_sequence(tmp_path / "n")
    events = ledger_events(tmp_path / "n", "item.created")
    per_writer = 120 + 40  # 120 put calls, every third with a second item
    assert len(events) == writers * per_writer == len({e["item_id"] for e in events})
    assert size == len(events)


_RECEIVER = """
import json, sys, time
from pathlib import Path
from accord.federation import receive_batch
from accord.node import Node
d, batches, go = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
node = Node.open(d)
while not go.exists():
    time.sleep(0.005)
counts = {}
for batch in batches:
    for r in receive_batch(node, batch, sender="JPN").receipts:
        counts[r.status] = counts.get(r.status, 0) + 1
node.close()
print(json.dumps(counts))
"""


def test_two_processes_receiving_the_same_batches_store_each_item_once(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    items = [note(jpn, i) for i in range(600)]
    share_many(jpn, items, "KOR")
    envelopes = [json.loads(bytes(r[0])) for r in jpn.conn.execute(
        "SELECT envelope FROM fed_outbox WHERE recipient='KOR' ORDER BY seq")]
    for n in nodes.values():
        n.close()
    batches = [envelopes[i:i + 40] for i in range(0, len(envelopes), 40)]
    (tmp_path / "batches.json").write_text(json.dumps(batches))
    go = tmp_path / "go"
    procs = [_python(_RECEIVER, str(tmp_path / "KOR"), str(tmp_path / "batches.json"), str(go)) for _ in range(2)]
    time.sleep(1.0)
    go.touch()
    counts = [json.loads(out) for out in _finish(procs)]
    # every envelope answered by both, stored by exactly one of them; nothing refused
    assert all(set(c) <= {"stored", "duplicate"} for c in counts), counts
    assert sum(c.get("stored", 0) for c in counts) == 600
    assert sum(c.get("duplicate", 0) for c in counts) == 600
    got = received(tmp_path / "KOR", "JPN")
    assert [seq for seq, _ in got] == list(range(1, 601))
    assert [iid for _, iid in got] == [i.id for i in items]
    events = [e["item_id"] for e in ledger_events(tmp_path / "KOR", "item.received")]
    assert sorted(events) == sorted(i.id for i in items)  # each ledgered once
    conn = db(tmp_path / "KOR")
    try:
        assert conn.execute("SELECT COUNT(*) FROM items WHERE originator='JPN'").fetchone()[0] == 600
    finally:
        conn.close()
    _ledger_is_one_sequence(tmp_path / "KOR")


def test_a_lease_is_held_by_one_holder_and_passes_on_when_given_back_or_run_out(tmp_path):
    Node.init(tmp_path / "n", party="JPN").close()
    a_node, b_node = Node.open(tmp_path / "n"), Node.open(tmp_path / "n")  # two connections, as two processes
    try:
        from accord.federation.schema import ensure_federation_schema
        ensure_federation_schema(a_node.conn)
        a, b = Leases(a_node, ttl=0.5), Leases(b_node, ttl=0.5)
        assert a.refresh(["KOR", "USA"]) == ["KOR", "USA"]
        assert b.refresh(["KOR", "USA"]) == []
        assert a.holds("KOR") and not b.holds("KOR")
        a.release(["USA"])  # given back: the other takes it at once
        assert b.refresh(["KOR", "USA"]) == ["USA"]
        # a stops renewing (as a killed worker does): once its lease has run out, b takes over
        assert wait_for(lambda: b.refresh(["KOR"]) == ["KOR"], timeout=10)
        assert not a.holds("KOR")
        assert a.refresh(["KOR"]) == []  # and a, coming back, does not take it back
        conn = db(tmp_path / "n")
        try:
            holders = dict(conn.execute("SELECT partner, holder FROM partner_leases").fetchall())
        finally:
            conn.close()
        assert holders == {"KOR": b.holder, "USA": b.holder}
        assert b.holder.split(":")[1] == str(os.getpid())
    finally:
        a_node.close()
        b_node.close()


def _token(dir: Path) -> str:
    node = Node.open(dir)
    try:
        return create_token(node.conn, "ops", node.party, {"admin"})
    finally:
        node.close()


def test_serve_with_two_workers_answers_from_both_and_stops_cleanly_on_sigterm(tmp_path):
    Node.init(tmp_path / "JPN", party="JPN").close()
    token = _token(tmp_path / "JPN")
    server = NodeProcess(tmp_path / "JPN", args=["--workers", "2"]).start()
    try:
        workers = children(server.proc.pid)
        assert len(workers) == 2
        seen: set[int] = set()

        def both_answered() -> bool:
            r = httpx.get(server.url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 200
            seen.add(r.json()["server"]["pid"])
            return seen == workers

        assert wait_for(both_answered, timeout=60, interval=0.01)
        # anonymous clients learn nothing of the processes
        health = httpx.get(server.url + "/health", timeout=5)
        assert health.json() == {"status": "ok", "party": "JPN"} and "pid" not in health.text
        assert httpx.get(server.url + "/api/v1/status", timeout=5).status_code == 401
        assert (tmp_path / "JPN" / "serve.lock").read_text() == f"{server.proc.pid}\n"
        log = (tmp_path / "JPN" / "serve.log").read_text()
        assert log.count("serving on") == 1 and "(2 worker processes)" in log
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
        assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
                   for pid in workers)
        assert (tmp_path / "JPN" / "serve.lock").read_text() == ""
        assert "Traceback" not in (tmp_path / "JPN" / "serve.log").read_text()
    finally:
        server.stop()


def test_a_second_independent_server_is_refused_but_join_serves_beside(tmp_path):
    Node.init(tmp_path / "JPN", party="JPN").close()
    d = tmp_path / "JPN"
    first = NodeProcess(d).start()
    try:
        r = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(d), "--port",
                            str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "serving on" not in r.stdout
        assert f"is already served by process {first.proc.pid}" in r.stderr and "--join" in r.stderr
        second = NodeProcess(d, args=["--join"]).start()
        try:
            assert (d / "serve.lock").read_text() == f"{first.proc.pid}\n{second.proc.pid}\n"
            assert f"joining the server(s) of {d} in process {first.proc.pid}" in (d / "serve.log").read_text()
            assert httpx.get(second.url + "/health", timeout=5).status_code == 200
        finally:
            second.stop()
        assert (d / "serve.lock").read_text() == f"{first.proc.pid}\n"
    finally:
        first.stop()
    assert (d / "serve.lock").read_text() == ""


def _lease_holder(dir: Path, partner: str) -> str | None:
    try:
        conn = db(dir)
        try:
            row = conn.execute("SELECT holder FROM partner_leases WHERE partner=? AND expires > ?",
                               (partner, int(time.time() * 1000))).fetchone()
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - not made yet
        return None
    return row[0] if row else None


def test_kill_9_of_the_lease_holder_mid_delivery_another_worker_delivers_the_rest(tmp_path):
    ports = {"JPN": free_port(), "KOR": free_port()}
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports=ports)
    for n in nodes.values():
        n.close()
    kor = NodeProcess(tmp_path / "KOR", ports["KOR"]).start()
    jpn = NodeProcess(tmp_path / "JPN", ports["JPN"], args=["--workers", "2", "--batch-size", "10"]).start()
    try:
        workers = children(jpn.proc.pid)
        assert len(workers) == 2
        node = Node.open(tmp_path / "JPN")
        try:
            items = [note(node, i) for i in range(2000)]
            share_many(node, items, "KOR")
        finally:
            node.close()
        ids = [i.id for i in items]
        assert wait_for(lambda: len(received(tmp_path / "KOR", "JPN")) >= 50, timeout=60, interval=0.01)
        holder = _lease_holder(tmp_path / "JPN", "KOR")
        assert holder is not None
        victim = int(holder.split(":")[1])
        assert victim in workers
        os.kill(victim, signal.SIGKILL)
        at_kill = len(received(tmp_path / "KOR", "JPN"))
        assert at_kill < 2000, "delivery finished before the kill: the test proves nothing"
        if not wait_for(lambda: len(received(tmp_path / "KOR", "JPN")) >= 2000, timeout=180):
            log = (tmp_path / "JPN" / "serve.log").read_text(errors="replace").splitlines()[-20:]
            pytest.fail(f"{len(received(tmp_path / 'KOR', 'JPN'))} of 2000 delivered 180 s after the kill "
                        f"({at_kill} at the kill); workers now {children(jpn.proc.pid)}, lease "
                        f"{_lease_holder(tmp_path / 'JPN', 'KOR')}; JPN's serve.log ends:\n" + "\n".join(log))
        new_holder = _lease_holder(tmp_path / "JPN", "KOR")
        assert new_holder is not None and new_holder != holder
        assert int(new_holder.split(":")[1]) != victim
        got = received(tmp_path / "KOR", "JPN")
        assert [seq for seq, _ in got] == list(range(1, 2001))  # 0 lost, 0 duplicated, in order
        assert [iid for _, iid in got] == ids
        events = [e["item_id"] for e in ledger_events(tmp_path / "KOR", "item.received")]
        assert sorted(events) == sorted(ids)
        assert wait_for(lambda: outbox_states(tmp_path / "JPN", "KOR") == {"delivered": 2000}, timeout=60)
        assert "worker 0" in (tmp_path / "JPN" / "serve.log").read_text() or \
            "worker 1" in (tmp_path / "JPN" / "serve.log").read_text()  # the supervisor replaced it
    finally:
        jpn.stop()
        kor.stop()
    for party in ("JPN", "KOR"):
        _ledger_is_one_sequence(tmp_path / party)
