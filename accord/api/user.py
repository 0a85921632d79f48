"""The user API of a node (``/api/v1``): items, sharing, retraction, status.

Thin routes over :mod:`accord.federation` and the :class:`~accord.node.Node`; every route needs a
bearer API token of the node's own party with the named scope. The item list comes in pages of
at most :data:`MAX_ITEMS_PAGE`, oldest first, the next named by a ``Link: <…>; rel="next"``
header (RFC 8288) until the last.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from accord.api.deps import (BEARER_ERRORS, Principal, StrictJSONRoute, error_responses, require_scope,
                             store_unavailable)
from accord.errors import AccordError, InputError, NotFoundError, PolicyDenied, StoreUnavailable

if TYPE_CHECKING:
    from accord.node import Node

MAX_ITEMS_PAGE = 1000
"""The most items ``GET /api/v1/items`` answers at once (``limit``): every item the node held,
at once, was 64 MB of JSON, ~6 s of CPU and ~390 MB of memory at 200,000 items, for any request
of a token with ``items:read``."""

ITEMS_PAGE = MAX_ITEMS_PAGE
"""The page's size when ``limit`` is not given (and the most it may be)."""


class NewItem(BaseModel):
    kind: str = Field(examples=["warning.track"])
    marking: str = Field(description="a banner such as 'SECRET//REL TO JPN, KOR'",
                         examples=["RESTRICTED//REL TO JPN, KOR, USA"])
    body: dict[str, Any] = Field(default_factory=dict)


class ShareRequest(BaseModel):
    item_id: str
    to: str = Field(examples=["KOR"])


class RetractRequest(BaseModel):
    item_id: str
    reason: str = Field(min_length=1, max_length=500)


def _http_error(exc: AccordError) -> HTTPException:
    if isinstance(exc, StoreUnavailable):
        return store_unavailable(exc)
    if isinstance(exc, NotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, PolicyDenied):
        return HTTPException(status.HTTP_403_FORBIDDEN, {"error": "policy_denied", "reasons": exc.reasons,
                                                         "message": str(exc)})
    if isinstance(exc, InputError):
        return HTTPException(422, str(exc))
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


def make_router(node: Node) -> APIRouter:
    from accord import federation
    from accord.core.items import new_item
    from accord.core.markings import Marking

    router = APIRouter(tags=["user"], route_class=StrictJSONRoute,
                       responses={**BEARER_ERRORS, **error_responses(404, 409, 413)})

    @router.get("/items", summary="List items held by this node, oldest first, a page at a time")
    def list_items(request: Request, response: Response, kind: str | None = None,
                   limit: int = Query(ITEMS_PAGE, ge=1, le=MAX_ITEMS_PAGE,
                                      description="items in the page (the next page: the Link header)"),
                   after: str | None = Query(None, description="the page starts after this item"),
                   _: Principal = Depends(require_scope("items:read"))) -> list[dict[str, Any]]:
        size = min(limit, ITEMS_PAGE)
        try:
            items = node.items(kind=kind, after=after, limit=size + 1)
        except AccordError as exc:
            raise _http_error(exc) from None
        if len(items) > size:  # more follow: the next page starts after this one's last item
            items = items[:size]
            query = urlencode({k: v for k, v in (("kind", kind), ("limit", limit), ("after", items[-1].id))
                               if v is not None})
            response.headers["link"] = f'<{request.url.path}?{query}>; rel="next"'
        return [i.to_json() for i in items]

    @router.get("/items/{item_id:path}", summary="One item, with its retraction if withdrawn")
    def get_item(item_id: str, _: Principal = Depends(require_scope("items:read"))) -> dict[str, Any]:
        try:
            item = node.get_item(item_id)
        except AccordError as exc:
            raise _http_error(exc) from None
        out = item.to_json()
        out["retracted"] = federation.retraction_of(node, item_id)
        return out

    @router.post("/items", status_code=201, summary="Create an item; standing sharing rules apply")
    def create(req: NewItem, principal: Principal = Depends(require_scope("items:write"))) -> dict[str, Any]:
        try:
            item = new_item(req.kind, req.body, Marking.parse(req.marking), node.party, node.clock.now())
            stored = federation.create_item(node, item)
        except AccordError as exc:
            raise _http_error(exc) from None
        return {"item": stored.item.to_json(), "shared_to": stored.shared_to}

    @router.post("/share", summary="Share an item with a partner (policy decides)")
    def share(req: ShareRequest, _: Principal = Depends(require_scope("share"))) -> dict[str, Any]:
        try:
            item = node.get_item(req.item_id)
            result = federation.share(node, item, req.to)
        except AccordError as exc:
            raise _http_error(exc) from None
        return result.to_json()

    @router.post("/retract", summary="Withdraw an own item from every partner that received it")
    def retract(req: RetractRequest, _: Principal = Depends(require_scope("share"))) -> dict[str, Any]:
        try:
            results = federation.retract(node, req.item_id, req.reason)
        except AccordError as exc:
            raise _http_error(exc) from None
        return {"retracted": req.item_id, "sent": [r.to_json() for r in results]}

    @router.get("/status", summary="Partners, queues, ledger head, rejections, the answering server process")
    def node_status(request: Request, _: Principal = Depends(require_scope("status"))) -> dict[str, Any]:
        out = federation.status(node)
        fed = getattr(request.app.state, "federation", None)
        # which of the node's server processes answered (node serve --workers N, --join)
        out["server"] = {"pid": os.getpid(),
                         "lease_holder": fed.leases.holder if fed is not None else None,
                         "leases_held": fed.leases.held() if fed is not None else []}
        return out

    return router
