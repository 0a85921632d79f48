"""The console's live stream (``/console/events``, server-sent events): items, ledger growth and,
for the node's own party, federation status, read from the ledger when the node's bus says it
grew and on a timer (another process's writes; the session's liveness).

Part of :mod:`accord.console.routes`; what is read and how it is encoded is
:mod:`accord.console.events`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from anyio import sleep, to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse, SendTimeoutError, ServerSentEvent
from starlette.types import Receive, Scope, Send

from accord.console import events as ev
from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.console.view import Viewer
from accord.errors import InputError
from accord.node.bus import LEDGER as LEDGER_TOPIC

log = logging.getLogger("accord.console")


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
        try:  # a read of the store: in a worker thread, never on the event loop (it would hold every request)
            last, skipped = await to_thread.run_sync(
                lambda: ev.bounded_start(node, ev.start_index(node, request.headers.get("last-event-id"), after)))
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        # each stream reads the ledger: a session, or a token across its sessions, may not open
        # streams without bound (its place is taken
        # here, before the handler returns, and given back by Stream however the stream ends)
        if not sessions.take_stream(s, ev.MAX_STREAMS, ev.MAX_TOKEN_STREAMS):
            held = (f"this session already has {sessions.streams(s)}" if sessions.streams(s) >= ev.MAX_STREAMS
                    else f"token {v.principal.name!r} already has {sessions.token_streams(s)}")
            raise HTTPException(429, f"{held} open event streams", headers={"Retry-After": "5"})
        return Stream(_stream(request, s, v, last, skipped), lambda: sessions.stream_closed(s), ping=15,
                      send_timeout=ev.SEND_SECONDS, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(request: Request, s: Session, v: Viewer, last: int, skipped: int) -> Any:
        """Events after ledger index ``last``: read when the node's bus says the ledger grew (a
        write committed in this process), and at least every :data:`ev.CHECK_SECONDS` (a write by
        another process on the same database; the session's liveness). First, if ``skipped``
        entries before ``last`` are not replayed (:func:`ev.bounded_start`), a ``reload`` event."""
        if skipped:
            yield ServerSentEvent(data=json.dumps({"skipped": skipped}), event="reload", id=str(last))
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


class Stream(EventSourceResponse):
    """An event stream that calls ``release`` once it is over, however it ends — also when its
    generator never started (a client gone before the first event) — and that ends, rather than
    waits without end, when a write is not taken within its ``send_timeout`` (a client that
    stopped reading keeps its connection open but must not keep its place and its ledger reads)."""

    def __init__(self, content: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            log.info("console event stream ended: the client took no write for %s s", self.send_timeout)
        finally:
            self._release()


def status_event(st: dict[str, Any]) -> dict[str, Any]:
    return {"ledger": st["ledger"]["size"], "partners": [
        {"party": p["party"], "queued": p["queued"], "last_contact": p["last_contact"],
         "failures": p["consecutive_failures"], "inconsistent": bool(p["inconsistent"])}
        for p in st["partners"]]}
