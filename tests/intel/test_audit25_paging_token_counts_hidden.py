"""A TAXII paging token is ``<date_added>.<seq>.<mac>`` in clear, and ``seq`` is the row number of
``intel_objects`` across the whole node. A reader that pages with ``limit=1`` learns, from the
gap between two tokens' ``seq``, how many objects the node stored between two objects it may
see — in collections it cannot see and objects not released to it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.intel.node_store import store_for
from intel_samples import indicator
from intel_testkit import build_app, token

TAXII = "application/taxii+json;version=2.1"


def test_a_paging_token_does_not_count_the_objects_a_reader_cannot_see(jpn):
    store = store_for(jpn)
    shared = store.add_collection("Shared", alias="shared", shared=True, rel_to=["KOR"])
    private = store.add_collection("Private", alias="private")
    store.add_objects(shared, [indicator(1)])
    store.add_objects(private, [indicator(100 + i) for i in range(7)])   # KOR may not see these
    store.add_objects(shared, [indicator(2)])
    store.add_objects(shared, [indicator(3)])
    kor = token(jpn, "kor-soc", "KOR", ["taxii.read:shared"])
    url = f"/taxii2/intel/collections/{shared.id}/manifest/"
    headers = {"Authorization": f"Bearer {kor}", "Accept": TAXII}
    with TestClient(build_app(jpn)) as client:
        first = client.get(url, params={"limit": 1}, headers=headers).json()
        second = client.get(url, params={"limit": 1, "next": first["next"]}, headers=headers).json()
        assert client.get(f"/taxii2/intel/collections/{private.id}/", headers=headers).status_code == 404
    gap = int(second["next"].split(".")[1], 16) - int(first["next"].split(".")[1], 16) - 1
    assert gap == 0, (f"KOR's paging tokens {first['next']} and {second['next']} show {gap} objects stored "
                      "between two of its objects, in a collection it is told does not exist")
