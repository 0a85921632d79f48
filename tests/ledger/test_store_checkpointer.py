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
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # the writer never checkpoints
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
        assert node.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
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
