"""Console sessions, CSRF tokens and the login rate limit.

A session is created by a successful ``POST /console/login`` with an Accord API token. The cookie
carries only a random session id (32 bytes from :mod:`secrets`); the node keeps, per session, a
row in its own database (table ``console_sessions``): the id's SHA-256 (never the id itself), the
token's *digest* (never the secret), the :class:`~accord.federation.tokens.Principal`, a CSRF
token, the UI language and two deadlines: an idle timeout (default 30 min) and an absolute
lifetime (default 8 h). Each request re-checks the token against the node's token table, so
revoking the token ends its console sessions at once.

Because sessions are rows in the node's store, every process serving the node (``node serve
--workers N``, ``--join``, several machines on one PostgreSQL database) knows every session: a
browser logged in through one process goes on through any other, and a restart logs no one out.
The idle clock is written back at most every :data:`TOUCH_SECONDS` (a request is a read, not a
write, most of the time). The login rate limit's failures are rows in the store too (table
``console_login_attempts``), so the limit is per node, not per process. What stays per process:
the count of a session's open event streams and the one-time login codes of ``accord exercise
run --console`` (one process by design).

CSRF: every form carries the session's CSRF token and every ``POST`` compares it in constant
time; the login form, which has no session yet, uses a double-submit cookie (the same random
value in a ``SameSite=Strict`` cookie and in the form). ``SameSite=Strict`` alone already stops
cross-site posts in current browsers; the tokens are the defence that does not depend on it.

Login rate limit: at most ``attempts`` failed logins per client address (an IPv6 client's
/64) in a sliding ``window`` (default 5 per 60 s) for the whole node, whichever process serves each attempt;
beyond that every login from the address is answered 429 until
the window has room again, whether the token is right or not. An attempt is counted *before* its
body is read (check and count in one step, :meth:`LoginLimiter.attempt`) and released only when
it did not end in a wrong token, so many simultaneous logins cannot all pass the check before
any failure is recorded. A right token is still refused while the address is limited: letting it
through would answer "right" or "wrong" beyond the limit, which is the guessing oracle the limit
exists to close; the cost — an address behind a shared NAT or proxy is locked out for at most a
window after five failures — is bounded and is the documented trade-off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import parse_rfc3339, to_rfc3339
from accord.federation.tokens import Principal
from accord.store.base import write
from accord.store.migrations import migrate

if TYPE_CHECKING:
    from accord.node import Node

if TYPE_CHECKING:
    from accord.node import Node

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SESSION_COOKIE = "accord_console"
LOGIN_COOKIE = "accord_console_login"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same_secret(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two non-empty secrets."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Session:
    id: str
    principal: Principal
    token_digest: str
    csrf: str
    created: datetime
    last_seen: datetime
    lang: str = "en"

    def expired(self, now: datetime, idle: timedelta, lifetime: timedelta) -> bool:
        return now - self.last_seen > idle or now - self.created > lifetime


class SessionsFull(Exception):
    """The store holds ``limit`` live sessions: a new login is refused (none is evicted)."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    n            INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order (oldest first)
    id_digest    TEXT NOT NULL UNIQUE,   -- SHA-256 of the cookie's session id
    token_digest TEXT NOT NULL,
    principal    TEXT NOT NULL,          -- JSON: name, party, scopes
    csrf         TEXT NOT NULL,
    created      TEXT NOT NULL,          -- RFC 3339
    last_seen    TEXT NOT NULL,
    lang         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_by_token ON console_sessions(token_digest, n);
