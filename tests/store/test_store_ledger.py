"""The persisted ledger: appends, proofs from stored subtree hashes, atomicity, tamper detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import merkle
from accord.core.checkpoint import Verifier, open_checkpoint, origin_for
from accord.core.identity import Identity
from accord.errors import CanonicalJSONError, InputError, LedgerError, NotFoundError
from accord.store.ledger import Ledger, leaf_bytes
from accord.store.sqlite import connect

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture()
def node(tmp_path):
    identity = Identity.generate("JPN")
    conn = connect(tmp_path / "accord.db")
    ledger = Ledger(conn, identity, origin_for("JPN", identity.public_key))
    yield ledger
    conn.close()


def _fill(ledger: Ledger, n: int) -> None:
    ledger.append_many([("item.created", {"id": f"JPN:test.note:{i}", "n": i}, T0 + timedelta(seconds=i))
                        for i in range(n)])


def test_leaf_is_canonical_json_of_type_time_data(node):
    idx = node.append("item.created", {"id": "JPN:test.note:1", "b": [1, True, None], "a": "é"}, time=T0)
    assert idx == 0
    leaf = node.leaf(0)
    assert leaf == rfc8785.dumps({"type": "item.created", "time": "2026-03-01T09:30:00.000Z",
                                  "data": {"id": "JPN:test.note:1", "b": [1, True, None], "a": "é"}})
    entry = node.entry(0)
    assert (entry.type, entry.time, entry.data["a"]) == ("item.created", T0, "é")
    assert entry.leaf_hash == merkle.hash_leaf(leaf)


def test_append_returns_consecutive_indices_and_root_matches_reference(node):
    assert node.size == 0 and node.root() == merkle.EMPTY_ROOT
    assert node.append("a.b", {}, time=T0) == 0
    assert node.append_many([("a.b", {"i": i}, T0) for i in range(5)]) == [1, 2, 3, 4, 5]
    assert node.append_many([]) == []
    hashes = [merkle.hash_leaf(node.leaf(i)) for i in range(6)]
    assert node.size == 6 and node.root() == merkle.mth(hashes)


def test_proofs_from_store_equal_in_memory_reference_for_every_size(node):
    _fill(node, 45)
    hashes = [merkle.hash_leaf(e.leaf) for e in node.entries()]
    for n in range(1, 46):
        root = node.root(n)
        assert root == merkle.mth(hashes[:n])
        for m in (0, n // 2, n - 1):
            proof = node.inclusion_proof(m, n)
            assert proof == merkle.inclusion_path(m, hashes[:n])
            merkle.verify_inclusion(m, n, hashes[m], proof, root)
        for m in (1, max(1, n // 3), n):
            proof = node.consistency_proof(m, n)
            assert proof == merkle.consistency_proof(m, hashes[:n])
            merkle.verify_consistency(m, n, proof, node.root(m), root)


def test_proof_bundle_verifies_and_serialises(node):
    _fill(node, 10)
    bundle = node.prove_inclusion(3)
    bundle.verify()
    out = bundle.to_json()
    assert out["index"] == 3 and out["tree_size"] == 10 and len(out["path"]) == 4


def test_ledger_survives_reopen_and_another_connection_appending(tmp_path):
    identity = Identity.generate("KOR")
    origin = origin_for("KOR", identity.public_key)
    a = Ledger(connect(tmp_path / "n.db"), identity, origin)
    _fill(a, 7)
    b = Ledger(connect(tmp_path / "n.db"), identity, origin)
    assert b.size == 7 and b.root() == a.root()
    b.append("item.shared", {"to": "USA"}, time=T0)
    # a's cached frontier is stale; it must notice and append at index 8, not 7
    assert a.append("item.received", {"from": "USA"}, time=T0) == 8
    a.verify()
    assert a.root() == b.root()


def test_failed_batch_leaves_store_unchanged(node):
    _fill(node, 3)
    before = (node.size, node.root())
    with pytest.raises(InputError, match="#1"):
        node.append_many([("ok", {}, T0), ("bad type", {}, T0)])
    with pytest.raises(InputError, match="timezone-aware"):
        node.append("ok", {}, time=datetime(2026, 1, 1))
    with pytest.raises(InputError, match="JSON object"):
        node.append("ok", ["not", "a", "dict"], time=T0)  # type: ignore[arg-type]
    with pytest.raises(CanonicalJSONError):
        node.append("ok", {"x": float("nan")}, time=T0)
    assert (node.size, node.root()) == before
    node.verify()


def test_append_joins_callers_transaction_and_rolls_back_with_it(node):
    _fill(node, 4)
    root = node.root()
    conn = node.conn
    with pytest.raises(RuntimeError):
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            conn.execute("INSERT INTO t VALUES (1)")
            node.append("item.created", {"id": "x"}, time=T0)
            raise RuntimeError("caller fails after the ledger append")
    assert node.size == 4 and node.root() == root
    assert node.append("item.created", {"id": "y"}, time=T0) == 4
    node.verify()


def test_non_utc_times_are_normalised(node):
    jst = timezone(timedelta(hours=9))
    node.append("x", {}, time=datetime(2026, 3, 1, 18, 30, 0, 123999, tzinfo=jst))
    assert json.loads(node.leaf(0))["time"] == "2026-03-01T09:30:00.123Z"


@pytest.mark.parametrize("tamper", [
    "UPDATE ledger_leaves SET leaf = CAST(replace(leaf, 'test.note:5', 'test.note:X') AS BLOB) WHERE idx = 5",
    "UPDATE ledger_leaves SET leaf = replace(leaf, 'test.note:5', 'test.note:X') WHERE idx = 5",
    "DELETE FROM ledger_leaves WHERE idx = 9",
    "UPDATE ledger_leaves SET hash = zeroblob(32) WHERE idx = 2",
    "UPDATE ledger_nodes SET hash = zeroblob(32) WHERE id = (1 << 48) | 2",
    "UPDATE ledger_nodes SET hash = zeroblob(32) WHERE id = (3 << 48)",
    "DELETE FROM ledger_nodes WHERE id = (2 << 48) | 1",
    "INSERT INTO ledger_nodes VALUES ((5 << 48), zeroblob(32))",
])
def test_verify_catches_every_kind_of_tampering(node, tamper):
    _fill(node, 21)
    node.verify()
    node.conn.execute(tamper)
    node.conn.commit()
    with pytest.raises(LedgerError):
        node.verify()


def test_verify_returns_the_head_it_checked(node):
    _fill(node, 12)
    head = node.verify()
    assert (head.origin, head.size, head.root_hash) == (node.origin, 12, node.root())


def test_checkpoint_is_signed_by_the_node_and_opens_with_its_verifier_key(node):
    _fill(node, 5)
    note = node.checkpoint()
    cp, opened = open_checkpoint(note, [Verifier.from_key(node.origin, node.identity.public_key)],
                                 origin=node.origin)
    assert (cp.size, cp.root_hash) == (5, node.root())
    from accord.core.identity import verifier_key
    assert opened.verified[0].name == node.origin
    # identity.verifier_key (what `accord node show` prints) is the same key
    open_checkpoint(note, [verifier_key(node.origin, node.identity.public_key)])


def test_missing_things_are_named(node):
    _fill(node, 3)
    with pytest.raises(NotFoundError, match="no entry 3"):
        node.leaf(3)
    with pytest.raises(NotFoundError, match="no tree of size 4"):
        node.root(4)
    with pytest.raises(NotFoundError, match="no leaf 3"):
        node.inclusion_proof(3, 3)
    with pytest.raises(LedgerError, match="from size 0"):
        node.consistency_proof(0, 3)


@pytest.mark.parametrize("index", [-2**63 - 1, -1, 4, 2**63 - 1, 2**63, 2**64, 10**30])
def test_an_index_past_the_ledger_or_past_64_bits_is_no_entry(node, index):
    """An index no BIGINT holds reached the driver: OverflowError (``accord ledger show --start
    9223372036854775808`` ended in that traceback). It is simply no entry now."""
    _fill(node, 3)
    with pytest.raises(NotFoundError, match=f"no entry {index}"):
        node.leaf(index)
    assert node.entries(index) == [] if index >= 0 else [e.index for e in node.entries(index)] == [0, 1, 2]
    assert [e.index for e in node.entries(1, index)] == ([1, 2] if index > 2 else [])
    with pytest.raises(NotFoundError):
        node.inclusion_proof(index)
    with pytest.raises(NotFoundError):
        node.root(index)
    with pytest.raises((NotFoundError, LedgerError)):
        node.consistency_proof(index, 3 if index < 3 else index)


T = "2026-01-01T00:00:00.000Z"
json_data = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_data, max_size=5))
def test_fast_canonical_path_is_byte_identical_to_rfc8785(data):
    event = {"type": "t.x", "time": T, "data": data}
    try:
        want = rfc8785.dumps(event)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        with pytest.raises(CanonicalJSONError):
            leaf_bytes("t.x", data, T)
        return
    assert leaf_bytes("t.x", data, T) == want


def test_fast_path_declines_where_json_and_jcs_differ():
    tricky = {"\U0001F600": 1, "\uE000": 2, "big": 2**53 - 1, "f": 1.0, "e": 1e21}
    assert leaf_bytes("t.x", tricky, T) == rfc8785.dumps({"type": "t.x", "time": T, "data": tricky})


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**60])
def test_integers_beyond_the_safe_domain_are_rejected_like_rfc8785(n):
    with pytest.raises(CanonicalJSONError):
        leaf_bytes("t.x", {"n": n}, T)


def test_threads_appending_through_one_ledger_lose_nothing(node):
    import threading

    def worker(k: int) -> None:
        for i in range(40):
            node.append("item.created", {"thread": k, "i": i}, time=T0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert node.size == 160
    seen = {(e.data["thread"], e.data["i"]) for e in node.entries()}
    assert seen == {(k, i) for k in range(4) for i in range(40)}
    node.verify()


def test_two_connections_appending_concurrently_lose_nothing(tmp_path):
    import threading

    identity = Identity.generate("USA")
    origin = origin_for("USA", identity.public_key)
    ledgers = [Ledger(connect(tmp_path / "n.db"), identity, origin) for _ in range(2)]

    def worker(k: int) -> None:
        for i in range(30):
            ledgers[k].append_many([("item.shared", {"k": k, "i": i, "j": j}, T0) for j in range(3)])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledgers[0].size == ledgers[1].size == 180
    ledgers[0].verify()
    assert ledgers[0].root() == ledgers[1].root()


def test_verify_reports_progress_up_to_all_hashes(node):
    _fill(node, 37)
    calls = []
    node.verify(progress=lambda done, total: calls.append((done, total)))
    work = 37 + 18 + 9 + 4 + 2 + 1  # leaves + interior nodes at levels 1..5
    assert calls[-1] == (work, work)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_database_from_before_leaf_hashes_moved_is_migrated(tmp_path):
    """Early 0.1 databases kept leaf hashes as level-0 rows of ledger_nodes: opening migrates them."""
    identity = Identity.generate("JPN")
    origin = origin_for("JPN", identity.public_key)
    fresh = Ledger(connect(tmp_path / "new.db"), identity, origin)
    _fill(fresh, 13)
    old = connect(tmp_path / "old.db")
    old.executescript("""
        CREATE TABLE ledger_leaves (idx INTEGER PRIMARY KEY, type TEXT NOT NULL, time TEXT NOT NULL,
                                    leaf BLOB NOT NULL);
        CREATE TABLE ledger_nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
    """)
    for e in fresh.entries():
        old.execute("INSERT INTO ledger_leaves VALUES (?,?,?,?)", (e.index, e.type, "t", e.leaf))
        old.execute("INSERT INTO ledger_nodes VALUES (?,?)", (e.index, e.leaf_hash))
    old.executemany("INSERT INTO ledger_nodes VALUES (?,?)",
                    fresh.conn.execute("SELECT id, hash FROM ledger_nodes").fetchall())
    old.commit()
    migrated = Ledger(old, identity, origin)
    assert migrated.verify().root_hash == fresh.root()
    assert migrated.append("x", {}, time=T0) == 13
    migrated.verify()
