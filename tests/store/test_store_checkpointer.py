"""The background WAL checkpointer of a serving node."""

from __future__ import annotations

import pytest

import threading
import time

from accord.store.sqlite import Checkpointer, connect

pytestmark = pytest.mark.sqlite_only  # SQLite itself: its file, WAL and connections



def _wal_frames(conn):
    # PRAGMA wal_checkpoint(PASSIVE) returns (busy, frames in the WAL, frames checkpointed)
    return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()


def test_checkpoints_off_the_writer_and_gives_autocheckpoint_back(tmp_path):
    conn = connect(tmp_path / "n.db")
    conn.execute("CREATE TABLE t(x BLOB)")
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    cp = Checkpointer(conn, interval=0.02).start()
    try:
        assert cp.active
        # the writer checkpoints only as a backstop, at four times the RESTART threshold
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
        for i in range(300):  # ~1,200 pages: past the automatic threshold
            with conn:
                conn.execute("INSERT INTO t VALUES (?)", (bytes(4000),))
        end = time.monotonic() + 10
        while cp.checkpoints == 0 and time.monotonic() < end:
            time.sleep(0.02)
        assert cp.checkpoints > 0
    finally:
        cp.stop()
    assert not cp.active
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    # everything committed is in the database file now: a reader on a fresh connection, after the
    # WAL is checkpointed and truncated, sees every row
    busy, log, done = _wal_frames(conn)
    assert busy == 0 and log == done
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other = connect(tmp_path / "n.db")
    assert other.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 300
    other.close()
    conn.close()


def test_in_memory_database_has_nothing_to_checkpoint():
    conn = connect(":memory:")
    cp = Checkpointer(conn).start()
    assert not cp.active
    cp.stop()
    conn.close()


def test_server_lifespan_runs_the_checkpointer(tmp_path):
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.node import Node

    node = Node.init(tmp_path / "jpn", party="JPN")
    app = create_app(node)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert app.state.checkpointer.active
        assert node.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
    assert not app.state.checkpointer.active
    assert node.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    node.close()


def test_a_second_checkpointer_gives_back_the_default_not_zero(tmp_path):
    conn = connect(tmp_path / "n.db")
    first = Checkpointer(conn, interval=0.05).start()
    second = Checkpointer(conn, interval=0.05).start()  # e.g. two apps on one node object
    second.stop()
    first.stop()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    conn.close()


def _wal_file_frames(path):
    size = path.with_name(path.name + "-wal").stat().st_size
    return (size - 32) // (24 + 4096)  # WAL header, then one 24-byte header and a page per frame


def _table(tmp_path):
    path = tmp_path / "n.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB)")
    return path, conn


def _write(conn, lock, n, pace=10):
    for i in range(n):
        with lock, conn:
            conn.execute("INSERT INTO t(x) VALUES (?)", (bytes(600),))
        if i % pace == 0:  # a server's writer leaves gaps (it waits for its clients)
            time.sleep(0.0005)


def test_the_wal_starts_over_under_steady_writes(tmp_path):
    # A PASSIVE checkpoint from another connection ends a few frames behind a writer that keeps
    # committing, and a writer starts the WAL over only when every frame is in the database at
    # the start of its transaction: with PASSIVE alone the WAL file grew by every frame ever
    # written (and each commit extended the file, which makes its fsync dearer).
    path, conn = _table(tmp_path)
    lock = threading.RLock()
    cp = Checkpointer(conn, interval=0.005, restart_frames=100, lock=lock)
    cp.backstop_frames = 10**9  # no backstop here: the RESTART alone must keep the WAL small
    cp.start()
    try:
        _write(conn, lock, 1500)
        assert cp.restarts > 0
        # far below the ~2,000 frames these commits write (what the file held before)
        assert _wal_file_frames(path) < 1000, (_wal_file_frames(path), cp.restarts)
    finally:
        cp.stop()
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1500
    conn.close()


def test_without_a_lock_the_writers_backstop_bounds_the_wal(tmp_path):
    path, conn = _table(tmp_path)
    cp = Checkpointer(conn, interval=0.005, restart_frames=100).start()  # backstop at 400 frames
    try:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 400
        _write(conn, threading.RLock(), 1500)
        assert cp.restarts == 0  # never without the writers' lock
        assert _wal_file_frames(path) < 1000, _wal_file_frames(path)
    finally:
        cp.stop()
    conn.close()


def test_writers_with_a_statement_open_never_meet_a_restart(tmp_path):
    # A RESTART holds SQLite's write lock while it waits for readers; a connection that has a
    # statement open (a shared connection: another thread is reading) then gets "database is
    # locked" at once instead of waiting. The RESTART runs under the writers' own lock, so
    # they wait on it instead.
    path, conn = _table(tmp_path)
    with conn:
        conn.executemany("INSERT INTO t(x) VALUES (?)", [(bytes(600),)] * 50)
    lock = threading.RLock()
    cp = Checkpointer(conn, interval=0.001, restart_frames=20, lock=lock).start()
    try:
        reading = conn.execute("SELECT x FROM t")
        reading.fetchone()  # a statement left open: this connection holds a read snapshot
        tried = 0
        end = time.monotonic() + 60
        while cp.restarts + tried < 400 and time.monotonic() < end:
            with lock, conn:  # raises "database is locked" if it met a RESTART's write lock
                conn.execute("INSERT INTO t(x) VALUES (?)", (bytes(600),))
            tried += 1
            time.sleep(0.0005)
        reading.close()
    finally:
        cp.stop()
    conn.close()


def test_a_restart_never_waits_for_a_reader(tmp_path):
    # RESTART needs every reader out of the WAL; the checkpointer must not wait long for one (while
    # it waits, SQLite holds up every new writer): it gives up after 2 ms and tries again later.
    path = tmp_path / "n.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t(x BLOB)")
    reader = connect(path)
    cp = Checkpointer(conn, interval=3600, restart_frames=10, lock=threading.RLock())
    own = cp._connect_own()  # what its thread checkpoints with
    try:
        for _ in range(20):
            with conn:
                conn.execute("INSERT INTO t VALUES (?)", (bytes(4000),))
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM t").fetchone()  # holds a snapshot in the WAL
        with conn:
            conn.execute("INSERT INTO t VALUES (?)", (bytes(4000),))
        t0 = time.monotonic()
        cp._once(own)
        assert time.monotonic() - t0 < 5  # not the 30 s busy timeout of an ordinary connection
        assert cp.restarts == 0
        reader.rollback()
        cp._once(own)
        assert cp.restarts == 1
        cp._once(own)  # nothing written since: an idle WAL is not restarted again
        assert cp.restarts == 1
        with conn:  # the next writer starts the WAL over: it holds this one commit's frames
            conn.execute("INSERT INTO t VALUES (?)", (bytes(4000),))
        assert conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] <= 3
    finally:
        own.close()
        reader.close()
        conn.close()


def test_the_last_checkpointer_to_stop_gives_back_the_value_before_the_first(tmp_path):
    conn = connect(tmp_path / "n.db")
    conn.execute("PRAGMA wal_autocheckpoint=4000")  # the owner's own choice (4 × 1,000, by chance)
    first = Checkpointer(conn, interval=0.05).start()
    second = Checkpointer(conn, interval=0.05, restart_frames=100).start()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 400
    first.stop()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 400  # second still runs
    second.stop()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
    conn.close()
