"""API tokens for a node's own users, stored hashed in the node database.

A token is ``acc_`` + 32 random bytes (URL-safe base64, from :mod:`secrets`). Only its SHA-256
digest is stored (table ``api_tokens``); the secret is returned once by :func:`create_token` and
never stored, logged or printed again. Lookup is by digest, and the stored digest is compared
with :func:`hmac.compare_digest` so the comparison does not leak timing.

Scopes are short strings (``items:read``, ``items:write``, ``share``, ``status``,
``taxii:read``, ``taxii:write``, ``dialogue:read``, ``dialogue:write``); ``admin`` grants every
scope. A token belongs to one party: a node serves only its own party's users.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from accord.clock import to_rfc3339
from accord.core.parties import party_problem
from accord.errors import AuthError, InputError
from accord.store.base import IntegrityError
from accord.store.migrations import migrate

TOKEN_PREFIX = "acc_"
KNOWN_SCOPES = frozenset({
    "admin", "items:read", "items:write", "share", "status", "metrics",
    "taxii:read", "taxii:write", "dialogue:read", "dialogue:write",
})
_SCOPE_RE = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+)?\Z")  # \Z: "$" lets a final newline through
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")
_COLLECTION_SCOPE_RE = re.compile(r"^taxii\.(read|write):[^\s:]+\Z")  # accord.api.taxii's per-collection scopes

TOKENS_DDL = """
CREATE TABLE IF NOT EXISTS api_tokens (
  name        TEXT PRIMARY KEY,
  party       TEXT NOT NULL,
  scopes      TEXT NOT NULL,
  token_hash  TEXT NOT NULL UNIQUE,
  created     TEXT NOT NULL,
  revoked     INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, the party it belongs to, and what it may do."""

    name: str
    party: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class TokenInfo:
    """What :func:`list_tokens` shows: never the secret, never its hash."""

    name: str
    party: str
    scopes: tuple[str, ...]
    created: str
    revoked: bool


def checked_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """``scopes`` as a set once each is one Accord checks: one of :data:`KNOWN_SCOPES` or a
    per-collection TAXII scope (``taxii.read:<collection>``, ``taxii.write:<collection>``, as
    ``accord intel token`` makes). ``accord node token create`` takes its scopes through this: a
    misspelt scope (``item:read``) made a token that silently granted nothing."""
    for scope in scopes:
        if scope not in KNOWN_SCOPES and not _COLLECTION_SCOPE_RE.match(scope):
            raise InputError(f"unknown scope {scope!r}: give one of {', '.join(sorted(KNOWN_SCOPES))}, or "
                             "taxii.read:<collection> / taxii.write:<collection>", field="scope")
    return frozenset(scopes)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _ensure(conn: Any) -> None:
    migrate(conn, "tokens", [TOKENS_DDL])


ensure_tokens = _ensure


def create_token(conn: Any, name: str, party: str, scopes: frozenset[str] | set[str] | list[str] | tuple[str, ...],
                 *, now: datetime | None = None) -> str:
    """Create a named token for ``party`` with ``scopes``; return the secret (shown once)."""
    if not _NAME_RE.match(name or ""):
        raise InputError(f"token name must be 1-64 of [A-Za-z0-9_.@-], got {name!r}", field="name")
    problem = party_problem(party)
    if problem is not None:
        raise InputError(problem, field="party")
    scope_set = frozenset(scopes)
    if not scope_set:
        raise InputError("a token needs at least one scope", field="scopes")
    for scope in scope_set:
        if not _SCOPE_RE.match(scope):
            raise InputError(f"malformed scope {scope!r}", field="scopes")
    _ensure(conn)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn:
            conn.execute(
                "INSERT INTO api_tokens(name, party, scopes, token_hash, created) VALUES (?,?,?,?,?)",
                (name, party, " ".join(sorted(scope_set)), token_digest(secret),
                 to_rfc3339(now or datetime.now(UTC))))
    except IntegrityError:
        raise InputError(f"a token named {name!r} already exists", field="name") from None
    return secret


def revoke_token(conn: Any, name: str) -> None:
    _ensure(conn)
    with conn:
        cur = conn.execute("UPDATE api_tokens SET revoked = 1 WHERE name = ?", (name,))
    if cur.rowcount == 0:
        raise InputError(f"no token named {name!r}", field="name")


def revoke_party_tokens(conn: Any, party: str) -> list[str]:
    """Revoke every live token issued to ``party`` inside the caller's open transaction (call
    :func:`ensure_tokens` before opening it); return their names. A removed partner's tools
    (TAXII clients holding ``accord intel token --party``) lose access with the removal."""
    names = [r[0] for r in conn.execute("SELECT name FROM api_tokens WHERE party = ? AND revoked = 0 "
                                        "ORDER BY name", (party,))]
    conn.execute("UPDATE api_tokens SET revoked = 1 WHERE party = ? AND revoked = 0", (party,))
    return names


def list_tokens(conn: Any) -> list[TokenInfo]:
    _ensure(conn)
    rows = conn.execute("SELECT name, party, scopes, created, revoked FROM api_tokens ORDER BY name").fetchall()
    return [TokenInfo(r[0], r[1], tuple(r[2].split()), r[3], bool(r[4])) for r in rows]


def authenticate_token(conn: Any, secret: str) -> Principal:
    """Return the :class:`Principal` of a live token, or raise :class:`AuthError`.

    The error never repeats the presented secret.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthError("malformed API token")
    return principal_for_digest(conn, token_digest(secret))


def principal_for_digest(conn: Any, digest: str) -> Principal:
    """The :class:`Principal` of the live token whose SHA-256 digest is ``digest``, or raise
    :class:`AuthError` (unknown or revoked). For holders of a digest who must not keep the
    secret, such as the console's sessions, which re-check their token on every request."""
    row = conn.execute("SELECT name, party, scopes, token_hash, revoked FROM api_tokens WHERE token_hash = ?",
                       (digest,)).fetchone()
    # compare_digest even on a miss, so hit and miss take the same path
    stored = row[3] if row is not None else "0" * 64
    if not hmac.compare_digest(stored.encode(), digest.encode()) or row is None:
        raise AuthError("unknown API token")
    if row[4]:
        raise AuthError(f"API token {row[0]!r} is revoked")
    return Principal(row[0], row[1], frozenset(row[2].split()))
