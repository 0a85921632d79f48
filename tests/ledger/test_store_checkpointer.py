"""The background WAL checkpointer of a serving node."""

from __future__ import annotations

import time

from accord.store.sqlite import Checkpointer, connect


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


def test_the_wal_starts_over_under_steady_writes(tmp_path):
    # A PASSIVE checkpoint from another connection ends a few frames behind a writer that keeps
    # committing, and a writer starts the WAL over only when every frame is in the database at
    # the start of its transaction: without the RESTART step the WAL file grew by every frame
    # ever written (and each commit extended the file, which makes its fsync dearer).
    path = tmp_path / "n.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB)")
    cp = Checkpointer(conn, interval=0.005, restart_frames=100).start()
    try:
        for _ in range(3000):
            with conn:
                conn.execute("INSERT INTO t(x) VALUES (?)", (bytes(600),))
        written = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        # far below the ~4,000 frames these commits write (what the file held before): it was
        # written over from its start, at the latest at the writer's backstop (400 frames here)
        assert _wal_file_frames(path) < 1500, (_wal_file_frames(path), written, cp.restarts)
    finally:
        cp.stop()
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3000
    conn.close()


def test_a_restart_never_waits_for_a_reader(tmp_path):
    # RESTART needs every reader out of the WAL; the checkpointer must not wait long for one (while
    # it waits, SQLite holds up every new writer): it gives up after 2 ms and tries again later.
    path = tmp_path / "n.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t(x BLOB)")
    reader = connect(path)
    cp = Checkpointer(conn, interval=3600, restart_frames=10)
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
        with conn:  # the next writer starts the WAL over: it holds this one commit's frames
            conn.execute("INSERT INTO t VALUES (?)", (bytes(4000),))
        assert conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] <= 3
    finally:
        own.close()
        reader.close()
        conn.close()
