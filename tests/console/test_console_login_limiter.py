"""The login rate limit's table: old failures expire on every write, a client's count is right
among many clients, and no statement of an attempt reads the whole table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accord.console.sessions import LoginLimiter
from accord.node import Node

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def node(tmp_path):
    n = Node.init(tmp_path / "jpn", "JPN")
    yield n
    n.close()


def _rows(node: Node) -> int:
    return int(node.conn.execute("SELECT count(*) FROM console_login_attempts").fetchone()[0])


def test_failures_older_than_the_window_are_dropped_by_the_next_failure(node):
    lim = LoginLimiter(node, attempts=3, window=timedelta(seconds=60))
    for i in range(200):
        lim.failed(f"10.0.{i // 250}.{i % 250}", T0 + timedelta(milliseconds=i))
    assert _rows(node) == 200
    later = T0 + timedelta(seconds=61)
    lim.failed("192.0.2.1", later)
    assert _rows(node) == 1  # only the new one: the 200 are past the window
    assert lim.retry_after("10.0.0.7", later) is None


def test_each_clients_count_stays_right_among_many_clients(node):
    lim = LoginLimiter(node, attempts=5, window=timedelta(seconds=60))
    t = T0
    for rnd in range(4):
        for c in range(300):
            t += timedelta(milliseconds=10)
            assert lim.attempt(f"198.51.100.{c}", t) is None
    # 4 attempts each: one more is allowed, the sixth is refused
    t += timedelta(milliseconds=10)
    assert lim.attempt("198.51.100.17", t) is None
    wait = lim.attempt("198.51.100.17", t)
    assert wait is not None and 1 <= wait <= 61
    assert lim.retry_after("198.51.100.17", t) == wait
    assert lim.retry_after("198.51.100.18", t) is None  # its neighbours are still at four
    assert lim.attempt("198.51.100.18", t) is None
    # the window slides: once the first round is older than 60 s, 17 has room for one again
    first_of_17 = T0 + timedelta(milliseconds=10 * 18)
    later = first_of_17 + timedelta(seconds=60, microseconds=1)
    assert lim.attempt("198.51.100.17", later) is None
    assert lim.attempt("198.51.100.17", later) is not None


def test_the_table_stays_within_max_rows_keeping_the_newest(node):
    lim = LoginLimiter(node, attempts=5, window=timedelta(hours=1), max_rows=100)
    for i in range(250):
        lim.failed(f"203.0.113.{i}", T0 + timedelta(milliseconds=i))
    assert _rows(node) == 100
    kept = {r[0] for r in node.conn.execute("SELECT client FROM console_login_attempts")}
    assert kept == {f"203.0.113.{i}" for i in range(150, 250)}


def test_no_statement_of_an_attempt_scans_the_table(node):
    if not hasattr(node.conn, "set_trace_callback"):
        pytest.skip("query plans are read from SQLite")
    lim = LoginLimiter(node, attempts=5, window=timedelta(seconds=60))
    for i in range(50):
        lim.failed(f"10.1.0.{i}", T0)
    seen: list[str] = []
    node.conn.set_trace_callback(seen.append)
    try:
        lim.attempt("10.1.0.3", T0 + timedelta(seconds=1))
        lim.failed("10.1.0.4", T0 + timedelta(seconds=1))
    finally:
        node.conn.set_trace_callback(None)
    stmts = [s for s in seen if "console_login_attempts" in s]
    assert len(stmts) >= 4
    for s in stmts:
        if s.lstrip().upper().startswith("INSERT"):
            continue
        plan = " | ".join(r[-1] for r in node.conn.execute("EXPLAIN QUERY PLAN " + s).fetchall())
        assert "SCAN console_login_attempts" not in plan, (s, plan)
