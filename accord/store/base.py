"""The store layer: the one place that owns a node's database connections and write transactions.

A :class:`Store` holds the node's shared connection (``conn``), the lock that serialises this
process's writes on it (``lock``), and opens connections of their own for threads that read
beside the writers (:meth:`Store.reader`). Every pillar writes through :func:`transaction` (or
:meth:`Store.write`, the same under the store's lock); nothing else begins a write transaction:

* **SQLite** (:class:`accord.store.sqlite.SqliteStore`, the embedded default): ``BEGIN
  IMMEDIATE`` takes the database's write lock up front, so every statement inside — a pillar's
  rows and the ledger events that record them — is one all-or-nothing unit;
* **PostgreSQL** (:class:`accord.store.postgres.PostgresStore`): a transaction that first takes
  ``pg_advisory_xact_lock`` on the node's key, so writers in every process serving the node
  queue as SQLite's do and the ledger stays one sequence.

Pillars write their SQL once, in SQLite's dialect with ``?`` placeholders;
:mod:`accord.store.dialect` translates it for PostgreSQL in one tested place.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from accord.errors import InputError, SchemaInTransactionError, StoreUnavailable

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class PgDatabaseError(Exception):
    """A PostgreSQL error, raised by :class:`accord.store.postgres.PgConnection` in place of
    psycopg's own (so catching one needs no psycopg import: it costs ~0.3 s)."""


class PgIntegrityError(PgDatabaseError):
    """A constraint (unique, foreign key, not null) refused a write on PostgreSQL."""


class PgTextError(PgDatabaseError, InputError):
    """A value PostgreSQL's text cannot hold (a NUL character) was given to a statement: bad
    input, answered as such (SQLite stores it)."""


class PgOperationalError(PgDatabaseError, StoreUnavailable):
    """PostgreSQL could not be reached or dropped the connection (restart, network)."""


_schema_lock = threading.Lock()

# What a caller catches, whichever back end raised it.
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError, PgIntegrityError)
OperationalError: tuple[type[Exception], ...] = (sqlite3.OperationalError, PgOperationalError)
DatabaseError: tuple[type[Exception], ...] = (sqlite3.DatabaseError, PgDatabaseError)


class Store(Protocol):
    """A node's database: one back end's connections, write lock and schema."""

    dialect: str  # SQLITE or POSTGRESQL
    location: str  # a file path, or a URL without its password: safe to print and log
    conn: Any  # the node's shared connection (sqlite3.Connection or a PgConnection)
    lock: Any  # re-entrant (an RLock, or the node's CommitLock): this process's writers on ``conn`` take it first

    def write(self) -> AbstractContextManager[Any]:
        """One write transaction on ``conn`` under ``lock`` (joining the caller's if one is open)."""
        ...

    def reader(self) -> Any:
        """A new connection for a thread of its own; the caller closes it."""
        ...

    def ensure_schema(self, ddl: str) -> None:
        """Run idempotent DDL (``CREATE … IF NOT EXISTS``) in one transaction."""
        ...

    def start_maintenance(self) -> Any:
        """Start what a serving node runs beside its requests (SQLite's WAL checkpoints); the
        result has ``stop()`` and ``active``."""
        ...

    def close(self) -> None:
        ...


# SQLite refusing a write for a reason of the machine's, not Accord's: what the operator does
_REFUSED_WRITE = {
    "readonly": "make the node directory and its file system writable",
    "disk is full": "free space on the disk that holds the node directory",
    "disk i/o error": "check the disk and the file system that hold the node directory (is it full?)",
}


def write_refusal_advice(exc: Exception) -> str | None:
    """What an operator does about a database error that is the machine's (a read-only mount,
    a full or failing disk), or None for any other error."""
    reason = str(exc).lower()
    return next((advice for key, advice in _REFUSED_WRITE.items() if key in reason), None)


def dialect_of(conn: Any) -> str:
    """SQLITE or POSTGRESQL for a connection the store layer made."""
    return getattr(conn, "dialect", SQLITE)


def begin_write(conn: Any) -> None:
    """Begin a write transaction that holds the database's write lock for the node (see the
    module docstring): the one place a write transaction starts."""
    begin = getattr(conn, "begin_write", None)
    if begin is not None:  # PostgreSQL: BEGIN, then the node's advisory lock
        begin()
    else:
        conn.execute("BEGIN IMMEDIATE")


def begin_read(conn: Any) -> None:
    """Begin a read-only snapshot: every statement until the rollback sees the same database."""
    if dialect_of(conn) == POSTGRESQL:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        conn.execute("BEGIN")


