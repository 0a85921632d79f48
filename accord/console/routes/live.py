"""The console's live stream (``/console/events``, server-sent events): items, ledger growth and,
for the node's own party, federation status, read from the ledger when the node's bus says it
grew and on a timer (another process's writes; the session's liveness).

Part of :mod:`accord.console.routes`; what is read and how it is encoded is
:mod:`accord.console.events`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from anyio import sleep, to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from accord.console import events as ev
from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.console.view import Viewer
from accord.errors import InputError
from accord.node.bus import LEDGER as LEDGER_TOPIC


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    from accord import federation

    node = c.node
    sessions = c.sessions
    event_log = c.event_log
    live_session = c.live_session
    session_of = c.session_of
    viewer_of = c.viewer_of

    # --- live -----------------------------------------------------------------------------
    @router.get("/console/events")
    async def events(request: Request, after: str | None = None, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        # item events need items:read, ledger and status events status: a token with neither
        # (say metrics only) has nothing to stream
        if not (v.may("items:read") or v.may("status")):
            raise HTTPException(403, f"token {v.principal.name!r} has neither the items:read nor the "
                                     "status scope: there are no events for it")
        if sessions.streams(s) >= ev.MAX_STREAMS:  # each stream reads the ledger: a session may not open without bound
            raise HTTPException(429, f"this session already has {sessions.streams(s)} open event streams",
                                headers={"Retry-After": "5"})
        try:
            last = ev.start_index(node, request.headers.get("last-event-id"), after)
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        return EventSourceResponse(stream(request, s, v, last), ping=15,
                                   headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def stream(request: Request, s: Session, v: Viewer, last: int) -> Any:
        sessions.stream_opened(s)
        try:
            async for e in _stream(request, s, v, last):
                yield e
        finally:
            sessions.stream_closed(s)

    async def _stream(request: Request, s: Session, v: Viewer, last: int) -> Any:
        """Events after ledger index ``last``: read when the node's bus says the ledger grew (a
        write committed in this process), and at least every :data:`ev.CHECK_SECONDS` (a write by
        another process on the same database; the session's liveness)."""
        status_due = 0.0
        clock = asyncio.get_running_loop().time
        started = clock()
        async with node.bus.waker((LEDGER_TOPIC,)) as wake:  # subscribed before the first read: no gap
            checked = -ev.CHECK_SECONDS
            while True:
                if clock() - checked >= ev.CHECK_SECONDS:
                    if await request.is_disconnected() or await to_thread.run_sync(live_session, s.id) is None:
                        return  # logged out, expired or token revoked: the stream ends with the session
                    checked = clock()
                # a fresh viewer per read: its policy answers are cached, and an agreement that
                # lapses while the stream is open must stop the flow at once
                before = last
                batch, last = await to_thread.run_sync(
                    lambda: ev.read_after(node, viewer_of(s), last, lang=s.lang, log=event_log))
                if batch:
                    yield ev.encode(batch)  # the whole batch in one write
                if last - before >= ev.BATCH:
                    continue  # a full batch read: there may be more, read on without waiting
                if not v.partner and v.may("status") and clock() - started >= status_due:
                    st = await to_thread.run_sync(federation.status, node)
                    yield ServerSentEvent(data=json.dumps(status_event(st)), event="status")
                    status_due = clock() - started + ev.STATUS_SECONDS
                if await wake.wait(ev.CHECK_SECONDS):
                    await sleep(ev.GATHER_SECONDS)  # let a burst of commits land: one read for all


def status_event(st: dict[str, Any]) -> dict[str, Any]:
    return {"ledger": st["ledger"]["size"], "partners": [
        {"party": p["party"], "queued": p["queued"], "last_contact": p["last_contact"],
         "failures": p["consecutive_failures"], "inconsistent": bool(p["inconsistent"])}
        for p in st["partners"]]}
