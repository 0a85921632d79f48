"""Versioned schema migrations, for both back ends.

Each part of Accord that keeps tables (``node``, ``ledger``, ``federation``, ``tokens``,
``intel``, ``dialogue``, ``alerts``) lists its schema as numbered steps; the ``schema_version``
table records, per part, the last step applied. :func:`migrate` runs the steps past that
number, each in one transaction with the row that records it (all or nothing), under the node's
write lock — so two processes opening the same database apply a step once.

A step is SQL in SQLite's dialect (translated for PostgreSQL by :mod:`accord.store.dialect`), a
mapping ``{"sqlite": …, "postgresql": …}`` when the two differ, or a function of the connection
for a data migration. Steps stay idempotent (``CREATE … IF NOT EXISTS``, a column added only
when missing) so that databases made before versioning — which have the tables but no
``schema_version`` row — come up to date by running every step once. ``accord node migrate``
runs them all and prints each part's version. A database whose part is at a version past this
code's steps was migrated by a newer Accord: it is refused (:class:`~accord.errors.StoreError`),
since this code would write it without what the newer steps keep up to date (the node's
per-kind item counts, say).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Union

from accord.errors import StoreError
from accord.store.base import POSTGRESQL, SQLITE, dialect_of, ensure_schema, statements, transaction, unbounded

Step = Union[str, Mapping[str, str], Callable[[Any], None]]

VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    applied   TEXT NOT NULL
);
"""

_lock = threading.RLock()  # a connection without an owner's lock (the schema is made once)


def versions(conn: Any) -> dict[str, int]:
    """Each part's schema version in this database (parts never migrated are absent)."""
    ensure_schema(conn, VERSION_DDL)
    return {r[0]: int(r[1]) for r in conn.execute("SELECT component, version FROM schema_version")}


def _run(conn: Any, step: Step) -> None:
    if callable(step):
        step(conn)
        return
    sql = step if isinstance(step, str) else step[dialect_of(conn)]
    for stmt in statements(sql):
        conn.execute(stmt)


def migrate(conn: Any, component: str, steps: Sequence[Step], *, lock: Any = None) -> int:
    """Bring ``component``'s tables to ``len(steps)``; return the version it was at before."""
    if dialect_of(conn) not in (SQLITE, POSTGRESQL):  # pragma: no cover - a third back end
        raise ValueError(f"no migrations for {dialect_of(conn)}")
    with lock if lock is not None else _lock, unbounded(conn):  # a step may take long on a large table
        current = versions(conn).get(component, 0)
        if current > len(steps):
            raise StoreError(f"the database's {component} tables are at schema version {current}, newer than this "
                             f"Accord's {len(steps)}: a newer Accord migrated it — run that version here too "
                             "(every process of a node is upgraded together)")
        if current == len(steps):
            return current
        with transaction(conn):
            row = conn.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
            done = int(row[0]) if row is not None else 0  # another process may have migrated meanwhile
            for step in steps[done:]:
                _run(conn, step)
            if done < len(steps):
                conn.execute("INSERT INTO schema_version(component, version, applied) VALUES (?,?,?) "
                             "ON CONFLICT(component) DO UPDATE SET version = excluded.version, "
                             "applied = excluded.applied",
                             (component, len(steps), datetime.now(timezone.utc).isoformat()))
        return current
