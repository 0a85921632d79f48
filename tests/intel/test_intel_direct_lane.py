"""The node app's direct lane for TAXII routes (:class:`accord.api.app.NodeApp`): taken for TAXII
requests only, and answering every request exactly as the full middleware stack does."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from accord.api.app import NodeApp, create_app
from accord.intel.node_store import store_for
from intel_samples import indicator
from intel_testkit import serve, token

TAXII = "application/taxii+json;version=2.1"


def _requests(coll_id: str, oid: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    objects = f"/taxii2/intel/collections/{coll_id}/objects/"
    bad_stix = json.dumps({"objects": [{"type": "indicator", "id": "nope"}]}).encode()
    return [
        ("GET", "/taxii2/", {}, None),
        ("GET", "/taxii2/intel/", {}, None),
        ("GET", "/taxii2/nope/", {}, None),
        ("GET", "/taxii2/intel/collections/", {}, None),
        ("GET", f"/taxii2/intel/collections/{coll_id}/", {}, None),
        ("GET", "/taxii2/intel/collections/3c1d9a0b-7e52-4f6a-8b3d-5e9f1a2c4d60/", {}, None),
        ("GET", objects + "?limit=2", {}, None),
        ("GET", objects + "?match[type]=indicator&match[version]=all", {}, None),
        ("GET", objects + "?limit=zero", {}, None),
        ("GET", objects + "?next=forged.token.x", {}, None),
        ("GET", f"/taxii2/intel/collections/{coll_id}/manifest/", {}, None),
        ("GET", f"{objects}{oid}/", {}, None),
        ("GET", f"{objects}{oid}/versions/", {}, None),
        ("GET", f"{objects}indicator--00000000-0000-4000-8000-000000000000/", {}, None),
        ("GET", "/taxii2/intel/status/11111111-1111-4111-8111-111111111111/", {}, None),
        ("GET", objects, {"Accept": "text/html"}, None),
        ("GET", objects, {"Authorization": "Bearer acc_wrong"}, None),
        ("GET", objects, {"Authorization": ""}, None),
        ("GET", objects[:-1], {}, None),                       # no trailing slash: the router redirects
        ("PUT", objects, {"Content-Type": TAXII}, b"{}"),      # a method the route does not take
        ("POST", objects, {"Content-Type": "text/plain"}, b"{}"),
        ("POST", objects, {"Content-Type": TAXII}, b"{not json"),
        ("POST", objects, {"Content-Type": TAXII}, bad_stix),
        ("POST", objects, {"Content-Type": TAXII}, b" " * (10 * 1024 * 1024 + 1)),  # above max_content_length
        ("DELETE", f"{objects}indicator--00000000-0000-4000-8000-000000000000/", {}, None),
        ("HEAD", objects, {}, None),
        ("GET", objects + f"?match[id]={oid}", {"X-Party": "KOR"}, None),  # a partner's token
        ("GET", f"{objects}{oid}/versions/", {"X-Party": "KOR"}, None),
        ("GET", "/health", {}, None),
        ("GET", "/api/v1/items", {}, None),
    ]


def _answer(client: httpx.Client, base: str, secrets: dict[str, str], req) -> tuple[int, dict[str, str], object]:
    method, path, extra, body = req
    party = extra.get("X-Party", "JPN")
    headers = {"Accept": TAXII, "Authorization": f"Bearer {secrets[party]}", **extra}
    headers = {k: v for k, v in headers.items() if v and k != "X-Party"}
    r = client.request(method, base + path, headers=headers, content=body)
    try:
        payload: object = r.json()
    except ValueError:
        payload = r.text
    return r.status_code, {k: v for k, v in r.headers.items() if k != "date"}, payload


def test_direct_lane_answers_exactly_like_the_full_stack(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Intel", rel_to=["KOR"])
    store.add_objects(coll.id, [indicator(i) for i in range(4)])
    store.add_objects(coll.id, [indicator(1, modified="2026-02-01T00:00:00.000Z")])
    secrets = {"JPN": token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"]),
               "KOR": token(jpn, "kor-soc", "KOR", ["taxii:read"])}
    app = create_app(jpn)
    assert isinstance(app, NodeApp) and len(app.direct_routes) >= 10
    lane = app.direct_routes
    requests = _requests(coll.id, indicator(1)["id"])
    with serve(app) as base, httpx.Client(follow_redirects=False) as client:
        direct = [_answer(client, base, secrets, r) for r in requests]
        app.direct_routes = []  # the same app, every request through FastAPI's full stack
        full = [_answer(client, base, secrets, r) for r in requests]
        app.direct_routes = lane
    for req, a, b in zip(requests, direct, full):
        assert a == b, (req[:2], a, b)  # status, every header but Date, body
    statuses = [a[0] for a in direct]
    assert statuses == [200, 200, 404, 200, 200, 404, 200, 200, 400, 400, 200, 200, 200, 404, 404,
                        406, 401, 401, 307, 405, 415, 400, 422, 413, 404, 405, 200, 200, 200, 403]
    kor_page = direct[-4][2]
    assert [o["id"] for o in kor_page["objects"]] == [indicator(1)["id"]]  # REL TO KOR: visible


def test_direct_lane_is_taken_for_taxii_requests_only(jpn):
    secret = token(jpn, "analyst", "JPN", ["taxii:read"])
    app = create_app(jpn)
    taken: list[str] = []

    def counting(route, handler):
        async def wrapped(request):
            taken.append(route.path)
            return await handler(request)
        return wrapped

    app.direct_routes = [(r, counting(r, h), e) for r, h, e in app.direct_routes]
    h = {"Accept": TAXII, "Authorization": f"Bearer {secret}"}
    with serve(app) as base:
        assert httpx.get(base + "/taxii2/intel/collections/", headers=h).status_code == 200
        assert httpx.get(base + "/health").status_code == 200
        assert httpx.get(base + "/taxii2/intel/collections", headers=h).status_code == 307
        app.dependency_overrides[object()] = lambda: None  # overrides set: the usual way
        assert httpx.get(base + "/taxii2/", headers=h).status_code == 200
    assert taken == ["/taxii2/{api_root}/collections/"]


def test_an_unexpected_error_in_the_lane_is_a_logged_taxii_500(jpn, monkeypatch, caplog):
    store = store_for(jpn)
    coll = store.add_collection("Intel")
    secret = token(jpn, "analyst", "JPN", ["taxii:read"])

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(store, "get_objects", broken)
    h = {"Accept": TAXII, "Authorization": f"Bearer {secret}"}
    with caplog.at_level(logging.ERROR, logger="accord.api"), serve(create_app(jpn)) as base:
        r = httpx.get(f"{base}/taxii2/intel/collections/{coll.id}/objects/", headers=h)
    assert r.status_code == 500 and r.headers["content-type"] == TAXII
    assert r.json() == {"title": "Internal Server Error", "http_status": "500",
                        "description": "the server failed to process the request"}
    assert "the disk went away" not in r.text
    assert any("the disk went away" in (rec.exc_text or "") or
               (rec.exc_info and "the disk went away" in str(rec.exc_info[1])) for rec in caplog.records)


@pytest.mark.parametrize("path", ["/taxii2/", "/taxii2/intel/collections/"])
def test_lane_still_needs_credentials(jpn, path):
    with serve(create_app(jpn)) as base:
        r = httpx.get(base + path, headers={"Accept": TAXII})
    assert r.status_code == 401 and r.headers["content-type"] == TAXII


def test_middleware_closes_the_lane_and_sees_taxii_requests(jpn):
    """An app with middleware of its own (audit, CORS, rate limits …) must run it for TAXII
    requests too: the lane is then closed."""
    secret = token(jpn, "analyst", "JPN", ["taxii:read"])
    app = create_app(jpn)
    seen: list[str] = []

    @app.middleware("http")
    async def audit(request, call_next):
        seen.append(request.url.path)
        return await call_next(request)

    assert not app._lane_open()
    with serve(app) as base:
        r = httpx.get(base + "/taxii2/intel/collections/", headers={"Accept": TAXII, "Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and seen == ["/taxii2/intel/collections/"]


def test_a_client_gone_mid_body_gets_no_answer_and_no_error_log(jpn, caplog):
    import asyncio

    store = store_for(jpn)
    coll = store.add_collection("Intel")
    secret = token(jpn, "analyst", "JPN", ["taxii:write"])
    app = create_app(jpn)
    path = f"/taxii2/intel/collections/{coll.id}/objects/"
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1"), (b"accept", TAXII.encode()), (b"content-type", TAXII.encode()),
                         (b"authorization", f"Bearer {secret}".encode())]}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="accord.api"):
        asyncio.run(app(scope, receive, send))
    assert sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("client left" in r.getMessage() for r in caplog.records)
    assert store.count(coll.id) == 0
