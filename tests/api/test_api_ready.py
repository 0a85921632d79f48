"""``GET /health/ready``: readiness for a load balancer or an orchestrator — 200 while the node's
database answers, 503 with ``Retry-After`` while it is away — without authentication, saying no
more than ``/health``; ``/health`` (liveness) stays 200 through the outage."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.node import Node


def test_ready_on_the_embedded_store_without_a_token(tmp_path):
    node = Node.init(tmp_path / "JPN", party="JPN")
    with TestClient(create_app(node)) as client:
        r = client.get("/health/ready")
        assert r.status_code == 200 and r.json() == {"status": "ready", "party": "JPN"}
        assert client.post("/health/ready").status_code == 405


@pytest.mark.postgresql
def test_not_ready_while_postgresql_is_away_and_ready_again_after(tmp_path, pg_server):
    node = Node.init(tmp_path / "JPN", party="JPN", store=pg_server.url)
    with TestClient(create_app(node), raise_server_exceptions=False) as client:
        assert client.get("/health/ready").status_code == 200
        pg_server.stop("immediate")
        r = client.get("/health/ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json() == {"status": "unavailable", "party": "JPN"}   # no server, user or database named
        assert client.get("/health").status_code == 200                 # liveness: the process is up
        pg_server.start()
        answers = []
        for _ in range(50):
            answers.append(client.get("/health/ready").status_code)
            if answers[-1] == 200:
                break
            time.sleep(0.1)
        assert answers[-1] == 200, answers
