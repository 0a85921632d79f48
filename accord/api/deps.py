"""FastAPI dependencies shared by every router: who is calling, and may they.

* :func:`current_principal` reads ``Authorization: Bearer <token>``, looks the token up by its
  SHA-256 digest in the node's ``api_tokens`` table (constant-time compare, see
  :mod:`accord.federation.tokens`) and returns a :class:`Principal`. A token of another party
  than the node's is refused (403): a node serves its own party's users only.
  :class:`accord.api.app.NodeApp` runs the same check (:func:`bearer_principal`) before the app
  reads anything, and leaves the principal in the scope for this dependency.
* :func:`require_scope` (``Depends(require_scope("items:read"))``) adds a scope check.
* :func:`guard_body` and :func:`mark_authenticated`: no route reads more than
  :data:`PRE_AUTH_BODY_BYTES` of a body before its request is authenticated;
  :func:`read_body_capped` caps what is read after.
* :class:`StrictJSONRoute`: JSON bodies parsed with Accord's bounds (depth, numbers, duplicate keys);
  :func:`error_responses`: the errors a router declares in the OpenAPI document.
* :func:`store_unavailable`: the 503 (``Retry-After``) every route answers when the node's
  database is away; the body says only that, the log names the server.
* :func:`get_node` gives the :class:`accord.node.Node` that :func:`accord.api.app.create_app`
  put on ``app.state.node``.

Tokens are never logged: errors name the token (its label), never the secret.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any, Callable, Coroutine

from fastapi import Depends, HTTPException, Request, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from accord.core.canonical import parse_json_strict
from accord.core.json_budget import MAX_JSON_CONTAINERS
from accord.errors import AuthError, CanonicalJSONError, StoreUnavailable
from accord.federation.stats import counters
from accord.federation.tokens import (  # re-exported: the token store API
    KNOWN_SCOPES,
    Principal,
    TokenInfo,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from accord.logs import Throttle

__all__ = [
    "KNOWN_SCOPES", "Principal", "TokenInfo", "create_token", "list_tokens", "revoke_token",
    "current_principal", "require_scope", "get_node", "bearer_principal", "mark_authenticated",
    "guard_body", "PRE_AUTH_BODY_BYTES", "StrictJSONRoute", "error_responses", "BEARER_ERRORS",
    "store_unavailable", "UNAVAILABLE_MESSAGE",
]

log = logging.getLogger("accord.api")

_bearer = HTTPBearer(auto_error=False, description="API token made by `accord node token create`")


def get_node(request: Request) -> Any:
    return request.app.state.node


UNAVAILABLE_MESSAGE = "the node's database is temporarily unavailable; retry"
"""What a client is told of a request the node could not serve for want of its database (a
PostgreSQL restart, a failover): never where the database is — the log says that."""

_unavailable_log = Throttle(per_minute=6)


def store_unavailable(exc: StoreUnavailable) -> HTTPException:
    """503 with ``Retry-After: 1`` and ``{"detail": {"error": "unavailable", "message": …}}`` for a
    request that needed the node's database while it was away; nothing was committed, unless the
    connection went with a COMMIT sent and unanswered (the log then says it may have been). The body
    names no server, user or database (a partner or a token holder has no business knowing
    them); the error itself (its URL without the password) is logged, at most 6 lines a minute
    with the number passed over. TAXII routes answer in TAXII's error form with this status,
    headers and message."""
    allowed, passed = _unavailable_log.allow()
    if allowed:
        log.warning("answered 503, the node database is unavailable: %s%s", exc,
                    f" (+{passed} earlier 503s not logged one by one)" if passed else "")
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, {"error": "unavailable", "message": UNAVAILABLE_MESSAGE},
                         headers={"Retry-After": "1"})


PRINCIPAL_KEY = "accord.principal"
"""Where :class:`accord.api.app.NodeApp` leaves the principal it authenticated (in the ASGI
scope), so the route's own :func:`current_principal` does not look the token up again."""

AUTHENTICATED_KEY = "accord.authenticated"
"""Set in the ASGI scope once a request is authenticated, by whichever scheme its route uses."""

PRE_AUTH_BODY_BYTES = 4 * 1024
"""The most of a request body any route can read before the request is authenticated."""


