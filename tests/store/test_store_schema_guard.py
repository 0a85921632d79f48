"""ensure_schema refuses to run while a transaction is open on the connection.

Python's ``executescript`` first COMMITs whatever transaction is open on the connection; on a
node's shared connection that may be another thread's, half done. The guard must refuse before
executing anything, leaving that transaction exactly as it was.
"""

from __future__ import annotations

import threading

import pytest

from accord.errors import SchemaInTransactionError, StoreError
from accord.store.sqlite import connect, ensure_schema

DDL = "CREATE TABLE IF NOT EXISTS guard_t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
MORE = "CREATE TABLE IF NOT EXISTS guard_u (id INTEGER PRIMARY KEY);"

pytestmark = pytest.mark.sqlite_only  # SQLite itself: its file, WAL and connections



def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_refuses_inside_an_open_transaction_and_leaves_it_uncommitted(tmp_path):
    db = tmp_path / "g.db"
    conn = connect(db)
    ensure_schema(conn, DDL)
    conn.execute("INSERT INTO guard_t(v) VALUES ('half done')")   # opens a DEFERRED transaction
    assert conn.in_transaction
    with pytest.raises(SchemaInTransactionError, match="transaction is open") as err:
        ensure_schema(conn, MORE)
    assert isinstance(err.value, StoreError)
    assert conn.in_transaction                                      # still open: nothing committed
    assert "guard_u" not in _tables(conn)                           # and nothing of the DDL ran
    other = connect(db)                                             # another connection sees no row
    assert other.execute("SELECT count(*) FROM guard_t").fetchone()[0] == 0
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM guard_t").fetchone()[0] == 0
    other.close()
    conn.close()


def test_another_threads_half_done_transaction_is_not_committed(tmp_path):
    """The shared-connection case: one thread is mid-transaction, another asks for a schema."""
    conn = connect(tmp_path / "g.db")
    ensure_schema(conn, DDL)
    begun, done = threading.Event(), threading.Event()

    def writer():
        conn.execute("INSERT INTO guard_t(v) VALUES ('first half')")
        begun.set()
        done.wait(10)
        conn.rollback()                                             # it changes its mind

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert begun.wait(10)
        with pytest.raises(SchemaInTransactionError):
            ensure_schema(conn, MORE)
    finally:
        done.set()
        t.join(10)
    assert conn.execute("SELECT count(*) FROM guard_t").fetchone()[0] == 0   # the rollback took
    conn.close()


def test_works_outside_a_transaction_and_is_idempotent(tmp_path):
    conn = connect(tmp_path / "g.db")
    ensure_schema(conn, DDL)
    with conn:
        conn.execute("INSERT INTO guard_t(v) VALUES ('kept')")
    assert not conn.in_transaction
    ensure_schema(conn, DDL + MORE)
    ensure_schema(conn, DDL + MORE)
    assert {"guard_t", "guard_u"} <= _tables(conn)
    assert not conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT v FROM guard_t")] == ["kept"]
    conn.close()
