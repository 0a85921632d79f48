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


def _store_notes(node, count: int) -> list[str]:
    from datetime import timedelta

    from accord.core.items import new_item
    from accord.core.markings import Marking

    mk, now = Marking.parse("RESTRICTED//REL TO JPN, KOR, USA"), node.clock.now()
    # some created at the same instant: the order (and the pages) go by (created, id)
    items = [new_item("test.note", {"n": k}, mk, node.party, now + timedelta(seconds=k // 3)) for k in range(count)]
    node.put_items(items)
    return sorted(i.id for i in items)


def test_the_item_list_comes_in_bounded_pages(api, monkeypatch):
    """``GET /api/v1/items`` answered every item the node ever stored at once: at 200,000 items,
    64 MB of JSON, ~6 s of CPU and ~390 MB more memory for one request of one line, as often as
    a token with ``items:read`` asked. It answers pages of at most 1,000, a ``Link`` header
    naming the next."""
    from accord.api import user

    client, nodes, _ = api
    monkeypatch.setattr(user, "ITEMS_PAGE", 50, raising=False)
    stored = _store_notes(nodes["JPN"], 120)
    seen: list[str] = []
    url, pages = "/api/v1/items?kind=test.note", 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        assert len(r.json()) <= 50, f"a page of {len(r.json())} items"
        seen += [i["id"] for i in r.json()]
        url = r.links.get("next", {}).get("url")
        pages += 1
        assert pages <= 3
    assert sorted(seen) == stored and len(seen) == len(set(seen))  # each item once
    assert [i["id"] for i in client.get("/api/v1/items?kind=test.note&limit=7").json()] == seen[:7]
    assert "next" not in client.get(f"/api/v1/items?kind=test.note&after={seen[-2]}").links


@pytest.mark.parametrize("query", ["limit=1001", "limit=0", "after=JPN:test.note:nope"])
def test_a_page_past_the_bound_or_after_an_unknown_item_is_refused(api, query):
    client, nodes, _ = api
    _store_notes(nodes["JPN"], 3)
    r = client.get(f"/api/v1/items?{query}")
    assert r.status_code in (404, 422), (r.status_code, r.text)