def bearer_principal(request: Request) -> Principal:
    """The caller the request's ``Authorization`` header names, or 401 (no/unknown token) / 403
    (token of another party than the node's) as :class:`HTTPException`, each refusal counted and
    logged (:func:`note_auth_failure`)."""
    scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        note_auth_failure(request, "user", "missing bearer API token")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer API token",
                            headers={"WWW-Authenticate": "Bearer"})
    # under the node's write lock: the lookup must not run on the shared connection in the
    # middle of another thread's write transaction
    state = request.app.state
    lock = getattr(state, "auth_lock", None) or nullcontext()
    try:
        with lock:
            principal = authenticate_token(state.node.conn, secret.strip())
    except StoreUnavailable as exc:  # the database is away (a PostgreSQL restart): retry
        raise store_unavailable(exc) from None
    except AuthError as exc:
        note_auth_failure(request, "user", str(exc))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": "Bearer"}) from None
    node_party = state.node.party
    if principal.party != node_party:
        note_auth_failure(request, "user", f"token {principal.name!r} belongs to party {principal.party}")
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"token {principal.name!r} belongs to party {principal.party}, "
                            f"this node serves {node_party}")
    return principal


def current_principal(request: Request,
                      credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    """The authenticated caller, or 401 (no/unknown token) / 403 (token of another party).
    ``credentials`` is declared so that the OpenAPI document names the bearer scheme."""
    known = request.scope.get(PRINCIPAL_KEY)
    if known is not None:
        return known
    principal = bearer_principal(request)
    mark_authenticated(request, principal)
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


def mark_authenticated(request: Request, principal: Any = None) -> None:
    """Record that ``request`` is authenticated: from now on its body may be read in full."""
    request.scope[AUTHENTICATED_KEY] = True
    if principal is not None:
        request.scope[PRINCIPAL_KEY] = principal


def guard_body(scope: Scope, receive: Receive) -> Receive:
    """``receive`` that refuses to hand a route more than :data:`PRE_AUTH_BODY_BYTES` of the
    body before something has called :func:`mark_authenticated` — so no route, present or
    future, can parse a large body for an anonymous caller. The refusal is a 401
    :class:`HTTPException`, which every router answers in its own format."""
    taken = 0

    async def guarded() -> Message:
        nonlocal taken
        message = await receive()
        if message["type"] == "http.request" and not scope.get(AUTHENTICATED_KEY):
            taken += len(message.get("body", b""))
            if taken > PRE_AUTH_BODY_BYTES:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                    f"authenticate first: at most {PRE_AUTH_BODY_BYTES} bytes of a "
                                    "body are read before the request is authenticated")
        return message

    return guarded


def holds_nul(scope: Scope) -> bool:
    """Whether a request's path (decoded) or query string (``%00`` or a raw NUL) holds a NUL
    character: no identifier, party or filter has one, and PostgreSQL's text cannot hold one.
    :class:`accord.api.app.NodeApp` answers such a request 400 in its API's form, the console
    with its own page (:class:`accord.console.security.ConsoleRoute`)."""
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query

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


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = parse_json_strict(await self.body(), source="request body",
                                               max_containers=MAX_JSON_CONTAINERS)
            except CanonicalJSONError as exc:
                raise HTTPException(422, str(exc)) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by :func:`accord.core.canonical.parse_json_strict`
    (bounded depth and numbers, no duplicate keys, at most
    :data:`~accord.core.json_budget.MAX_JSON_CONTAINERS` arrays and objects): a hostile body
    gets a one-line 422 naming what is wrong, where FastAPI's own ``json.loads`` answered a bare 400 or let a value nested
    a thousand deep through to code that recurses on it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return route


_ERROR_BODY = {"type": "object", "required": ["detail"], "properties": {"detail": {}}}
"""Every error of the user, dialogue and partner APIs: FastAPI's ``{"detail": …}``, where
``detail`` is a message, an object with ``error`` and a reason, or a validation error list."""

_ERROR_DESCRIPTIONS = {
    400: "Malformed request", 401: "Not authenticated (no, unknown or expired credentials)",
    403: "Authenticated, but not allowed (scope, party or policy)", 404: "No such resource",
    409: "Conflicts with what the node holds", 413: "Request body too large",
    422: "Invalid input (the message names the field)", 429: "Too many requests in progress from this caller; retry", 503: "Not committed; retry",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the errors a router answers — JSON ``{"detail": …}``,
    whatever the media type of the route's success — so that a client (or schemathesis'
    conformance checks) knows every status it can get."""
    return {code: {"description": _ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": _ERROR_BODY}}}
            for code in codes}


BEARER_ERRORS = error_responses(400, 401, 403, 422)
"""What every bearer-token route can answer besides its own success and errors (400: a NUL in
the path or query, refused before any route runs, :data:`accord.api.app.NUL_MESSAGE`)."""
