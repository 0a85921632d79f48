"""``accord node serve --tls`` counts a connection against its caps from the moment it is accepted,
and gives its TLS handshake the head deadline (:mod:`accord.api.tls_accept`).

uvicorn handed a TLS connection to the HTTP protocol (which counts connections and starts the head
deadline) only once its handshake had completed: a client that opened TCP connections and sent
no ClientHello, or trickled one, was counted by no cap for the loop's own handshake timeout
(60 s, and another 60 s for the head after it). Twenty silent connections from one address held
under a cap of three; a thousand took every descriptor of a server under systemd's 1,024 open
files, and nobody else was served.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from accord.api.conn_limit import ConnectionLimits
from accord.node import Node
from api_served import answer as _answer, connect, health, idle_connections_then_health, served

pytestmark = pytest.mark.timeout(180)


HTTP = ["httptools", "h11"]
"""uvicorn's two HTTP/1.1 protocols: TLS from the accept holds on either (``auto`` takes httptools
when it is installed, h11 when not)."""


def _closed_by_server(c: socket.socket) -> bool:
    """The server closed ``c`` (within the socket's 20 s timeout) without sending anything."""
    try:
        return _answer(c) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize("http", HTTP)
def test_tls_connections_count_against_the_caps_before_their_handshake(tmp_path, http):
    limits = ConnectionLimits(max_connections=8, max_client_connections=3, files=10_000)
    with served(Node.init(tmp_path / "KOR", party="KOR"), limits, tls=True, http=http) as port:
        idle = [connect(port) for _ in range(3)]  # TCP only: no ClientHello
        try:
            # counted once accepted (the accept queue is in order: the three came first)
            with connect(port) as over:
                assert _closed_by_server(over), "a 4th connection from one address, in no handshake, was held"
            assert limits.by_client["127.0.0.1"] == 3
            assert health(port, "127.0.0.2", tls=True) == 200  # another client is served meanwhile, over TLS
            idle.pop().close()
            # once the server has seen that close, the address has a place again (bounded: no clock)
            assert any(health(port, "127.0.0.1", tls=True) == 200 for _ in range(200))
        finally:
            for c in idle:
                c.close()
    assert limits.total == 0  # every connection given back, the refused and the served


def _client_hello() -> bytes:
    """The first flight of a TLS client: its ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    client = ctx.wrap_bio(incoming, outgoing, server_side=False)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("http", HTTP)
@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickled"])
def test_a_tls_handshake_has_the_head_deadline(tmp_path, trickle, http):
    """A connection that sends no ClientHello, or sends one a byte at a time, is closed once the
    head deadline (here 1 s) has passed since it was accepted; the loop's own handshake timeout
    (60 s) closed it, and only then."""
    hello = _client_hello()
    with served(Node.init(tmp_path / "KOR", party="KOR"), tls=True, http=http, head_seconds=1.0) as port, \
            connect(port) as c:
        if trickle:
            for byte in hello[:-1]:  # never the last: the handshake never completes
                try:
                    c.sendall(bytes([byte]))
                except OSError:  # closed by the server meanwhile
                    break
                time.sleep(0.05)
        assert _closed_by_server(c), "a TLS connection whose handshake did not come was held past the deadline"


SHORT = 1.0
"""The head deadline of the shared-deadline test (60 s in service)."""


@pytest.mark.parametrize("http", HTTP)
def test_the_handshake_and_the_first_head_share_one_deadline(tmp_path, monkeypatch, http):
    """A client that handshakes slowly and then sends its head slowly has one deadline for both,
    from the accept: not the handshake's and then a fresh one for the head (60 s + 60 s). The
    head's deadline, once the handshake is done, is the one the accept started — not a moment
    later — and the half-sent head is answered 408."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from accord.api.http_head import Bounded
    from accord.api.tls_accept import TlsAccept

    accepts: list[float] = []  # the loop's time at each accept
    deadlines: list[tuple[float, type]] = []  # each head deadline armed, and the protocol's class
    accept, arm = TlsAccept.connection_made, Bounded.head_deadline

    def accepted(self, transport):
        accepts.append(asyncio.get_running_loop().time())
        accept(self, transport)

    def armed(self, since=None):
        arm(self, since)
        deadlines.append((self.head_timer.when(), type(self)))

    monkeypatch.setattr(TlsAccept, "connection_made", accepted)
    monkeypatch.setattr(Bounded, "head_deadline", armed)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with served(Node.init(tmp_path / "KOR", party="KOR"), tls=True, http=http, head_seconds=SHORT) as port, \
            connect(port) as raw:
        time.sleep(SHORT / 4)  # a slow client: its ClientHello comes a quarter of the deadline late
        with ctx.wrap_socket(raw) as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # half a head, then nothing
            said = _answer(c)
    assert said.startswith(b"HTTP/1.1 408 "), said[:100]
    # one deadline: armed at the handshake's end, and kept (not armed again) as the head began
    assert len(accepts) == 1 and len(set(deadlines)) == 1, (accepts, deadlines)
    when, protocol = deadlines[0]
    assert issubclass(protocol, H11Protocol) == (http == "h11")
    # from the accept (set in the same call as the time noted above: microseconds later), not from
    # the handshake's end, a quarter of the deadline at least after it
    assert 0 <= when - (accepts[0] + SHORT) < SHORT / 8, "the head got a deadline of its own after the handshake"


def test_a_protocol_without_the_bounds_is_refused():
    """TLS from the accept wraps the bounded protocols only: uvicorn's name ``"h11"`` (or its
    classes) instead of one broke each connection (``'str' object is not callable``)."""
    from accord.api.http_head import http_protocol
    from accord.api.tls_accept import accepting
    from accord.errors import ConfigError

    with pytest.raises(TypeError, match="http_protocol"):
        accepting("h11", ssl.create_default_context(), ConnectionLimits())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'no.such:Protocol'"):
        http_protocol(http="no.such:Protocol")


def test_silent_tls_connections_do_not_lock_everyone_out(tmp_path):
    """A real ``node serve --tls`` under systemd's 1,024 open files: 1,100 TCP connections from one
    address that never begin a handshake, and another client is still served."""
    idle_connections_then_health(tmp_path, tls=True)
