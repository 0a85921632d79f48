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


def _burst(app, cookie: str | list[str], n: int) -> list[int]:
    """``n`` simultaneous requests for the stream (with each of ``cookie``'s sessions if a list);
    no response goes past its first message until every one of them has been answered (status,
    in order of answer); then every client leaves."""
    cookies = [cookie] if isinstance(cookie, str) else cookie
    n *= len(cookies)

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

        calls = [asyncio.create_task(app(_scope(c), receive, send)) for _ in range(n // len(cookies)) for c in cookies]
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


def test_a_token_holds_at_most_max_token_streams_across_its_sessions(app, world):
    """A token may hold 10 sessions, each 4 streams: 40 streams reading the ledger for one
    token — a partner's, say — in each process. Its sessions together now hold at most
    ``MAX_TOKEN_STREAMS``, and every place is given back when the streams end."""
    from fastapi.testclient import TestClient

    from console_world import log_in

    cookies = [log_in(TestClient(app, follow_redirects=False), world.admin).cookies.get(SESSION_COOKIE)
               for _ in range(3)]
    assert len(set(cookies)) == 3 and 3 * ev.MAX_STREAMS > ev.MAX_TOKEN_STREAMS
    statuses = _burst(app, cookies, ev.MAX_STREAMS)
    assert statuses.count(200) == ev.MAX_TOKEN_STREAMS and statuses.count(429) == 3 * ev.MAX_STREAMS - ev.MAX_TOKEN_STREAMS
    assert sorted(_burst(app, cookies, ev.MAX_STREAMS)) == sorted(statuses)  # all given back
    # another token's sessions are not held back by this one's
    other = log_in(TestClient(app, follow_redirects=False), world.reader).cookies.get(SESSION_COOKIE)
    assert _burst(app, [cookies[0], other], ev.MAX_STREAMS).count(200) == 2 * ev.MAX_STREAMS


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



def test_a_blocked_store_read_of_a_stream_request_holds_up_no_other_request(served, world, monkeypatch):
    """Where a stream starts was read from the store on the event loop: a read held by a frozen
    database (up to the store's 30 s statement deadline on PostgreSQL) held every other request
    of the process with it. Here every read of the ledger's size waits until the test lets it
    through; while each waits, ``/health`` on the same server must still be answered."""
    import threading

    import httpx
    from console_world import log_in

    ledger_class = type(world.jpn.ledger)
    real = ledger_class.size
    armed, started = threading.Event(), threading.Event()
    waiting, gate = threading.Semaphore(0), threading.Semaphore(0)

    def size(self) -> int:
        if armed.is_set():
            waiting.release()  # a read has begun: it waits for the test
            gate.acquire()
        return real.fget(self)

    client = log_in(httpx.Client(base_url=served.url, timeout=30), world.admin)
    statuses: list[int] = []

    def stream() -> None:
        with client.stream("GET", "/console/events") as r:  # no ?after=, no Last-Event-ID: the store says where
            statuses.append(r.status_code)
            started.set()

    monkeypatch.setattr(ledger_class, "size", property(size))
    armed.set()
    opener = threading.Thread(target=stream, daemon=True)
    opener.start()
    held = 0
    try:
        while not started.is_set() and opener.is_alive():
            if waiting.acquire(timeout=0.05):
                held += 1
                assert httpx.get(f"{served.url}/health", timeout=10).status_code == 200
                gate.release()
    finally:
        armed.clear()
        for _ in range(10):
            gate.release()
        opener.join(30)
        client.close()
    assert statuses == [200] and held >= 2  # the session's check and the stream's start
