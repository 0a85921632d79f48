"""Bodies that are not UTF-8, or JSON strings holding a lone surrogate, get a client error from
every bearer-token route that takes a body — never a 500 from rendering FastAPI's validation
error, which echoed the body back as its ``input`` (the body, up to 64 MiB, in the answer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.node import Node

ROUTES = [("POST", "/api/v1/items"), ("POST", "/api/v1/share"), ("POST", "/api/v1/retract"),
          ("POST", "/api/v1/dialogue/series"), ("POST", "/api/v1/dialogue/series/x/schedule"),
          ("POST", "/api/v1/dialogue/series/x/meetings"), ("POST", "/api/v1/dialogue/meetings/x/commitments"),
          ("PATCH", "/api/v1/dialogue/commitments/x")]

BODIES = {
    "not UTF-8, no content type": (b'{"kind": "\xff\xfe"}', None),
    "not UTF-8, text/plain": (b'{"kind": "\xff\xfe"}', "text/plain"),
    "lone surrogate in an unknown field": (b'{"zz\\ud800": "\\udfff"}', "application/json"),
    "lone surrogate in a value": (b'{"kind": 5, "marking": "\\ud800", "item_id": ["\\ud800"]}', "application/json"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    node = Node.init(Path(tmp_path_factory.mktemp("nodes")) / "JPN", party="JPN")
    token = create_token(node.conn, "ops", "JPN", {"admin"})
    c = TestClient(create_app(node), raise_server_exceptions=False)
    c.headers["Authorization"] = f"Bearer {token}"
    yield c
    node.close()


@pytest.mark.parametrize("case", BODIES)
@pytest.mark.parametrize("method,path", ROUTES)
def test_a_hostile_body_is_a_client_error_that_does_not_echo_it(client, method, path, case):
    body, ctype = BODIES[case]
    r = client.request(method, path, content=body, headers={"Content-Type": ctype} if ctype else {})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    detail = json.loads(r.content)["detail"]
    assert b"\xff\xfe" not in r.content
    if isinstance(detail, list):  # a validation error list: where and what, not the body
        assert detail and all(set(e) == {"loc", "msg", "type"} for e in detail), detail


def test_a_validation_error_still_names_the_field(client):
    r = client.post("/api/v1/items", json={"kind": "test.note"})
    assert r.status_code == 422
    assert [("body", "marking"), "missing"] == [tuple(r.json()["detail"][0]["loc"]), r.json()["detail"][0]["type"]]
    big = "x" * 100_000
    r = client.post("/api/v1/items", json={"kind": "test.note", "pad": big})
    assert r.status_code == 422 and big not in r.text


@pytest.mark.parametrize("method,path", ROUTES)
def test_a_body_of_a_million_tiny_containers_is_refused_before_it_is_parsed(client, method, path):
    # 3 MB that parsed to some 70 MB (a 64 MiB body: 2 GB, on the event loop)
    body = b'{"kind": [' + b",".join([b"[]"] * 1_000_000) + b"]}"
    r = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    assert r.json()["detail"] == "request body: JSON holds more than 1,000,000 arrays and objects"
