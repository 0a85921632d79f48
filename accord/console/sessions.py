"""Console sessions, CSRF tokens and the login rate limit (all in the serving process's memory).

A session is created by a successful ``POST /console/login`` with an Accord API token. The cookie
carries only a random session id (32 bytes from :mod:`secrets`); the server keeps, per session,
the token's *digest* (never the secret), the :class:`~accord.federation.tokens.Principal`, a
CSRF token and two deadlines: an idle timeout (default 30 min) and an absolute lifetime (default
8 h). Each request re-checks the token against the node's token table, so revoking the token
ends its console sessions at once.

Sessions live in memory: a restart of ``accord node serve`` logs everyone out, and several
serving processes behind one address would each need their own login (sticky sessions).

CSRF: every form carries the session's CSRF token and every ``POST`` compares it in constant
time; the login form, which has no session yet, uses a double-submit cookie (the same random
value in a ``SameSite=Strict`` cookie and in the form). ``SameSite=Strict`` alone already stops
cross-site posts in current browsers; the tokens are the defence that does not depend on it.

Login rate limit: at most ``attempts`` failed logins per client address in a sliding
``window`` (default 5 per 60 s); beyond that every login from the address is answered 429 until
the window has room again, whether the token is right or not. An attempt is counted *before* its
body is read (check and count in one step, :meth:`LoginLimiter.attempt`) and released only when
it did not end in a wrong token, so many simultaneous logins cannot all pass the check before
any failure is recorded. A right token is still refused while the address is limited: letting it
through would answer "right" or "wrong" beyond the limit, which is the guessing oracle the limit
exists to close; the cost — an address behind a shared NAT or proxy is locked out for at most a
window after five failures — is bounded and is the documented trade-off.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from accord.federation.tokens import Principal

if TYPE_CHECKING:
    from accord.node import Node

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
    streams: int = 0  # open /console/events streams (the event loop's thread only)

    def expired(self, now: datetime, idle: timedelta, lifetime: timedelta) -> bool:
        return now - self.last_seen > idle or now - self.created > lifetime


class SessionsFull(Exception):
    """The store holds ``limit`` live sessions: a new login is refused (none is evicted)."""


@dataclass
class SessionStore:
    """Sessions by id, bounded per token and in all.

    A token holds at most ``per_token`` sessions: its next login ends *its own* oldest one. So
    logging in without end with one token — a partner's, say — can never end another token's
    session. Past ``limit`` sessions in all (only reachable with ``limit / per_token`` distinct
    tokens), expired sessions are dropped and, if the store is still full, the new login is
    refused with :class:`SessionsFull` rather than evicting anyone else's live session.
    """

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)
    limit: int = 10_000
    per_token: int = 10
    _sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, principal: Principal, token_digest: str, now: datetime, lang: str = "en") -> Session:
        s = Session(new_secret(), principal, token_digest, new_secret(), now, now, lang)
        with self._lock:
            own = [k for k, o in self._sessions.items() if o.token_digest == token_digest]
            for k in own[:max(0, len(own) - self.per_token + 1)]:  # oldest first (insertion order)
                del self._sessions[k]
            if len(self._sessions) >= self.limit:
                for k in [k for k, o in self._sessions.items() if o.expired(now, self.idle, self.lifetime)]:
                    del self._sessions[k]
            if len(self._sessions) >= self.limit:
                raise SessionsFull(f"the console already holds {len(self._sessions)} sessions")
            self._sessions[s.id] = s
        return s

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id (its idle clock restarted), or None; an expired one is
        dropped."""
        if not session_id or len(session_id) > 100:
            return None
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                return None
            if s.expired(now, self.idle, self.lifetime):
                del self._sessions[session_id]
                return None
            s.last_seen = now
            return s

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass
class LoginLimiter:
    """Failed logins per client address in a sliding window."""

    attempts: int = 5
    window: timedelta = timedelta(seconds=60)
    max_clients: int = 10_000
    _failures: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, client: str, now: datetime) -> deque[datetime]:
        q = self._failures.get(client)
        if q is None:
            return deque()
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, client: str, now: datetime) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        with self._lock:
            q = self._recent(client, now)
            if len(q) < self.attempts:
                return None
            return max(1, int((q[0] + self.window - now).total_seconds()) + 1)

    def attempt(self, client: str, now: datetime) -> int | None:
        """Check and count one login attempt atomically: seconds to wait if ``client`` is
        limited (nothing counted), else None with the attempt counted as a failure until
        :meth:`release` takes it back."""
        with self._lock:
            q = self._recent(client, now)
            if len(q) >= self.attempts:
                return max(1, int((q[0] + self.window - now).total_seconds()) + 1)
            q.append(now)
            self._failures[client] = q
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
            return None

    def release(self, client: str, at: datetime) -> None:
        """Take back an attempt counted at ``at`` (it did not end in a wrong token)."""
        with self._lock:
            q = self._failures.get(client)
            if q is not None and at in q:
                q.remove(at)

    def failed(self, client: str, now: datetime) -> None:
        """Count a failure outright."""
        with self._lock:
            q = self._recent(client, now)
            q.append(now)
            self._failures[client] = q
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


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
