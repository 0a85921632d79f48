"""``node serve --trust-proxy``: the client a request counts as (the console's login limit and
request budget key on it) is the connection's peer unless that peer is a proxy the operator
named, whose ``X-Forwarded-For`` is then believed — and never by default, not even from loopback,
where uvicorn would otherwise believe any local forwarder's header."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from accord.api.serve import check_trusted_proxies, server_config
from accord.errors import ConfigError


async def _echo_client(scope, receive, send):
    """An ASGI app answering the client address the server gives the request."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = (scope["client"][0] if scope.get("client") else "none").encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _client_seen(trusted: tuple[str, ...], forwarded: str) -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = uvicorn.Server(server_config(_echo_client, trusted_proxies=trusted))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with socket.create_connection(sock.getsockname(), timeout=30) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + forwarded.encode() + b"\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[1].decode()
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_forwarded_header_is_not_believed_by_default_even_from_loopback():
    assert _client_seen((), "203.0.113.9") == "127.0.0.1"


def test_a_named_proxy_s_forwarded_header_names_the_client():
    assert _client_seen(check_trusted_proxies(["127.0.0.1"]), "203.0.113.9") == "203.0.113.9"
    # the proxy appends the address it saw: a client's own claim to its left is not believed
    assert _client_seen(check_trusted_proxies(["127.0.0.0/8"]), "198.51.100.1, 203.0.113.9") == "203.0.113.9"


def test_a_bad_proxy_address_is_one_line():
    assert check_trusted_proxies(["10.10.1.5, 10.10.2.0/24", "fd00::/64"]) == ("10.10.1.5/32", "10.10.2.0/24",
                                                                               "fd00::/64")
    with pytest.raises(ConfigError, match=r"--trust-proxy 'nginx.local': not an IP address or network"):
        check_trusted_proxies(["nginx.local"])


def test_the_proxies_may_be_listed_with_commas_and_spaces():
    # ACCORD_TRUST_PROXY="10.10.1.5, 10.10.1.6": Click splits an environment value on spaces,
    # leaving "10.10.1.5," whose empty part after the comma was refused as an address
    assert check_trusted_proxies(["10.10.1.5,", "10.10.1.6"]) == ("10.10.1.5/32", "10.10.1.6/32")
    assert check_trusted_proxies(["10.10.1.5, 10.10.1.6,"]) == ("10.10.1.5/32", "10.10.1.6/32")


def test_the_environment_value_with_a_comma_and_a_space_is_taken(tmp_path):
    from typer.testing import CliRunner

    from accord.cli.main import app

    out = CliRunner().invoke(app, ["node", "serve", "--dir", str(tmp_path / "none")],
                             env={"ACCORD_TRUST_PROXY": "10.10.1.5, 10.10.1.6"})
    assert out.exit_code != 0  # the proxies were taken: what stops it is the missing node directory
    assert "not a node directory" in str(out.exception), out.exception
