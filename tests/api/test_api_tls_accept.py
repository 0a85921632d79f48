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

import socket
import ssl
import time

import httpx
import pytest

from accord.api.conn_limit import ConnectionLimits
from accord.node import Node
from api_served import answer as _answer, served
from federation_harness import NodeProcess, free_port, make_nodes

pytestmark = pytest.mark.timeout(180)


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))


def _health(port: int, source: str) -> int:
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    with httpx.Client(transport=transport, timeout=20) as client:
        return client.get(f"https://127.0.0.1:{port}/health").status_code


def _closed_by_server(c: socket.socket) -> bool:
    """The server closed ``c`` (within the socket's 20 s timeout) without sending anything."""
    try:
        return _answer(c) == b""
    except TimeoutError:
        return False


def test_tls_connections_count_against_the_caps_before_their_handshake(tmp_path):
    limits = ConnectionLimits(max_connections=8, max_client_connections=3, files=10_000)
    with served(Node.init(tmp_path / "KOR", party="KOR"), limits, tls=True) as port:
        idle = [_connect(port) for _ in range(3)]  # TCP only: no ClientHello
        try:
            # counted once accepted (the accept queue is in order: the three came first)
            with _connect(port) as over:
                assert _closed_by_server(over), "a 4th connection from one address, in no handshake, was held"
            assert limits.by_client["127.0.0.1"] == 3
            assert _health(port, "127.0.0.2") == 200  # another client is served meanwhile, over TLS
            idle.pop().close()
            # once the server has seen that close, the address has a place again (bounded: no clock)
            assert any(_health(port, "127.0.0.1") == 200 for _ in range(200))
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


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickled"])
def test_a_tls_handshake_has_the_head_deadline(tmp_path, monkeypatch, trickle):
    """A connection that sends no ClientHello, or sends one a byte at a time, is closed once the
    head deadline (here 1 s) has passed since it was accepted; the loop's own handshake timeout
    (60 s) closed it, and only then."""
    from accord.api import http_head

    monkeypatch.setattr(http_head, "MAX_HEAD_SECONDS", 1.0)
    hello = _client_hello()
    with served(Node.init(tmp_path / "KOR", party="KOR"), tls=True) as port, _connect(port) as c:
        if trickle:
            for byte in hello[:-1]:  # never the last: the handshake never completes
                try:
                    c.sendall(bytes([byte]))
                except OSError:  # closed by the server meanwhile
                    break
                time.sleep(0.05)
        assert _closed_by_server(c), "a TLS connection whose handshake did not come was held past the deadline"


IDLE = 1100


def test_silent_tls_connections_do_not_lock_everyone_out(tmp_path):
    """A real ``node serve --tls`` under systemd's 1,024 open files: 1,100 TCP connections from one
    address that never begin a handshake, and another client is still served."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 100 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this test's own end of the sockets
    port = free_port()
    nodes = make_nodes(tmp_path, ("KOR",), ports={"KOR": port})
    nodes["KOR"].close()
    from accord.api.tls import make_self_signed

    make_self_signed(tmp_path / "KOR", "KOR")
    kor = NodeProcess(tmp_path / "KOR", port, wrapper=["prlimit", "--nofile=1024:1024", "--"], args=["--tls"],
                      scheme="https").start()
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            held.append(_connect(port))
        try:
            status: int | str = _health(port, "127.0.0.2")
        except httpx.HTTPError as exc:
            status = f"{type(exc).__name__}: {exc}"
        assert status == 200, f"/health not answered while {len(held)} connections sat before their handshake ({status})"
    finally:
        for s in held:
            s.close()
        kor.stop()
