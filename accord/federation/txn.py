"""One explicit SQLite write transaction on a node's connection.

Python's ``with conn:`` only commits; the transaction itself starts implicitly at the first
write, so a :class:`~accord.store.ledger.Ledger` call made first would open and commit its own.
``BEGIN IMMEDIATE`` up front makes every statement inside — rows and ledger events — one
all-or-nothing unit (the ledger joins a transaction its caller already holds).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    if conn.in_transaction:  # pragma: no cover - callers never nest; fail loudly if one does
        raise RuntimeError("federation transaction started inside another transaction")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
