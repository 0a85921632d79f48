"""A node served in a thread as ``accord node serve`` serves it (its uvicorn configuration), and
what a raw socket reads back, for the tests that speak raw HTTP to it: head and connection limits;
and a real ``node serve`` held by a thousand idle connections (:func:`idle_connections_then_health`)."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from accord.api.app import create_app
from accord.api.conn_limit import ConnectionLimits
from accord.api.serve import server_config
from accord.node import Node
from federation_harness import NodeProcess, free_port, make_nodes


def answer(c: socket.socket) -> bytes:
    """What the server sent on ``c`` until it closed (a reset ends it too)."""
    out = b""
    try:
        while part := c.recv(65536):
            out += part
    except ConnectionResetError:
        pass
    return out


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to the server from the loopback address ``source`` (all of 127/8 is this machine)."""
    return socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))


def health(port: int, source: str, *, tls: bool = False) -> int:
    """The status of ``GET /health`` from ``source`` (over HTTPS with ``tls``, the certificate not checked)."""
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    with httpx.Client(transport=transport, timeout=20) as client:
        return client.get(f"{'https' if tls else 'http'}://127.0.0.1:{port}/health").status_code


IDLE = 1100
"""Idle connections :func:`idle_connections_then_health` holds: more than systemd's 1,024 open files."""


def idle_connections_then_health(tmp_path: Path, *, tls: bool = False) -> None:
    """A real ``node serve`` (``--tls`` with ``tls``) with its default caps under systemd's 1,024
    open files: :data:`IDLE` TCP connections from one address that never send a byte (nor begin
    a handshake), and another client's ``/health`` is still answered 200."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 100 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this test's own end of the sockets
    port = free_port()
    make_nodes(tmp_path, ("KOR",), ports={"KOR": port})["KOR"].close()
    if tls:
        from accord.api.tls import make_self_signed

        make_self_signed(tmp_path / "KOR", "KOR")
    kor = NodeProcess(tmp_path / "KOR", port, wrapper=["prlimit", "--nofile=1024:1024", "--"],
                      args=["--tls"] if tls else None, scheme="https" if tls else "http").start()
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            held.append(connect(port))
        try:
            status: int | str = health(port, "127.0.0.2", tls=tls)
        except httpx.HTTPError as exc:
            status = f"{type(exc).__name__}: {exc}"
        assert status == 200, f"/health not answered while {len(held)} connections sat idle ({status})"
    finally:
        for s in held:
            s.close()
        kor.stop()


@contextlib.contextmanager
def served(node: Node, limits: ConnectionLimits | None = None, backlog: int = 64, *,
           tls: bool = False, http: str = "auto", head_seconds: float | None = None) -> Iterator[int]:
    """``node`` served with ``limits`` on a free loopback port (yields the port); the node is
    closed after. ``tls``: HTTPS with the node's certificate (made here if it has none), as
    ``node serve --tls`` serves it; ``http``: uvicorn's HTTP protocol (``"h11"``,
    ``"httptools"``; ``"auto"`` as ``node serve``); ``head_seconds``: the head deadline."""
    certfile = keyfile = None
    if tls:
        from accord.api.tls import check_server_files, make_self_signed

        if not (node.dir / "tls" / "cert.pem").exists():
            make_self_signed(node.dir, node.party)
        certfile, keyfile = check_server_files(node.dir)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    server = uvicorn.Server(server_config(create_app(node), limits=limits, ssl_certfile=certfile, ssl_keyfile=keyfile,
                                          http=http, head_seconds=head_seconds))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        node.close()
