"""A received object (a partner's ``intel.stix`` item, ledgered ``item.received``) deleted over
TAXII by a token of the node's party (which curates every collection) is ledgered
``intel.deleted`` in the delete's transaction, so ``accord ledger verify``
tells that delete from a row deleted by a database edit, which it still reports."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.errors import NodeIntegrityError
from accord.intel.markings import TLP2_IDS
from accord.intel.node_store import store_for
from accord.intel.sharing import DELETED_EVENT, received_collection_id, sync_received
from accord.node.verify import verify_node
from intel_samples import indicator
from intel_testkit import token
from test_intel_sharing import trio  # noqa: F401 - the fixture

TAXII = "application/taxii+json;version=2.1"


@pytest.fixture
def received(trio):  # noqa: F811
    """KOR holds JPN's indicators 1 and 2 (versions 1 and 2 of indicator 1), received."""
    nodes, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    coll = store_for(jpn).add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR"])
    green = [TLP2_IDS["GREEN"]]
    store_for(jpn).add_objects(coll.id, [indicator(1, markings=green), indicator(2, markings=green)])
    store_for(jpn).add_objects(coll.id, [indicator(1, markings=green, modified="2026-03-01T10:00:00.000Z")])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor, store_for(kor))["applied"] == 3
    assert verify_node(kor).checked["received intel objects"] == 3
    return kor, received_collection_id("JPN", coll.id)


def _delete(node, coll, object_id, secret, **params):
    with TestClient(create_app(node)) as client:
        return client.delete(f"/taxii2/intel/collections/{coll}/objects/{object_id}/", params=params,
                             headers={"Authorization": f"Bearer {secret}", "Accept": TAXII})


def _deletions(node):
    return [json.loads(bytes(leaf))["data"] for (leaf,) in node.conn.execute(
        "SELECT leaf FROM ledger_leaves WHERE type = ? ORDER BY idx", (DELETED_EVENT,))]


def test_a_taxii_delete_of_a_received_object_is_ledgered_and_verify_passes(received):
    kor, at_kor = received
    tool = token(kor, "kor-analyst", "KOR", ["taxii.read:*", "taxii.write:*"])
    r = _delete(kor, at_kor, indicator(1)["id"], tool)
    assert r.status_code == 200, r.text
    versions = sorted(d["version"] for d in _deletions(kor))
    assert len(versions) == 2 and versions[1] == "2026-03-01T10:00:00.000Z"
    assert all(d == {"collection": at_kor, "stix_id": indicator(1)["id"], "version": d["version"],
                     "originator": "JPN", "party": "KOR", "by": "kor-analyst"} for d in _deletions(kor))
    assert verify_node(kor).checked["received intel objects"] == 3


def test_a_received_object_deleted_by_a_database_edit_is_still_reported(received):
    kor, at_kor = received
    tool = token(kor, "kor-analyst", "KOR", ["taxii.read:*", "taxii.write:*"])
    # the API deletes indicator 1's last version; a database edit deletes its first and indicator 2
    assert _delete(kor, at_kor, indicator(1)["id"], tool, **{"match[version]": "last"}).status_code == 200
    assert len(_deletions(kor)) == 1
    kor.conn.execute("DELETE FROM intel_objects WHERE stix_id IN (?, ?)", (indicator(1)["id"], indicator(2)["id"]))
    kor.conn.commit()
    with pytest.raises(NodeIntegrityError) as err:
        verify_node(kor)
    problems = sorted((p.where, p.what) for p in err.value.problems)
    assert [w for w, _ in problems] == sorted(f"intel object {indicator(i)['id']} in collection {at_kor}"
                                              for i in (1, 2))
    assert all("the row was deleted" in what for _, what in problems)


def test_a_delete_of_the_node_s_own_object_is_not_ledgered(received):
    kor, _ = received
    own = store_for(kor).add_collection("Own", alias="own")
    store_for(kor).add_objects(own.id, [indicator(9)])
    tool = token(kor, "kor-analyst", "KOR", ["taxii.read:*", "taxii.write:*"])
    assert _delete(kor, own.id, indicator(9)["id"], tool).status_code == 200
    assert _deletions(kor) == []
