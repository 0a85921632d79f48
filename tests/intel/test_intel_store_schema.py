"""The object table's id-hash index: lookups stay exact whatever the hash does, (collection, id,
version) stays unique with no UNIQUE index behind it, and a database made with the first schema
is upgraded in place, all or nothing."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.intel import adding, listing, records, tables
from accord.intel import store as store_mod
from accord.intel.node_store import store_for
from accord.intel.store import Filters, IntelStore, id_hash
from accord.store.base import open_store
from accord.store.sqlite import connect
from intel_samples import indicator
from intel_testkit import make_node, reopen_node

# The first schema of intel_objects (Accord before the id-hash index), as it was created
V1_DDL = """
CREATE TABLE intel_objects (
  seq INTEGER PRIMARY KEY,
  collection TEXT NOT NULL REFERENCES intel_collections(id),
  stix_id TEXT NOT NULL, type TEXT NOT NULL, spec_version TEXT NOT NULL,
  version TEXT NOT NULL, vkey TEXT NOT NULL, date_added INTEGER NOT NULL,
  is_first INTEGER NOT NULL, is_last INTEGER NOT NULL,
  rel TEXT NOT NULL, granular TEXT, originator TEXT NOT NULL, body TEXT NOT NULL,
  UNIQUE (collection, stix_id, vkey));
