"""Bad input answered with the TAXII-correct status and error body, and nothing partly stored;
media-type leniency where real clients need it; paging tokens that survive a restart."""

from __future__ import annotations

import json

import httpx
import pytest

from accord.intel.node_store import store_for
from intel_testkit import build_app, make_node, reopen_node, serve, token
from intel_samples import indicator

# One client for the module, with a timeout a loaded CI machine cannot hit (httpx's default, 5 s, was
# hit once by a PostgreSQL-backed request while the SQLite suite ran on the same two cores).
HTTP = httpx.Client(timeout=60.0)

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"


@pytest.fixture
def served(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Intel", alias="intel-a")
    secret = token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    reader = token(jpn, "reader", "JPN", ["taxii.read:intel-a"])
    with serve(build_app(jpn, max_content_length=20_000)) as base:
        url = f"{base}/taxii2/intel/collections/{coll.id}/objects/"
        yield {"url": url, "base": base, "auth": {"Authorization": f"Bearer {secret}"},
               "reader": {"Authorization": f"Bearer {reader}"}, "store": store, "coll": coll}


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/taxii+json")
    body = r.json()
    assert body["http_status"] == str(status) and body["title"]
    return body


def post(s, objects, headers=None, raw=None):
    h = {"Accept": TAXII, "Content-Type": TAXII, **s["auth"], **(headers or {})}
    return HTTP.post(s["url"], headers=h, content=raw if raw is not None else json.dumps({"objects": objects}))


def test_invalid_stix_is_422_and_nothing_is_stored(served):
    good = indicator(1)
    bad_id = indicator(2, id="indicator--not-a-uuid")
    bad_time = indicator(3, modified="2026-13-01T00:00:00Z")
    bad_ref = indicator(4, created_by_ref="malware--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12)
    no_spec = {k: v for k, v in indicator(5).items() if k != "spec_version"}
    body = _error(post(served, [good, bad_id, bad_time, bad_ref, no_spec]), 422)
    failed = {f["index"]: f["message"] for f in body["details"]["failures"]}
    assert set(failed) == {1, 2, 3, 4}
    assert "id" in failed[1] and "modified" in failed[2] and "identity" in failed[3]
    assert "spec_version" in failed[4]
    assert served["store"].count(served["coll"].id) == 0  # not even the good one


def test_malformed_envelopes_are_400(served):
    _error(post(served, None, raw=b"{not json"), 400)
    _error(post(served, None, raw=b'{"type": "bundle"}'), 400)
    _error(post(served, None, raw=b'{"objects": []}'), 400)


def test_oversized_request_is_413(served):
    big = [indicator(i, description="x" * 1000) for i in range(30)]
    _error(post(served, big), 413)
    assert served["store"].count(served["coll"].id) == 0


def test_media_types(served):
    # a STIX Content-Type and a plain JSON Accept are accepted (connectors 7499, opencti 4246)
    r = post(served, [indicator(1)], headers={"Content-Type": STIX, "Accept": "application/json, text/plain, */*"})
    assert r.status_code == 202 and r.json()["success_count"] == 1
    r = post(served, [indicator(2)], headers={"Content-Type": "application/json"})
    assert r.status_code == 202
    _error(post(served, [indicator(3)], headers={"Content-Type": "text/plain"}), 415)
    _error(post(served, [indicator(3)], headers={"Content-Type": "application/taxii+json;version=2.0"}), 415)
    get = lambda accept: HTTP.get(served["url"], headers={"Accept": accept, **served["auth"]})  # noqa: E731
    _error(get("application/taxii+json;version=2.0"), 406)
    _error(get("text/html"), 406)
    assert get("*/*").status_code == 200
    r = get(STIX)
    assert r.status_code == 200 and r.headers["content-type"] == STIX
    assert HTTP.get(served["url"], headers=served["auth"]).status_code == 200  # no Accept at all


def test_unknown_things_are_404(served):
    base = served["base"] + "/taxii2"
    a = served["auth"]
    _error(HTTP.get(f"{base}/nope/", headers=a), 404)
    _error(HTTP.get(f"{base}/intel/collections/00000000-0000-4000-8000-000000000000/", headers=a), 404)
    _error(HTTP.get(served["url"] + indicator(9)["id"] + "/", headers=a), 404)
    _error(HTTP.delete(served["url"] + indicator(9)["id"] + "/", headers=a), 404)
    _error(HTTP.get(f"{base}/intel/status/00000000-0000-4000-8000-000000000000/", headers=a), 404)


def test_authentication_and_permissions(served):
    base = served["base"] + "/taxii2"
    for path in ("/", "/intel/", "/intel/collections/", served["url"][len(served["base"]) + 7:]):
        _error(HTTP.get(base + path), 401)
    _error(HTTP.get(base + "/", headers={"Authorization": "Bearer acc_wrong"}), 401)
    # a read-only token may read but not write
    assert HTTP.get(served["url"], headers=served["reader"]).status_code == 200
    _error(post(served, [indicator(1)], headers=served["reader"]), 403)
    # HTTP Basic with the token as password works too (what TAXII clients send)
    secret = served["auth"]["Authorization"].split()[1]
    assert HTTP.get(served["url"], auth=("analyst", secret)).status_code == 200


def test_bad_filters_and_tokens_are_400(served):
    a = served["auth"]
    _error(HTTP.get(served["url"], params={"added_after": "yesterday"}, headers=a), 400)
    _error(HTTP.get(served["url"], params={"limit": "0"}, headers=a), 400)
    _error(HTTP.get(served["url"], params={"next": "abc.def.ghi"}, headers=a), 400)
    _error(HTTP.get(served["url"], params={"match[colour]": "red"}, headers=a), 400)
    _error(HTTP.get(served["url"], params={"match[version]": "newest"}, headers=a), 400)


@pytest.mark.parametrize("params", [
    {"next": "f" * 5000 + "." + "f" * 5000 + ".AAAA"},   # str() of the numbers: a ValueError, a 500
    {"next": "1" * 17 + ".1.AAAA"}, {"next": "-1.-1.AAAA"}, {"next": "0x1.1.AAAA"}, {"next": "1_0.1.AAAA"},
    {"next": ".."}, {"next": "1.1.AAAA.AAAA"},
    {"limit": "9" * 5000}, {"added_after": "9" * 5000}, {"match[version]": "x" * 5000},
])
def test_paging_tokens_and_filters_at_the_bounds_are_400_in_one_short_line(served, params):
    body = _error(HTTP.get(served["url"], params=params, headers=served["auth"]), 400)
    assert "\n" not in body["description"] and len(body["description"]) < 300, len(body["description"])


def test_paging_token_survives_a_restart(tmp_path):
    node = make_node(tmp_path / "n", "JPN")
    store = store_for(node)
    coll = store.add_collection("Intel")
    store.add_objects(coll.id, [indicator(i) for i in range(9)])
    secret = token(node, "analyst", "JPN", ["taxii:read"])
    h = {"Authorization": f"Bearer {secret}", "Accept": TAXII}
    with serve(build_app(node)) as base:
        url = f"{base}/taxii2/intel/collections/{coll.id}/objects/"
        first = HTTP.get(url, params={"limit": 4}, headers=h).json()
    assert first["more"] is True and len(first["objects"]) == 4
    node2 = reopen_node(node)  # a new process would see exactly this: the database, nothing else
    with serve(build_app(node2)) as base:
        url = f"{base}/taxii2/intel/collections/{coll.id}/objects/"
        second = HTTP.get(url, params={"limit": 4, "next": first["next"]}, headers=h).json()
        third = HTTP.get(url, params={"limit": 4, "next": second["next"]}, headers=h).json()
    assert [o["id"] for o in first["objects"] + second["objects"] + third["objects"]] == \
        [indicator(i)["id"] for i in range(9)]
    assert third["more"] is False and "next" not in third
    # a token is bound to its listing: it is refused on the manifest
    with serve(build_app(node2)) as base:
        r = HTTP.get(f"{base}/taxii2/intel/collections/{coll.id}/manifest/",
                      params={"next": first["next"]}, headers=h)
    assert r.status_code == 400


def test_versions_in_any_order_keep_first_and_last_right(tmp_path):
    from accord.intel.store import Filters

    node = make_node(tmp_path / "v", "JPN")
    store = store_for(node)
    coll = store.add_collection("Versions")
    v = {m: indicator(1, modified=f"2026-0{m}-01T00:00:00.000Z") for m in (1, 2, 3, 4)}
    store.add_objects(coll.id, [v[3], v[2], v[4]])  # several versions of one id in one request
    store.add_objects(coll.id, [v[1], v[4]])        # an older one later; a repeat is a no-op
    last = store.get_objects(coll.id, "JPN").items
    assert [json.loads(t)["modified"] for t in last] == [v[4]["modified"]]
    first = store.get_objects(coll.id, "JPN", Filters(versions=("first",))).items
    assert [json.loads(t)["modified"] for t in first] == [v[1]["modified"]]
    assert store.versions(coll.id, v[1]["id"], "JPN").items == [v[m]["modified"] for m in (3, 2, 4, 1)]
    store.delete_object(coll.id, v[1]["id"], "JPN", Filters(versions=("last",)))
    last = store.get_objects(coll.id, "JPN").items
    assert [json.loads(t)["modified"] for t in last] == [v[3]["modified"]]


def test_delete_needs_read_and_write_permission(served, jpn):
    # TAXII 2.1 §5.7: deleting needs both; a token with one of them gets 403 and nothing goes
    assert post(served, [indicator(1)]).status_code == 202
    obj = served["url"] + indicator(1)["id"] + "/"
    writer = token(jpn, "writer", "JPN", ["taxii.write:intel-a"])
    body = _error(HTTP.delete(obj, headers={"Accept": TAXII, **served["reader"]}), 403)
    assert "may not write" in body["description"]
    body = _error(HTTP.delete(obj, headers={"Accept": TAXII, "Authorization": f"Bearer {writer}"}), 403)
    assert "may not read" in body["description"]
    assert served["store"].count(served["coll"].id) == 1
    assert HTTP.delete(obj, headers={"Accept": TAXII, **served["auth"]}).status_code == 200
    assert served["store"].count(served["coll"].id) == 0
    _error(HTTP.delete(obj, headers={"Accept": TAXII, **served["auth"]}), 404)


def test_accept_and_content_type_answers_do_not_depend_on_what_came_before(served):
    # the media-type decisions are remembered per header value: the same header gets the same
    # answer every time, and a refused one stays refused after accepted ones (and back)
    get = lambda accept: HTTP.get(served["url"], headers={"Accept": accept, **served["auth"]})  # noqa: E731
    for _ in range(2):
        assert get(STIX).headers["content-type"].startswith("application/stix+json")
        assert get("application/json").headers["content-type"].startswith("application/taxii+json")
        _error(get("text/html"), 406)
        _error(get("application/taxii+json;version=2.1;q=0"), 406)
        _error(post(served, [indicator(7)], headers={"Content-Type": "text/plain"}), 415)
        assert post(served, [indicator(7)], headers={"Content-Type": STIX}).status_code == 202


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400_and_nothing_is_stored(served, constant):
    """JSON has no NaN or Infinity. The parser TAXII falls back to (for a BOM, UTF-16, a long
    integer) took them, the object was stored with a bare NaN in its text, and every page of the
    collection holding it was invalid JSON for every reader — any holder of a write token could
    spoil a collection for the others."""
    text = json.dumps({"objects": [indicator(1)]})
    raw = text[:-3].encode() + f',"x_value":{constant}}}]}}'.encode()
    body = _error(post(served, None, raw=raw), 400)
    assert f"{constant} is not valid JSON" in body["description"]
    assert served["store"].count(served["coll"].id) == 0


def test_a_collection_a_token_may_not_touch_is_indistinguishable_from_none(served, jpn):
    """Default deny: a token with no permission on a collection (a partner's tool, say) was told
    403 "may not access collection <its id>", so it could try aliases to learn which collections
    exist and what their ids are. TAXII 2.1 §3.6.1 allows 404 for a resource the client has no
    access to; it now gets exactly the answer of a collection that does not exist."""
    store_for(jpn).add_collection("Other", alias="intel-b")
    reader_a = served["reader"]  # may read intel-a only
    base = served["base"] + "/taxii2/intel/collections/"
    for suffix in ("", "objects/", "manifest/"):
        hidden = _error(HTTP.get(f"{base}intel-b/{suffix}", headers=reader_a), 404)
        absent = _error(HTTP.get(f"{base}intel-z/{suffix}", headers=reader_a), 404)
        assert hidden["description"] == absent["description"].replace("intel-z", "intel-b")
    hidden = _error(post({**served, "url": base + "intel-b/objects/"}, [indicator(1)], headers=reader_a), 404)
    assert "intel-b" in hidden["description"] and store_for(jpn).count("intel-b") == 0
    # a token that may read a collection is still told it may not write there (it knows it exists)
    _error(post(served, [indicator(1)], headers=reader_a), 403)
