from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from console_world import NOW, World, build  # noqa: E402

from accord.api.app import create_app  # noqa: E402
from accord.clock import ManualClock  # noqa: E402

ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "console"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def world(tmp_path, clock) -> World:
    w = build(tmp_path, clock)
    yield w
    w.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(client: TestClient, token: str) -> TestClient:
    r = client.get("/console/login")
    r = client.post("/console/login", data={"token": token, "csrf": csrf_of(r.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
    return client


@pytest.fixture
def app(world):
    return create_app(world.jpn)


@pytest.fixture
def anon(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def admin(app, world) -> TestClient:
    return log_in(TestClient(app, follow_redirects=False), world.admin)


@pytest.fixture
def partner(app, world) -> TestClient:
    return log_in(TestClient(app, follow_redirects=False), world.partner)


class Served:
    """The node's whole app under uvicorn on a loopback port, in a thread of the test process."""

    def __init__(self, app) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Served":
        import time

        self.thread.start()
        for _ in range(400):
            if self.server.started:
                return self
            time.sleep(0.025)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(app):
    with Served(app) as s:
        yield s
