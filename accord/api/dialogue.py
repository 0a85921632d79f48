"""The dialogue API (mounted at ``/api/v1/dialogue`` by :func:`accord.api.app.create_app`).

Thin routes over :class:`accord.dialogue.store.DialogueStore`. Every route needs a bearer API
token of the node's party: ``dialogue:read`` to read, ``dialogue:write`` to write. Writes are
signed with the node's key as the node's party — so a change to another party's agreed
commitment is refused (403, ``not_owner``), exactly as on the command line.

Errors: 404 unknown record, 422 bad input (the message names the field), 403 not the owner,
409 anything else that failed verification (e.g. a record that would fork).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from accord.api.deps import (BEARER_ERRORS, Principal, StrictJSONRoute, error_responses, require_scope,
                             store_unavailable)
from accord.clock import parse_rfc3339
from accord.dialogue.inputs import CommitmentIn, CommitmentUpdateIn, MeetingIn, SeriesIn
from accord.dialogue.report import REPORT_CSP, render_html, render_markdown
from accord.dialogue.store import DialogueStore
from accord.errors import AccordError, InputError, NotFoundError, NotOwnerError, StoreUnavailable

if TYPE_CHECKING:
    from accord.node import Node


class ScheduleRequest(BaseModel):
    count: int = Field(default=2, ge=1, le=24)
    after: date | None = None


_NOSNIFF = {"X-Content-Type-Options": "nosniff"}
"""On the exports: a browser takes them as the type they are sent with, never as HTML it guessed."""


def _http_error(exc: AccordError) -> HTTPException:
    if isinstance(exc, StoreUnavailable):
        return store_unavailable(exc)
    if isinstance(exc, NotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, NotOwnerError):
        return HTTPException(status.HTTP_403_FORBIDDEN, {"error": "not_owner", "message": str(exc)})
    if isinstance(exc, InputError):
        return HTTPException(422,
                             {"error": "bad_input", "field": exc.field, "message": str(exc)})
    return HTTPException(status.HTTP_409_CONFLICT, {"error": type(exc).__name__, "message": str(exc)})


def _now(text: str | None) -> datetime:
    return parse_rfc3339(text, field="now") if text else datetime.now(UTC)


def make_router(node: Node) -> APIRouter:
    store = DialogueStore(node)
    router = APIRouter(prefix="/api/v1/dialogue", tags=["dialogue"], route_class=StrictJSONRoute,
                       responses={**BEARER_ERRORS, **error_responses(404, 409, 413)})
    read = Depends(require_scope("dialogue:read"))
    write = Depends(require_scope("dialogue:write"))

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccordError as exc:
            raise _http_error(exc) from None

    @router.get("/series", summary="Series held on this node")
    def list_series(_: Principal = read) -> list[dict[str, Any]]:
        return [s.to_json() for s in run(store.list_series)]

    @router.post("/series", status_code=201, summary="Create a series (signed, stored, shared)")
    def create_series(req: SeriesIn, _: Principal = write) -> dict[str, Any]:
        return run(store.create_series, req).to_json()

    @router.get("/series/{series_id}", summary="One series")
    def get_series(series_id: str, _: Principal = read) -> dict[str, Any]:
        return run(store.series, series_id).to_json()

    @router.post("/series/{series_id}/schedule", status_code=201, summary="Plan the next meetings by cadence")
    def schedule(series_id: str, req: ScheduleRequest, _: Principal = write) -> dict[str, Any]:
        return run(store.schedule, series_id, count=req.count, after=req.after).to_json()

    @router.get("/series/{series_id}/meetings", summary="Meetings of a series")
    def meetings(series_id: str, _: Principal = read) -> list[dict[str, Any]]:
        run(store.series, series_id)
        return [m.to_json() for m in run(store.meetings, series_id)]

    @router.post("/series/{series_id}/meetings", status_code=201,
                 summary="Record a held meeting with its decisions and commitments")
    def record_meeting(series_id: str, req: MeetingIn, _: Principal = write) -> dict[str, Any]:
        return run(store.record_meeting, series_id, req).to_json()

    @router.get("/series/{series_id}/ical", summary="iCalendar export (RFC 5545)",
                response_class=PlainTextResponse)
    def ical(series_id: str, _: Principal = read) -> Response:
        return Response(run(store.ical, series_id), media_type="text/calendar; charset=utf-8", headers=_NOSNIFF)

    @router.post("/meetings/{meeting_id}/commitments", status_code=201, summary="Propose a commitment")
    def add_commitment(meeting_id: str, req: CommitmentIn, _: Principal = write) -> dict[str, Any]:
        return run(store.add_commitment, meeting_id, req).to_json()

    @router.get("/commitments", summary="Commitments with their current status")
    def commitments(series: str | None = None, owner: str | None = None,
                    _: Principal = read) -> list[dict[str, Any]]:
        return [{**c.to_json(), "version": v} for c, v in run(store.commitments, series, owner=owner)]

    @router.get("/commitments/due", summary="Overdue commitments and those due soon")
    def due(days: int = Query(default=30, ge=0, le=3650), now: str | None = None, series: str | None = None,
            owner: str | None = None, _: Principal = read) -> dict[str, Any]:
        overdue, soon = run(store.due, run(_now, now), days=days, series_id=series, owner=owner)
        return {"overdue": [r.to_json() for r in overdue], "due_soon": [r.to_json() for r in soon]}

    @router.patch("/commitments/{commitment_id}", summary="Sign the next version of a commitment")
    def update_commitment(commitment_id: str, req: CommitmentUpdateIn, _: Principal = write) -> dict[str, Any]:
        return run(store.update_commitment, commitment_id, req).to_json()

    @router.get("/records/{record_id}/history", summary="Every signed version of a record")
    def history(record_id: str, _: Principal = read) -> list[dict[str, Any]]:
        return [{**v.payload(), "digest": v.digest(), "item_id": v.item_id} for v in run(store.history, record_id)]

    @router.get("/report", summary="Status report per series or party (json, md or html)",
                responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}},
                                             "text/html": {"schema": {"type": "string"}}}}})
    def report(series: str | None = None, party: str | None = None,
               format: str = Query(default="json", pattern="^(json|md|html)$"),
               days: int = Query(default=30, ge=0, le=3650), now: str | None = None,
               _: Principal = read) -> Any:
        r = run(store.report, run(_now, now), series_id=series, party=party, soon_days=days)
        if format == "md":
            return PlainTextResponse(render_markdown(r), media_type="text/markdown; charset=utf-8",
                                     headers=_NOSNIFF)
        if format == "html":
            return HTMLResponse(render_html(r), headers={
                **_NOSNIFF, "Content-Security-Policy": f"{REPORT_CSP}; frame-ancestors 'none'"})
        return r.to_json()

    return router
