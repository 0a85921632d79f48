"""``accord node serve`` stopping: a request stalled mid-body, a second SIGTERM, and SIGHUP.

SIGHUP (a closed terminal, a `kill -HUP` meant as "reload", a log
rotation script): the server stops as cleanly as on SIGTERM. It used to die at once by the
signal's default action — with ``--workers`` only the supervisor, so its workers served on
unsupervised and a new server was refused, naming the dead supervisor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from accord.federation.tokens import create_token
from accord.node import Node
from federation_harness import NodeProcess, children

pytestmark = pytest.mark.timeout(180)


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
        orphans = children(server.proc.pid) if workers > 1 else set()
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


def _stalled_request(d: Path, port: int) -> socket.socket:
    """An authenticated POST whose body never comes (a client on a dead link, or a slow one)."""
    node = Node.open(d)
    try:
        token = create_token(node.conn, "ops", "JPN", {"admin"})
    finally:
        node.close()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
    # the request is in the application, reading its body (0.5 s was not always enough on a loaded
    # machine: a worker that had not taken the request yet stopped at once, fresh-clone CI)
    time.sleep(2.0)
    return s


def test_a_request_stalled_mid_body_delays_sigterm_by_the_grace_period_only(tmp_path):
    """uvicorn waited for it without end (systemd then SIGKILLs: no clean stop at all)."""
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    server = NodeProcess(d, args=["--grace", "1s"]).start()
    stalled = _stalled_request(d, server.port)
    try:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("node serve still runs 60 s after SIGTERM, waiting for a stalled request")
        assert (d / "serve.lock").read_text() == ""   # the clean stop ran: lock (and leases) given back
    finally:
        stalled.close()
        server.stop()


def _leases(d: Path) -> list[tuple[str, str]]:
    import sqlite3

    conn = sqlite3.connect(d / "accord.db")
    try:
        return conn.execute("SELECT partner, holder FROM partner_leases").fetchall()
    finally:
        conn.close()


def test_a_second_sigterm_ends_the_wait_at_once_and_the_node_still_stops_cleanly(tmp_path):
    """A second SIGTERM — the operator's, or systemd's own beside the supervisor's forwarded one
    (KillMode=control-group signals every process of the unit) — cuts the requests off, and the
    application's stop still runs: the partner leases are given back (uvicorn's forced exit
    skipped it)."""
    from federation_harness import free_port, make_nodes

    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports={"JPN": free_port(), "KOR": free_port()})
    for n in nodes.values():
        n.close()
    d = tmp_path / "JPN"
    server = NodeProcess(d, args=["--grace", "1h"]).start()
    stalled = _stalled_request(d, server.port)
    try:
        assert server.proc is not None
        end = time.monotonic() + 30
        while not _leases(d) and time.monotonic() < end:
            time.sleep(0.1)
        assert [p for p, _ in _leases(d)] == ["KOR"]
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None   # waiting for the stalled request, within its grace
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("node serve ignored a second SIGTERM")
        assert _leases(d) == []   # given back: a --join server would take KOR over at once
        assert (d / "serve.lock").read_text() == ""
    finally:
        stalled.close()
        server.stop()


def test_ctrl_c_on_a_terminal_gives_the_workers_requests_their_grace(tmp_path):
    """A terminal's Ctrl-C reaches every process of the foreground group: each worker of
    ``--workers N`` gets SIGINT itself and SIGTERM from the supervisor passing it on. That is one
    stop reaching a worker twice, not a second stop: a request in progress still gets its grace
    (counted as a second signal, it was cut off at once)."""
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    server = NodeProcess(d, args=["--workers", "2", "--grace", "1h"]).start()
    stalled = _stalled_request(d, server.port)
    try:
        assert server.proc is not None
        for pid in (*children(server.proc.pid), server.proc.pid):   # what the terminal does
            os.kill(pid, signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):   # waiting for the stalled request, within its grace
            server.proc.wait(5)
        server.proc.send_signal(signal.SIGINT)   # a second Ctrl-C: requests cut off, the stop completes
        try:
            server.proc.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("node serve --workers 2 ignored a second Ctrl-C")
        assert (d / "serve.lock").read_text() == ""
    finally:
        stalled.close()
        server.stop()


def test_kill_9_of_the_supervisor_takes_its_workers_with_it_and_a_restart_serves(tmp_path):
    """``kill -9`` of the ``--workers`` supervisor (the OOM killer, an operator): its workers
    served on unsupervised, holding the port and the serve lock they inherited, and a new
    ``node serve`` was refused, naming the dead supervisor."""
    d = tmp_path / "JPN"
    Node.init(d, party="JPN").close()
    server = NodeProcess(d, args=["--workers", "2"]).start()
    workers: set[int] = set()
    try:
        assert server.proc is not None
        end = time.monotonic() + 60   # the supervisor announces once both workers have started
        while b"serving on" not in (d / "serve.log").read_bytes() and time.monotonic() < end:
            time.sleep(0.05)
        workers = children(server.proc.pid)
        assert len(workers) == 2
        server.kill9()
        end = time.monotonic() + 30
        while not all(_gone(p) for p in workers) and time.monotonic() < end:
            time.sleep(0.05)
        assert [p for p in workers if not _gone(p)] == []
        again = NodeProcess(d, server.port).start()   # same port, same directory
        again.stop()
        assert f"from process {server.proc.pid}, which no longer runs" in (d / "serve.log").read_text()
    finally:
        for pid in workers:   # the old code left them serving
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
