"""A TAXII add of many invalid objects is answered 422 with *every* failure listed
(``details.failures``, one ``{index, id, message}`` per object, no bound). A writer's 2 MiB of
``{},{},…`` (700,000 objects; the default ``max_content_length`` is 10 MiB) builds 700,000
failure records and an answer tens of times the request's size — and the body is parsed on the
event loop's thread first."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from accord.intel.node_store import store_for
from intel_testkit import build_app, token

TAXII = "application/taxii+json;version=2.1"


def test_a_422_for_many_invalid_objects_is_not_many_times_the_request(jpn):
    coll = store_for(jpn).add_collection("Intel", alias="intel-a")
    secret = token(jpn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    n = 700_000
    body = b'{"objects":[' + b"{}," * (n - 1) + b"{}]}"
    with TestClient(build_app(jpn)) as client:
        t0 = time.monotonic()
        r = client.post(f"/taxii2/intel/collections/{coll.id}/objects/", content=body,
                        headers={"Authorization": f"Bearer {secret}", "Accept": TAXII, "Content-Type": TAXII})
        took = time.monotonic() - t0
    assert r.status_code == 422
    sent, answered = len(body), len(r.content)
    listed = len(r.json()["details"]["failures"])
    del body, r
    assert answered < 4 * sent, f"a {sent}-byte add answered with {answered} bytes ({listed} failures listed, {took:.1f} s)"