CREATE INDEX intel_objects_added ON intel_objects(collection, date_added);
"""
V1_COLUMNS = store_mod.V1_COLUMNS


def _hash_everywhere(monkeypatch, fake):
    """Put ``fake`` in place of the id hash in every intel store module that uses it (the tables'
    upgrade and flag pass, the add path, the read path); a module left out would keep hashing
    really and the assertions below would see it."""
    modules = [m for m in (store_mod, tables, adding, listing, records) if hasattr(m, "id_hash")]
    assert {tables, adding, listing} <= set(modules)
    for module in modules:
        monkeypatch.setattr(module, "id_hash", fake)


def _rows(conn):
    return [tuple(r) for r in conn.execute(f"SELECT {V1_COLUMNS} FROM intel_objects ORDER BY seq")]


def _columns(conn):
    return [r[1] for r in conn.execute("PRAGMA table_info(intel_objects)")]


def _to_v1(conn):
    """Rewrite the node's intel_objects as the first schema had it (same rows, no idh), in a
    database from before versioned migrations (no ``schema_version`` row for intel)."""
    with conn:
        conn.execute("DELETE FROM schema_version WHERE component = 'intel'")
        conn.execute("ALTER TABLE intel_objects RENAME TO intel_objects_now")
        conn.execute("DROP INDEX intel_objects_added")
        conn.execute("DROP INDEX intel_objects_idh")
        conn.executescript("SAVEPOINT v1;" + V1_DDL + "RELEASE v1;")
        conn.execute(f"INSERT INTO intel_objects({V1_COLUMNS}) SELECT {V1_COLUMNS} FROM intel_objects_now")
        conn.execute("DROP TABLE intel_objects_now")


def _versions(store, coll, oid, party="JPN"):
    return store.versions(coll, oid, party).items


@pytest.mark.sqlite_only  # the first schema existed only on SQLite (PostgreSQL came later)
def test_first_schema_database_is_upgraded_in_place(tmp_path):
    node = make_node(tmp_path / "jpn", "JPN")
    store = store_for(node)
    coll = store.add_collection("Intel", rel_to=["KOR"])
    store.add_objects(coll.id, [indicator(i) for i in range(5)])
    store.add_objects(coll.id, [indicator(1, modified="2026-02-01T00:00:00.000Z")])
    before = _rows(node.conn)
    _to_v1(node.conn)
    assert "idh" not in _columns(node.conn) and _rows(node.conn) == before

    node = reopen_node(node)
    store = store_for(node)
    assert "idh" in _columns(node.conn)
    assert _rows(node.conn) == before  # seq, date_added, flags and bodies unchanged
    assert all(h == id_hash(s) for s, h in node.conn.execute("SELECT stix_id, idh FROM intel_objects"))
    indexes = {r[1] for r in node.conn.execute("PRAGMA index_list(intel_objects)")}
    assert indexes == {"intel_objects_added", "intel_objects_idh"}
    oid = indicator(1)["id"]
    assert _versions(store, coll.id, oid) == ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]
    # the uniqueness the old UNIQUE index gave still holds, and flags still move
    again = store.add_objects(coll.id, [indicator(1, modified="2026-02-01T00:00:00.000Z")])
    assert again.status["successes"][0]["message"] == "already present"
    store.add_objects(coll.id, [indicator(1, modified="2026-03-01T00:00:00.000Z")])
    latest = store.get_objects(coll.id, "JPN", object_id=oid).items
    assert [json.loads(t)["modified"] for t in latest] == ["2026-03-01T00:00:00.000Z"]
    assert len(_versions(store, coll.id, oid)) == 3


@pytest.mark.sqlite_only  # the first schema existed only on SQLite (PostgreSQL came later)
def test_a_failed_upgrade_changes_nothing(tmp_path, monkeypatch):
    node = make_node(tmp_path / "jpn", "JPN")
    store = store_for(node)
    coll = store.add_collection("Intel")
    store.add_objects(coll.id, [indicator(i) for i in range(5)])
    before = _rows(node.conn)
    _to_v1(node.conn)
    path = node.conn.execute("PRAGMA database_list").fetchone()[2]
    calls = []

    def failing_hash(stix_id: str) -> int:
        calls.append(stix_id)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return 0

    _hash_everywhere(monkeypatch, failing_hash)
    conn = connect(path)
    with pytest.raises(sqlite3.OperationalError, match="user-defined function raised exception"):
        IntelStore(conn, party="JPN")
    assert "idh" not in _columns(conn) and _rows(conn) == before
    assert not conn.in_transaction
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"intel_objects"}
    assert "intel_objects_v2" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    monkeypatch.undo()
    IntelStore(conn, party="JPN")  # the next open upgrades
    assert "idh" in _columns(conn) and _rows(conn) == before


def test_lookups_are_exact_when_every_id_hashes_alike(jpn, monkeypatch):
    """The hash only narrows a lookup: with every id colliding, every read, add and delete
    still answers for exactly the ids asked."""
    _hash_everywhere(monkeypatch, lambda stix_id: 42)
    store = IntelStore(jpn.conn, party="JPN")
    coll = store.add_collection("Collide").id
    store.add_objects(coll, [indicator(i) for i in range(6)])
    store.add_objects(coll, [indicator(2, modified="2026-02-01T00:00:00.000Z"),
                             indicator(2, modified="2026-03-01T00:00:00.000Z")])
    assert {r[0] for r in jpn.conn.execute("SELECT idh FROM intel_objects")} == {42}
    a, b = indicator(2)["id"], indicator(4)["id"]
    assert [json.loads(t)["id"] for t in store.get_objects(coll, "JPN", object_id=b).items] == [b]
    got = store.get_objects(coll, "JPN", Filters(ids=(a, b))).items
    assert sorted((json.loads(t)["id"], json.loads(t)["modified"]) for t in got) == sorted(
        [(a, "2026-03-01T00:00:00.000Z"), (b, "2026-01-01T00:00:00.000Z")])
    assert _versions(store, coll, a) == ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z",
                                         "2026-03-01T00:00:00.000Z"]
    assert _versions(store, coll, b) == ["2026-01-01T00:00:00.000Z"]
    firsts = store.get_objects(coll, "JPN", Filters(ids=(a,), versions=("first",))).items
    assert [json.loads(t)["modified"] for t in firsts] == ["2026-01-01T00:00:00.000Z"]
    again = store.add_objects(coll, [indicator(4), indicator(7)])
    assert [s.get("message") for s in again.status["successes"]] == ["already present", None]
    assert store.delete_object(coll, a, "JPN") == 3
    assert store.count(coll) == 6  # 0..7 without 2, versions of the others untouched
    assert _versions(store, coll, b) == ["2026-01-01T00:00:00.000Z"]


def test_two_connections_adding_the_same_version_store_it_once(jpn):
    """No UNIQUE index backs (collection, id, version): add_objects takes the write lock
    before it reads what is present. A second writer (another connection, as another process
    would have) arriving between that read and the insert must wait, then see the row."""
    location = getattr(jpn.store, "url", None) or jpn.store.location  # the node's database, either back end
    first = IntelStore(open_store(location).conn, party="JPN")
    second = IntelStore(open_store(location).conn, party="JPN")
    coll = first.add_collection("Race").id
    obj = indicator(9)
    results: dict[str, object] = {}
    real_select_in = adding.select_in  # the add path's query of what is present
    entered = threading.Event()

    starting = threading.Event()

    def second_add():
        starting.set()
        results["second"] = second.add_objects(coll, [obj]).status

    def select_in_then_race(*args, **kwargs):
        rows = list(real_select_in(*args, **kwargs))
        if not entered.is_set():  # first writer: it has read "not present"; now the rival comes
            entered.set()
            rival = threading.Thread(target=second_add)
            rival.start()
            starting.wait(10)
            # the rival now waits on the write lock; were there none, its add (a few ms) would be
            # done well within this second and the row stored twice
            rival.join(timeout=1.0)
            results["rival"] = rival
        return iter(rows)

    adding.select_in = select_in_then_race
    try:
        results["first"] = first.add_objects(coll, [obj]).status
    finally:
        adding.select_in = real_select_in
    results["rival"].join(timeout=30)
    n = first.conn.execute("SELECT COUNT(*) FROM intel_objects WHERE stix_id = ?", (obj["id"],)).fetchone()[0]
    assert n == 1
    assert results["first"]["successes"][0].get("message") is None
    assert results["second"]["successes"][0]["message"] == "already present"


IDS = [indicator(i)["id"] for i in range(3)]
VERSIONS = ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00.5Z",
            "2026-03-01T00:00:00.000Z", "2026-04-01T12:00:00.123456Z"]


def _vkey(v: str) -> str:
    return store_mod.version_key(v)



@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4)), min_size=1, max_size=5),
                         min_size=1, max_size=5),
       deletes=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4)), max_size=2))
# two new versions of one id next to an id already present, in one request
@example(requests=[[(1, 0)], [(0, 0), (0, 3), (1, 0)]], deletes=[])
def test_versions_flags_and_presence_follow_a_model(tmp_path_factory, requests, deletes):
    """Any sequence of adds (repeats, several versions of an id in one request, versions already
    present, the same version written two ways) and deletes: the stored versions, the
    first/last flags, the "already present" answers and date_added order match a plain model."""
    node = make_node(tmp_path_factory.mktemp("model") / "jpn", "JPN")
    store = IntelStore(node.conn, party="JPN")
    coll = store.add_collection("Model").id
    model: dict[str, set[str]] = {}
    order: list[tuple[str, str]] = []  # (id, version key) in the order first stored
    for request in requests:
        objs = [indicator(0, modified=VERSIONS[v]) | {"id": IDS[i]} for i, v in request]
        expected_present = []
        seen: dict[str, set[str]] = {k: set(v) for k, v in model.items()}
        for i, v in request:
            key = _vkey(VERSIONS[v])
            expected_present.append(key in seen.get(IDS[i], set()))
            if key not in seen.setdefault(IDS[i], set()):
                order.append((IDS[i], key))
            seen[IDS[i]].add(key)
        status = store.add_objects(coll, objs).status
        got_present = [s.get("message") == "already present" for s in status["successes"]]
        assert got_present == expected_present
        model = seen
    for i, v in deletes:
        key = _vkey(VERSIONS[v])
        if key in model.get(IDS[i], set()):
            store.delete_object(coll, IDS[i], "JPN", Filters(versions=(VERSIONS[v],)))
            model[IDS[i]].discard(key)
            order.remove((IDS[i], key))
    rows = node.conn.execute("SELECT stix_id, vkey, is_first, is_last, date_added FROM intel_objects"
                             " ORDER BY seq").fetchall()
    assert {(r[0], r[1]) for r in rows} == {(i, k) for i, ks in model.items() for k in ks}
    assert len(rows) == sum(len(ks) for ks in model.values())
    for r in rows:
        ks = model[r[0]]
        assert (r[2], r[3]) == (int(r[1] == min(ks)), int(r[1] == max(ks))), (r, sorted(ks))
    added = [r[4] for r in rows]
    assert added == sorted(added) and len(set(added)) == len(added)
    for oid, ks in model.items():
        if ks:
            # the versions endpoint lists them oldest date_added first
            assert [_vkey(v) for v in store.versions(coll, oid, "JPN").items] == [k for i, k in order if i == oid]


def _insert_marking(md):
    return lambda conn: conn.execute("INSERT INTO intel_markings(id, originator, body) VALUES (?, 'JPN', ?)",
                                     (md["id"], json.dumps(md)))


def test_a_marking_in_another_threads_open_transaction_is_not_used(jpn, while_uncommitted):
    """Markings are read on the node's shared connection: an add must not see (nor cache) a
    marking definition another thread has written but not committed. Had it done so, a rollback
    would leave an object released to KOR by a marking that was never stored (unknown markings
    withhold)."""
    from accord.intel.markings import AccordLabel

    store = store_for(jpn)
    coll = store.add_collection("Intel")
    md = AccordLabel("UNCLASSIFIED", frozenset({"JPN", "KOR"}), originator="JPN").marking_definition()
    obj = indicator(1) | {"object_marking_refs": [md["id"]]}
    while_uncommitted(store.lock, store.conn, _insert_marking(md), lambda: store.add_objects(coll, [obj]))
    assert ("JPN", md["id"]) not in store._defs
    assert jpn.conn.execute("SELECT rel FROM intel_objects WHERE stix_id = ?", (obj["id"],)).fetchone()[0] == "|"
    assert store.get_objects(coll.id, "KOR").items == []


def test_an_sco_already_present_reports_its_stored_version(jpn):
    """An object without created/modified has one version, named by its date_added: adding it
    again answers "already present" with that same version, not a new timestamp."""
    store = store_for(jpn)
    coll = store.add_collection("Observables").id
    sco = {"type": "ipv4-addr", "spec_version": "2.1",
           "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.7"}
    first = store.add_objects(coll, [sco]).status["successes"][0]
    again = store.add_objects(coll, [sco, dict(sco)]).status["successes"]
    assert [a["message"] for a in again] == ["already present", "already present"]
    assert {a["version"] for a in again} == {first["version"]}
    assert store.versions(coll, sco["id"], "JPN").items == [first["version"]]
    fresh = {**sco, "id": "ipv4-addr--0b0c2a8e-7d1f-5d6b-9a51-8e2c3f4d5a61", "value": "198.51.100.8"}
    twice = store.add_objects(coll, [fresh, dict(fresh)]).status["successes"]  # new, then present
    assert twice[0]["version"] == twice[1]["version"] and twice[1]["message"] == "already present"


def test_applying_received_items_never_commits_another_threads_transaction(jpn, while_uncommitted):
    """A TAXII read applies partners' items (sharing.sync_received). It must not touch the
    shared connection outside the node's lock: a schema statement there (executescript) first
    COMMITs whatever transaction another thread has open on it, half-done, so a later rollback
    of that thread's work no longer undoes it."""
    from accord.intel.sharing import sync_received

    store = store_for(jpn)
    coll = store.add_collection("Intel").id
    # e.g. the federation applying a batch on node.conn, then failing
    while_uncommitted(store.lock, store.conn,
                      lambda c: c.execute("INSERT INTO intel_meta(key, value) VALUES ('half-done', 'x')"),
                      lambda: sync_received(jpn, store))
    assert jpn.conn.execute("SELECT COUNT(*) FROM intel_meta WHERE key = 'half-done'").fetchone()[0] == 0
    assert store.count(coll) == 0


