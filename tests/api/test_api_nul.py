"""A NUL character (U+0000) from a client — in a path, a query or a JSON string — is refused
with a 400 naming it, on every API, on SQLite and PostgreSQL alike: PostgreSQL's text and
jsonb cannot hold one, so it reached the store as a driver error and a 500 with a traceback."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.federation.tokens import create_token
from accord.intel.node_store import store_for
from accord.node import Node

TAXII = "application/taxii+json;version=2.1"


@pytest.fixture
def served(tmp_path):
    node = Node.init(tmp_path / "JPN", party="JPN")
    coll = store_for(node).add_collection("Intel", alias="intel-a")
    token = create_token(node.conn, "ops", "JPN", {"items:read", "items:write", "dialogue:read", "dialogue:write",
                                                   "taxii:read", "taxii:write"})
    with TestClient(create_app(node), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, coll.id, node


GETS = ["/api/v1/items/a%00b", "/api/v1/items?kind=%00", "/api/v1/items?kind=note%00x",
        "/api/v1/dialogue/series/a%00b", "/api/v1/dialogue/records/x%00/history",
        "/api/v1/dialogue/commitments?party=%00"]


@pytest.mark.parametrize("path", GETS)
def test_a_nul_in_a_path_or_query_is_a_400(served, path):
    client, _, _ = served
    r = client.get(path)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "NUL" in r.text


def test_a_nul_in_taxii_paths_and_filters_is_a_taxii_400(served):
    client, coll, _ = served
    for path in (f"/taxii2/intel/collections/{coll}/objects/indicator--a%00b/",
                 f"/taxii2/intel/collections/{coll}/objects/?match[id]=%00"):
        r = client.get(path, headers={"Accept": TAXII})
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "NUL" in r.json()["description"]


def test_a_nul_in_a_json_string_is_kept_as_text_or_refused_as_an_identifier(served):
    """In a body a NUL is JSON (``\\u0000``): an item's text keeps it (stored as the escape), and
    an identifier holding one is refused as bad input, not a database error."""
    client, _, node = served
    r = client.post("/api/v1/items", json={"kind": "test.note", "marking": "RESTRICTED//REL TO JPN",
                                           "body": {"text": "a\u0000b"}})
    assert r.status_code == 201, r.text
    item = r.json()["item"]["id"]
    assert client.get(f"/api/v1/items/{item}").json()["body"]["text"] == "a\u0000b"
    before = node.ledger.size
    for body in ({"item_id": "JPN:test.note:a\u0000", "to": "KOR"}, {"item_id": item, "to": "KO\u0000R"}):
        r = client.post("/api/v1/share", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    r = client.post("/api/v1/retract", json={"item_id": "JPN:test.note:a\u0000"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert node.ledger.size == before


@pytest.mark.postgresql
def test_a_nul_given_to_a_postgresql_statement_is_bad_input_not_a_database_error(pg_schemas):
    """Whatever path a NUL takes to the store, PostgreSQL's refusal of it is answered as bad
    input (an InputError, a 4xx where the API maps it), never a driver error and a 500."""
    from accord.errors import InputError
    from accord.store.postgres import PostgresStore

    store = PostgresStore(pg_schemas.make())
    try:
        with pytest.raises(InputError, match="NUL character"):
            store.conn.execute("SELECT ?", ("a\x00b",)).fetchone()
        assert store.conn.execute("SELECT ?", ("ab",)).fetchone()[0] == "ab"  # the connection serves on
    finally:
        store.close()
