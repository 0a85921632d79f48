"""``accord node serve`` and SIGHUP (a closed terminal, a `kill -HUP` meant as "reload", a log
rotation script): the server stops as cleanly as on SIGTERM. It used to die at once by the
signal's default action — with ``--workers`` only the supervisor, so its workers served on
unsupervised and a new server was refused, naming the dead supervisor."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from accord.node import Node
from federation_harness import NodeProcess

pytestmark = pytest.mark.timeout(180)


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def _gone(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_stops_the_server_cleanly_and_leaves_no_worker_behind(tmp_path, workers):
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    server = NodeProcess(d, args=["--workers", str(workers)]).start()
    orphans: set[int] = set()
    try:
        assert server.proc is not None
        orphans = _children(server.proc.pid) if workers > 1 else set()
        assert len(orphans) == (2 if workers > 1 else 0)
        server.proc.send_signal(signal.SIGHUP)
        assert server.proc.wait(30) == 0
        end = time.monotonic() + 20
        while not all(_gone(p) for p in orphans) and time.monotonic() < end:
            time.sleep(0.05)
        assert [p for p in orphans if not _gone(p)] == []
        assert (d / "serve.lock").read_text() == ""   # a clean stop leaves no PID behind
        assert "Traceback" not in (d / "serve.log").read_text()
    finally:
        for pid in orphans:   # the old code left them serving
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
