"""``accord node serve`` bounds a request's head (request line and headers) before the
application sees it: uvicorn's httptools protocol buffers headers without limit, so one
anonymous connection could make a node hold hundreds of MiB (200 MiB of headers to ``/health``
grew the process by 211 MiB). Past :data:`accord.api.serve.MAX_HEAD_BYTES` the answer is 431 and
the connection is closed; the server goes on serving."""

from __future__ import annotations

import socket
import time

import pytest

from accord.api.serve import MAX_HEAD_BYTES
from accord.node import Node
from api_served import answer as _answer, served


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    with served(Node.init(tmp_path_factory.mktemp("nodes") / "KOR", party="KOR")) as p:
        yield p


def _ask(port: int, head: bytes, chunks: int = 0, chunk: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(head)
        try:
            for _ in range(chunks):
                c.sendall(chunk)
            c.sendall(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        return _answer(c)


HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


def test_a_head_past_the_limit_is_431_and_the_server_goes_on(port):
    big = b"X-Pad: " + b"a" * (1 << 20) + b"\r\n"
    out = _ask(port, HEALTH, chunks=16, chunk=big)  # 16 MiB of headers
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]
    one_header = _ask(port, HEALTH + b"X-Pad: ", chunks=64, chunk=b"a" * 65536)  # one 4 MiB header
    assert one_header.startswith(b"HTTP/1.1 431 "), one_header[:100]
    long_url = _ask(port, b"GET /health?" + b"q" * (MAX_HEAD_BYTES * 2) + b" HTTP/1.1\r\nHost: x\r\n")
    assert long_url.startswith(b"HTTP/1.1 431 "), long_url[:100]
    assert _ask(port, HEALTH).startswith(b"HTTP/1.1 200 ")


def test_a_head_within_the_limit_isserved(port):
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(MAX_HEAD_BYTES // 200))
    assert _ask(port, HEALTH + headers).startswith(b"HTTP/1.1 200 ")
    # keep-alive: two requests on one connection, each within the limit
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        first = c.recv(65536)
        c.sendall(HEALTH + headers + b"\r\n")
        second = b""
        while part := c.recv(65536):
            second += part
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")



def test_a_body_arriving_with_its_head_does_not_count_as_head(port_and_add):
    # a small head and a 200 KiB body in one write: the server may read both in one chunk, and
    # only the head counts against the limit (a TAXII add that reads its body: 202, never 431)
    port, path, bearer = port_and_add
    body = b'{"objects": []' + b" " * (200 * 1024) + b"}"
    head = (b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
            b"Accept: application/taxii+json;version=2.1\r\n"
            b"Content-Type: application/taxii+json;version=2.1\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), bearer.encode(), len(body)))
    for _ in range(5):  # the server reads it in one chunk some of the time
        with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
            c.sendall(head + body)
            out = b""
            while part := c.recv(65536):
                out += part
        assert out.startswith(b"HTTP/1.1 ") and not out.startswith(b"HTTP/1.1 431 "), out[:200]


@pytest.fixture(scope="module")
def port_and_add(tmp_path_factory):
    from accord.federation.tokens import create_token
    from accord.intel.node_store import store_for

    node = Node.init(tmp_path_factory.mktemp("nodes") / "JPN", party="JPN")
    coll = store_for(node).add_collection("Intel", alias="intel-a")
    bearer = create_token(node.conn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    with served(node) as p:
        yield p, f"/taxii2/intel/collections/{coll.id}/objects/", bearer


# --- a client that sends slowly, or stops ---------------------------------------------------------
@pytest.fixture(params=["httptools", "h11"])
def quick(tmp_path, monkeypatch, request):
    """A node served with a half-second head deadline and idle limit (60 s each in service), on
    each of uvicorn's HTTP/1.1 protocols (h11 when httptools is not installed)."""
    from accord.api import http_head

    monkeypatch.setattr(http_head, "MAX_HEAD_SECONDS", 0.5)
    monkeypatch.setattr(http_head, "MAX_IDLE_SECONDS", 0.5)
    with served(Node.init(tmp_path / "KOR", party="KOR"), http=request.param) as p:
        yield p


def _left_waiting(port: int, sent: bytes, drip: bytes = b"", drips: int = 0) -> bytes:
    """What the server sends on a connection where the client sends ``sent`` and then, for up to
    ``drips`` × 0.2 s, a byte of ``drip`` at a time; b"" if the server closed it without a word.
    A server that waits for ever leaves the read to time out (20 s): the test fails."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        if sent:
            c.sendall(sent)
        try:
            for i in range(drips):
                time.sleep(0.2)
                c.sendall(drip[i % len(drip):i % len(drip) + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed meanwhile: what it said is waiting
        return _answer(c)


def test_a_connection_that_sends_nothing_or_half_a_head_is_closed(quick):
    """An anonymous client held a connection (a file descriptor, and a slot of the server) for
    ever by sending nothing, or a request line and then nothing: enough of them and partners could
    not connect. The head must now be complete within MAX_HEAD_SECONDS of the connection (or of its
    request's first byte): 408, and the connection is closed."""
    idle = _left_waiting(quick, b"")
    head, _, text = idle.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"content-length: %d" % len(text) in head, idle
    assert text == b"request line and headers not sent within 0.5 s"
    assert _left_waiting(quick, b"GET /health HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
    # a byte every 0.2 s keeps no head open past its deadline
    dripped = _left_waiting(quick, b"GET /health HTTP/1.1\r\n", drip=b"X-Pad: aaaa\r\n", drips=50)
    assert dripped.startswith(b"HTTP/1.1 408 "), dripped[:100]
    assert _ask(quick, HEALTH).startswith(b"HTTP/1.1 200 ")  # and the server goes on


def test_a_body_that_stops_coming_is_given_up(quick):
    """The console's login form is read before anyone is authenticated: announcing 100 bytes and
    sending 6 held the connection and its request for ever. A request whose body stops coming for
    MAX_IDLE_SECONDS is closed (no answer: there is no request to answer)."""
    head = (b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\ntoken=")
    assert _left_waiting(quick, head) == b""


def test_a_pipelined_request_whose_body_stops_coming_is_given_up(quick):
    """A request sent behind another on one connection (pipelined) is taken up by uvicorn's h11
    protocol once the first's answer is sent, not as its bytes arrive: its body's idle limit was
    never started, and announcing 100 bytes behind a GET held the connection for ever."""
    first = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    second = (b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 100\r\n\r\ntoken=")
    out = _left_waiting(quick, first + second)
    assert out.startswith(b"HTTP/1.1 200 ") and out.count(b"HTTP/1.1 ") == 1, out[:200]


def test_a_408_and_a_body_given_up_are_logged_on_accords_logger(quick, monkeypatch, caplog):
    """uvicorn's error logger runs at WARNING on a node, so INFO lines there never showed: the
    408 and the body given up are INFO lines on ``accord.api``, each with its event and the
    client, throttled (the throttle is per process: a fresh one here)."""
    import logging

    from accord.api import http_head
    from accord.logs import Throttle

    monkeypatch.setattr(http_head, "_slow_log", Throttle(per_minute=30))
    caplog.set_level(logging.INFO, logger="accord.api")
    assert _left_waiting(quick, b"GET /health HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
    assert _left_waiting(quick, b"POST /console/login HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nto") == b""
    deadline = time.monotonic() + 10  # the server thread logs after the client has seen the close
    while time.monotonic() < deadline and len([r for r in caplog.records if hasattr(r, "event")]) < 2:
        time.sleep(0.05)
    events = {r.event: r for r in caplog.records if r.name == "accord.api" and hasattr(r, "event")}
    assert set(events) == {"request.head_timeout", "request.body_idle"}, caplog.records
    for rec in events.values():
        assert rec.levelno == logging.INFO and rec.client == "127.0.0.1" and rec.suppressed == 0


def test_slow_client_lines_are_throttled(monkeypatch, caplog):
    """Any client can cause one per connection: past 30 a minute they are counted, and the count
    rides on the next line let through."""
    import logging

    from accord.api import http_head
    from accord.logs import Throttle

    throttle = Throttle(per_minute=2)
    monkeypatch.setattr(http_head, "_slow_log", throttle)
    caplog.set_level(logging.INFO, logger="accord.api")
    for _ in range(5):
        http_head._note_slow_client("request.head_timeout", ("10.0.0.9", 4711), "request head not complete")
    assert len(caplog.records) == 2
    throttle._start -= 61  # a minute later
    http_head._note_slow_client("request.body_idle", None, "request body idle")
    last = caplog.records[-1]
    assert last.suppressed == 3 and "+3 earlier" in last.getMessage() and last.client == "unknown"
