"""The console's dialogue page: the commitments a viewer may see, filtered by owner and status,
the upcoming meetings, and the form that updates a commitment's status or evidence.

Part of :mod:`accord.console.routes`; the records come from :mod:`accord.dialogue.store`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.console.view import Viewer
from accord.core.markings import Marking
from accord.errors import AccordError, InputError, NotFoundError, NotOwnerError


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    from accord.dialogue.model import Status

    node = c.node
    dialogue = c.dialogue
    lock = c.lock
    now = c.now
    session_of = c.session_of
    viewer_of = c.viewer_of
    posted = c.posted
    need = c.need
    page = c.page

    def commitments(v: Viewer) -> list[tuple[Any, int, Marking]]:
        from accord.dialogue.model import KIND_COMMITMENT

        out = []
        with lock:
            versions = dialogue.all_latest(KIND_COMMITMENT)
            for sv in versions:
                try:
                    item = node.get_item(sv.item_id)
                except NotFoundError:
                    continue
                if v.sees(node, item):
                    out.append((sv.value, sv.version, item.marking))
        return out

    @router.get("/console/dialogue")
    def dialogue_page(request: Request, owner: str = "", status: str = "", updated: str = "",
                      s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "dialogue:read")
        every = commitments(v)
        owners = sorted({r[0].owner for r in every})
        rows = [r for r in every
                if (not owner or r[0].owner == owner) and (not status or r[0].status.value == status)]
        rows.sort(key=lambda r: (r[0].owner, r[0].status.value, r[0].due, r[0].id))
        today = now().date()
        with lock:
            series_ids = {r[0].series_id for r in every} if v.partner else None  # series it may see
            meetings = [m for m in dialogue.meetings() if m.date >= today and m.status.value == "planned"
                        and (series_ids is None or m.series_id in series_ids)]
        return page(request, s, "dialogue.html", [m for _, _, m in rows], rows=rows, today=today,
                    meetings=sorted(meetings, key=lambda m: m.date)[:10], statuses=[x.value for x in Status],
                    owner=owner, owners=owners, status_filter=status, updated=updated,
                    may_write=v.may_write("dialogue:write"), home=node.party)

    @router.post("/console/dialogue/commitments/{commitment_id}")
    async def update_commitment(commitment_id: str, request: Request,
                                s: Session = Depends(session_of)) -> Response:
        form = await posted(request, s)
        v = viewer_of(s)
        if not v.may_write("dialogue:write"):
            raise HTTPException(403, f"token {v.principal.name!r} may not write dialogue records")
        spec: dict[str, Any] = {"status": form.get("status") or None}
        evidence = form.get("evidence", "").strip()
        if evidence:
            spec["add_evidence"] = [evidence[:1000]]
        try:
            await to_thread.run_sync(dialogue.update_commitment, commitment_id, spec)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except NotOwnerError as exc:
            raise HTTPException(403, str(exc)) from None
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        except AccordError as exc:
            raise HTTPException(409, str(exc)) from None
        return RedirectResponse(f"/console/dialogue?updated={quote(commitment_id)}", status_code=303)
