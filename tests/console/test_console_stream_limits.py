"""What one session can hold of the node through ``/console/events``: the per-session limit under
a burst of simultaneous requests, and a client that stops reading.

The app is called as ASGI directly, with a ``send`` that holds each response where the test
wants it: so the order of events on the server is the test's, not the scheduler's."""

from __future__ import annotations

import asyncio

from accord.console import events as ev
from accord.console.sessions import SESSION_COOKIE


def _scope(cookie: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/console/events", "raw_path": b"/console/events", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"cookie", f"{SESSION_COOKIE}={cookie}".encode())],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


def _burst(app, cookie: str, n: int) -> list[int]:
    """``n`` simultaneous requests for the stream; no response goes past its first message until
    every one of them has been answered (status, in order of answer); then every client leaves."""

    async def run() -> list[int]:
        statuses: list[int] = []
        answered, gone = asyncio.Event(), asyncio.Event()

        async def receive() -> dict:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
                if len(statuses) == n:
                    answered.set()
            await answered.wait()

        calls = [asyncio.create_task(app(_scope(cookie), receive, send)) for _ in range(n)]
        await asyncio.wait_for(answered.wait(), 30)
        gone.set()
        await asyncio.wait_for(asyncio.gather(*calls), 30)
        return statuses

    return asyncio.run(run())


def test_simultaneous_stream_requests_cannot_pass_the_per_session_limit_together(app, admin):
    """A stream's place was counted only once its generator started, after the handler had
    checked the count: requests arriving together all passed the check (19 of 20 streams opened
    over real sockets), so one session — a partner's, say — could hold any number of streams,
    each reading the ledger every second."""
    cookie = admin.cookies.get(SESSION_COOKIE)
    statuses = _burst(app, cookie, 3 * ev.MAX_STREAMS)
    assert statuses.count(200) == ev.MAX_STREAMS and statuses.count(429) == 2 * ev.MAX_STREAMS
    # every place is given back when those streams end, whether or not they had started
    again = _burst(app, cookie, ev.MAX_STREAMS + 1)
    assert sorted(again) == [200] * ev.MAX_STREAMS + [429]


def test_a_client_that_stops_reading_loses_its_stream_and_its_place(app, admin, monkeypatch):
    """A client that stops reading (its TCP window full: the server's send never returns) held
    its stream, its place and its once-a-second ledger reads for as long as its connection
    stayed open; now a send that waits past ``SEND_SECONDS`` ends the stream."""
    monkeypatch.setattr(ev, "SEND_SECONDS", 0.2, raising=False)
    cookie = admin.cookies.get(SESSION_COOKIE)

    async def stalled() -> list[str]:
        seen: list[str] = []
        never = asyncio.Event()

        async def receive() -> dict:
            await never.wait()  # the client never says it left
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            seen.append(message["type"])
            if message["type"] == "http.response.body":
                await never.wait()  # an admin gets a status event at once: that send never completes

        await asyncio.wait_for(app(_scope(cookie), receive, send), 10)
        return seen

    for _ in range(ev.MAX_STREAMS + 1):  # each stalled stream's place is given back
        assert asyncio.run(stalled())[:2] == ["http.response.start", "http.response.body"]

