"""(h) Disk errors injected with libfiu into the receiver lose no acknowledged item.

The receiver runs under ``fiu-run -x`` with random failures of ``pwrite`` and ``fsync`` — the
calls SQLite makes to write its WAL and make a commit durable. A batch whose commit fails is
answered 503 and retried; the receiver may also die. Whatever happens, every envelope the sender
saw acknowledged must be in the receiver's database when it is reopened, and once the faults
stop, everything arrives exactly once.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from accord.federation import share_many
from accord.node import Node
from federation_harness import NodeProcess, free_port, ledger_events, make_nodes, note, received, wait_for, db

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(shutil.which("fiu-run") is None, reason="libfiu (Debian fiu-utils) not installed"),
]

FAULTS = ["enable_random name=posix/io/rw/pwrite*,probability=0.03",
          "enable_random name=posix/io/sync/*,probability=0.03"]


def _acknowledged(dir):
    conn = db(dir)
    try:
        return {r[0] for r in conn.execute("SELECT item_id FROM fed_outbox WHERE recipient='KOR' AND state='delivered'")}
    finally:
        conn.close()


def _start_faulty(dir, port):
    """Start the receiver under libfiu with remote control, then switch the faults on.

    Enabling them only once it serves keeps start-up (schema creation) out of the experiment.
    """
    ctl = str(dir / "fiu-ctrl")
    node = NodeProcess(dir, port, wrapper=["fiu-run", "-x", "-f", ctl]).start()
    for f in FAULTS:
        subprocess.run(["fiu-ctrl", "-f", ctl, "-c", f, str(node.proc.pid)], check=True, timeout=30)
    return node


def test_disk_faults_on_receiver_lose_no_acknowledged_item(tmp_path):
    ports = {"JPN": free_port(), "KOR": free_port()}
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports=ports)
    items = [note(nodes["JPN"], i) for i in range(100)]
    share_many(nodes["JPN"], items, "KOR")
    ids = [i.id for i in items]
    for n in nodes.values():
        n.close()
    jpn = NodeProcess(tmp_path / "JPN", ports["JPN"], args=["--batch-size", "10"]).start()
    kor = _start_faulty(tmp_path / "KOR", ports["KOR"])
    try:
        for _ in range(3):  # let it run under faults, restarting the receiver if a fault killed it
            wait_for(lambda: kor.proc.poll() is not None or len(_acknowledged(tmp_path / "JPN")) >= 100, timeout=4)
            if kor.proc.poll() is not None:
                kor = _start_faulty(tmp_path / "KOR", ports["KOR"])
        acked = _acknowledged(tmp_path / "JPN")
        kor.kill9()  # no clean shutdown: what was acknowledged must already be on disk
        log = (tmp_path / "KOR" / "serve.log").read_text(errors="replace")
        assert "disk I/O error" in log or "not committed" in log, "no fault was injected"
        held = {iid for _, iid in received(tmp_path / "KOR", "JPN")}
        assert acked <= held, f"{len(acked - held)} acknowledged item(s) lost"
        # faults off: the rest arrives, exactly once, in order, and the ledger is intact
        kor = NodeProcess(tmp_path / "KOR", ports["KOR"]).start()
        assert wait_for(lambda: len(received(tmp_path / "KOR", "JPN")) >= 100, timeout=90)
        got = received(tmp_path / "KOR", "JPN")
        assert [iid for _, iid in got] == ids
        events = [e["item_id"] for e in ledger_events(tmp_path / "KOR", "item.received")]
        assert sorted(events) == sorted(ids)
    finally:
        kor.stop()
        jpn.stop()
    reopened = Node.open(tmp_path / "KOR")
    try:
        reopened.ledger.verify()
        assert len(reopened.items()) == 100
    finally:
        reopened.close()
