"""The intel tables' indexes on PostgreSQL (migration 4) and the plans they give, on a new
schema whose statistics autovacuum has not made yet."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.intel.node_store import store_for
from accord.intel.store import ANALYSE_FIRST, Filters
from accord.node import Node
from accord.store.base import POSTGRESQL, dialect_of
from intel_samples import indicator

# what a node made before migration 4 has on PostgreSQL (SQLite's indexes never changed)
BEFORE_4 = """
DROP INDEX intel_objects_idh;
CREATE INDEX intel_objects_idh ON intel_objects(idh);
DROP INDEX intel_objects_added;
CREATE INDEX intel_objects_added ON intel_objects(collection, date_added);
"""


def _index_columns(conn, name: str) -> str:
    if dialect_of(conn) == POSTGRESQL:
        row = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                           " AND indexname = ?", (name,)).fetchone()
        return row[0].rsplit("(", 1)[1].rstrip(")")
    return ", ".join(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))


def test_the_index_step_applies_to_an_existing_node(tmp_path):
    directory = tmp_path / "jpn"
    node = Node.init(directory, party="JPN")
    store = store_for(node)
    coll = store.add_collection("c", alias="c")
    objs = [indicator(i) for i in range(20)]
    store.add_objects(coll, objs)
    pg = dialect_of(node.conn) == POSTGRESQL
    with node.conn:
        if pg:
            for stmt in BEFORE_4.strip().splitlines():
                node.conn.execute(stmt)
        node.conn.execute("UPDATE schema_version SET version = 3 WHERE component = 'intel'")
    node.close()

    r = CliRunner().invoke(app, ["node", "migrate", "--dir", str(directory), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["parts"]["intel"] == [3, 7]
    with Node.open(directory) as node:
        if pg:
            assert _index_columns(node.conn, "intel_objects_idh") == "idh, collection"
            assert _index_columns(node.conn, "intel_objects_added") == "collection, date_added, seq"
        else:  # SQLite's schema is as it was (its INDEXED BY hints name these indexes)
            assert _index_columns(node.conn, "intel_objects_idh") == "idh"
            assert _index_columns(node.conn, "intel_objects_added") == "collection, date_added"
        store = store_for(node)
        page = store.get_objects("c", "JPN", object_id=objs[7]["id"])
        assert [json.loads(b)["id"] for b in page.items] == [objs[7]["id"]]
        assert len(store.get_objects("c", "JPN").items) == 20


@pytest.mark.postgresql
def test_lookups_and_pages_use_the_indexes_before_autovacuum_analyses(tmp_path, pg_schemas):
    node = Node.init(tmp_path / "jpn", party="JPN", store=pg_schemas.make())
    store = store_for(node)
    coll = store.add_collection("c")
    store.add_collection("other")
    n = ANALYSE_FIRST + 200
    for lo in range(0, n, 100):
        store.add_objects(coll, [indicator(i) for i in range(lo, lo + 100)])
    plans: list[str] = []
    real = node.conn.execute

    def explain(sql, params=None):  # every query of a read, explained as it is sent
        if sql.lstrip().upper().startswith("SELECT") and "intel_objects" in sql:
            plans.append("\n".join(r[0] for r in real("EXPLAIN " + sql, params)))
        return real(sql, params)

    node.conn.execute = explain  # type: ignore[method-assign]
    page = store.get_objects(coll, "JPN", limit=100)
    store.get_objects(coll, "JPN", limit=100, next=page.next)
    store.get_objects(coll, "JPN", object_id=indicator(n // 2)["id"])
    store.manifest(coll, "JPN", Filters(ids=(indicator(3)["id"], indicator(5)["id"])))
    store.add_objects(coll, [indicator(n + 1)])
    node.conn.execute = real  # type: ignore[method-assign]
    assert len(plans) == 5  # the add's: what is present, and the last date_added
    for plan in plans:
        assert "BitmapAnd" not in plan and "Seq Scan" not in plan, plan
    # pages: in the index's order, no sort of the collection
    for plan in plans[:2]:
        assert "Index Scan using intel_objects_added" in plan and "Sort" not in plan, plan
    # by id: one index scan matching both the id hash and the collection
    for plan in plans[2:]:
        conds = [line for line in plan.splitlines() if "Index Cond" in line and "(idh = " in line]
        assert "intel_objects_idh" in plan and conds and "AND (collection = " in conds[0], plan
    # the second page seeks to its cursor instead of filtering the collection from its start
    assert "Index Cond: ((collection = " in plans[1] and "date_added >= " in plans[1], plans[1]
    node.close()


@pytest.mark.postgresql
def test_a_taxii_add_and_get_cost_few_round_trips_to_postgresql(tmp_path, pg_schemas):
    """Each statement PostgreSQL answers is a round trip to a server process: a single TAXII add
    is the token, then BEGIN with the node's lock and what is present (one), then the rows, the
    status and the COMMIT (one) — the collection is known once found and a TLP marking needs no
    lookup; a get by id is the token and the object. An add of 100 costs the same three."""
    import base64

    from starlette.testclient import TestClient

    from accord.api.app import create_app
    from accord.federation.tokens import create_token
    from accord.intel.markings import TLP2_IDS

    node = Node.init(tmp_path / "jpn", party="JPN", store=pg_schemas.make())
    coll = store_for(node).add_collection("c", alias="c")
    secret = create_token(node.conn, "analyst", "JPN", ["taxii:read", "taxii:write"])
    headers = {"Authorization": "Basic " + base64.b64encode(f"analyst:{secret}".encode()).decode(),
               "Accept": "application/taxii+json;version=2.1",
               "Content-Type": "application/taxii+json;version=2.1"}
    url = f"/taxii2/intel/collections/{coll.id}/objects/"
    with TestClient(create_app(node)) as client:
        def trips(method: str, path: str, body: object = None) -> int:
            before = node.conn.round_trips
            r = client.request(method, path, headers=headers,
                               content=None if body is None else json.dumps(body))
            assert r.status_code in (200, 202), r.text
            return node.conn.round_trips - before

        trips("POST", url, {"objects": [indicator(0, markings=[TLP2_IDS["GREEN"]])]})  # the collection, found
        assert trips("POST", url, {"objects": [indicator(1, markings=[TLP2_IDS["GREEN"]])]}) == 3
        assert trips("POST", url, {"objects": [indicator(i) for i in range(2, 102)]}) == 3
        assert trips("GET", url + indicator(1)["id"] + "/") == 2
    assert store_for(node).count("c") == 102
    node.close()


@pytest.mark.postgresql
def test_statistics_follow_the_table_s_growth_not_adds_taken_back(tmp_path, pg_schemas):
    """keep_statistics runs ANALYZE when the rows a store added, less those it deleted, reach
    ANALYSE_FIRST (then each doubling): a client that adds and deletes as much — what TAXII
    clients replacing objects do, and the bench at exactly N objects — never sets it off in a
    request's path; real growth still does. A TAXII delete is two round trips."""
    node = Node.init(tmp_path / "jpn", party="JPN", store=pg_schemas.make())
    store = store_for(node)
    coll = store.add_collection("c")
    analysed: list[str] = []
    real = node.conn.execute

    def spy(sql, params=None):
        if sql.lstrip().upper().startswith("ANALYZE"):
            analysed.append(sql)
        return real(sql, params)

    node.conn.execute = spy  # type: ignore[method-assign]
    batch = ANALYSE_FIRST * 6 // 10
    for round_ in range(3):  # 1.8 × ANALYSE_FIRST added in all, each batch deleted again
        objs = [indicator(10_000 * round_ + i) for i in range(batch)]
        store.add_objects(coll, objs)
        for i, obj in enumerate(objs):
            before = node.conn.round_trips
            assert store.delete_object(coll, obj["id"], "JPN") == 1
            if i == 0:
                assert node.conn.round_trips - before == 2
    assert analysed == []
    store.add_objects(coll, [indicator(100_000 + i) for i in range(ANALYSE_FIRST)])  # grown by ANALYSE_FIRST
    assert analysed == ["ANALYZE intel_objects"]
    node.conn.execute = real  # type: ignore[method-assign]
    node.close()
