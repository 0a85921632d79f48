"""TAXII paging tokens are opaque and sealed: ``seq``, the row number of ``intel_objects`` across
the whole node, is not in them, so a reader paging with ``limit=1`` cannot count from two tokens
the objects stored between two of its own — in collections it cannot see, or not released to
it; a token altered anywhere, forged or of another listing is refused (400)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from accord.intel.listing import Cursors
from accord.intel.node_store import store_for
from intel_samples import indicator
from intel_testkit import build_app, token

TAXII = "application/taxii+json;version=2.1"


@pytest.fixture
def paged(jpn):
    store = store_for(jpn)
    shared = store.add_collection("Shared", alias="shared", shared=True, rel_to=["KOR"])
    private = store.add_collection("Private", alias="private")
    store.add_objects(shared, [indicator(1)])
    store.add_objects(private, [indicator(100 + i) for i in range(7)])   # KOR may not see these
    store.add_objects(shared, [indicator(2)])
    store.add_objects(shared, [indicator(3)])
    kor = token(jpn, "kor-soc", "KOR", ["taxii.read:shared"])
    headers = {"Authorization": f"Bearer {kor}", "Accept": TAXII}
    with TestClient(build_app(jpn)) as client:
        assert client.get(f"/taxii2/intel/collections/{private.id}/", headers=headers).status_code == 404
        yield store, shared, client, headers


def _pages(client, url, headers):
    tokens, ids, nxt = [], [], None
    while True:
        page = client.get(url, params={"limit": 1, **({"next": nxt} if nxt else {})}, headers=headers).json()
        ids += [o["id"] for o in page.get("objects", [])]
        if not page["more"]:
            return tokens, ids
        nxt = page["next"]
        tokens.append(nxt)


def test_a_paging_token_does_not_carry_the_node_wide_row_number(paged):
    store, shared, client, headers = paged
    tokens, ids = _pages(client, f"/taxii2/intel/collections/{shared.id}/manifest/", headers)
    assert ids == [indicator(i)["id"] for i in (1, 2, 3)]   # paging works as before
    rows = store.conn.execute("SELECT seq, date_added FROM intel_objects WHERE collection = ? ORDER BY seq",
                              (shared.id,)).fetchall()
    assert rows[1][0] - rows[0][0] == 8   # the 7 hidden rows lie between KOR's first two
    for t, (seq, added) in zip(tokens, rows):
        parts = t.split(".")
        assert f"{seq:x}" not in parts and f"{added:x}" not in parts, f"token {t} shows row {seq}"
        assert str(seq) not in parts and "." not in t and len(t) == len(tokens[0]), t


def test_an_altered_forged_or_foreign_paging_token_is_refused(paged):
    store, shared, client, headers = paged
    url = f"/taxii2/intel/collections/{shared.id}/objects/"
    good = client.get(url, params={"limit": 1}, headers=headers).json()["next"]
    assert client.get(url, params={"limit": 1, "next": good}, headers=headers).status_code == 200
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i in range(len(good)):   # every character changed: refused
        bad = good[:i] + alphabet[(alphabet.index(good[i]) + 1) % 64] + good[i + 1:]
        r = client.get(url, params={"limit": 1, "next": bad}, headers=headers)
        assert r.status_code == 400 and "altered" in r.json()["description"], (i, r.text)
    forged = Cursors(b"\0" * 32).sign(f"objects|{shared.id}|", 0, 0)   # another key
    for bad, says in ((forged, "altered"), (good[:-1], "malformed"), (good + "A", "malformed"),
                      (base64.urlsafe_b64encode(b"\0" * 32).decode().rstrip("="), "altered")):
        r = client.get(url, params={"limit": 1, "next": bad}, headers=headers)
        assert r.status_code == 400 and says in r.json()["description"], (bad, r.text)
    # a token of the objects listing does not resume the manifest
    r = client.get(f"/taxii2/intel/collections/{shared.id}/manifest/", params={"limit": 1, "next": good},
                   headers=headers)
    assert r.status_code == 400 and "does not belong to this listing" in r.json()["description"]
