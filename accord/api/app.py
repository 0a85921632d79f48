"""The node's HTTP API: one FastAPI app per node.

``create_app(node)`` mounts

* ``GET /health`` (liveness) and ``GET /health/ready`` (readiness: the database answers, else
  503) — the only API endpoints that answer without authentication (the console's login page is
  the other public page);
* ``GET /openapi.json`` — the OpenAPI 3 description (bearer token required, any scope);
* ``/api/v1/…`` — the user API (:mod:`accord.api.user`), bearer API tokens with scopes;
* ``GET /metrics`` — Prometheus metrics (:mod:`accord.api.metrics`), bearer token with scope
  ``metrics``;
* ``/federation/v1/…`` — the partner API (:mod:`accord.api.partner`), RFC 9421 signed requests
  from pinned partner keys carrying signed envelopes;
* ``/taxii2/…`` (:mod:`accord.api.taxii`), the dialogue API (:mod:`accord.api.dialogue`) and
  the web console at ``/console/`` (:mod:`accord.console.routes`, cookie sessions, not in the
  OpenAPI description) when those modules are present (each exports
  ``make_router(node) -> APIRouter``).

When ``federation`` is given (or ``start_federation=True``), the app's lifespan starts its
delivery workers and stops them on shutdown. The partner routes bring a lifespan of their own
(merged in by ``include_router``): on shutdown it ends the thread that records refused partner
requests, after their records still pending; that wait and the app's own for the lock to record
the count of refusals passed over share one bound
(:data:`accord.federation.refusals.RECORD_WAIT_S` in all).
"""

from __future__ import annotations

import importlib
import logging
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match, get_route_path
from starlette.types import Message, Receive, Scope, Send

from accord import __version__
from accord.api import error_forms
from accord.api.deps import (
    AUTHENTICATED_KEY,
    PRINCIPAL_KEY,
    Principal,
    bearer_principal,
    current_principal,
    guard_body,
    holds_nul,
)
from accord.federation.schema import ensure_federation_schema, write_lock
from accord.federation.tokens import TOKENS_DDL
from accord.errors import StoreUnavailable
from accord.logs import Throttle
from accord.store.base import DatabaseError
from accord.store.sqlite import Checkpointer, ensure_schema

