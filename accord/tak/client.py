"""A TAK server connection: CoT events over TCP, or TLS with a client certificate.

Accord talks to the server with asyncio streams rather than through pytak's workers: pytak's
``CLITool`` owns the event loop and feeds a queue that it drains for ever, while a node must know
that each event was written before it ledgers the send, must refuse plain TCP off loopback, and
reconnects on its own schedule. What a connection needs is small: open (with an
``ssl.SSLContext`` that verifies the server and presents the client certificate), write events,
read events through :class:`accord.tak.cot.EventSplitter`. The tests receive with pytak, an
independent implementation.

Plain TCP carries the marked picture unencrypted, so ``tcp://`` is accepted only to a loopback
address unless the operator says ``insecure`` (and a node records that in its ledger, as it does
for plain HTTP: :mod:`accord.core.plain_http`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from accord.errors import ConfigError, InputError
from accord.tak.cot import CotError, CotEvent, EventSplitter, parse_event

SCHEMES = {"tcp": False, "tls": True, "ssl": True}
#: how long a send waits for the server to take its bytes before the connection counts as lost
SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TakServer:
    """Where a TAK server listens and how to reach it. ``cert``/``key``: the client certificate
    (PEM) the server checks; ``ca``: the CA that signed the server's certificate (default: the
    system's)."""

    host: str
    port: int
    tls: bool
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    insecure: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls' if self.tls else 'tcp'}://{host}:{self.port}"

    @classmethod
    def parse(cls, url: str, *, tls: bool = False, cert: str | Path | None = None, key: str | Path | None = None,
              ca: str | Path | None = None, insecure: bool = False) -> "TakServer":
        """``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (``--tls`` makes a ``tcp://`` URL TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname or parts.path not in ("", "/"):
            raise InputError(f"{url!r} is not a TAK server address such as tcp://127.0.0.1:8087 or "
                             "tls://tak.example:8089", field="server")
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            raise InputError(f"{url!r} names no port (TAK servers listen on 8087 for TCP, 8089 for TLS)",
                             field="server")
        use_tls = SCHEMES[parts.scheme] or tls
        if (cert is None) != (key is None):
            raise InputError("a client certificate needs both --cert and --key", field="cert")
        if not use_tls and (cert or ca):
            raise InputError("--cert, --key and --ca are for TLS: use tls://… or --tls", field="server")
        for name, path in (("cert", cert), ("key", key), ("ca", ca)):
            if path is not None and not Path(path).is_file():
                raise InputError(f"no such file {path}", field=name)
        server = cls(parts.hostname, port, use_tls, str(cert) if cert else None, str(key) if key else None,
                     str(ca) if ca else None, insecure)
        if not use_tls and not server.loopback and not insecure:
            raise InputError(f"{url} is plain TCP to {parts.hostname}, not loopback: the marked picture would "
                             "cross the network unencrypted; use tls:// with a client certificate, or pass "
                             "--insecure (a node records it in its ledger)", field="server")
        return server

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{self.ca}: cannot load the CA certificates: {exc}") from None
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert and self.key:
            try:
                ctx.load_cert_chain(self.cert, self.key)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"{self.cert}: cannot load the client certificate and key: {exc}") from None
        return ctx


class TakConnection:
    """One open connection: :meth:`send` writes events (and waits until the socket took them),
    :meth:`events` yields what the server sends, parsed — or a :class:`CotError` per bad one."""

    def __init__(self, server: TakServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 *, send_timeout: float = SEND_TIMEOUT_S) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.send_timeout = send_timeout
        self.sent = 0

    @classmethod
    async def open(cls, server: TakServer, *, timeout: float = 10.0,
                   send_timeout: float = SEND_TIMEOUT_S) -> "TakConnection":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(server.host, server.port, ssl=server.ssl_context(),
                                        server_hostname=server.host if server.tls else None), timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise ConfigError(f"{server.url}: cannot connect to the TAK server: {exc or type(exc).__name__}") from None
        return cls(server, reader, writer, send_timeout=send_timeout)

    async def send(self, events: Iterable[CotEvent]) -> int:
        """Write ``events``; :class:`ConnectionError` if the server takes none of them for
        ``send_timeout`` seconds (its buffers full: a server that reads nothing held the sender
        for ever)."""
        data = b"".join(e.to_xml() for e in events)
        if not data:
            return 0
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), self.send_timeout)
        except asyncio.TimeoutError:
            self.writer.transport.abort()   # lost: its unsent bytes would hold close() for ever
            raise ConnectionError(f"{self.server.url}: the TAK server took nothing for "
                                  f"{self.send_timeout:g} s") from None
        n = data.count(b"<event ")
        self.sent += n
        return n

    async def events(self) -> AsyncIterator[CotEvent | CotError]:
        splitter = EventSplitter(source=self.server.url)
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            for chunk in splitter.feed(data):
                if isinstance(chunk, CotError):
                    yield chunk
                    continue
                try:
                    yield parse_event(chunk, source=self.server.url)
                except CotError as exc:
                    yield exc

    async def close(self) -> None:
        """Close, sending what is buffered first, for at most ``send_timeout`` seconds (a server
        that has stopped reading would hold a close for ever): then the connection is dropped."""
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), self.send_timeout)
        except asyncio.TimeoutError:
            self.writer.transport.abort()
        except (OSError, ssl.SSLError):
            pass
