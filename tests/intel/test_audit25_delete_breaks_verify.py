"""Objects a partner sent (``intel.stix`` items, ledgered ``item.received``) are stored in the
collection made for that partner. A TAXII token of the node's own party with read and write
"curates" every collection (docs/intel.md, *Deleting*) and may DELETE a received object — and
``accord ledger verify`` then reports the node as tampered with ("received in item … but not
stored (the row was deleted)", exit status 4): any analyst token with write can make the node's
integrity check fail, and the check can no longer tell an API delete from a database edit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.errors import NodeIntegrityError
from accord.intel.markings import TLP2_IDS
from accord.intel.node_store import store_for
from accord.intel.sharing import received_collection_id, sync_received
from accord.node.verify import verify_node
from intel_samples import indicator
from intel_testkit import token
from test_intel_sharing import trio  # noqa: F401 - the fixture

TAXII = "application/taxii+json;version=2.1"


def test_a_taxii_delete_of_a_received_object_does_not_make_ledger_verify_fail(trio):  # noqa: F811
    nodes, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    coll = store_for(jpn).add_collection("Cyber indicators", alias="cyber", shared=True, rel_to=["KOR"])
    store_for(jpn).add_objects(coll.id, [indicator(1, markings=[TLP2_IDS["GREEN"]])])
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert sync_received(kor, store_for(kor))["applied"] == 1
    assert verify_node(kor).checked["received intel objects"] == 1
    at_kor = received_collection_id("JPN", coll.id)
    tool = token(kor, "kor-analyst", "KOR", ["taxii.read:*", "taxii.write:*"])
    with TestClient(create_app(kor)) as client:
        r = client.delete(f"/taxii2/intel/collections/{at_kor}/objects/{indicator(1)['id']}/",
                          headers={"Authorization": f"Bearer {tool}", "Accept": TAXII})
    assert r.status_code == 200, r.text
    try:
        verify_node(kor)
    except NodeIntegrityError as exc:
        raise AssertionError(f"a TAXII delete by a KOR analyst's token made `ledger verify` fail: {exc}") from None
