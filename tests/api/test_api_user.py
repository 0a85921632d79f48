"""The user API routes (``/api/v1``) in process, with FastAPI's TestClient."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.federation import Federation
from federation_harness import make_nodes, networked, received


@pytest.fixture
def api(tmp_path):
    with networked(tmp_path) as (nodes, net):
        jpn = nodes["JPN"]
        admin = create_token(jpn.conn, "ops", "JPN", {"items:read", "items:write", "share", "status"})
        client = TestClient(create_app(jpn))
        client.headers["Authorization"] = f"Bearer {admin}"
        yield client, nodes, Federation(jpn, net)


def test_create_share_retract_and_status_through_the_api(api):
    client, nodes, fed = api
    r = client.post("/api/v1/items", json={"kind": "warning.track", "marking": "SECRET//REL TO JPN, KOR, USA",
                                           "body": {"track": "T1"}})
    assert r.status_code == 201, r.text
    item_id = r.json()["item"]["id"]
    r = client.post("/api/v1/share", json={"item_id": item_id, "to": "USA"})
    assert r.status_code == 200 and r.json()["status"] == "queued" and r.json()["seq"] == 1
    assert client.post("/api/v1/share", json={"item_id": item_id, "to": "USA"}).json()["status"] == "already_queued"
    fed.sync(heads=False)
    assert [i for _, i in received(nodes["USA"].dir, "JPN")] == [item_id]
    r = client.post("/api/v1/retract", json={"item_id": item_id, "reason": "duplicate track"})
    assert r.status_code == 200 and [s["to"] for s in r.json()["sent"]] == ["USA"]
    fed.sync(heads=False)
    assert client.get(f"/api/v1/items/{item_id}").json()["retracted"]["reason"] == "duplicate track"
    st = client.get("/api/v1/status").json()
    usa = [p for p in st["partners"] if p["party"] == "USA"][0]
    assert usa["delivered"] == 2 and usa["queued"] == 0


def test_policy_denial_and_bad_input_are_clear_errors(api):
    client, nodes, _ = api
    r = client.post("/api/v1/items", json={"kind": "test.note", "marking": "RESTRICTED//REL TO JPN, KOR, USA"})
    item_id = r.json()["item"]["id"]
    r = client.post("/api/v1/share", json={"item_id": item_id, "to": "USA"})
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert detail["error"] == "policy_denied" and any("test.note" in x for x in detail["reasons"])
    r = client.post("/api/v1/items", json={"kind": "test.note", "marking": "SECRET//REL TO MARS"})
    assert r.status_code == 422
    assert client.get("/api/v1/items/JPN:test.note:nope").status_code == 404
    assert client.post("/api/v1/share", json={"item_id": item_id, "to": "FRA"}).status_code == 404


def test_a_405_names_every_method_the_path_serves(api):
    """RFC 9110 §15.5.6: the Allow header of a 405 lists the methods the resource supports. The
    routers are included into the app (FastAPI keeps them nested), so a probe that looked only
    at the app's own top-level routes answered an empty Allow."""
    client, _nodes, _fed = api
    r = client.request("DELETE", "/api/v1/items")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    r = client.request("PATCH", "/api/v1/status")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_a_405_at_a_literal_path_names_its_own_methods_not_a_parameterised_neighbours(tmp_path):
    """``/api/v1/dialogue/commitments/due`` is a resource of its own (GET) although the route
    ``/commitments/{id}`` (PATCH) matches its path too: ``Allow`` follows the OpenAPI document."""
    node = make_nodes(tmp_path)["JPN"]
    admin = create_token(node.conn, "ops", "JPN", {"admin"})
    client = TestClient(create_app(node))
    r = client.request("DELETE", "/api/v1/dialogue/commitments/due", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 405 and r.headers["allow"] == "GET"
