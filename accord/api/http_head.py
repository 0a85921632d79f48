"""A bound on each request's head (request line and headers) for ``accord node serve``.

uvicorn parses HTTP/1.1 with httptools when it is installed, and its protocol buffers the
request line and headers without limit: one anonymous connection sending headers for ever made
the node hold as much (200 MiB of headers to ``/health`` grew the process by 211 MiB), before
any authentication could look at the request. :class:`BoundedHead` counts the bytes received
while a request's head is incomplete and, past :data:`MAX_HEAD_BYTES`, answers
``431 Request Header Fields Too Large`` and closes the connection. Without httptools, uvicorn's
h11 protocol applies its own bound (16 KiB).

Nor does uvicorn time out a client that stops sending: a connection that sent nothing, half a
request head or part of a body it announced was held for ever (a file descriptor and a slot of
the server each, as many as an anonymous client cared to open). :class:`BoundedHead` also gives a
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


def http_protocol(limits: ConnectionLimits | None = None) -> Any:
    """What ``uvicorn.Config(http=…)`` should get: :class:`BoundedHead` when httptools is
    installed, else ``"h11"`` (bounded by h11 itself). ``limits``: the caps on open connections
    its connections are counted against (:mod:`accord.api.conn_limit`; by default a new
    :class:`ConnectionLimits` with the default caps, one per call, so one per server)."""
    counts = ConnectionLimits() if limits is None else limits
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
        return "h11"

    class BoundedHead(HttpToolsProtocol):
        """uvicorn's httptools protocol, refusing a request head over :data:`MAX_HEAD_BYTES` or
        slower than :data:`MAX_HEAD_SECONDS`, giving up a body idle for
        :data:`MAX_IDLE_SECONDS`, and refusing a connection over ``limits``' caps (503)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.head_bytes: int | None = 0  # bytes received in the current head; None: complete
            self.tail = b""  # the head's last 3 bytes so far (its end may straddle two chunks)
            self.head_timer: asyncio.TimerHandle | None = None  # the current head's deadline
            self.body_timer: asyncio.TimerHandle | None = None  # the current body's idle limit
            self.in_body = False  # the current request's body is still coming
            self.counted: str | None = None  # the key limits counted this connection under
            self.refused = False  # over the caps: 503 sent, closing
            # set by accord.api.tls_accept: when the TCP connection was accepted (and counted, there)
            self.accepted: float | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if self.accepted is not None:  # TLS, its handshake done: the first head's deadline runs from the accept
                self._head_deadline(self.accepted)
                return
            self.counted = counts.admit(self.client)
            if self.counted is None:
                self.head_bytes, self.refused = None, True
                counts.refuse(transport, self.client)
                return
            self._head_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.counted is not None:
                counts.release(self.counted)
                self.counted = None
            for timer in (self.head_timer, self.body_timer):
                if timer is not None:
                    timer.cancel()
            self.head_timer = self.body_timer = None
            super().connection_lost(exc)

        def _head_deadline(self, since: float | None = None) -> None:
            if self.head_timer is None:
                start = self.loop.time() if since is None else since
                self.head_timer = self.loop.call_at(start + MAX_HEAD_SECONDS, self._head_too_slow)

        def _head_too_slow(self) -> None:
            self.head_timer = None
            if self.head_bytes is not None and not self.transport.is_closing():
                _note_slow_client("request.head_timeout", self.client,
                                  f"request head not complete within {MAX_HEAD_SECONDS:g} s: 408, connection closed")
                self.head_bytes = None
                self.transport.write(_timeout_answer(MAX_HEAD_SECONDS))
                self.transport.close()

        def _body_moved(self) -> None:
            if self.body_timer is not None:
                self.body_timer.cancel()
            self.body_timer = self.loop.call_later(MAX_IDLE_SECONDS, self._body_idle) if self.in_body else None

        def _body_idle(self) -> None:
            self.body_timer = None
            if not self.in_body or self.transport.is_closing():
                return
            # the server is not reading (its buffer is full), or has not yet asked for a body the
            # client offered with Expect: 100-continue: the wait is not the client's doing
            if self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False):
                self._body_moved()
                return
            _note_slow_client("request.body_idle", self.client,
                              f"request body idle for {MAX_IDLE_SECONDS:g} s: connection closed")
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.refused:  # 503 sent, closing
                return
            if self.in_body:
                self._body_moved()
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
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.head_bytes, self.tail = 0, b""
            self._head_deadline()

        def on_headers_complete(self) -> None:
            self.head_bytes = None
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None
            super().on_headers_complete()
            self.in_body = True
            self._body_moved()

        def on_message_complete(self) -> None:
            self.in_body = False
            self._body_moved()
            super().on_message_complete()

    return BoundedHead
