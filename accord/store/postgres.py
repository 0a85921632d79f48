"""PostgreSQL, the back end for a node that must outlive a machine (psycopg 3 and its pool).

Kept as one module: the store, its pool and the connection wrapper that makes a psycopg
connection behave as the parts' SQLite connection (transactions, rows, bulk inserts) share one
statement lock and one notion of "in a transaction"; split, that invariant would span modules.

A :class:`PostgresStore` keeps a node's tables in the database (and schema: libpq's
``options=-csearch_path=…``) its URL names; the node's key stays in the node directory. Its
connections come from one :class:`psycopg_pool.ConnectionPool` per store; each is wrapped in a
:class:`PgConnection`, which gives the parts the connection interface they use on SQLite:

* statements in SQLite's dialect, translated by :mod:`accord.store.dialect`;
* rows addressable by position and by column name (``sqlite3.Row``'s interface);
* SQLite's transactions: autocommit until a write begins one — explicitly
  (:func:`accord.store.base.begin_write`) or implicitly at a data-changing statement, as
  Python's ``sqlite3`` does — and ``with conn:`` commits (or rolls back) it;
* every write transaction first takes ``pg_advisory_xact_lock`` on the node's key (its
  database and schema), the counterpart of SQLite's database write lock: writers in every
  process serving the node queue there, so the ledger stays one sequence;
* errors as :class:`accord.store.base.PgIntegrityError` / :class:`PgOperationalError`. A
  connection PostgreSQL dropped (a restart, a network fault) fails that statement with
  :class:`PgOperationalError` — a :class:`accord.errors.StoreUnavailable`, which the API answers
  503 — and the next statement takes a fresh connection from the pool. Once the pool has failed
  to give one (it waited :data:`POOL_WAIT_S`), connections are made directly, not waited for,
  until the pool gives one again (:meth:`PgConnection.connect`): while the server refuses
  connections a request fails in milliseconds, not seconds, and the first one after it is back
  gets through, however long the pool's reconnection backs off. One such attempt is made at a
  time, in a thread of its own (:meth:`PostgresStore.connect_directly`): while it hangs (an
  unreachable host, a server that accepts and never answers) and for a second after it failed,
  the other requests fail at once rather than each waiting out a connect timeout of its own.
  The pool's ``max_size`` bounds the direct connections and its own together, and a direct one
  goes back to the pool once it works again. A host that stops answering without resetting the
  connection (a frozen server, a network that drops packets) fails the statement waiting on it
  at the store's deadline (:data:`STATEMENT_DEADLINE_S`, the URL's :data:`DEADLINE_PARAM`):
  :class:`_Watchdog` cuts its connection; TCP keepalives and a user timeout
  (:data:`TCP_SETTINGS`) notice a peer gone from the network in ~25 s besides.

The node's own connection keeps its pool connection for good, and so does each reader
(:meth:`PostgresStore.reader`: a delivery worker's, one per partner): the store's size grows by
a place for each reader while it is open, so however many partners a node has, none of them
waits for a connection the others hold.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from accord.errors import ConfigError
from accord.logs import without_passwords
from accord.store.base import (POSTGRESQL, PgDatabaseError, PgIntegrityError, PgOperationalError, PgTextError,
                               ensure_schema, write)
from accord.store.dialect import FUNCTIONS, translate, translate_ddl

OPEN_STORES: "weakref.WeakSet[PostgresStore]" = weakref.WeakSet()  # what a test run closes after each test
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
CONNECT_TIMEOUT_S = 5  # connecting, and waiting for a pool connection, before a clean 503
POOL_WAIT_S = 2
FAILING_POOL_WAIT_S = 0.02  # what a connection waits for a pool that failed last time, before connecting itself
PROBE_WAIT_S = 0.25  # what a request waits for the connection attempt past a failing pool that it started
PROBE_HOLD_S = 1.0  # after an attempt that outlasted that wait has failed, no other one for this long
PROBE_KEEP_S = 5.0  # a connection such an attempt made after all waits this long for the next request
STATEMENT_DEADLINE_S = 30.0  # a statement unanswered this long has its connection cut (_Watchdog): a 503
DEADLINE_PARAM = "accord_statement_timeout"  # the store URL's setting of it, in seconds (0: none)
# A peer gone without a reset (a network that drops packets, a host powered off) is noticed
# within ~25 s instead of TCP's ~15 min of retransmissions: an idle connection is probed after
# 10 s and given up after 3 probes 5 s apart, and one with data unacknowledged for 25 s is given
# up (TCP_USER_TIMEOUT, which a frozen host whose kernel still acknowledges escapes: the deadline
# above covers that). A URL that sets any of these keeps its own.
TCP_SETTINGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                "tcp_user_timeout": 25_000}
_LAST_CONNECT_ERROR: dict[str, str] = {}  # pool name -> why its last connection attempt failed
_POOL_IDS = itertools.count(1)


class _PoolNoise(logging.Filter):
    """psycopg's pool logs a warning of several lines per failed connection attempt and per
    connection it finds closed (in a command, through logging's last-resort handler, unformatted).
    Accord reports the database away itself, once — a command's one error line, the API's 503,
    the delivery service's ``store.unavailable`` — naming the reason this keeps (the first line
    of the pool's last failed attempt); the pool's other warnings still reach the log."""

    QUIET = frozenset({"discarding closed connection: %s", "discarding broken connection: %s",
                       "reconnection attempt in pool %r failed after %s sec"})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "error connecting in %r: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            name, exc = record.args
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            _LAST_CONNECT_ERROR[str(name)] = lines[0] if lines else type(exc).__name__
            return False
        return record.msg not in self.QUIET


logging.getLogger("psycopg.pool").addFilter(_PoolNoise())


def redact(url: str) -> str:
    """``url`` without its password (what is printed and logged): :func:`accord.logs.without_passwords`,
    which also takes libpq's ``password=`` and ``sslpassword=`` query parameters out."""
    return without_passwords(url)


def _passwords(url: str) -> list[str]:
    """The secrets ``url`` carries, as written: its password, its ``password`` and ``sslpassword`` parameters."""
    parts = urlsplit(url)
    return [p for p in [parts.password or "", *_PASSWORD_PARAM.findall("&" + parts.query)] if p]


_PASSWORD_PARAM = re.compile(r"(?i)&(?:ssl)?password=([^&#]*)")


def scrub(text: str, url: str) -> str:
    """``text`` with ``url``'s passwords (as written and percent-decoded) replaced by ``***``: libpq
    quotes a malformed URL's part in its error (``invalid percent-encoded token: "pa%ss"`` for a
    password with a bare ``%``), and that error is the reason a cannot-connect line names."""
    secrets = {form for p in _passwords(url) for form in (p, unquote(p), unquote_plus(p)) if form}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _settings(url: str) -> tuple[str, float | None, dict[str, Any]]:
    """``url`` without Accord's own :data:`DEADLINE_PARAM` (libpq refuses a parameter it does
    not know), the statement deadline it sets (None: none), and the :data:`TCP_SETTINGS` the URL
    leaves to Accord."""
    parts = urlsplit(url)
    deadline: float | None = STATEMENT_DEADLINE_S
    kept = []
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        if name != DEADLINE_PARAM:
            kept.append(pair)
            continue
        try:
            deadline = float(unquote(value))
        except ValueError:
            deadline = -1.0
        if not math.isfinite(deadline) or deadline < 0:
            raise ConfigError(f"store URL: {DEADLINE_PARAM}={unquote(value)!r}: give the seconds a statement "
                              "may wait for the server's answer (0: no limit)")
        deadline = deadline or None
    given = {name for name, _ in parse_qsl(parts.query)}
    tcp = {name: value for name, value in TCP_SETTINGS.items() if name not in given}
    return urlunsplit(parts._replace(query="&".join(kept))), deadline, tcp


class _Watchdog:
    """The statements in flight on a store's connections, and a thread that cuts the connection
    of one unanswered past the deadline (``deadline`` s; None: none): a frozen server, or a
    network that drops packets on a connection TCP still holds, would otherwise hold the
    statement — and the node's lock in the API — for as long as the host is silent. The cut is a
    ``shutdown`` of the connection's socket: the statement fails at once (libpq reads the end of
    the connection), as :class:`PgOperationalError`, and the connection is broken, so it is
    dropped and the pool discards it. (psycopg's cancel asks the server, over a connection of its
    own: a frozen one never answers it.) The thread looks every quarter of the deadline (at most
    every second): a statement is cut within 1.25 times the deadline, or a second past it."""

    def __init__(self, name: str, deadline: float | None) -> None:
        self.deadline = deadline
        self._running: dict[int, tuple[float, Any]] = {}  # token -> (when it is cut, connection; None once cut)
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if deadline is not None:  # (with none, nothing is ever registered: no thread to look)
            threading.Thread(target=self._watch, args=(min(max(deadline / 4, 0.05), 1.0),), name=f"{name}-deadline",
                             daemon=True).start()

    def start(self, conn: Any) -> int | None:
        """A statement on ``conn`` starts: its token for :meth:`end` (None: no deadline)."""
        if self.deadline is None:
            return None
        token = next(self._ids)
        with self._lock:
            self._running[token] = (time.monotonic() + self.deadline, conn)
        return token

    def end(self, token: int | None) -> bool:
        """The statement is over (its connection no longer cut); whether it was cut."""
        if token is None:
            return False
        with self._lock:
            return self._running.pop(token, (0.0, None))[1] is None

    @contextmanager
    def over(self, conn: Any) -> Iterator[None]:
        token = self.start(conn)
        try:
            yield
        finally:
            self.end(token)

    def _watch(self, every: float) -> None:
        while not self._stop.wait(every):
            now = time.monotonic()
            with self._lock:  # (an ended statement's connection, perhaps closed since, is never cut)
                for token, (at, conn) in list(self._running.items()):
                    if conn is not None and at <= now:
                        self._running[token] = (at, None)
                        _cut(conn)

    def close(self) -> None:
        self._stop.set()


def _cut(conn: Any) -> None:
    """Shut ``conn``'s socket down (on a duplicate of its descriptor: libpq still owns it)."""
    try:
        fd = os.dup(conn.pgconn.socket)
    except (OSError, psycopg.Error):  # closed meanwhile
        return
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


class _NumericLoader(Loader):
    """``numeric`` (what SUM of integers gives) as int when whole, else float — SQLite's types."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if text in ("NaN", "Infinity", "-Infinity"):
            return float(text)
        return int(text) if "." not in text and "e" not in text.lower() else float(text)


class _BoolAsInt(Dumper):
    """Python's bool as an integer (what SQLite stores): Accord's flag columns are INTEGER."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class Row(tuple):
    """A result row: by position, or by column name like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[bytes, ...]) -> Any:
    """The :class:`Row` class of a result with these column names (made once per shape: a class
    and its index per statement cost ~15 µs, several times a request)."""
    return type("Row", (Row,), {"_index": {n.decode(): i for i, n in enumerate(names)}, "__slots__": ()})


def _row_factory(cursor: Any) -> Any:
    res = cursor.pgresult
    if res is None or not res.nfields:
        return tuple
    return _row_class(tuple(res.fname(i) for i in range(res.nfields)))


# What the error of an unavailable database says of the transaction it cut: nothing of it was
# committed — or, when a COMMIT was sent and its answer lost, that nobody can tell.
NOTHING_COMMITTED = "nothing was committed, retry"
MAYBE_COMMITTED = "the COMMIT was sent but not answered: the transaction may or may not have been committed"


class _Unavailable(PgOperationalError):
    """PostgreSQL at ``where`` is unavailable for ``reason``; ``outcome`` says what became of the
    transaction (:data:`NOTHING_COMMITTED` or :data:`MAYBE_COMMITTED`). Its parts are kept so
    that the outcome can be restated (:func:`_commit_unanswered`) without editing the text."""

    def __init__(self, where: str, reason: str, outcome: str = NOTHING_COMMITTED) -> None:
        super().__init__(f"PostgreSQL at {where} is unavailable ({reason}); {outcome}")
        self.where, self.reason, self.outcome = where, reason, outcome

    def __reduce__(self) -> Any:
        return type(self), (self.where, self.reason, self.outcome)


def _wrap(exc: Exception, where: str) -> Exception:
    if isinstance(exc, psycopg.DataError) and "NUL (0x00)" in str(exc):  # psycopg's, before sending
        return PgTextError("a text value holds a NUL character (U+0000), which no identifier or text "
                           "stored by the node may contain")
    if isinstance(exc, psycopg.IntegrityError):
        return PgIntegrityError(f"{where}: {str(exc).strip().splitlines()[0]}")
    if isinstance(exc, (psycopg.OperationalError, PoolTimeout)) or getattr(exc, "sqlstate", "") in (
            "57P01", "57P02", "57P03"):  # admin shutdown, crash shutdown, cannot connect now
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return _Unavailable(where, first)
    return PgDatabaseError(f"{where}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")


class PgCursor:
    """A cursor over one statement's result (what ``conn.execute`` returns)."""

    def __init__(self, owner: "PgConnection", cur: Any) -> None:
        self._owner = owner
        self._cur = cur

    def _ready(self) -> None:
        """In a pipeline (:meth:`PgConnection.pipeline`), wait for this statement's result."""
        if self._cur.pgresult is None and self._owner.piped:
            self._owner.sync()

    @property
    def rowcount(self) -> int:
        self._ready()
        return int(self._cur.rowcount)

    @property
    def description(self) -> Any:
        self._ready()
        return self._cur.description

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> "PgCursor":
        return self._owner.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> "PgCursor":
        return self._owner.executemany(sql, rows)

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self.description is not None else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self.description is not None else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        return self._cur.fetchmany(size) if self.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._cur.close()


# A plain ``INSERT … VALUES (%s, …)`` (optionally ``ON CONFLICT DO NOTHING``): executemany sends
# it as multi-row VALUES, a statement per ``_ROWS_PER_STATEMENT`` rows, instead of one statement
# per row (psycopg's per-row pipeline cost ~35 µs of Python a row: on a partner batch of 500
# items, ~6 rows each, it was a third of the PostgreSQL node's CPU per item). Not for ``ON
# CONFLICT DO UPDATE``: one statement may not update a row twice, as a batch of rows may.
_MULTI_ROW = re.compile(r"\s*(INSERT\s+INTO\s+[^(]+\([^()]*\)\s*VALUES\s*)(\((?:\s*%s\s*,)*\s*%s\s*\))"
                        r"(\s*ON\s+CONFLICT\s+DO\s+NOTHING)?\s*;?\s*", re.IGNORECASE)
_ROWS_PER_STATEMENT = 500


class _ManyCursor(PgCursor):
    def __init__(self, owner: "PgConnection", cur: Any, parts: list[Any]) -> None:
        super().__init__(owner, cur)
        self._parts = parts  # one cursor per multi-row statement (a pipeline fills them at its sync)

    @property
    def rowcount(self) -> int:
        if self._owner.piped and any(c.pgresult is None for c in self._parts):
            self._owner.sync()
        return sum(max(c.rowcount, 0) for c in self._parts)


@lru_cache(maxsize=64)
def _value_groups(width: int, n: int) -> str:
    """``($1,$2),($3,$4)`` for ``n`` rows of ``width`` values."""
    return ",".join("(" + ",".join(f"${k * width + j + 1}" for j in range(width)) + ")" for k in range(n))


def _many_rows(owner: "PgConnection", conn: Any, values: "re.Match[str]", rows: list[Any]) -> PgCursor:
    """Run the rows as multi-row VALUES. On a raw cursor (PostgreSQL's own ``$n`` placeholders):
    psycopg would otherwise parse a statement of thousands of ``%s`` in Python, uncached."""
    head, tail = values.group(1), values.group(3) or ""
    width = values.group(2).count("%s")
    parts = []
    for lo in range(0, len(rows), _ROWS_PER_STATEMENT):
        part = rows[lo:lo + _ROWS_PER_STATEMENT]
        cur = psycopg.RawCursor(conn)
        cur.execute(head + _value_groups(width, len(part)) + tail, [v for row in part for v in row])
        parts.append(cur)
    return _ManyCursor(owner, parts[-1], parts)


class _Cursor:
    """``conn.cursor()``: runs statements on the connection, keeps the last one's result."""

    def __init__(self, conn: "PgConnection") -> None:
        self._conn = conn
        self._last: PgCursor | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> "_Cursor":
        self._last = self._conn.execute(sql, params)
        return self

    def executemany(self, sql: str, rows: Any) -> "_Cursor":
        self._last = self._conn.executemany(sql, rows)
        return self

    @property
    def rowcount(self) -> int:
        return self._last.rowcount if self._last is not None else -1

    def fetchone(self) -> Any:
        return self._last.fetchone() if self._last is not None else None

    def fetchall(self) -> list[Any]:
        return self._last.fetchall() if self._last is not None else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def close(self) -> None:
        pass


class PgConnection:
    """A pool connection with SQLite's interface (see the module docstring)."""

    dialect = POSTGRESQL

    def __init__(self, store: "PostgresStore", *, reader: bool = False) -> None:
        self._store = store
        self._reader = reader  # a reader's place in the store's size (PostgresStore.reader) is given back at close
        self._conn: Any = None
        self._own = False  # self._conn was made directly (the pool was failing): closed, not returned
        self._lock_key: int | None = None
        self._guard = threading.RLock()
        self.on_close: Any = None  # what else to close with this connection (its store's pool)
        # in a pipeline (:meth:`pipeline`): psycopg's Pipeline, and whether a transaction is open
        # as the statements sent so far leave it (libpq reports it only once results are read)
        self._pipe: Any = None
        self._pipe_txn = False
        self._pipe_commits: list[Any] = []  # the COMMITs sent in the pipeline, checked at its sync
        self.round_trips = 0  # times this connection has waited for the server's answers
        self._unbounded = 0  # inside unbounded(): statements without the store's deadline

    # --- the connection ---------------------------------------------------------------------
    def _raw(self) -> Any:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._drop()
        elif self._own and self._pipe is None and (not self._store.pool_failing or self._store.pool_back()) \
                and self._conn.info.transaction_status == TransactionStatus.IDLE:
            # made while the pool failed, and the pool works again: its connections, which its
            # size bounds, again (the first such statement takes the pool's idle one, which ends
            # the failing; the others' statements follow)
            self._drop()
        if self._conn is None:
            self._conn, self._own = self.connect()
        return self._conn

    def connect(self) -> tuple[Any, bool]:
        """A connection for this wrapper, and whether it was made directly rather than taken
        from the pool. The pool is waited for (:data:`POOL_WAIT_S`) while it works; once it has
        failed, it is given only :data:`FAILING_POOL_WAIT_S` and the connection is made directly
        (:meth:`PostgresStore.connect_directly`, one attempt at a time): refused at once while
        the server is away, made at once when it is back — the pool's own reconnection backs off
        (1 s, 2 s, 4 s … between attempts) and would keep the node answering 503 well after — and
        while an attempt hangs (an unreachable host) every other request fails at once. The store
        uses the pool again once it gives a connection, and a directly made connection is given
        up for one of the pool's as soon as the pool has one free (:meth:`_raw`). Direct
        connections and the pool's together are never more than the pool's ``max_size``
        (:meth:`PostgresStore.take_direct`): past that, the pool is waited for. A pool that timed
        out with all its connections busy (none of its connection attempts has failed since its
        last new connection, and it has no room to grow) is waited for each time, as it works."""
        store = self._store
        failing = store.pool_failing
        if failing:
            try:
                conn = store.pool.getconn(timeout=FAILING_POOL_WAIT_S)
            except Exception:  # noqa: BLE001 - still failing (or still backing off): connect directly
                pass
            else:
                store.pool_failing = False
                return conn, False
            conn = store.connect_directly()
            if conn is not None:
                return conn, True
            # as many connections open as the pool may have (its own and the direct ones): the
            # pool's size bounds them, failing or not, so this one waits for the pool
        try:
            conn = store.pool.getconn(timeout=POOL_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - PoolTimeout, OperationalError: the server is away
            # for want of the server — not of a free connection (a busy pool, whose size bounds
            # the server's load, is not bypassed): connections are made directly from now on
            if not failing:
                store.pool_failing = not isinstance(exc, PoolTimeout) or store.connect_failed()
            why = _LAST_CONNECT_ERROR.get(store.pool.name) if isinstance(exc, PoolTimeout) else None
            if why:  # the pool's own error says only that it waited
                exc = PoolTimeout(f"{exc}; last connection attempt: {store.scrub(why)}")
            raise _wrap(exc, store.name) from None
        store.pool_failing = False  # the pool gave one: it works (a direct one goes back to it, _raw)
        return conn, False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        own, self._own = self._own, False
        if conn is not None:
            try:
                if own:
                    try:
                        conn.close()
                    finally:
                        self._store.direct_closed()
                else:
                    self._store.pool.putconn(conn)  # the pool discards a broken one
            except Exception:  # noqa: BLE001 - the pool is closing
                pass

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection. Asked under the statement guard:
        while another thread's autocommit statement runs, psycopg reports ``ACTIVE`` though no
        transaction is open, and a writer asking then would take that for one."""
        with self._guard:
            if self._pipe is not None:
                return self._pipe_txn
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                return False
            return bool(conn.info.transaction_status != TransactionStatus.IDLE)

    def _run(self, fn: Any) -> Any:
        with self._guard:
            conn = self._raw()
            if self._pipe is None:
                self.round_trips += 1
            watch = self._store.watch
            token = watch.start(conn) if not self._unbounded else None
            try:
                return fn(conn)
            except psycopg.Error as exc:
                cut, token = watch.end(token), None
                if conn.broken or conn.closed:
                    self._drop()
                why = psycopg.OperationalError(f"no answer from the server within {watch.deadline:g} s") if cut else exc
                raise _wrap(why, self._store.name) from None
            finally:
                watch.end(token)

    @contextmanager
    def unbounded(self) -> Iterator[None]:
        """The block's statements on this connection have no deadline (:class:`_Watchdog`): a
        migration's, a verification's — work that may rightly take longer than a request's."""
        with self._guard:
            self._unbounded += 1
        try:
            yield
        finally:
            with self._guard:
                self._unbounded -= 1

    def _begin(self, conn: Any) -> None:
        if self._lock_key is None:
            self._lock_key = self._store.lock_key(conn)
        if self._pipe is not None:  # sent with what follows, answered at the pipeline's next sync
            conn.execute("BEGIN")
            conn.execute(f"SELECT pg_advisory_xact_lock({int(self._lock_key)})")
            self._pipe_txn = True
            return
        # one round trip (the simple protocol takes both statements; the key is our own int)
        conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({int(self._lock_key)})".encode())

    def begin_write(self) -> None:
        """BEGIN, then wait for the node's advisory lock (released at COMMIT or ROLLBACK)."""
        self._run(self._begin)

    # --- statements -------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        text, extra = translate(sql, True)
        args = (*extra, *(params or ())) if params is not None or extra else None

        def run(conn: Any) -> PgCursor:
            if not self.in_transaction and sql.lstrip()[:7].upper().startswith(_DML):
                self._begin(conn)  # sqlite3's implicit transaction before a data change
            cur = conn.cursor()
            cur.execute(text, args)
            return PgCursor(self, cur)
        return self._run(run)

    def executemany(self, sql: str, rows: Any) -> PgCursor:
        text, _ = translate(sql, True)
        rows = list(rows)
        values = _MULTI_ROW.fullmatch(text) if len(rows) > 1 else None

        def run(conn: Any) -> PgCursor:
            if not self.in_transaction:
                self._begin(conn)
            if values is not None:
                return _many_rows(self, conn, values, rows)
            cur = conn.cursor()
            if rows:
                cur.executemany(text, rows)
            return PgCursor(self, cur)
        return self._run(run)

    def cursor(self) -> "_Cursor":
        return _Cursor(self)

    def run_schema(self, ddl: str) -> None:
        """Idempotent DDL in one transaction (:func:`accord.store.base.ensure_schema`)."""
        def run(conn: Any) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._store.lock_key(conn),))
                for stmt in translate_ddl(ddl):
                    conn.execute(stmt)
        self._run(run)

    def commit(self) -> None:
        """COMMIT the open transaction; raises if PostgreSQL rolled it back instead (it answers
        COMMIT of a transaction a failed statement aborted with ROLLBACK, not an error). In a
        pipeline the COMMIT is sent with the statements before it and checked at the sync."""
        if not self.in_transaction:
            return
        if self._pipe is not None:
            self._pipe_commits.append(self._run(lambda conn: conn.execute("COMMIT")))
            self._pipe_txn = False
            return
        try:
            cur = self._run(lambda conn: conn.execute("COMMIT"))
        except PgOperationalError as exc:
            raise _commit_unanswered(exc) from None
        _check_committed(cur, self._store.name)

    def rollback(self) -> None:
        if not self.in_transaction:
            return
        self._run(lambda conn: conn.execute("ROLLBACK"))
        if self._pipe is not None:
            self._pipe_txn = False

    @property
    def piped(self) -> bool:
        """Whether statements are being pipelined (:meth:`pipeline`) on this connection."""
        return self._pipe is not None

    def sync(self) -> None:
        """In a pipeline: wait for the results of every statement sent so far (one round trip);
        raises the first error among them. Outside one: nothing."""
        if self._pipe is not None:
            self.round_trips += 1
            self._run(lambda conn: self._pipe.sync())

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Send the block's statements without waiting for each one's answer (psycopg's
        pipeline mode): a result is waited for only when it is read (:meth:`sync`) and at the
        end of the block, so a transaction of statements that need no answers — BEGIN and the
        node's lock with the first query; rows, status and COMMIT — costs a round trip per
        query read instead of one per statement. The connection is this thread's for the block.

        An error in any statement fails every later one up to the next sync, a COMMIT among
        them included, and is raised (at the read, or at the block's end); the transaction is
        then rolled back. A COMMIT sent in the block counts only once its answer has come back
        as COMMIT, so nothing is reported committed before it is."""
        with self._guard:
            if self._pipe is not None:  # nested: part of the outer block
                yield
                return
            conn = self._raw()
            try:
                self._pipe_txn = conn.info.transaction_status != TransactionStatus.IDLE
                with self._watched(conn), conn.pipeline() as pipe:  # its sync at the end too
                    self._pipe = pipe
                    try:
                        yield
                    finally:
                        self._pipe = None  # the sync at the pipeline's exit runs as a plain statement would
                        self.round_trips += 1
            except (psycopg.Error, PgOperationalError) as exc:  # at the exit's sync, or at a read in the block
                sent = bool(self._pipe_commits)   # a COMMIT among the unanswered statements
                self._after_failed_pipeline(conn)
                wrapped = exc if isinstance(exc, PgOperationalError) else _wrap(exc, self._store.name)
                if sent and isinstance(wrapped, PgOperationalError):
                    wrapped = _commit_unanswered(wrapped)
                if wrapped is exc:
                    raise
                raise wrapped from None
            except BaseException:
                self._after_failed_pipeline(conn)
                raise
            finally:
                commits, self._pipe_commits = self._pipe_commits, []
            for cur in commits:
                _check_committed(cur, self._store.name)

    def _after_failed_pipeline(self, conn: Any) -> None:
        """Roll back what a failed pipeline left open (an aborted transaction waits for it)."""
        self._pipe_commits = []
        if conn.broken or conn.closed:
            self._drop()
            return
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                with self._watched(conn):
                    conn.execute("ROLLBACK")
        except psycopg.Error:
            self._drop()

    def _watched(self, conn: Any) -> AbstractContextManager[None]:
        """The block's statements on ``conn`` under the store's deadline, unless :meth:`unbounded`."""
        return self._store.watch.over(conn) if not self._unbounded else nullcontext()

    def __enter__(self) -> "PgConnection":
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def close(self) -> None:
        with self._guard:
            if self.in_transaction:
                try:
                    with self._watched(self._conn):
                        self._conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            self._drop()
            reader, self._reader = self._reader, False
        if reader:
            self._store.reader_closed()
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()


class _Probe:
    """One connection attempt past a failing pool (:meth:`PostgresStore.connect_directly`)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.conn: Any = None  # the connection made, for the request that started the attempt (or the next one)
        self.taken = threading.Event()  # a connection made after its request stopped waiting was taken
        self.error: Exception | None = None
        self.ended = 0.0  # time.monotonic() when it ended
        self.abandoned = False  # it outlasted its request's wait (PROBE_WAIT_S): a host that does not answer


def _why_not(url: str, exc: Exception) -> str:
    """Why the pool could not connect to ``url`` (its own error says only that it timed out): the
    first line of what one direct connection attempt is told, e.g. ``Connection refused`` or
    ``database "x" does not exist``."""
    try:
        psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S).close()
    except Exception as direct:  # noqa: BLE001 - whatever it is, it is the reason
        lines = [line.strip() for line in str(direct).strip().splitlines() if line.strip()]
        return lines[0] if lines else type(direct).__name__
    return f"{type(exc).__name__}: {exc}"  # it connects now: the pool's own reason


