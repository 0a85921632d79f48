from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from console_world import NOW, Served, World, build, log_in  # noqa: E402

from accord.api.app import create_app  # noqa: E402
from accord.clock import ManualClock  # noqa: E402


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def world(tmp_path, clock) -> World:
    w = build(tmp_path, clock)
    yield w
    w.close()


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


@pytest.fixture
def served(app):
    with Served(app) as s:
        yield s


@pytest.fixture
def items_read(monkeypatch) -> list[int]:
    """How many items each ``Node.items`` call of the test returned, in order: what a page read
    and decoded from the store (the boards must not read the node's whole history)."""
    from accord.node import Node

    read: list[int] = []
    real = Node.items

    def counting(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        read.append(len(out))
        return out

    monkeypatch.setattr(Node, "items", counting)
    return read
