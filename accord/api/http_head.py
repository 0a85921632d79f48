"""A bound on each request's head (request line and headers) for ``accord node serve``.

uvicorn parses HTTP/1.1 with httptools when it is installed, and its protocol buffers the
request line and headers without limit: one anonymous connection sending headers for ever made
the node hold as much (200 MiB of headers to ``/health`` grew the process by 211 MiB), before
any authentication could look at the request. :class:`BoundedHead` counts the bytes received
while a request's head is incomplete and, past :data:`MAX_HEAD_BYTES`, answers
``431 Request Header Fields Too Large`` and closes the connection. With uvicorn's h11 protocol
(httptools not installed, or asked for: :func:`http_protocol`), h11 applies its own bound
(16 KiB, ``400``), and :class:`BoundedH11` the deadlines and caps below.

Nor does uvicorn time out a client that stops sending: a connection that sent nothing, half a
request head or part of a body it announced was held for ever (a file descriptor and a slot of
the server each, as many as an anonymous client cared to open). :class:`Bounded` also gives a
request's head :data:`MAX_HEAD_SECONDS` from the connection (or from the request's first byte on
a kept-alive one; over TLS, from the connection's accept, its handshake included:
:mod:`accord.api.tls_accept`) to be complete, else answers ``408 Request Timeout`` and closes; and closes a
request whose body has not moved for :data:`MAX_IDLE_SECONDS` while the server was reading it
(the application sees the client leave). nginx's ``client_header_timeout`` and
``client_body_timeout`` are the same two bounds, 60 s each by default.

Each 408 and each body given up is one INFO line on ``accord.api`` (events
``request.head_timeout`` and ``request.body_idle``, with the client's address): uvicorn's own
error logger runs at WARNING on a node, where they would never show. Any client can cause one
per connection, so at most 30 a minute together, the next carrying the number passed over
(:class:`accord.logs.Throttle`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from accord.api.conn_limit import ConnectionLimits
from accord.errors import ConfigError
from accord.logs import Throttle

log = logging.getLogger("accord.api")

MAX_HEAD_BYTES = 64 * 1024
"""The largest request head read: far above what a browser, a partner's signed request or a
TAXII client sends (a few KiB), and what nginx's default buffers allow in total."""

MAX_HEAD_SECONDS = 60.0
"""How long a request's head may take to arrive, from the connection (or the request's first byte)."""

MAX_IDLE_SECONDS = 60.0
"""How long a request's body may stop coming while the server reads it."""

_REFUSAL = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 36\r\nconnection: close\r\n\r\nrequest line and headers over 64 KiB")

_slow_log = Throttle(per_minute=30)


def _note_slow_client(event: str, client: Any, what: str) -> None:
    """One INFO line for a connection closed on a slow or silent client, throttled."""
    allowed, passed = _slow_log.allow()
    if allowed:
        host = client[0] if client else "unknown"
        log.info("client %s: %s%s", host, what, f" (+{passed} earlier not logged one by one)" if passed else "",
                 extra={"event": event, "client": host, "suppressed": passed})


def _timeout_answer(seconds: float) -> bytes:
    text = f"request line and headers not sent within {seconds:g} s".encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text))


