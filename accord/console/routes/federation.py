"""The console's federation page (the node's own party only): partners' status, agreements
and those expiring within :data:`EXPIRING_DAYS`, and why an item would or would not go to a
recipient (``Node.decide``).

Part of :mod:`accord.console.routes`.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.core.markings import is_party
from accord.errors import NotFoundError

EXPIRING_DAYS = 30


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    from accord import federation

    node = c.node
    lock = c.lock
    now = c.now
    session_of = c.session_of
    viewer_of = c.viewer_of
    need = c.need
    page = c.page

    @router.get("/console/federation")
    def federation_page(request: Request, item_id: str = "", recipient: str = "",
                        s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        if v.partner:
            raise HTTPException(403, "the federation page is for the node's own party")
        need(v, "status")
        st = federation.status(node)
        with lock:
            agreements = node.agreements()
        soon = now() + timedelta(days=EXPIRING_DAYS)
        explain = None
        if item_id or recipient:
            # the answer names the item's kind and marking, and whether it exists at all
            need(v, "items:read")
            if not is_party(recipient):
                raise HTTPException(400, f"recipient: not an ISO 3166-1 alpha-3 party: {recipient[:20]!r}")
            try:
                with lock:
                    explain = node.decide(node.get_item(item_id), recipient)
            except NotFoundError:
                raise HTTPException(404, f"no item {item_id!r}") from None
        return page(request, s, "federation.html", [], fed=st, agreements=agreements,
                    now=now(), soon=soon, explain=explain, form={"item_id": item_id, "recipient": recipient})
