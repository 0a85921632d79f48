"""``accord node serve`` bounds how many connections it holds open, in all and per client address
(:mod:`accord.api.conn_limit`), and raises its open-files limit to the hard one. The head deadline
(60 s) bounds how long a silent connection lasts, not how many there are: under systemd's default
soft limit of 1,024 open files, about a thousand anonymous connections sending nothing (reopened
each minute) left the server no descriptor to accept anyone else — partners, users and
``/health`` timed out."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.api.conn_limit import ConnectionLimits, check_limits, client_key
from accord.errors import InputError
from accord.node import Node
from api_served import answer as _answer, connect, health, idle_connections_then_health, served
from federation_harness import NodeProcess, free_port, make_nodes


def test_connections_past_a_client_s_cap_are_refused_and_othersserved(tmp_path, caplog, monkeypatch):
    from accord.api import conn_limit

    # the refusal lines are throttled per process (30 a minute): another test's refusals in this
    # process within the minute would leave none for this one
    monkeypatch.setattr(conn_limit, "_over_log", type(conn_limit._over_log)(per_minute=30))
    limits = ConnectionLimits(max_connections=8, max_client_connections=3, files=10_000)
    with served(Node.init(tmp_path / "KOR", party="KOR"), limits) as port:
        idle = [connect(port, "127.0.0.1") for _ in range(3)]  # silent: held until the head deadline
        try:
            # the level set before connecting: the server may refuse (and log) before connect returns
            with caplog.at_level("INFO", logger="accord.api"), connect(port, "127.0.0.1") as over:
                # answered and closed at once (the accept queue is in order: the three came first)
                assert _answer(over).startswith(b"HTTP/1.1 503 "), "a 4th idle connection from one address was held"
            assert [r for r in caplog.records if getattr(r, "event", "") == "connection.over_limit"]
            assert health(port, "127.0.0.2") == 200  # another client is served meanwhile
            idle.pop().close()
            # once the server has seen that close, the address has a place again (bounded: no clock)
            assert any(health(port, "127.0.0.1") == 200 for _ in range(200))
        finally:
            for c in idle:
                c.close()


def test_connections_past_the_total_cap_are_refused(tmp_path):
    limits = ConnectionLimits(max_connections=4, max_client_connections=2, files=10_000)
    with served(Node.init(tmp_path / "KOR", party="KOR"), limits) as port:
        idle = [connect(port, f"127.0.0.{host}") for host in (1, 1, 3, 3)]
        try:
            with connect(port, "127.0.0.4") as over:
                assert _answer(over).startswith(b"HTTP/1.1 503 ")
        finally:
            for c in idle:
                c.close()


def test_the_total_cap_stays_under_the_open_files_limit():
    assert ConnectionLimits(4096, 512, files=1024).max_total == 1024 - 256
    assert ConnectionLimits(100, 512, files=1024).max_client == 100
    assert ConnectionLimits(4096, 512, files=100).max_total == 1


@pytest.mark.parametrize("host, key", [("192.0.2.7", "192.0.2.7"), ("::ffff:192.0.2.7", "192.0.2.7"),
                                       ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
                                       ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
                                       ("fe80::1%eth0", "fe80::/64"), ("not-an-address", "not-an-address")])
def test_a_client_is_its_address_or_its_ipv6_slash_64(host, key):
    assert client_key(host) == key


@pytest.mark.parametrize("total, per_client", [(0, 1), (1, 0), (-1, 512)])
def test_caps_below_one_are_refused(total, per_client):
    with pytest.raises(InputError):
        check_limits(total, per_client)


def test_idle_anonymous_connections_do_not_lock_everyone_out(tmp_path):
    """The defaults, in a real ``node serve`` under systemd's 1,024 open files: 1,100 silent
    connections from one address, and another client is still served."""
    idle_connections_then_health(tmp_path)


def test_serve_raises_its_open_files_limit_to_the_hard_one(tmp_path):
    port = free_port()
    make_nodes(tmp_path, ("KOR",), ports={"KOR": port})["KOR"].close()
    kor = NodeProcess(tmp_path / "KOR", port, wrapper=["prlimit", "--nofile=1024:4096", "--"]).start()
    try:
        limits = Path(f"/proc/{kor.proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line
    finally:
        kor.stop()