def protocol_base(http: str = "auto") -> type:
    """The class ``uvicorn.Config(http=http)`` would serve with (``"auto"``: httptools when it is
    installed, else h11; ``"h11"``; ``"httptools"``; or an import path), as uvicorn resolves it."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        base = import_from_string(HTTP_PROTOCOLS.get(http, http))
    except (ImportFromStringError, ImportError) as exc:
        raise ConfigError(f"HTTP protocol {http!r}: {exc}") from None
    return base


def http_protocol(limits: ConnectionLimits | None = None, *, http: str = "auto",
                  head_seconds: float | None = None) -> type:
    """What ``uvicorn.Config(http=…)`` should get: uvicorn's protocol for ``http``
    (:func:`protocol_base`) bounded as this module says — httptools' by :class:`BoundedHead`, h11's
    by :class:`BoundedH11` (h11 bounds a head's size itself, 16 KiB: 400 past it). ``limits``: the caps on
    open connections its connections are counted against (:mod:`accord.api.conn_limit`; by
    default a new :class:`ConnectionLimits` with the default caps, one per call, so one per
    server). ``head_seconds``: the head deadline (default :data:`MAX_HEAD_SECONDS`). Another
    protocol (uvicorn's ``zttp``) is :class:`ConfigError`: nothing would bound its heads."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    base = protocol_base(http)
    attrs = {"counts": ConnectionLimits() if limits is None else limits,
             "head_seconds": MAX_HEAD_SECONDS if head_seconds is None else head_seconds}
    httptools: type | None
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as httptools
    except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
        httptools = None
    if httptools is not None and issubclass(base, httptools):
        return type("BoundedHead", (BoundedHead, base), attrs)
    if issubclass(base, H11Protocol):
        return type("BoundedH11", (BoundedH11, base), attrs)
    raise ConfigError(f"HTTP protocol {http!r} ({base.__name__}): accord node serve bounds request heads "
                      "on httptools or h11 only; give http 'auto', 'httptools' or 'h11'")


class Bounded:
    """What :class:`BoundedHead` and :class:`BoundedH11` add to uvicorn's protocol: each
    connection counted against ``counts`` (503 over a cap), a request head's deadline
    (``head_seconds``: 408 past it), a body idle for :data:`MAX_IDLE_SECONDS` given up.
    ``accepted``: set by :mod:`accord.api.tls_accept` to when the TCP connection was accepted
    (and counted, there): the first head's deadline runs from then, the handshake included."""

    counts: ConnectionLimits
    head_seconds: float
    loop: asyncio.AbstractEventLoop
    transport: Any
    client: Any
    flow: Any
    cycle: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None  # the current head's deadline
        self.body_timer: asyncio.TimerHandle | None = None  # the current body's idle limit
        self.in_body = False  # the current request's body is still coming
        self.counted: str | None = None  # the key counts counted this connection under
        self.refused = False  # over the caps: 503 sent, closing
        self.accepted: float | None = None

    def head_open(self) -> bool:
        """A request head is being waited for (its deadline applies)."""
        raise NotImplementedError

    def end_head(self) -> None:
        """The current request's head is complete, or refused: no deadline is left for it."""
        raise NotImplementedError

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        if self.accepted is not None:  # TLS, its handshake done: the first head's deadline runs from the accept
            self.head_deadline(self.accepted)
            return
        self.counted = self.counts.admit(self.client)
        if self.counted is None:
            self.end_head()
            self.refused = True
            self.counts.refuse(transport, self.client)
            return
        self.head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted is not None:
            self.counts.release(self.counted)
            self.counted = None
        for timer in (self.head_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def head_deadline(self, since: float | None = None) -> None:
        if self.head_timer is None:
            start = self.loop.time() if since is None else since
            self.head_timer = self.loop.call_at(start + self.head_seconds, self.head_too_slow)

    def head_done(self) -> None:
        self.end_head()
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_too_slow(self) -> None:
        self.head_timer = None
        if self.head_open() and not self.transport.is_closing():
            _note_slow_client("request.head_timeout", self.client,
                              f"request head not complete within {self.head_seconds:g} s: 408, connection closed")
            self.end_head()
            self.transport.write(_timeout_answer(self.head_seconds))
            self.transport.close()

    def body_moved(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
        self.body_timer = self.loop.call_later(MAX_IDLE_SECONDS, self.body_idle) if self.in_body else None

    def body_idle(self) -> None:
        self.body_timer = None
        if not self.in_body or self.transport.is_closing():
            return
        # the server is not reading (its buffer is full), or has not yet asked for a body the
        # client offered with Expect: 100-continue: the wait is not the client's doing
        if self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False):
            self.body_moved()
            return
        _note_slow_client("request.body_idle", self.client,
                          f"request body idle for {MAX_IDLE_SECONDS:g} s: connection closed")
        self.transport.close()


class BoundedHead(Bounded):
    """Mixed into uvicorn's httptools protocol (:func:`http_protocol`): also refuses a request
    head over :data:`MAX_HEAD_BYTES` (431), which httptools would buffer without limit."""

    logger: logging.Logger

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes: int | None = 0  # bytes received in the current head; None: complete
        self.tail = b""  # the head's last 3 bytes so far (its end may straddle two chunks)

    def head_open(self) -> bool:
        return self.head_bytes is not None

    def end_head(self) -> None:
        self.head_bytes = None

    def data_received(self, data: bytes) -> None:
        if self.refused:  # 503 sent, closing
            return
        if self.in_body:
            self.body_moved()
        if self.head_bytes is not None:
            # only the head counts: a chunk may end it and carry (part of) the body too (a
            # 200 KiB POST read in one chunk with its small head is not refused)
            seen = self.tail + data
            end = seen.find(b"\r\n\r\n")
            size = self.head_bytes + (len(data) if end < 0 else end + 4 - len(self.tail))
            if size > MAX_HEAD_BYTES:
                self.logger.warning("request head over %d bytes refused (431)", MAX_HEAD_BYTES)
                self.head_bytes = None
                self.transport.write(_REFUSAL)
                self.transport.close()
                return
            self.head_bytes, self.tail = size, seen[-3:]
        super().data_received(data)  # type: ignore[misc]

    def on_message_begin(self) -> None:
        super().on_message_begin()  # type: ignore[misc]
        self.head_bytes, self.tail = 0, b""
        self.head_deadline()

    def on_headers_complete(self) -> None:
        self.head_done()
        super().on_headers_complete()  # type: ignore[misc]
        self.in_body = True
        self.body_moved()

    def on_message_complete(self) -> None:
        self.in_body = False
        self.body_moved()
        super().on_message_complete()  # type: ignore[misc]


class BoundedH11(Bounded):
    """Mixed into uvicorn's h11 protocol (:func:`http_protocol`): the head and the body are
    told apart by h11's state of the client (``IDLE`` until a request's head is complete)."""

    conn: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_head = True  # the current head is not complete yet

    def head_open(self) -> bool:
        return self.waiting_head

    def end_head(self) -> None:
        self.waiting_head = False

    def data_received(self, data: bytes) -> None:
        import h11

        if self.refused:  # 503 sent, closing
            return
        if self.conn.their_state is h11.IDLE and not self.waiting_head:  # a kept-alive connection's next request
            self.waiting_head = True
            self.head_deadline()
        super().data_received(data)  # type: ignore[misc]

    def handle_events(self) -> None:
        """uvicorn's, then where the client's request stands: also when a pipelined request,
        buffered behind the one answered, is taken up once that answer is sent (uvicorn's
        ``on_response_complete``) — its body's idle limit then starts as for any other."""
        import h11

        super().handle_events()  # type: ignore[misc]
        state = self.conn.their_state
        if self.waiting_head and state is not h11.IDLE:
            self.head_done()
        in_body = state is h11.SEND_BODY
        if in_body or self.in_body:
            self.in_body = in_body
            self.body_moved()
