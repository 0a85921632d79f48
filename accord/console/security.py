"""The console's response headers and error pages, set by its own route class.

The node's app has no middleware on purpose (:class:`accord.api.app.NodeApp` keeps a direct lane
for TAXII only while it has none), so the console sets its headers on its own responses:
:class:`ConsoleRoute` wraps every console endpoint, turns the exceptions its dependencies raise
(:class:`LoginRequired`, ``HTTPException``, request validation) into a redirect or an HTML error
page, and adds :data:`SECURITY_HEADERS` to whatever comes out — pages, redirects, errors, the
event stream and static files alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from accord.api.deps import holds_nul

log = logging.getLogger("accord.console")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
"""No inline script or style, nothing from another origin, never framed."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

LOGIN_PATH = "/console/login"
NUL_REFUSED = "a NUL character in the request's path, query or form"


def has_nul(*texts: str) -> bool:
    """Whether any of ``texts`` (a form's fields) holds a NUL character: no console id, filter or
    form field has one, and PostgreSQL refuses NUL in text, so one reaching the store was a 500
    with a logged traceback on a node on PostgreSQL. The console answers 400 first (a path or a
    query: :func:`accord.api.deps.holds_nul`)."""
    return any("\x00" in t for t in texts)


class LoginRequired(Exception):
    """No live session: the console answers ``303`` to the login page."""


def with_headers(response: Response, *, cache: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not cache and "cache-control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


class ConsoleRoute(APIRoute):
    """An APIRoute whose every response carries :data:`SECURITY_HEADERS` and whose errors are
    HTML pages (:func:`accord.console.pages.render_error`)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        original = super().get_route_handler()
        static = self.path.startswith("/console/static/")

        async def handler(request: Request) -> Response:
            try:
                if holds_nul(request.scope):  # the check NodeApp leaves to the console, to answer its page
                    raise HTTPException(400, NUL_REFUSED)
                response = await original(request)
            except LoginRequired:
                response = RedirectResponse(LOGIN_PATH, status_code=303)
            except HTTPException as exc:
                response = error_page(request, exc.status_code, str(exc.detail))
                for name, value in (exc.headers or {}).items():
                    response.headers[name] = value
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                response = error_page(request, 400, f"bad request: {fields}")
            except ClientDisconnect:  # the client left while sending its form: no bug, nobody to answer
                raise  # (NodeApp notes it at INFO)
            except Exception:  # a bug: logged, and still an HTML page with the console's headers
                log.exception("console error in %s %s", request.method, request.url.path)
                response = error_page(request, 500, "internal error (logged on the node)")
            return with_headers(response, cache=static)

        return handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A method this route does not take (the router hands it the request when no route
        takes the method at that path: HEAD, TRACE, PROPFIND …) gets the console's 405 page and
        headers, not the framework's bare JSON answer."""
        method = scope.get("method", "")
        if scope["type"] == "http" and self.methods and method not in self.methods:
            response = error_page(Request(scope, receive), 405,
                                  f"the console answers GET and POST only, not {method[:20]}")
            response.headers["Allow"] = "GET, POST"
            await with_headers(response)(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def error_page(request: Request, status: int, message: str) -> Response:
    from accord.console.pages import render_error

    return render_error(request, status, message)