def _commit_unanswered(exc: PgOperationalError) -> PgOperationalError:
    """``exc`` for a connection lost with a COMMIT sent and its answer not back: the server may
    have committed before the connection went, so the message must not say nothing was: the
    outcome is stated anew, not edited out of the text."""
    if isinstance(exc, _Unavailable):
        return _Unavailable(exc.where, exc.reason, MAYBE_COMMITTED)
    return PgOperationalError(f"{exc}; {MAYBE_COMMITTED}")  # a message that says no outcome


def _check_committed(cur: Any, where: str) -> None:
    """Raise unless ``cur``'s COMMIT committed (PostgreSQL answers ROLLBACK for an aborted one)."""
    status = getattr(cur, "_cur", cur).statusmessage
    if status != "COMMIT":
        raise PgDatabaseError(f"{where}: the transaction was rolled back at COMMIT ({status}); nothing was committed")


class PostgresStore:
    """A node's state in PostgreSQL (:class:`accord.store.base.Store`)."""

    dialect = POSTGRESQL

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        url, deadline, tcp = _settings(url)
        self.url = url
        self.location = redact(url)
        # what error messages name: no query or fragment (not parsed again: "[redacted]" is no host)
        self.name = re.sub(r"[?#].*", "", self.location, flags=re.DOTALL)
        self.lock: Any = threading.RLock()
        self.pool_failing = False  # the pool last failed to give a connection (PgConnection.connect)
        self._connect_errors = 0  # the pool's failed connection attempts when a connection was last made
        # the connections the store opens at most (its pool's, and any made directly): ``max_size``,
        # and one more for each reader open (reader), which holds its connection for good
        self.max_size = max_size
        self._direct = 0  # connections made directly (the pool failing) and still open
        self._direct_lock = threading.Lock()
        self._probe: _Probe | None = None  # the last connection attempt past the pool (connect_directly)
        self._probe_lock = threading.Lock()
        self.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False,
                                   name=f"accord-{next(_POOL_IDS)}",
                                   kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, **tcp},
                                   configure=self.configure, check=self._check)
        self._tcp = tcp
        self.watch = _Watchdog(self.pool.name, deadline)
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - PoolTimeout: the server is away or refuses us
            self.pool.close()
            self.watch.close()
            why = scrub(_LAST_CONNECT_ERROR.pop(self.pool.name, "") or _why_not(url, exc), url)
            raise PgOperationalError(f"PostgreSQL at {self.location}: cannot connect ({why}); "
                                     "is the server running and the database there?") from None
        self._key: int | None = None
        self.conn = PgConnection(self)
        self._closed = False
        OPEN_STORES.add(self)
        self._functions()

    def scrub(self, text: str) -> str:
        """``text`` (a driver's error) without the password of the URL this store connects to."""
        return scrub(text, self.url)

    def take_direct(self) -> bool:
        """Count a connection about to be made directly (:meth:`PgConnection.connect`), unless the
        pool's connections and the direct ones open already make its ``max_size`` (one place is
        always the pool's, for its reconnection): the pool's size bounds what the store opens,
        failing or not. The pool may then grow only into the places the direct ones leave it."""
        with self._direct_lock:
            size = max(int(self.pool.get_stats().get("pool_size", 0)), 1)
            if self._direct + size >= self.max_size:
                return False
            self._direct += 1
            self._resize_pool()
            # the pool grows under its own lock, not this one: a getconn of another thread may have
            # added a connection since its size was read, and now the smaller size stops any more
            if self._direct + max(int(self.pool.get_stats().get("pool_size", 0)), 1) > self.max_size:
                self._direct -= 1
                self._resize_pool()
                return False
            return True

    def connect_directly(self) -> Any:
        """A connection made past the failing pool for :meth:`PgConnection.connect` (its place
        taken, :meth:`take_direct`), or None when the connections open already make the store's
        size (the pool is then waited for). One attempt at a time, in a thread of its own: the
        request that starts it waits :data:`PROBE_WAIT_S` for it — a server that refuses says so
        within that, one that is back gives its connection and the request is served — and an
        attempt that outlasts the wait (an unreachable host, a server that accepts and never
        answers) goes on alone up to its connect timeout, holding no lock a request needs. Until
        it ends, and for :data:`PROBE_HOLD_S` after it has failed, every other request fails at
        once (:class:`PgOperationalError`) instead of waiting out an attempt of its own. An
        attempt that outlasted its request's wait and then connected (a server that is back but
        slower to connect than that, several round trips away) keeps its connection for the next
        request, for :data:`PROBE_KEEP_S`."""
        with self._probe_lock:
            probe = self._probe
            if probe is not None and probe.abandoned and probe.conn is not None and probe.done.is_set():
                # made after its request stopped waiting: this one's (not one its request is taking)
                conn, probe.conn = probe.conn, None
                probe.taken.set()
                return conn
            if probe is not None and not probe.done.is_set():
                raise _wrap(psycopg.OperationalError("a connection attempt is waiting for the server"), self.name)
            if probe is not None and probe.abandoned and probe.error is not None \
                    and time.monotonic() - probe.ended < PROBE_HOLD_S:
                raise PgOperationalError(str(probe.error))
            if not self.take_direct():
                return None
            probe = self._probe = _Probe()
        try:
            threading.Thread(target=self._attempt, args=(probe,), name=f"{self.pool.name}-connect",
                             daemon=True).start()
        except RuntimeError as exc:  # no thread to be had (at exit, or out of them): no attempt, a 503
            self.direct_closed()
            probe.done.set()  # (never waited for by the next request)
            raise _wrap(psycopg.OperationalError(f"no connection attempt made: {exc}"), self.name) from None
        probe.done.wait(PROBE_WAIT_S)
        with self._probe_lock:
            if not probe.done.is_set():
                probe.abandoned = True
                raise _wrap(psycopg.OperationalError(f"no answer from the server within {PROBE_WAIT_S} s"),
                            self.name)
            conn, probe.conn = probe.conn, None
        if probe.error is not None:
            raise probe.error
        if conn is None:  # the store was closed meanwhile (the attempt closed what it made): a 503, not the closed pool's 500
            raise _wrap(psycopg.OperationalError("the store was closed while connecting"), self.name)
        return conn

    def _attempt(self, probe: _Probe) -> None:
        """``probe``'s connection attempt (:meth:`connect_directly`). A connection its request no
        longer waits for is kept for the next request past the pool, and closed if none takes it
        within :data:`PROBE_KEEP_S` (its place is then the pool's again); one made once the store
        is closed is closed at once."""
        conn: Any = None
        try:
            conn = self._connect()
        except Exception as exc:  # noqa: BLE001 - PgOperationalError: the server is away; its request raises it
            probe.error = exc
        with self._probe_lock:
            probe.ended = time.monotonic()
            kept = conn is not None and not self._closed
            if kept:
                probe.conn = conn
                probe.done.set()
                if not probe.abandoned:
                    return
        if kept:
            probe.taken.wait(PROBE_KEEP_S)
            with self._probe_lock:
                conn, probe.conn = probe.conn, None
            if conn is None:  # taken by a request
                return
        try:
            if conn is not None:
                conn.close()
        finally:
            self.direct_closed()
            probe.done.set()

    def _connect(self) -> Any:
        """A new connection, not the pool's (:meth:`_attempt`)."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=POOL_WAIT_S, **self._tcp)
        except Exception as exc:  # noqa: BLE001 - OperationalError: the server is away
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _wrap(psycopg.OperationalError(self.scrub(first)), self.name) from None
        try:
            self.configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def direct_closed(self) -> None:
        """A connection made directly is closed (or its making failed): its place is the pool's."""
        with self._direct_lock:
            self._direct -= 1
            self._resize_pool()

    def _resize_pool(self) -> None:
        """The pool's ``max_size``: the store's, less the places of the direct connections open
        (under ``_direct_lock``). Never below its ``min_size``: a direct connection is held by a
        :class:`PgConnection` (the node's or a reader), each holds one at most, and the store's
        size leaves the pool ``max_size`` places besides the readers'."""
        self.pool.resize(self.pool.min_size, max(self.pool.min_size, self.max_size - self._direct))

    def _grow(self, places: int) -> None:
        with self._direct_lock:
            self.max_size += places
            self._resize_pool()

    def pool_back(self) -> bool:
        """Whether the pool has a connection waiting to be taken (it reconnected)."""
        return int(self.pool.get_stats().get("pool_available", 0)) > 0

    def connect_failed(self) -> bool:
        """Whether the pool, having given no connection, wants for the server rather than for a
        free connection: one of its connection attempts has failed since a connection was last
        made, or it has room to grow still (its size counts the connections it is making: one
        that outlasts a request's wait is an unreachable host's, which fails only at its connect
        timeout)."""
        stats = self.pool.get_stats()
        return (int(stats.get("connections_errors", 0)) > self._connect_errors
                or int(stats.get("pool_size", 0)) < self.pool.max_size)

    def _check(self, conn: Any) -> None:
        """The pool's check of a connection it is about to give, under the deadline: an idle
        connection to a frozen server fails it, and the pool discards it."""
        with self.watch.over(conn):
            ConnectionPool.check_connection(conn)

    def configure(self, conn: Any) -> None:
        """Ready a new connection (the pool's, or one made while the pool failed)."""
        self._connect_errors = int(self.pool.get_stats().get("connections_errors", 0))
        _LAST_CONNECT_ERROR.pop(self.pool.name, None)  # connected: the last failure is no reason any more
        conn.row_factory = _row_factory
        conn.adapters.register_loader("numeric", _NumericLoader)
        conn.adapters.register_dumper(bool, _BoolAsInt)

    def lock_key(self, conn: Any) -> int:
        """The node's advisory-lock key: its database and schema, hashed by the server."""
        if self._key is None:
            self._key = int(conn.execute(
                "SELECT hashtextextended('accord.node:' || current_database() || '.' || current_schema(), 0)"
            ).fetchone()[0])
        return self._key

    def _functions(self) -> None:
        """The functions the translated SQL calls (:data:`accord.store.dialect.FUNCTIONS`)."""
        def run(conn: Any) -> None:
            have = conn.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                "WHERE p.proname = 'accord_instr' AND n.nspname = current_schema()").fetchone()[0]
            if have >= len(FUNCTIONS):
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key(conn),))
                if conn.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                "WHERE p.proname = 'accord_instr' AND n.nspname = current_schema()"
                                ).fetchone()[0] < len(FUNCTIONS):
                    conn.execute("DROP FUNCTION IF EXISTS accord_instr(text, text)")
                    conn.execute("DROP FUNCTION IF EXISTS accord_instr(bytea, text)")
                    conn.execute("DROP FUNCTION IF EXISTS accord_instr(bytea, bytea)")
                    for stmt in FUNCTIONS:
                        conn.execute(stmt)
        self.conn._run(run)

    def write(self) -> AbstractContextManager[Any]:
        return write(self)

    def reader(self) -> PgConnection:
        """A connection of its own for reading beside the node's (a delivery worker's, one per
        partner, kept for as long as the worker runs): it holds its pool connection from its first
        statement to its ``close()``, so the store's size (the pool's, and the bound on direct
        connections, :meth:`take_direct`) grows by one place while it is open — with a reader
        per partner, a node with more partners than the pool had places would otherwise leave the
        last workers waiting for a connection that never comes (a database outage that is none),
        and the node's own connection waiting behind them after a reconnection."""
        self._grow(1)
        try:
            return PgConnection(self, reader=True)
        except BaseException:
            self._grow(-1)
            raise

    def reader_closed(self) -> None:
        """A reader is closed (its connection given back, :meth:`PgConnection.close`): its place
        goes. The pool does not close a connection beyond its new size at once: one left idle is
        closed after the pool's ``max_idle`` (10 minutes), and counts against direct connections
        until then."""
        self._grow(-1)

    def ensure_schema(self, ddl: str) -> None:
        ensure_schema(self.conn, ddl)

    def start_maintenance(self) -> Any:
        return _Nothing()  # PostgreSQL checkpoints and vacuums by itself

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._probe_lock:
            if self._probe is not None:
                self._probe.taken.set()  # a connection kept for the next request is closed now
        self.conn.close()
        self.pool.close()
        self.watch.close()
        _LAST_CONNECT_ERROR.pop(self.pool.name, None)
        OPEN_STORES.discard(self)


class _Nothing:
    active = False

    def stop(self) -> None:
        pass


def create_schema(url: str, schema: str) -> None:
    """Create ``schema`` in ``url``'s database (for a node kept in a schema of its own)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema)))