if TYPE_CHECKING:
    from accord.node import Node

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest request body any route reads once the request is authenticated (FastAPI enforces
it app-wide with 413); before, :data:`accord.api.deps.PRE_AUTH_BODY_BYTES`."""

OPEN_PATHS = frozenset({"/health", "/health/ready", "/console", "/taxii2"})
"""The only paths served without authentication (``/console`` and ``/taxii2`` only redirect to
``/console/`` and ``/taxii2/``, which authenticate by their own schemes)."""

SELF_AUTHENTICATED = ("/federation/", "/taxii2/", "/console/")
"""Path prefixes whose routes authenticate by their own scheme (RFC 9421 partner signatures,
TAXII's bearer or Basic credentials, in TAXII's error format, the console's session cookie, whose
pages redirect to its login form) before reading a body. Every other
path needs a bearer API token of the node's party, checked by :class:`NodeApp` before the app
reads anything: a router added later is protected without doing anything."""

log = logging.getLogger("accord.api")


NUL_MESSAGE = "the request's path or query holds a NUL character (%00), which no identifier or filter may contain"
"""The 400 of a request with a NUL in its path or query: PostgreSQL's text cannot hold one, so
it reached the store as a driver error and a 500; no identifier, party or filter has one."""


READY_FAILURES: tuple[type[Exception], ...] = (StoreUnavailable, *DatabaseError)
"""What makes ``/health/ready`` answer 503: the database away, or failing the query."""


_left_log = Throttle(per_minute=30)


def _client_left(method: str, path: str) -> None:
    """The INFO line of a client gone while sending the body it announced: anyone can cause one
    per connection, so at most 30 a minute, the next carrying the number passed over."""
    allowed, passed = _left_log.allow()
    if allowed:
        log.info("client left during %s %s%s", method, path,
                 f" (+{passed} earlier not logged one by one)" if passed else "")

class NodeApp(FastAPI):
    """FastAPI with a direct lane for routes that need none of the app's middleware.

    A request passes eight ASGI layers (error and exception middleware, the body-size limit, the
    exit stack, the router's linear match) before its endpoint: about 0.25 ms here, as much as
    the TAXII work of a small request. Routes that offer ``direct_handler()`` (the TAXII routes,
    :meth:`accord.api.taxii.TaxiiRoute.direct_handler`) authenticate themselves, read their body
    with their own cap and turn every failure into their own error format, so the lane matches
    the request against them first and calls the handler straight away, with the scope the
    router would give it (path parameters, ``app``, ``router``). Everything else — other paths,
    a method the route does not take, trailing-slash redirects, the lifespan, and every request
    while the app has middleware, dependency overrides (tests), app-level dependencies or
    exception handlers of its own (:meth:`_lane_open`) — goes the usual way. An exception the
    handler does not turn into a response is logged and answered 500 with the route's
    ``internal_error()`` body (what ``ServerErrorMiddleware`` would do, in the route's format).
    On every path, a client that leaves while sending its body gets no answer and no error log
    (one line at INFO, at most 30 a minute), however many times it does it.

    Kept for a measured reason: ``bench/taxii.py --hot-paths`` (in process, load average 5.4 on
    2 cores) gives 303 µs of CPU per ``GET /taxii2/`` through the lane and 509 µs without it
    (1.68×), 291 µs and 436 µs for the collection list (1.50×).
    """

    direct_routes: list[tuple[Any, Any, Any]] = []  # (route, handler, internal_error): see create_app

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stock_handlers = frozenset(self.exception_handlers)

    async def _authenticate_bearer(self, scope: Scope) -> Response | None:
        """Check the bearer token before anything reads the body: None (the principal is left in
        the scope for the route's own dependency), or the 401/403 to send — without reading a
        byte of the body, however large the request says it is."""
        scope["app"] = self  # what Starlette sets next: the request below reads the app's state
        try:
            principal = await run_in_threadpool(bearer_principal, Request(scope))
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        scope[AUTHENTICATED_KEY], scope[PRINCIPAL_KEY] = True, principal
        return None

    def _lane_open(self) -> bool:
        """The lane skips what ``FastAPI.__call__`` and the middleware stack would do, so it is
        closed as soon as the app has any of it to do: middleware, dependency overrides, an
        app-level root_path or dependencies, exception handlers beyond FastAPI's own."""
        return not (self.dependency_overrides or self.user_middleware or self.root_path
                    or self.router.dependencies or self.exception_handlers.keys() != self._stock_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        receive = guard_body(scope, receive)
        path = get_route_path(scope)
        if not path.startswith(SELF_AUTHENTICATED) and path not in OPEN_PATHS:
            refusal = await self._authenticate_bearer(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        if holds_nul(scope) and not path.startswith("/console/"):   # the console answers its own page
            scope["app"] = self
            await error_forms.error_response(Request(scope), 400, NUL_MESSAGE)(scope, receive, send)
            return
        if self.direct_routes and self._lane_open():
            for route, handler, internal_error in self.direct_routes:
                # the route's own first test, without the rest of FastAPI's matches() (a third
                # of the lane's time with a dozen routes): a path its regex refuses never matches
                if route.path_regex.match(path) is None:
                    continue
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    scope["app"], scope["router"] = self, self.router
                    try:
                        response = await handler(Request(scope, receive, send))
                    except ClientDisconnect:  # gone while sending its body: nobody to answer
                        _client_left(scope["method"], route.path)
                        return
                    except Exception:
                        log.exception("unhandled error in %s %s", scope["method"], route.path)
                        response = internal_error()
                    await response(scope, receive, send)
                    return
        try:
            await super().__call__(scope, receive, self._allow_every_method(scope, send))
        except ClientDisconnect:  # gone while sending the body it announced: nobody to answer
            # (escaping, uvicorn would log it as "Exception in ASGI application" with its traceback)
            _client_left(scope["method"], path)

    _METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

    def _allow_every_method(self, scope: Scope, send: Send) -> Send:
        """``send`` that completes the ``Allow`` header of a 405: Starlette names only the methods
        of the first route whose path matched (``GET`` where ``POST`` is served at the same path
        too), and RFC 9110 §15.5.6 wants every method the resource supports. Only a 405 pays for
        it (:meth:`_methods_at`)."""
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self._methods_at(scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", ", ".join(methods).encode())]}
            await send(message)

        return sending

    def _methods_at(self, scope: Scope) -> list[str]:
        """The methods of the resource at the request's path. A documented path answers with the
        methods its OpenAPI path item lists, the most literal template winning
        (``/commitments/due`` is its own resource although ``/commitments/{id}`` also matches
        it), so ``Allow`` agrees with the document; other paths (the console's) are probed
        through the routes' own ``matches()``, which also looks inside the routers FastAPI keeps
        nested (``include_router``)."""
        path = get_route_path(scope)
        best: tuple[int, list[str]] | None = None
        for pattern, literal, methods in self._documented_paths():
            if pattern.fullmatch(path) and (best is None or literal > best[0]):
                best = (literal, methods)
        if best is not None:
            return best[1]
        return [m for m in self._METHODS
                if any(r.matches({**scope, "method": m})[0] is Match.FULL for r in self.router.routes)]

    def _documented_paths(self) -> list[tuple[re.Pattern[str], int, list[str]]]:
        """``(pattern, literal segments, methods)`` for each path of the OpenAPI document,
        built once."""
        cached: list[tuple[re.Pattern[str], int, list[str]]] | None = getattr(self, "_paths_cache", None)
        if cached is None:
            cached = []
            for template, item in (self.openapi().get("paths") or {}).items():
                parts = re.split(r"(\{[^}]+\})", template)
                pattern = re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))
                literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
                methods = sorted(m.upper() for m in item if m.upper() in self._METHODS)
                cached.append((pattern, literal, methods))
            self._paths_cache = cached
        return cached


_OPTIONAL_ROUTERS = (
    # (module, prefix used when the router's own paths do not already carry it)
    ("accord.api.taxii", "/taxii2"),
    ("accord.api.dialogue", "/api/v1/dialogue"),
    ("accord.console.routes", "/console"),
)


def _include_optional(app: NodeApp, node: Node) -> list[str]:
    included = []
    for module_name, prefix in _OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        router = module.make_router(node)
        form = getattr(module, "error_form", None)  # its errors' form (accord.api.error_forms)
        if form is not None:
            getattr(app.state, error_forms.FORMS_KEY).append((prefix + "/", form))
        paths = [getattr(r, "path", "") for r in router.routes]
        already = router.prefix or any(p.startswith(prefix) for p in paths)
        app.include_router(router, prefix="" if already else prefix)
        if already:  # the routes' own paths are the served ones: they may take the direct lane
            app.direct_routes = [*app.direct_routes, *(
                (r, h, r.internal_error) for r in router.routes
                if (h := getattr(r, "direct_handler", lambda: None)()) is not None)]
        included.append(module_name)
    return included


def create_app(node: Node, *, federation: Any = None, start_federation: bool = False) -> NodeApp:
    """Build the API of ``node``; optionally run its federation workers for the app's lifetime."""
    ensure_schema(node.conn, TOKENS_DDL)
    ensure_federation_schema(node.conn)
    if federation is None and start_federation:
        from accord.federation.service import Federation
        federation = Federation(node)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        # WAL checkpoints run in a thread of their own while the server runs, not inside
        # whichever request's commit crosses SQLite's threshold (see store.sqlite.Checkpointer)
        store = getattr(node, "store", None)
        checkpointer = (store.start_maintenance() if store is not None
                        else Checkpointer(node.conn, lock=write_lock(node)).start())
        app.state.checkpointer = checkpointer
        from accord.federation.refusals import STOP_BUDGET_KEY
        setattr(app.state, STOP_BUDGET_KEY, None)  # this run's budget for the refusals' records, begun at its stop
        if federation is not None:
            federation.start()
        try:
            yield
        finally:
            try:
                if federation is not None:
                    federation.stop()
                from accord.federation.refusals import flush_refusal_count, stop_budget
                flush_refusal_count(node, stop_budget(app.state))  # what the partner routes' stop left of it
            finally:
                checkpointer.stop()

    # the cap for authenticated requests (the partner and TAXII routes check their own, lower
    # limits as they read); nothing reads more than a few KiB before authentication (NodeApp)
    app = NodeApp(
        max_body_size=MAX_BODY_BYTES,
        title=f"Accord node {node.party}",
        version=__version__,
        description="Signed, policy-controlled sharing between allied nodes. Every endpoint "
                    "except /health needs authentication: a bearer API token (user API) or an "
                    "RFC 9421 signature by a pinned partner key (partner API).",
        openapi_url=None, docs_url=None, redoc_url=None,
        lifespan=lifespan,
    )
    # both replace FastAPI's own handlers (no new key: the direct lane stays open)
    app.add_exception_handler(RequestValidationError, error_forms.validation_error)
    app.add_exception_handler(StarletteHTTPException, error_forms.http_error)
    setattr(app.state, error_forms.FORMS_KEY, [("/federation/", error_forms.partner_error)])
    app.state.node = node
    app.state.federation = federation
    app.state.auth_lock = write_lock(node)

    @app.get("/health", tags=["health"], summary="Liveness (no authentication)")
    def health() -> dict[str, str]:
        return {"status": "ok", "party": node.party}

    @app.get("/health/ready", tags=["health"], summary="Readiness: the node's database answers (no authentication)")
    def ready() -> Response:
        """200 while the node's database answers a query, else 503 with ``Retry-After: 1`` — for
        a load balancer or an orchestrator's readiness probe (``/health`` stays up through a
        database outage: a liveness probe must not restart a node that waits for its database).
        Like ``/health`` it says nothing but the party."""
        try:
            node.conn.execute("SELECT 1").fetchone()
        except READY_FAILURES:
            return JSONResponse({"status": "unavailable", "party": node.party}, 503, headers={"Retry-After": "1"})
        return JSONResponse({"status": "ready", "party": node.party})

    @app.get("/openapi.json", tags=["health"], summary="OpenAPI description (authenticated)",
             include_in_schema=False)
    def openapi(principal: Principal = Depends(current_principal)) -> JSONResponse:
        return JSONResponse(app.openapi())

    from accord.api import metrics, partner, user

    app.include_router(metrics.make_router(node))
    app.include_router(user.make_router(node), prefix="/api/v1")
    app.include_router(partner.make_router(node), prefix="/federation/v1")
    app.state.optional_routers = _include_optional(app, node)
    return app
