"""The harness's ``accord node serve`` processes (federation_harness.NodeProcess) when the port
picked for one is taken by another process before the server binds it: started again, on a
fresh port when the test left the choice to the harness, on the same one (once it is let go)
when the test had pinned it in the partners' URLs."""

from __future__ import annotations

import threading

import httpx
import pytest

from accord.node import Node
from federation_harness import NodeProcess, wait_for
from loopback import listening_socket

pytestmark = pytest.mark.timeout(120)


def test_a_server_whose_free_port_was_taken_meanwhile_comes_up_on_another(tmp_path):
    Node.init(tmp_path / "JPN", party="JPN").close()
    with listening_socket() as thief:
        taken = thief.getsockname()[1]
        server = NodeProcess(tmp_path / "JPN")
        server.port = taken  # as if another process took the port picked for it
        server.start()
        try:
            assert server.port != taken
            assert httpx.get(server.url + "/health", timeout=10).json() == {"status": "ok", "party": "JPN"}
            log = (tmp_path / "JPN" / "serve.log").read_text()
            assert f"cannot listen on 127.0.0.1:{taken}: Address already in use" in log
        finally:
            server.stop()


def test_a_server_on_a_pinned_port_waits_for_it_to_be_let_go(tmp_path):
    Node.init(tmp_path / "JPN", party="JPN").close()
    thief = listening_socket()
    pinned = thief.getsockname()[1]
    log = tmp_path / "JPN" / "serve.log"

    def let_go() -> None:  # a brief holder (as an outgoing connection's port): gone after the first refusal
        wait_for(lambda: log.exists() and "Address already in use" in log.read_text(), 60)
        thief.close()

    threading.Thread(target=let_go, daemon=True).start()
    server = NodeProcess(tmp_path / "JPN", pinned).start()
    try:
        assert server.port == pinned
        assert httpx.get(server.url + "/health", timeout=10).json() == {"status": "ok", "party": "JPN"}
        assert f"cannot listen on 127.0.0.1:{pinned}: Address already in use" in log.read_text()
    finally:
        server.stop()
        thief.close()
