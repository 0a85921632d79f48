"""FastAPI dependencies shared by every router: who is calling, and may they.

* :func:`current_principal` reads ``Authorization: Bearer <token>``, looks the token up by its
  SHA-256 digest in the node's ``api_tokens`` table (constant-time compare, see
  :mod:`accord.federation.tokens`) and returns a :class:`Principal`. A token of another party
  than the node's is refused (403): a node serves its own party's users only.
* :func:`require_scope` (``Depends(require_scope("items:read"))``) adds a scope check.
* :func:`get_node` gives the :class:`accord.node.Node` that :func:`accord.api.app.create_app`
  put on ``app.state.node``.

Tokens are never logged: errors name the token (its label), never the secret.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any, Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from accord.errors import AuthError
from accord.federation.stats import counters
from accord.logs import Throttle
from accord.federation.tokens import (  # re-exported: the token store API
    KNOWN_SCOPES,
    Principal,
    TokenInfo,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)

__all__ = [
    "KNOWN_SCOPES", "Principal", "TokenInfo", "create_token", "list_tokens", "revoke_token",
    "current_principal", "require_scope", "get_node",
]

log = logging.getLogger("accord.api")

_bearer = HTTPBearer(auto_error=False, description="API token made by `accord node token create`")


def get_node(request: Request) -> Any:
    return request.app.state.node


def current_principal(request: Request,
                      credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    """The authenticated caller, or 401 (no/unknown token) / 403 (token of another party)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        note_auth_failure(request, "user", "missing bearer API token")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer API token",
                            headers={"WWW-Authenticate": "Bearer"})
    # under the node's write lock: the lookup must not run on the shared connection in the
    # middle of another thread's write transaction
    lock = getattr(request.app.state, "auth_lock", None) or nullcontext()
    try:
        with lock:
            principal = authenticate_token(request.app.state.node.conn, credentials.credentials)
    except AuthError as exc:
        note_auth_failure(request, "user", str(exc))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": "Bearer"}) from None
    node_party = request.app.state.node.party
    if principal.party != node_party:
        note_auth_failure(request, "user", f"token {principal.name!r} belongs to party {principal.party}")
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"token {principal.name!r} belongs to party {principal.party}, "
                            f"this node serves {node_party}")
    return principal


_auth_log = Throttle(per_minute=30)


def note_auth_failure(request: Request, api: str, reason: str) -> None:
    """Count a refused request (metrics) and log it: at most 30 lines a minute, each with the
    number passed over since the last (:class:`accord.logs.Throttle`). The line names the
    route and the reason; the reasons name tokens by label, and credentials are never logged."""
    node = getattr(request.app.state, "node", None)
    if node is not None:
        counters(node).auth_failed(api)
    allowed, passed = _auth_log.allow()
    if allowed:
        client = request.client.host if request.client else "unknown"
        log.warning("refused a %s API request %s %s from %s: %s%s", api, request.method, request.url.path, client,
                    reason, f" (+{passed} earlier refusals not logged one by one)" if passed else "",
                    extra={"event": "auth.failed", "api": api, "client": client, "suppressed": passed})


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that returns the principal if it holds ``scope`` (or ``admin``), else 403."""

    def _check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has(scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"token {principal.name!r} lacks scope {scope!r}")
        return principal

    _check.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return _check


class BodyTooLarge(Exception):
    """A request body over a route's limit; ``declared`` is its Content-Length if that gave it
    away before reading (None: found while reading a body without one)."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


class MalformedLength(Exception):
    """A Content-Length header that is not a decimal number."""


async def read_body_capped(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes — by its Content-Length before anything is
    read, or as soon as a body without one passes the limit — so a caller that is not yet
    authenticated cannot make the node hold more. Raises :class:`BodyTooLarge` or
    :class:`MalformedLength`; each route answers those in its own error format."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise MalformedLength(length[:20])
        if int(length) > limit:
            raise BodyTooLarge(int(length))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(None)
        chunks.append(chunk)
    return b"".join(chunks)