"""
TOUCH_SECONDS = 60.0  # a session's last_seen is written back at most this often
# Migration 2: the login rate limit's attempts, in the node's store, so every process serving
# the node counts the same failures (kept per process, N processes allowed N × the limit)
ATTEMPTS = """
CREATE TABLE IF NOT EXISTS console_login_attempts (
    n      INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,                -- the client address
    at     INTEGER NOT NULL              -- µs since the epoch, by the node's clock
);
CREATE INDEX IF NOT EXISTS console_login_attempts_by_client ON console_login_attempts(client, at);
CREATE INDEX IF NOT EXISTS console_login_attempts_by_time ON console_login_attempts(at);
"""


def ensure_sessions(node: Node) -> int:
    """The ``console`` part's tables (``accord node migrate`` runs it too); its version before."""
    return migrate(node.conn, "console", [SCHEMA, ATTEMPTS], lock=node.write_lock)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """Sessions by id in the node's database (table ``console_sessions``), bounded per token and
    in all.

    A token holds at most ``per_token`` sessions: its next login ends *its own* oldest one. So
    logging in without end with one token — a partner's, say — can never end another token's
    session. Past ``limit`` sessions in all (only reachable with ``limit / per_token`` distinct
    tokens), expired sessions are dropped and, if the store is still full, the new login is
    refused with :class:`SessionsFull` rather than evicting anyone else's live session.
    """

    def __init__(self, node: Node, *, idle: timedelta = timedelta(minutes=30),
                 lifetime: timedelta = timedelta(hours=8), limit: int = 10_000, per_token: int = 10) -> None:
        self.node, self.idle, self.lifetime, self.limit, self.per_token = node, idle, lifetime, limit, per_token
        self._streams: dict[str, int] = {}  # open event streams per session id, in this process
        self._token_streams: dict[str, int] = {}  # and per token (digest), across its sessions
        self._count_lock = threading.Lock()  # the counts change on the event loop and in end() (a worker thread)
        ensure_sessions(node)

    def create(self, principal: Principal, token_digest: str, now: datetime, lang: str = "en") -> Session:
        s = Session(new_secret(), principal, token_digest, new_secret(), now, now, lang)
        when = to_rfc3339(now)
        with write(self.node.store) as conn:
            own = [r[0] for r in conn.execute(
                "SELECT n FROM console_sessions WHERE token_digest = ? ORDER BY n", (token_digest,)).fetchall()]
            for n in own[:max(0, len(own) - self.per_token + 1)]:  # oldest first
                conn.execute("DELETE FROM console_sessions WHERE n = ?", (n,))
            if self._count(conn) >= self.limit:
                conn.execute("DELETE FROM console_sessions WHERE last_seen < ? OR created < ?",
                             (to_rfc3339(now - self.idle), to_rfc3339(now - self.lifetime)))
            if (held := self._count(conn)) >= self.limit:
                raise SessionsFull(f"the console already holds {held} sessions")
            conn.execute("INSERT INTO console_sessions(id_digest, token_digest, principal, csrf, created, last_seen, "
                         "lang) VALUES (?,?,?,?,?,?,?)",
                         (_digest(s.id), token_digest, json.dumps({"name": principal.name, "party": principal.party,
                                                                   "scopes": sorted(principal.scopes)}),
                          s.csrf, when, when, lang))
        return s

    @staticmethod
    def _count(conn: Any) -> int:
        return int(conn.execute("SELECT count(*) FROM console_sessions").fetchone()[0])

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id (its idle clock restarted), or None; an expired one is
        dropped."""
        if not session_id or len(session_id) > 100:
            return None
        key = _digest(session_id)
        with self.node.write_lock:
            row = self.node.conn.execute(
                "SELECT token_digest, principal, csrf, created, last_seen, lang FROM console_sessions "
                "WHERE id_digest = ?", (key,)).fetchone()
        if row is None:
            return None
        p = json.loads(row[1])
        s = Session(session_id, Principal(p["name"], p["party"], frozenset(p["scopes"])), row[0], row[2],
                    parse_rfc3339(row[3]), parse_rfc3339(row[4]), row[5])
        if s.expired(now, self.idle, self.lifetime):
            self.end(session_id)
            return None
        if (now - s.last_seen).total_seconds() >= TOUCH_SECONDS:
            with write(self.node.store) as conn:
                conn.execute("UPDATE console_sessions SET last_seen = ? WHERE id_digest = ?", (to_rfc3339(now), key))
            s.last_seen = now
        return s

    def set_lang(self, s: Session, lang: str) -> None:
        """Remember ``lang`` as the session's UI language (a page's ``?lang=``)."""
        if lang != s.lang:
            with write(self.node.store) as conn:
                conn.execute("UPDATE console_sessions SET lang = ? WHERE id_digest = ?", (lang, _digest(s.id)))
            s.lang = lang

    def end(self, session_id: str | None) -> None:
        with write(self.node.store) as conn:
            conn.execute("DELETE FROM console_sessions WHERE id_digest = ?", (_digest(session_id or ""),))
        with self._count_lock:
            self._streams.pop(session_id or "", None)

    def streams(self, s: Session) -> int:
        """Open event streams of ``s`` in this process (the event loop's thread only)."""
        return self._streams.get(s.id, 0)

    def token_streams(self, s: Session) -> int:
        """Open event streams of all the sessions of ``s``'s token in this process."""
        return self._token_streams.get(s.token_digest, 0)

    def take_stream(self, s: Session, limit: int, per_token: int | None = None) -> bool:
        """Count one more open event stream of ``s`` if it holds fewer than ``limit`` and its
        token, across its sessions, fewer than ``per_token`` (else False, nothing counted): the
        check and the count in one step, on the event loop's thread. Counted only once a stream
        had started, a burst of requests all passed the check before the first was counted."""
        with self._count_lock:
            held, token = self._streams.get(s.id, 0), self._token_streams.get(s.token_digest, 0)
            if held >= limit or (per_token is not None and token >= per_token):
                return False
            self._streams[s.id] = held + 1
            self._token_streams[s.token_digest] = token + 1
            return True

    def stream_closed(self, s: Session) -> None:
        with self._count_lock:
            for counts, key in ((self._streams, s.id), (self._token_streams, s.token_digest)):
                left = counts.get(key, 0) - 1
                if left > 0:
                    counts[key] = left
                else:
                    counts.pop(key, None)

    def __len__(self) -> int:
        with self.node.write_lock:
            return self._count(self.node.conn)


class LoginLimiter:
    """Failed logins per client address in a sliding window, kept in the node's store (table
    ``console_login_attempts``): every process serving the node counts the same failures, so
    the limit holds whatever the number of processes behind the proxy. Each call is one write
    transaction under the node's write lock — across processes, SQLite's write lock or
    PostgreSQL's advisory lock — so the check and the count are one step; called from a worker
    thread, never on the event loop. Every query is an index search of bounded size: a client's
    count looks at no more than ``attempts`` of its rows in the window (index on client, time);
    every write first drops the rows older than the window (index on time), then every row more
    than ``max_rows`` behind the newest (primary key) — a bound on the table, as the in-memory
    limit had on its clients."""

    def __init__(self, node: Node, *, attempts: int = 5, window: timedelta = timedelta(seconds=60),
                 max_rows: int = 100_000) -> None:
        self.node, self.attempts, self.window, self.max_rows = node, attempts, window, max_rows
        ensure_sessions(node)

    @staticmethod
    def _us(when: datetime) -> int:
        return (when - _EPOCH) // timedelta(microseconds=1)

    def _wait(self, oldest: int, now: datetime) -> int:
        return max(1, int((oldest + self._us_window() - self._us(now)) / 1_000_000) + 1)

    def _us_window(self) -> int:
        return self.window // timedelta(microseconds=1)

    def _recent(self, conn: Any, client: str, now: datetime) -> tuple[int, int | None]:
        """How many attempts ``client`` made in the window (counted up to ``attempts``: more
        decides nothing), and the oldest of them."""
        rows = conn.execute("SELECT at FROM console_login_attempts WHERE client = ? AND at >= ?"
                            " ORDER BY at LIMIT ?",
                            (client, self._us(now) - self._us_window(), self.attempts)).fetchall()
        return len(rows), (int(rows[0][0]) if rows else None)

    def retry_after(self, client: str, now: datetime) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        with self.node.write_lock:
            count, oldest = self._recent(self.node.conn, client, now)
        if count < self.attempts or oldest is None:
            return None
        return self._wait(oldest, now)

    def attempt(self, client: str, now: datetime) -> int | None:
        """Check and count one login attempt in one transaction: seconds to wait if ``client``
        is limited (nothing counted), else None with the attempt counted as a failure until
        :meth:`release` takes it back."""
        with write(self.node.store) as conn:
            self._prune(conn, now)
            count, oldest = self._recent(conn, client, now)
            if count >= self.attempts and oldest is not None:
                return self._wait(oldest, now)
            self._add(conn, client, now)
            return None

    def release(self, client: str, at: datetime) -> None:
        """Take back an attempt counted at ``at`` (it did not end in a wrong token)."""
        with write(self.node.store) as conn:
            conn.execute("DELETE FROM console_login_attempts WHERE n = (SELECT min(n) FROM console_login_attempts"
                         " WHERE client = ? AND at = ?)", (client, self._us(at)))

    def failed(self, client: str, now: datetime) -> None:
        """Count a failure outright."""
        with write(self.node.store) as conn:
            self._prune(conn, now)
            self._add(conn, client, now)

    def _prune(self, conn: Any, now: datetime) -> None:
        """Drop the attempts older than the window: they count for no one."""
        conn.execute("DELETE FROM console_login_attempts WHERE at < ?", (self._us(now) - self._us_window(),))

    def _add(self, conn: Any, client: str, now: datetime) -> None:
        conn.execute("INSERT INTO console_login_attempts(client, at) VALUES (?, ?)", (client, self._us(now)))
        # ``n`` only grows, so the rows more than ``max_rows`` behind the newest are the oldest
        # and no more than ``max_rows`` rows stay (fewer where :meth:`release` took some back)
        newest = conn.execute("SELECT max(n) FROM console_login_attempts").fetchone()[0]
        conn.execute("DELETE FROM console_login_attempts WHERE n <= ?", (int(newest) - self.max_rows,))


@dataclass
class LoginCodes:
    """Single-use login codes for links such as ``/console/login/once?code=…`` that
    ``accord exercise run --console`` prints: each code stands for a token (kept only as its
    digest), is redeemed at most once, and expires ``ttl`` after issue.

    Expiry follows the wall clock (``time.monotonic``), not the node's: an exercise node's clock is
    the simulated one, running many times faster than the person opening the link. Redeeming
    compares the code with every live one in constant time.
    """

    ttl: float = 600.0  # seconds
    limit: int = 1000
    clock: Callable[[], float] = time.monotonic
    _codes: list[tuple[str, str, float]] = field(default_factory=list)  # code, token digest, deadline
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, digest: str) -> str:
        code = new_secret()
        with self._lock:
            self._codes.append((code, digest, self.clock() + self.ttl))
            del self._codes[:-self.limit]
        return code

    def redeem(self, code: str | None) -> str | None:
        """The token digest ``code`` stands for, the code then spent; None if unknown, spent or expired."""
        now = self.clock()
        found = None
        with self._lock:
            self._codes = [c for c in self._codes if c[2] > now]
            for entry in self._codes:
                if same_secret(code, entry[0]):  # no early exit: every live code is compared
                    found = entry
            if found is not None:
                self._codes.remove(found)
        return found[1] if found else None


_NODE_CODES: "weakref.WeakKeyDictionary[Any, LoginCodes]" = weakref.WeakKeyDictionary()


def login_codes(node: Node) -> LoginCodes:
    """The one-time login codes of ``node``'s console (shared by its router and whoever issues them)."""
    with _CODES_LOCK:
        return _NODE_CODES.setdefault(node, LoginCodes())


_CODES_LOCK = threading.Lock()