def test_marking_lookups_for_sharing_wait_for_other_threads_transactions(jpn, while_uncommitted):
    """Sharing (after the add, outside its lock) looks marking definitions up to send them with
    the items: that lookup takes the lock too, so it never sees nor caches an uncommitted one."""
    from accord.intel.markings import AccordLabel

    store = store_for(jpn)
    md = AccordLabel("UNCLASSIFIED", frozenset({"JPN", "KOR"}), originator="JPN").marking_definition()
    found: dict[str, object] = {}
    while_uncommitted(store.lock, store.conn, _insert_marking(md),
                      lambda: found.update(store.definitions([md["id"]], {})))
    assert found == {} and ("JPN", md["id"]) not in store._defs


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_collections_received_before_their_partner_was_recorded_are_found_again(tmp_path, backend, request):
    """Migration 5 records which partner a collection was made for (only that partner's items
    are applied into it since). A database from before it: a collection receiving made for a
    partner is that partner's — whatever the node's own writers added to it, and even if another
    partner's items were applied into it (that one named a collection not made for it: the
    partner it was made for must not lose its feed over it); one the node made belongs to no
    partner, so no item lands in it again."""
    from accord.node import Node

    jpn = Node.init(tmp_path / "jpn", "JPN",
                    store=request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None)
    store = IntelStore(jpn.conn, party="JPN")

    def received(title, party, *objs, via=None):
        coll = store.add_collection(f"{title} (from {party})", description=f"received from {party}")
        for obj in objs:
            sender = via or party
            store.add_objects(coll.id, [obj], originator=sender, received=(f"{sender}:intel.stix:{obj['id']}", sender))
        return coll.id

    kor = received("Cyber", "KOR", indicator(1))
    store.add_objects(kor, [indicator(2)])  # the node's own writer curates it
    mixed = received("Mixed", "KOR", indicator(3))
    store.add_objects(mixed, [indicator(4)], originator="USA", received=("USA:intel.stix:4", "USA"))
    empty = received("Empty", "USA")  # its first item was invalid: nothing applied
    own = store.add_collection("JPN's").id
    store.add_objects(own, [indicator(5)])
    store.add_objects(own, [indicator(6)], originator="KOR", received=("KOR:intel.stix:6", "KOR"))
    with jpn.conn:  # as an Accord before migration 5 left it
        jpn.conn.execute("UPDATE intel_collections SET received_from = NULL")
        jpn.conn.execute("UPDATE schema_version SET version = 4 WHERE component = 'intel'")
    again = IntelStore(jpn.conn, party="JPN")
    assert {c.id: c.received_from for c in again.collections()} == {kor: "KOR", mixed: "KOR", empty: "USA", own: None}
    jpn.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_ids_written_by_several_originators_before_migration_6_get_one_owner(tmp_path, backend, request):
    """Migration 6 scopes objects per originator. A database from before it, with versions of one
    id by two originators in a collection (written before only the first writer could version an
    id): the node's versions own the id if it wrote any, else the earliest writer's do; the
    others' are served to their writer only, and each originator's first/last flags are its own."""
    from accord.node import Node

    jpn = Node.init(tmp_path / "jpn", "JPN",
                    store=request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None)
    store = IntelStore(jpn.conn, party="JPN")
    coll = store.add_collection("Joint", rel_to=["KOR", "USA"]).id
    v1, v2, v3 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"
    a, b = indicator(1)["id"], indicator(2)["id"]
    store.add_objects(coll, [indicator(1, modified=v1), indicator(1, modified=v2), indicator(1, modified=v3)])
    store.add_objects(coll, [indicator(2, modified=v1), indicator(2, modified=v2)])
    with jpn.conn:  # as an Accord before migration 6 (and before the originator rule) left it
        jpn.conn.execute("UPDATE intel_objects SET originator = 'KOR' WHERE stix_id = ? AND version = ?", (a, v1))
        jpn.conn.execute("UPDATE intel_objects SET originator = 'KOR' WHERE stix_id = ? AND version = ?", (b, v1))
        jpn.conn.execute("UPDATE intel_objects SET originator = 'USA' WHERE stix_id = ? AND version = ?", (b, v2))
        jpn.conn.execute("ALTER TABLE intel_objects DROP COLUMN shadowed")
        jpn.conn.execute("UPDATE schema_version SET version = 5 WHERE component = 'intel'")
    again = IntelStore(jpn.conn, party="JPN")
    rows = {(r[0], r[1]): tuple(r[2:]) for r in jpn.conn.execute(
        "SELECT stix_id, version, originator, shadowed, is_first, is_last FROM intel_objects")}
    assert rows == {(a, v1): ("KOR", 1, 1, 1), (a, v2): ("JPN", 0, 1, 0), (a, v3): ("JPN", 0, 0, 1),
                    (b, v1): ("KOR", 0, 1, 1), (b, v2): ("USA", 1, 1, 1)}
    assert again.versions(coll, a, "JPN").items == [v2, v3] and again.versions(coll, a, "KOR").items == [v1, v2, v3]
    assert again.versions(coll, b, "JPN").items == [v1] and again.versions(coll, b, "USA").items == [v1, v2]
    jpn.close()


