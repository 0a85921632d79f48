"""Property tests: any structurally valid STIX 2.1 object added over TAXII comes back unchanged
(values, unicode, nesting, custom properties, versions), and the structural validator agrees
with ``stix2`` on what it rejects."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import InputError
from accord.intel.node_store import store_for
from accord.intel.validate import check_object
from intel_testkit import build_app, make_node, serve, token

SDO_TYPES = ["attack-pattern", "campaign", "course-of-action", "identity", "intrusion-set",
             "threat-actor", "tool", "vulnerability", "infrastructure", "x-accord-test"]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53),
                         st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.text("abcdefghij_", min_size=1, max_size=8), c, max_size=3)),
    max_leaves=8)
timestamps = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z")


@st.composite
def stix_objects(draw):
    kind = draw(st.sampled_from(SDO_TYPES))
    created = draw(timestamps)
    modified = max(created, draw(timestamps))
    obj = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)}",
           "created": created, "modified": modified, "name": draw(st.text(min_size=1, max_size=30))}
    if draw(st.booleans()):
        obj["description"] = draw(st.text(max_size=200))
    if draw(st.booleans()):
        obj["labels"] = draw(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
    if draw(st.booleans()):
        obj["confidence"] = draw(st.integers(0, 100))
    for key in draw(st.lists(st.text("abcdefghijklmnop", min_size=1, max_size=8), max_size=3, unique=True)):
        obj[f"x_{key}"] = draw(json_values)
    # id from the content: one id+modified never names two different contents (STIX rule)
    digest = json.dumps(obj, sort_keys=True).encode()
    obj["id"] = f"{kind}--{uuid.uuid5(uuid.NAMESPACE_OID, digest.decode('utf-8', 'replace'))}"
    return obj


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    node = make_node(tmp_path_factory.mktemp("rt") / "node", "JPN")
    coll = store_for(node).add_collection("Round trip")
    secret = token(node, "rt", "JPN", ["taxii:read", "taxii:write"])
    with serve(build_app(node)) as base:
        with httpx.Client(base_url=f"{base}/taxii2/intel/collections/{coll.id}/",
                          headers={"Authorization": f"Bearer {secret}",
                                   "Accept": "application/taxii+json;version=2.1",
                                   "Content-Type": "application/taxii+json;version=2.1"}) as client:
            yield client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(stix_objects(), min_size=1, max_size=4, unique_by=lambda o: o["id"]))
def test_added_objects_come_back_unchanged(server, objs):
    r = server.post("objects/", content=json.dumps({"objects": objs}, ensure_ascii=False))
    assert r.status_code == 202, r.text
    for obj in objs:
        got = server.get(f"objects/{obj['id']}/", params={"match[version]": obj["modified"]})
        assert got.status_code == 200
        assert got.json()["objects"] == [obj]


@settings(max_examples=200, deadline=None)
@given(obj=stix_objects(), field=st.sampled_from(["id", "created", "spec_version", "type"]),
       junk=st.text(max_size=12))
def test_structural_check_rejects_what_stix2_rejects(obj, field, junk):
    import stix2

    bad = dict(obj, **{field: junk})
    try:
        stix2.parse(bad, allow_custom=True, version="2.1")
        stix2_ok = True
    except Exception:  # noqa: BLE001 - any rejection by stix2
        stix2_ok = False
    try:
        check_object(bad)
        ours_ok = True
    except InputError:
        ours_ok = False
    if not stix2_ok and field != "type":
        assert not ours_ok, f"structural check accepted {field}={junk!r}"
