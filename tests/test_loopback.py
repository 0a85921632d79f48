"""tests/loopback.py, the ports of the servers the tests start: a server in this process gets a
socket bound before it starts; one in another process is started again when its port was taken
meanwhile, and a port that stays taken is named in one clear error."""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi import FastAPI

from loopback import PortStayedInUse, free_port, listening_socket, retry_in_use, says_in_use, uvicorn_thread


def _bind(port: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_the_words_of_a_taken_port_are_recognised():
    with listening_socket() as held, pytest.raises(OSError) as caught:
        _bind(held.getsockname()[1])
    assert says_in_use(str(caught.value))
    assert says_in_use("error: cannot listen on 127.0.0.1:8600: Address already in use")
    assert not says_in_use("error: cannot connect to NATS at nats://127.0.0.1:4222")


def test_a_start_that_found_its_port_taken_is_tried_again_on_a_fresh_port():
    with listening_socket() as held:
        taken = held.getsockname()[1]
        offered = [taken]  # the first port offered is taken; then fresh free ones
        tried: list[int] = []

        def start(port: int) -> str:
            tried.append(port)
            _bind(port)
            return f"up on {port}"

        got = retry_in_use(start, lambda: offered.pop() if offered else free_port(), pause=0)
    assert tried[0] == taken and len(tried) == 2 and tried[1] != taken
    assert got == f"up on {tried[1]}"


def test_any_other_failure_is_raised_at_once():
    calls: list[int] = []

    def start(port: int) -> None:
        calls.append(port)
        raise ValueError("bad configuration")

    with pytest.raises(ValueError, match="bad configuration"):
        retry_in_use(start, pause=0)
    assert len(calls) == 1


def test_a_port_that_stays_taken_is_named_in_one_clear_error():
    with listening_socket() as held:
        port = held.getsockname()[1]
        with pytest.raises(PortStayedInUse) as caught:
            retry_in_use(_bind, lambda: port, attempts=3, what="the test server", pause=0)
    assert str(caught.value).startswith(f"the test server could not listen: port(s) {port} already in use "
                                        "by another process on each of 3 tries (last error: ")


def test_uvicorn_thread_serves_on_a_socket_bound_before_it_starts_and_frees_it_after():
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict:
        return {"pong": True}

    with uvicorn_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.get(url + "/ping", timeout=10).json() == {"pong": True}
        with pytest.raises(OSError):
            _bind(port)  # held by the server
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/ping", timeout=10)


def test_listens_names_the_process_that_holds_the_port_not_only_that_it_answers():
    import os
    import subprocess
    import sys

    from loopback import listening_socket, listens

    own = listening_socket()
    try:
        port = own.getsockname()[1]
        assert listens(os.getpid(), port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not listens(other.pid, port)   # it answers on the port, but not from that process
        finally:
            other.kill()
            other.wait()
    finally:
        own.close()
    assert not listens(os.getpid(), port)