@contextmanager
def transaction(conn: Any, *, join: bool = False) -> Iterator[Any]:
    """One explicit write transaction on ``conn``: every statement inside commits together or
    not at all. ``join``: when the caller already holds one, run inside it (its commit decides);
    otherwise an open transaction is a bug and raises."""
    if conn.in_transaction:
        if join:
            yield conn
            return
        raise RuntimeError("write transaction started inside another open transaction")
    begin_write(conn)
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled the whole transaction back itself
            conn.rollback()
        raise
    if conn.in_transaction:
        conn.commit()


def pipelined(conn: Any) -> AbstractContextManager[Any]:
    """On PostgreSQL, send the block's statements without waiting for each one's answer
    (:meth:`accord.store.postgres.PgConnection.pipeline`): a transaction costs a round trip per
    result read plus one at the end, not one per statement. Errors may then surface at a later
    statement or at the block's end (and fail the transaction), so use it only where any error
    fails the whole block. On SQLite, in process, there is nothing to save: the block as it is."""
    pipeline = getattr(conn, "pipeline", None)
    return pipeline() if pipeline is not None else nullcontext()


def unbounded(conn: Any) -> AbstractContextManager[Any]:
    """On PostgreSQL, the block's statements on ``conn`` without the store's statement deadline
    (:meth:`accord.store.postgres.PgConnection.unbounded`): work that may rightly take longer
    than a request (a migration, a verification). On SQLite, which has none: the block as it is."""
    without = getattr(conn, "unbounded", None)
    return without() if without is not None else nullcontext()


@contextmanager
def write(store: Store) -> Iterator[Any]:
    """:meth:`Store.write` for any store: the lock, then one transaction (or the caller's)."""
    with store.lock, transaction(store.conn, join=True) as conn:
        yield conn


def select_in(conn: Any, sql: str, values: Iterable[Any], *params: Any,
              chunk: int = 500) -> Iterator[Any]:
    """The rows of ``sql`` — a query ending in ``IN ({})`` — for all of ``values`` (duplicates
    dropped), one query per ``chunk`` values so a batch never passes SQLite's limit on bound
    variables; ``params`` bind the placeholders before the ``IN`` list."""
    distinct = list(dict.fromkeys(values))
    for lo in range(0, len(distinct), chunk):
        part = distinct[lo:lo + chunk]
        yield from conn.execute(sql.format(",".join("?" * len(part))), [*params, *part])


def any_of(terms: list[str]) -> str:
    """SQL conditions ``terms`` (at least one) joined by OR as a balanced tree: SQLite refuses an
    expression more than 1,000 deep, which a flat chain of that many ORs is."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({any_of(terms[:mid])} OR {any_of(terms[mid:])})"


def ensure_schema(conn: Any, ddl: str) -> None:
    """Run idempotent DDL (``CREATE … IF NOT EXISTS``) in one transaction.

    Refuses (:class:`~accord.errors.SchemaInTransactionError`, nothing executed) while a
    transaction is open on ``conn``: :meth:`sqlite3.Connection.executescript` first COMMITs any
    open transaction, which on a connection shared between threads may be another thread's,
    half done. The check only catches a transaction already open: another thread could still
    open one between the check and the script. So on a shared connection call this at
    construction (before any other thread uses the connection) or under the owner's write lock,
    as every caller in Accord does.
    """
    with _schema_lock:
        if dialect_of(conn) == POSTGRESQL:
            conn.run_schema(ddl)
            return
        if conn.in_transaction:
            raise SchemaInTransactionError(
                "cannot create the schema while a transaction is open on this connection: running "
                "the DDL script would first commit that transaction (perhaps another thread's, half "
                "done); create the schema before writing, or under the connection's write lock")
        conn.executescript("BEGIN;\n" + ddl + "\nCOMMIT;")


def statements(sql: str) -> list[str]:
    """The statements of a DDL script: ``--`` comments dropped, split at ``;`` (Accord's DDL
    has no triggers and no ``;`` inside literals)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path) -> Store:
    """A :class:`Store` for ``location``: a ``postgresql://`` URL, else a SQLite file path."""
    if is_url(location):
        from accord.store.postgres import PostgresStore

        return PostgresStore(str(location))
    from accord.store.sqlite import SqliteStore

    return SqliteStore(Path(location))


def table_exists(conn: Any, name: str) -> bool:
    """Whether the node's database has table ``name``."""
    if dialect_of(conn) == POSTGRESQL:
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0] is True
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


@contextmanager
def savepoint(conn: Any, name: str = "accord_step") -> Iterator[None]:
    """Inside an open transaction: this block's statements, or none of them (the error is
    raised; on PostgreSQL the transaction stays usable for the next block)."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def database_bytes(conn: Any) -> int:
    """The size of the node's database in bytes (SQLite's file; PostgreSQL's database)."""
    if dialect_of(conn) == POSTGRESQL:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    return int(conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0])