def _label_and_a_fake_of_it(tmp_path, backend: str, request):
    """A JPN node on ``backend`` with a collection released to KOR, the node's SECRET label's
    marking definition, and a definition under the same id that releases to KOR (a partner's).
    Returns the node, its intel store, the collection id, the label and the fake."""
    from accord.intel.markings import AccordLabel
    from accord.node import Node

    jpn = Node.init(tmp_path / "jpn", "JPN",
                    store=request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None)
    store = IntelStore(jpn.conn, party="JPN")
    coll = store.add_collection("Joint", rel_to=["KOR"]).id
    label = AccordLabel("SECRET", {"JPN"}, originator="JPN").marking_definition()
    fake = {**AccordLabel("UNCLASSIFIED", {"JPN", "KOR"}, originator="JPN").marking_definition(), "id": label["id"]}
    return jpn, store, coll, label, fake


def _markings_as_before_migration_7(conn, definitions: list[dict]) -> None:
    """The intel schema at version 6: one marking definition per id, holding ``definitions``."""
    with conn:
        conn.execute("DROP TABLE intel_markings")
        conn.execute("CREATE TABLE intel_markings (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        for md in definitions:
            conn.execute("INSERT INTO intel_markings(id, body) VALUES (?, ?)", (md["id"], json.dumps(md)))
        conn.execute("UPDATE schema_version SET version = 6 WHERE component = 'intel'")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_marking_definitions_are_each_originator_s_after_migration_7(tmp_path, backend, request):
    """Migration 7 keeps marking definitions per (id, originator). A database from before it held
    one per id, the first stored: a partner's definition under the id of the node's label stood
    for the node's. Each originator gets the definitions it stored as objects; one whose objects
    are all deleted stays, as unknown originator's, the last one consulted for another party's
    objects (never for the node's: it may be any writer's)."""
    from accord.intel.markings import AccordLabel

    jpn, store, coll, label, fake = _label_and_a_fake_of_it(tmp_path, backend, request)
    orphan = AccordLabel("CONFIDENTIAL", {"JPN", "KOR"}, originator="JPN").marking_definition()
    store.add_objects(coll, [fake], originator="KOR")
    store.add_objects(coll, [label])
    # as an Accord before migration 7 left it: the first definition stored under an id
    _markings_as_before_migration_7(jpn.conn, [fake, orphan])
    again = IntelStore(jpn.conn, party="JPN")
    assert again.definitions([label["id"]], {}) == {label["id"]: label}
    assert again.definitions([label["id"]], {}, "KOR") == {label["id"]: fake}
    assert again.definitions([orphan["id"]], {}, "KOR") == {orphan["id"]: orphan}
    assert again.definitions([orphan["id"]], {}) == {}
    secret = indicator(1, object_marking_refs=[label["id"]])
    again.add_objects(coll, [secret])
    assert again.get_objects(coll, "KOR", Filters(ids=(secret["id"],))).items == []
    jpn.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_definition_of_unknown_originator_never_marks_the_node_s_objects(tmp_path, backend, request):
    """Before migration 7 the first definition stored under an id stood for everyone's, and a
    partner's tool could store one first under the id of the node's label (its id is derived
    from the label's content) and then delete its object: the definition stayed, kept by the
    migration as of an unknown originator. It may be that tool's: the node's later objects
    marked with the id must not be read with it (releasable to the tool's party), but as marked
    with a definition the node does not have — withheld from every partner — until the node
    stores its own."""
    jpn, _, coll, label, fake = _label_and_a_fake_of_it(tmp_path, backend, request)
    # as an Accord before migration 7 left it: the tool's definition, its object deleted
    _markings_as_before_migration_7(jpn.conn, [fake])
    again = IntelStore(jpn.conn, party="JPN")
    secret = indicator(1, object_marking_refs=[label["id"]])
    again.add_objects(coll, [secret])
    assert again.get_objects(coll, "KOR", Filters(ids=(secret["id"],))).items == []
    again.add_objects(coll, [label])  # the node's own definition: its objects are read with it from then on
    later = indicator(2, object_marking_refs=[label["id"]])
    again.add_objects(coll, [later])
    assert again.get_objects(coll, "KOR", Filters(ids=(later["id"],))).items == []
    assert again.get_objects(coll, "JPN", Filters(ids=(later["id"],))).items != []
    jpn.close()
