"""SQLite, the embedded default store: one file per node, WAL mode, fsync on commit.

Each part of Accord owns its own tables and creates them with ``CREATE TABLE IF NOT EXISTS`` via
:func:`ensure_schema`; every write that must survive a crash happens inside ``with conn:`` (one
transaction: all or nothing). ``synchronous=FULL`` so a commit is on disk before it returns —
a node acknowledges only what is on disk.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_schema_lock = threading.Lock()


def connect(path: str | Path, *, check_same_thread: bool = False) -> sqlite3.Connection:
    """Open a node database with Accord's settings (WAL, FULL sync, foreign keys, busy wait)."""
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level="DEFERRED",
                           check_same_thread=check_same_thread)
    conn.row_factory = sqlite3.Row
    if str(path) != ":memory:":
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":  # pragma: no cover - only on filesystems without shared memory
            raise sqlite3.OperationalError(f"could not enable WAL on {path} (got {mode})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def ensure_schema(conn: sqlite3.Connection, ddl: str) -> None:
    """Run idempotent DDL (``CREATE … IF NOT EXISTS``) in one transaction."""
    with _schema_lock:
        conn.executescript("BEGIN;\n" + ddl + "\nCOMMIT;")
