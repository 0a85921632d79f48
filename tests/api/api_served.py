"""A node served in a thread as ``accord node serve`` serves it (its uvicorn configuration), and
what a raw socket reads back, for the tests that speak raw HTTP to it: head and connection limits."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from accord.api.app import create_app
from accord.api.conn_limit import ConnectionLimits
from accord.api.serve import server_config
from accord.node import Node


def answer(c: socket.socket) -> bytes:
    """What the server sent on ``c`` until it closed (a reset ends it too)."""
    out = b""
    try:
        while part := c.recv(65536):
            out += part
    except ConnectionResetError:
        pass
    return out


@contextlib.contextmanager
def served(node: Node, limits: ConnectionLimits | None = None, backlog: int = 64, *,
           tls: bool = False) -> Iterator[int]:
    """``node`` served with ``limits`` on a free loopback port (yields the port); the node is
    closed after. ``tls``: HTTPS with the node's certificate (made here if it has none), as
    ``node serve --tls`` serves it."""
    certfile = keyfile = None
    if tls:
        from accord.api.tls import check_server_files, make_self_signed

        if not (node.dir / "tls" / "cert.pem").exists():
            make_self_signed(node.dir, node.party)
        certfile, keyfile = check_server_files(node.dir)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    server = uvicorn.Server(server_config(create_app(node), limits=limits, ssl_certfile=certfile, ssl_keyfile=keyfile))
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
