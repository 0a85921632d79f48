"""A TAXII add of many invalid objects: the 422 lists the first failures and counts the rest, so
its answer stays small whatever the request holds (one ``{index, id, message}`` record per object
made 2 MiB of ``{},{},…`` a 74 MB answer); the body is parsed in the thread pool, never on the
event loop, and one that would build more than 1,000,000 arrays and objects is refused before it
is parsed."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

import accord.api.taxii as taxii
from accord.intel.node_store import store_for
from accord.intel.validate import MAX_LISTED_FAILURES
from intel_samples import indicator
from intel_testkit import build_app, token

TAXII = "application/taxii+json;version=2.1"


def _add(jpn, body: bytes):
    coll = store_for(jpn).add_collection("Intel", alias="intel-a")
    secret = token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    with TestClient(build_app(jpn)) as client:
        r = client.post(f"/taxii2/intel/collections/{coll.id}/objects/", content=body,
                        headers={"Authorization": f"Bearer {secret}", "Accept": TAXII, "Content-Type": TAXII})
    return coll, r


def test_a_422_for_many_invalid_objects_lists_the_first_failures_and_counts_the_rest(jpn):
    n = 20_000
    body = b'{"objects":[' + b"{}," * (n - 1) + b"{}]}"
    coll, r = _add(jpn, body)
    assert r.status_code == 422
    error = r.json()
    assert error["title"] == "Invalid STIX" and error["http_status"] == "422"
    assert error["description"] == f"{n} of {n} object(s) are not valid STIX 2.1; nothing was stored"
    failures = error["details"]["failures"]
    assert [f["index"] for f in failures] == list(range(MAX_LISTED_FAILURES))
    assert error["details"]["failure_count"] == n
    assert len(r.content) < len(body), f"a {len(body)}-byte add answered with {len(r.content)} bytes"
    assert store_for(jpn).count(coll.id) == 0


def test_a_422_counts_the_failures_among_valid_objects(jpn):
    objects = [indicator(i) if i % 3 else {"type": "indicator"} for i in range(1, 601)]
    bad = [i for i in range(600) if not (i + 1) % 3]
    body = taxii.orjson.dumps({"objects": objects})
    _, r = _add(jpn, body)
    assert r.status_code == 422
    details = r.json()["details"]
    assert details["failure_count"] == len(bad) == 200
    assert [f["index"] for f in details["failures"]] == bad[:MAX_LISTED_FAILURES]


def test_an_add_s_body_is_parsed_off_the_event_loop(jpn, monkeypatch):
    on_loop: list[bool] = []
    parse = taxii.parse_json

    def watched(raw: bytes):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a thread-pool thread: no running loop
            on_loop.append(False)
        return parse(raw)

    monkeypatch.setattr(taxii, "parse_json", watched)
    _, r = _add(jpn, taxii.orjson.dumps({"objects": [indicator(1)]}))
    assert r.status_code == 202, r.text
    assert on_loop == [False]


def test_an_add_of_a_million_tiny_containers_is_refused_before_it_is_parsed(jpn):
    body = b'{"objects":[[' + b",".join([b"[]"] * 1_000_000) + b"]]}"
    coll, r = _add(jpn, body)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["description"] == "body is not acceptable JSON: JSON holds more than 1,000,000 arrays and objects"
    assert store_for(jpn).count(coll.id) == 0
