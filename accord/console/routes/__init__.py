"""The console's routes (``/console/…``), mounted by :func:`accord.api.app.create_app`.

Thin: each page reads through the library (the node, :mod:`accord.federation`, the intel store,
the dialogue store), filters what it shows through :class:`~accord.console.view.Viewer`, and
renders a template. Every route but the login page and the static files needs a live session
(:meth:`Console.session_of <accord.console.routes.common.Console.session_of>`); every ``POST``
needs the session's CSRF token. None of these routes is in the OpenAPI description.

:func:`make_router` makes one :class:`~accord.console.routes.common.Console` (the node, its
stores and the helpers every handler shares) and registers the page groups, one module each, in
this order (the order in which routes match):

* :mod:`~accord.console.routes.login`: login (token or one-time code), logout, static files;
* :mod:`~accord.console.routes.items`: overview, item detail, alerts, picture, CAP XML;
* :mod:`~accord.console.routes.intel`: intel objects, one object, export and import;
* :mod:`~accord.console.routes.federation`: partners, agreements, why an item goes or not;
* :mod:`~accord.console.routes.dialogue`: commitments and their updates, upcoming meetings;
* :mod:`~accord.console.routes.live`: the server-sent event stream;

then the catch-all below, which answers anything else under ``/console`` with the console's
headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from accord.console.routes import dialogue, federation, intel, items, live, login
from accord.console.routes.common import FORM_LIMIT, Console, read_form
from accord.console.routes.federation import EXPIRING_DAYS
from accord.console.routes.intel import IMPORT_LIMIT
from accord.console.routes.live import status_event
from accord.console.routes.login import STATIC, STATIC_PATHS
from accord.console.security import ConsoleRoute
from accord.console.sessions import LoginLimiter, Session, SessionStore

if TYPE_CHECKING:
    from accord.node import Node

__all__ = ["EXPIRING_DAYS", "FORM_LIMIT", "IMPORT_LIMIT", "STATIC", "STATIC_PATHS", "Console", "make_router",
           "read_form", "status_event"]


def make_router(node: Node, *, sessions: SessionStore | None = None,
                limiter: LoginLimiter | None = None) -> APIRouter:
    c = Console(node, sessions or SessionStore(node), limiter or LoginLimiter(node))
    # loaded now, once per process, rather than by the first page that needs them (seconds each:
    # the packaged geography for alerted areas' names and outlines, the radar model with scipy)
    from accord.warning.alerts.outlines import geography
    from accord.warning.tracking import sensors  # noqa: F401

    geography()
    router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
    for group in (login, items, intel, federation, dialogue, live):
        group.add_routes(router, c)

    # --- anything else under /console: a 404 page with the console's headers -------------
    # every method, so that a PUT to a page is answered here (with the headers), not by the router
    @router.api_route("/console/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def not_found(rest: str, request: Request, s: Session = Depends(c.session_of)) -> Response:
        if request.method not in ("GET", "POST"):
            raise HTTPException(405, f"the console answers GET and POST only, not {request.method}",
                                headers={"Allow": "GET, POST"})
        raise HTTPException(404, f"no console page /console/{rest[:100]}")

    return router
