"""TLS for ``accord node serve --tls`` from the moment a connection is accepted: counted against
the connection caps (:mod:`accord.api.conn_limit`) and bounded by the head deadline
(:mod:`accord.api.http_head`) before its handshake, not after.

Given a certificate, uvicorn let the event loop do TLS, and the loop handed a connection to the
HTTP protocol — which counts connections and starts the head deadline — only once its handshake
had completed. Until then a connection was under no cap, and the loop's own handshake timeout
(60 s) was its only bound: TCP connections that sent no ClientHello, or trickled one, held a
descriptor each for a minute without being counted, as many as a client cared to open (twenty
from one address under a cap of three; a thousand took every descriptor of a server under
systemd's 1,024 open files), then another minute for the head.

Here the server listens without TLS, and :class:`TlsAccept` is each accepted connection's
protocol: it counts the connection from accept to close, refuses one over a cap by closing it at
once (no ``503``: the client has not set up TLS, and it would not read one; the
``connection.over_limit`` INFO line is written as for plain HTTP), and runs the loop's own TLS
layer (uvloop's or asyncio's ``SSLProtocol``, the one the loop used before) under the HTTP
protocol (uvicorn's httptools or h11 one, :func:`~accord.api.http_head.http_protocol`), with the head
deadline as its handshake timeout. The HTTP protocol's deadline for the
first request head runs from the accept too: the handshake and the first head have
:data:`~accord.api.http_head.MAX_HEAD_SECONDS` (60 s) together — one deadline, not one each, as Go's ``ReadHeaderTimeout``
and nginx's ``client_header_timeout`` count them.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import get_remote_addr

from accord.api.http_head import Bounded
from accord.api.conn_limit import ConnectionLimits


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """The server's TLS context, as uvicorn made it from the same two files (TLS 1.2 or later as
    OpenSSL allows, no client certificate asked for)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def _ssl_protocol(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's own TLS layer: uvloop's (in C) on a uvloop loop, asyncio's elsewhere."""
    try:
        import uvloop
        from uvloop.loop import SSLProtocol as UvSSLProtocol  # type: ignore[attr-defined]  # (not in its stubs)
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        return asyncio.sslproto.SSLProtocol
    return UvSSLProtocol if isinstance(loop, uvloop.Loop) else asyncio.sslproto.SSLProtocol


class TlsAccept(asyncio.BufferedProtocol):
    """One accepted TCP connection: counted by ``counts`` until it closes, its TLS done by the
    loop's ``SSLProtocol`` for ``app`` (the HTTP protocol) within the head deadline."""

    def __init__(self, app: Bounded, context: ssl.SSLContext, counts: ConnectionLimits) -> None:
        self.app, self.context, self.counts = app, context, counts
        self.tls: Any = None  # the TLS layer, once admitted
        self.counted: str | None = None  # the key counts counted this connection under
        self.scratch = bytearray(256)  # read into (and dropped) on a refused connection until it closes

    def connection_made(self, transport: Any) -> None:
        client = get_remote_addr(transport)
        self.counted = self.counts.admit(client)
        if self.counted is None:
            self.counts.refuse(transport, client, answer=False)
            return
        loop = asyncio.get_running_loop()
        self.app.accepted = loop.time()  # its first head's deadline runs from now
        self.tls = _ssl_protocol(loop)(loop, self.app, self.context, None, server_side=True,
                                       ssl_handshake_timeout=self.app.head_seconds)
        self.tls.connection_made(transport)

    def get_buffer(self, sizehint: int) -> Any:
        return self.scratch if self.tls is None else self.tls.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        if self.tls is not None:
            self.tls.buffer_updated(nbytes)

    def eof_received(self) -> bool | None:
        return None if self.tls is None else self.tls.eof_received()

    def pause_writing(self) -> None:
        if self.tls is not None:
            self.tls.pause_writing()

    def resume_writing(self) -> None:
        if self.tls is not None:
            self.tls.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            if self.tls is not None:
                self.tls.connection_lost(exc)
        finally:
            if self.counted is not None:
                self.counts.release(self.counted)
                self.counted = None


def accepting(protocol: type[Bounded], context: ssl.SSLContext,
              counts: ConnectionLimits) -> Callable[..., TlsAccept]:
    """What ``uvicorn.Config(http=…)`` gets for a TLS server: each connection uvicorn makes a
    ``protocol`` for (:func:`~accord.api.http_head.http_protocol`'s class, on httptools or h11)
    is accepted by a :class:`TlsAccept` holding it."""
    if not (isinstance(protocol, type) and issubclass(protocol, Bounded)):  # e.g. uvicorn's name "h11"
        raise TypeError(f"TLS accept needs an HTTP protocol class from http_protocol(), not {protocol!r}")

    def accept(**kwargs: Any) -> TlsAccept:
        return TlsAccept(protocol(**kwargs), context, counts)

    return accept
