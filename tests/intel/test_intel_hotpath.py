"""The TAXII hot path's shortcuts change nothing a client can see: orjson only where it gives
exactly what :mod:`json` gives, get-by-id seeks the id index, routes called without FastAPI's
dependency solving still honour overrides and authentication, and a local collection's add
never touches sharing."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.api.taxii import TaxiiHTTPError, make_router, make_principal_dependency, parse_json
from accord.core.canonical import MAX_JSON_DEPTH
from accord.intel.node_store import store_for
from accord.intel.store import IntelStore, encode_json
from intel_samples import indicator
from intel_testkit import build_app, serve, token

TAXII = "application/taxii+json;version=2.1"

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
              st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=6), c, max_size=4)),
    max_leaves=12)


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@settings(max_examples=300, deadline=None)
@given(value=json_values)
@example(value=10**400).via("an integer beyond a double, exact through the json path")
@example(value=-(10**4299)).via("the longest integer json reads")
@example(value=_nested(MAX_JSON_DEPTH - 2)).via("the deepest body accepted (envelope and list add two)")
def test_orjson_path_gives_what_json_gives(value):
    raw = json.dumps({"objects": [value]}, ensure_ascii=False).encode()
    parsed, plain = parse_json(raw)
    assert parsed == json.loads(raw) and _same_types(parsed, json.loads(raw))
    text = encode_json(parsed, plain=plain)
    assert json.loads(text) == json.loads(encode_json(parsed))  # orjson text reads back the same
    assert _same_types(json.loads(text), parsed)


def _same_types(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b))
    return True


@pytest.mark.parametrize("raw", [
    b'{"objects": [{"n": 1180591620717411303424}]}',        # beyond 64 bits: orjson would give a float
    b'\xef\xbb\xbf{"objects": []}',                           # a UTF-8 BOM
    json.dumps({"objects": [{"s": "\u00e9"}]}).encode("utf-16"),  # UTF-16, as json.loads detects it
])
def test_bodies_orjson_would_change_or_refuse_go_through_json(raw):
    parsed, plain = parse_json(raw)
    assert not plain
    expected = json.loads(raw)
    assert parsed == expected
    if "n" in str(parsed) and isinstance(expected["objects"][0].get("n"), int):
        assert type(parsed["objects"][0]["n"]) is int


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_a_400_though_json_loads_would_take_them(constant):
    """Not JSON (orjson refuses them): stored, one made every page of its collection invalid JSON."""
    with pytest.raises(TaxiiHTTPError, match=f"{constant.decode()} is not valid JSON"):
        parse_json(b'{"objects": [{"n": ' + constant + b"}]}")


def test_a_lone_surrogate_escape_is_a_400():
    """orjson refuses it and json.loads would take it; it is not Unicode text, and no store can
    write it (:func:`accord.core.canonical.parse_json_strict` refuses it too)."""
    with pytest.raises(TaxiiHTTPError, match="lone surrogate") as exc:
        parse_json('{"objects": [{"s": "\\ud800"}]}'.encode())
    assert exc.value.status == 400


def test_not_json_is_a_400():
    with pytest.raises(TaxiiHTTPError) as exc:
        parse_json(b'{"objects": [')
    assert exc.value.status == 400


def test_big_integer_survives_add_and_get(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Numbers")
    secret = token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    obj = dict(indicator(1), x_big=2**70, x_float=0.1, x_text="é\u2028")
    h = {"Authorization": f"Bearer {secret}", "Accept": TAXII, "Content-Type": TAXII}
    with serve(build_app(jpn)) as base:
        url = f"{base}/taxii2/intel/collections/{coll.id}/objects/"
        assert httpx.post(url, content=json.dumps({"objects": [obj]}), headers=h).status_code == 202
        got = httpx.get(f"{url}{obj['id']}/", headers=h).json()["objects"][0]
    assert got == obj and type(got["x_big"]) is int


def _traced_sql(store: IntelStore, fn) -> list[str]:
    seen: list[str] = []
    conn = store.conn
    if not hasattr(conn, "set_trace_callback"):  # PostgreSQL: the statements as the store sends them
        real, real_many = conn.execute, conn.executemany
        conn.execute = lambda sql, params=None: (seen.append(sql), real(sql, params))[1]
        conn.executemany = lambda sql, rows: (seen.append(sql), real_many(sql, rows))[1]
        try:
            fn()
        finally:
            del conn.execute, conn.executemany
        return seen
    conn.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        conn.set_trace_callback(None)
    return seen


@pytest.mark.sqlite_only  # SQLite's plans (PostgreSQL's: test_intel_pg_plans.py)
def test_get_by_id_seeks_the_id_index(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Big", rel_to=["KOR"])
    store.add_objects(coll.id, [indicator(i) for i in range(50)])
    target = indicator(7)["id"]
    for call in (lambda: store.get_objects(coll.id, "JPN", object_id=target),
                 lambda: store.get_objects(coll.id, "KOR", object_id=target),
                 lambda: store.get_objects(coll.id, "JPN", store_filters(ids=(target,)))):
        sql = [s for s in _traced_sql(store, call) if s.startswith("SELECT body")]
        assert sql, "no object query traced"
        plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql[0]))
        assert "USING INDEX intel_objects_idh (idh=?)" in plan, plan
    page = store.get_objects(coll.id, "JPN", object_id=target)
    assert [json.loads(t)["id"] for t in page.items] == [target]


def store_filters(**kw):
    from accord.intel.store import Filters

    return Filters(**kw)


def test_local_collection_add_runs_no_sharing_query(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Local")
    sql = _traced_sql(store, lambda: store.add_objects(coll, [indicator(1)]))
    assert not [s for s in sql if "fed_" in s or "partner" in s.lower()], sql
    assert store.count(coll.id) == 1


def test_every_taxii_route_takes_the_direct_call(jpn):
    router = make_router(jpn)
    assert router.routes and all(r._direct_call() is not None for r in router.routes)


def test_direct_call_still_authenticates_and_honours_overrides(jpn):
    store = store_for(jpn)
    coll = store.add_collection("Intel")
    store.add_objects(coll.id, [indicator(3)])
    dep = make_principal_dependency(jpn)
    app = FastAPI()
    app.include_router(make_router(jpn, principal_dependency=dep))
    url_path = f"/taxii2/intel/collections/{coll.id}/objects/"
    with serve(app) as base:
        r = httpx.get(base + url_path, headers={"Accept": TAXII})
        assert r.status_code == 401 and r.json()["http_status"] == "401"
        r = httpx.get(base + url_path, headers={"Accept": TAXII, "Authorization": "Bearer nope"})
        assert r.status_code == 401

        from accord.federation.tokens import Principal

        async def reader_of_kor(request: Request):  # an override (as tests of other parts use them)
            return Principal("kor-reader", "KOR", frozenset({"taxii:read"}))

        app.dependency_overrides[dep] = reader_of_kor
        r = httpx.get(base + url_path, headers={"Accept": TAXII})
        assert r.status_code == 200  # the override answered, not the token check
        assert "objects" not in r.json()  # and the read is filtered for KOR: nothing releasable
        app.dependency_overrides.clear()
        assert httpx.get(base + url_path, headers={"Accept": TAXII}).status_code == 401
