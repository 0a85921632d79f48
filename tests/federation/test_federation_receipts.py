"""Receipt proofs (accord.federation.receipts): a partner's "stored" receipt names the ledger entry
that recorded the item, and the sender proves it against the partner's own signed checkpoint.

Honest deliveries are proven (in process and between real ``accord node serve`` processes); a
partner that acknowledges what it did not ledger, or names another item's entry, is caught,
ledgered ``partner.receipt_false`` and flagged; one that will not prove is said, not flagged; the
route serves only the caller's entries, and nothing to an unsigned caller."""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.api.app import create_app
from accord.core import merkle
from accord.core.canonical import parse_json_strict
from accord.errors import InputError, NotFoundError, PartnerDeferred
from accord.federation import (Federation, HttpTransport, InProcessNetwork, receipts, retract, share, share_many,
                               status)
from accord.federation.httpsig import sign_request
from accord.federation.inbox import MAX_LEDGER_INDEX, BatchAck, Receipt, receive_envelope
from accord.federation.schema import write_lock
from accord.node import Node
from federation_harness import NodeProcess, Rewriting, federation_over, free_port, ledger_events, make_nodes, naming, note


def _leaf(node: Node, index: int) -> dict:
    return parse_json_strict(node.ledger.leaf(index))


def _state(node: Node, party: str) -> tuple:
    row = node.conn.execute("SELECT receipts_proven, receipts_false, receipts_unindexed, inconsistent "
                            "FROM fed_partner_state WHERE party = ?", (party,)).fetchone()
    return tuple(row)


def _pending(node: Node, party: str) -> int:
    return node.conn.execute("SELECT COUNT(*) FROM fed_receipt_checks WHERE party = ?", (party,)).fetchone()[0]


# --- the receiver names its entry -------------------------------------------------------------
def test_a_stored_receipt_names_the_item_received_entry_and_a_duplicate_the_same_one(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    from accord.core.envelopes import seal

    item = note(jpn, 1)
    env = seal(item, "KOR", 1, jpn.identity, jpn.clock.now()).to_json()
    first = receive_envelope(kor, env, sender="JPN")
    assert first.status == "stored" and first.ledger_index is not None
    entry = _leaf(kor, first.ledger_index)
    assert entry["type"] == "item.received"
    assert (entry["data"]["item_id"], entry["data"]["from"], entry["data"]["digest"]) == (item.id, "JPN", item.digest())
    again = receive_envelope(kor, env, sender="JPN")                  # the acknowledgement was lost: sent again
    assert (again.status, again.ledger_index) == ("duplicate", first.ledger_index)
    other = seal(item, "KOR", 2, jpn.identity, jpn.clock.now()).to_json()   # the same item under another number
    dup = receive_envelope(kor, other, sender="JPN")
    assert (dup.status, dup.ledger_index) == ("duplicate", first.ledger_index)
    assert Receipt.from_json(dup.to_json()) == dup


# --- honest deliveries are proven ---------------------------------------------------------------
def test_receipts_of_an_in_process_delivery_are_proven_against_the_partners_head(fed_pair):
    nodes, _, _, fed = fed_pair
    jpn = nodes["JPN"]
    first = share(jpn, note(jpn, 0), "KOR")
    for n in range(1, 6):
        share(jpn, note(jpn, n), "KOR")
    fed.sync()
    assert _pending(jpn, "KOR") == 0
    proven, false, unindexed, flag = _state(jpn, "KOR")
    assert (proven, false, unindexed, flag) == (6, 0, 0, None)
    [kor] = [p for p in status(jpn)["partners"] if p["party"] == "KOR"]
    assert kor["receipts"] == {"pending": 0, "proven": 6, "false": 0, "unindexed": 0}
    # a retraction's receipt names the item.retracted entry, proven the same way
    [sent] = retract(jpn, first.item_id, "withdrawn")
    fed.sync()
    assert _state(jpn, "KOR")[:2] == (7, 0) and _pending(jpn, "KOR") == 0
    retracted = nodes["KOR"].conn.execute("SELECT ledger_idx FROM fed_received WHERE item_id = ?",
                                          (sent.item_id,)).fetchone()[0]
    assert _leaf(nodes["KOR"], retracted)["type"] == "item.retracted"
    assert ledger_events(jpn.dir, "partner.receipt_false") == []


def test_receipts_of_a_delivery_to_a_real_serving_node_are_proven_over_http(tmp_path):
    ports = {"JPN": free_port(), "KOR": free_port()}
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), ports=ports)
    nodes["KOR"].close()
    jpn = nodes["JPN"]
    kor = NodeProcess(tmp_path / "KOR", ports["KOR"]).start()
    transport = HttpTransport()
    try:
        fed = Federation(jpn, transport)
        share(jpn, note(jpn, 0), "KOR")
        share_many(jpn, [note(jpn, n) for n in range(1, 150)], "KOR")   # more than one request's worth
        assert fed.sync() == {"KOR": None}
        assert _pending(jpn, "KOR") == 0
        assert _state(jpn, "KOR") == (150, 0, 0, None)
    finally:
        transport.close()
        kor.stop()
        jpn.close()


# --- keeping up with the stream -------------------------------------------------------------------
class _Counting(InProcessNetwork):
    """Records each batch request's indices and deadline (``within``)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[int, float | None]] = []

    def get_receipts(self, node, party, indices, size, within=None):
        self.asked.append((len(indices), within))
        return super().get_receipts(node, party, indices, size, within)


def test_a_backlog_of_600_receipts_is_proven_in_one_round_64_a_request(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    net = _Counting()
    fed = federation_over(nodes, net)
    share_many(jpn, [note(jpn, n) for n in range(600)], "KOR")
    fed.sync()                                                  # delivered, then one head check: one round
    assert _pending(jpn, "KOR") == 0
    assert _state(jpn, "KOR") == (600, 0, 0, None)
    assert [n for n, _ in net.asked] == [64] * 9 + [24]
    assert all(0 < within <= receipts.ROUND_SECONDS for _, within in net.asked)


def test_a_round_of_proofs_ends_when_its_time_is_up_or_the_partner_refuses(node_pair, monkeypatch):
    nodes = node_pair
    jpn = nodes["JPN"]
    now = [1000.0]
    monkeypatch.setattr(receipts, "time", type("Clock", (), {"monotonic": staticmethod(lambda: now[0])}))
    class Slow(_Counting):   # each request takes 25 s of the round's 60
        def get_receipts(self, node, party, indices, size, within=None):
            now[0] += 25
            return super().get_receipts(node, party, indices, size, within)

    net = Slow()
    fed = federation_over(nodes, net)
    share_many(jpn, [note(jpn, n) for n in range(400)], "KOR")
    fed.sync()
    assert net.asked == [(64, 60.0), (64, 35.0), (64, 10.0)]     # a fourth would start past the round
    assert _pending(jpn, "KOR") == 400 - 192

    class Refusing(_Counting):  # the second request answered 429: the round ends there
        def get_receipts(self, node, party, indices, size, within=None):
            if self.asked:
                self.asked.append((len(indices), within))
                raise PartnerDeferred("KOR answered HTTP 429: too many", retry_after=5)
            return super().get_receipts(node, party, indices, size, within)

    net = Refusing()
    fed = federation_over(nodes, net)
    fed.sync()
    assert [n for n, _ in net.asked] == [64, 64]
    assert _pending(jpn, "KOR") == 400 - 256
    # what was not asked, or not answered, is no refusal: nothing counts a try
    assert jpn.conn.execute("SELECT COUNT(*) FROM fed_receipt_checks WHERE tries > 0").fetchone()[0] == 0


def test_a_partner_without_the_batch_route_is_asked_one_index_at_a_time(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    class Older(InProcessNetwork):   # as HttpTransport reads a 404 for /receipts
        calls: list[str] = []

        def get_receipts(self, node, party, indices, size, within=None):
            self.calls.append("receipts")
            return None

        def get_receipt(self, node, party, index, size):
            self.calls.append("receipt")
            return super().get_receipt(node, party, index, size)

    net = Older()
    fed = federation_over(nodes, net)
    share_many(jpn, [note(jpn, n) for n in range(100)], "KOR")
    fed.sync()
    assert net.calls == ["receipts"] + ["receipt"] * receipts.LEGACY_PROOFS_PER_CHECK
    assert _pending(jpn, "KOR") == 100 - 64 and _state(jpn, "KOR")[:2] == (64, 0)


def test_the_ledger_reads_many_leaves_and_paths_at_once(node_pair):
    ledger = node_pair["KOR"].ledger
    for n in range(40):
        ledger.append("test.event", {"n": n}, time=node_pair["KOR"].clock.now())
    size = ledger.size
    for tree in (size, 3, 1):
        picks = [i for i in (0, tree - 1, 17, 2, 0) if i < tree]
        assert ledger.inclusion_proofs(picks, tree) == [ledger.inclusion_proof(i, tree) for i in picks]
    assert ledger.leaves([5, size, -1, 2**64, 5, size - 1]) == {5: ledger.leaf(5), size - 1: ledger.leaf(size - 1)}
    with pytest.raises(NotFoundError):
        ledger.inclusion_proofs([0, size], size)


def test_proofs_are_served_from_committed_rows_without_waiting_for_the_write_lock(node_pair):
    """``/receipts`` was answered under the node's write lock, so a partner's backlog of proofs
    queued behind (and held up) every delivery; it reads a snapshot of its own: an open write
    transaction neither holds it up nor shows it its uncommitted entries."""
    from concurrent.futures import ThreadPoolExecutor

    from accord.store.base import transaction

    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    for n in range(3):
        assert receive_envelope(kor, _sealed(jpn, n), sender="JPN").status == "stored"
    size = kor.ledger.size
    ours = [i for i in range(size) if _leaf(kor, i)["type"] == "item.received"]
    holding, release = threading.Event(), threading.Event()

    def writer():   # an entry recording an item from JPN, appended and not committed until released
        with write_lock(kor), transaction(kor.conn):
            kor.ledger.append("item.received", {"item_id": "x", "from": "JPN", "digest": "d"}, time=kor.clock.now())
            holding.set()
            release.wait(30)

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        held = pool.submit(writer)
        assert holding.wait(10)
        served = pool.submit(receipts.local_receipts, kor, "JPN", [*ours, size], size).result(timeout=10)
        assert [p["index"] for p in served["proofs"]] == ours and served["not_found"] == [size]
        past = pool.submit(receipts.local_receipts, kor, "JPN", [size], size + 1).result(timeout=10)
        assert past == {"size": size + 1, "proofs": [], "not_found": [size]}   # not committed: not there
    finally:
        release.set()
        pool.shutdown(wait=True)
    held.result()
    assert receipts.local_receipts(kor, "JPN", [size], size + 1)["proofs"][0]["index"] == size   # committed now


def _sealed(sender: Node, n: int) -> dict:
    from accord.core.envelopes import seal

    return seal(note(sender, n), "KOR", n + 1, sender.identity, sender.clock.now()).to_json()


# --- lying partners -------------------------------------------------------------------------------
def _acknowledging_unstored(monkeypatch, index: int) -> None:
    """A lying receiver: every inbox acknowledges each envelope ``stored``, naming ledger entry
    ``index``, and stores and ledgers nothing."""
    monkeypatch.setattr("accord.federation.inbox._Batch.write", lambda self, count: self.receipts.__setitem__(
        slice(None), [dataclasses.replace(r, ledger_index=index) for r in self.receipts]))


def _said_at_once(monkeypatch, caplog):
    """A receipt unproven is said at once (and again for every partner): returns what gives the
    ``receipt.unproven`` warnings logged so far."""
    monkeypatch.setattr(receipts, "UNPROVEN_AFTER", 0.0)
    monkeypatch.setattr(receipts, "_said", {})
    caplog.set_level(logging.WARNING, logger="accord.federation")
    return lambda: [r for r in caplog.records if getattr(r, "event", None) == "receipt.unproven"]


def _one_delivered_honestly(nodes) -> int:
    """JPN's first item delivered to KOR and proven; the index of KOR's entry recording it."""
    share(nodes["JPN"], note(nodes["JPN"], 0), "KOR")
    federation_over(nodes, InProcessNetwork()).sync()
    return nodes["KOR"].conn.execute("SELECT ledger_idx FROM fed_received").fetchone()[0]


def test_a_receipt_naming_another_items_entry_is_caught_ledgered_and_flagged(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    honest = _one_delivered_honestly(nodes)
    # from now on KOR answers every receipt with the entry of that first item
    fed = federation_over(nodes, naming(lambda r: honest))
    lied = share(jpn, note(jpn, 1), "KOR")
    fed.sync()
    proven, false, _, flag = _state(jpn, "KOR")
    assert (proven, false) == (1, 1)
    assert flag and f"false receipt for {lied.item_id}" in flag
    [event] = ledger_events(jpn.dir, "partner.receipt_false")
    assert (event["party"], event["item_id"], event["ledger_index"]) == ("KOR", lied.item_id, honest)
    # the evidence: KOR's signed checkpoint, and the leaf with its path to that checkpoint's root
    leaf = base64.b64decode(event["leaf"])
    merkle.verify_inclusion(honest, event["tree_size"], merkle.hash_leaf(leaf),
                            [base64.b64decode(p) for p in event["path"]], bytes.fromhex(event["root"]))
    assert f"\n{event['tree_size']}\n" in event["note"]
    st_kor = [p for p in status(jpn)["partners"] if p["party"] == "KOR"][0]
    assert st_kor["inconsistent"] == flag and st_kor["receipts"]["false"] == 1
    # sticky, until an operator resets the head
    from accord.federation.treeheads import reset_partner_head
    reset_partner_head(jpn, "KOR", reason="looked into it")
    assert _state(jpn, "KOR")[3] is None


def test_receipts_naming_one_entry_for_several_items_are_all_caught_that_entry_asked_once(node_pair):
    """The route refuses an index given twice: the sender asks each index once, however many of
    its pending receipts name it, and judges each receipt by the one proof."""
    nodes = node_pair
    jpn = nodes["JPN"]
    honest = _one_delivered_honestly(nodes)
    class Naming(_Counting):  # from now on every receipt of KOR's names that first entry
        def send(self, node, party, envelopes):
            ack = super().send(node, party, envelopes)
            return dataclasses.replace(ack, receipts=tuple(dataclasses.replace(r, ledger_index=honest)
                                                           for r in ack.receipts))

    net = Naming()
    fed = federation_over(nodes, net)
    lied = [share(jpn, note(jpn, n), "KOR").item_id for n in (1, 2, 3)]
    fed.sync()
    assert [n for n, _ in net.asked] == [1]
    assert _state(jpn, "KOR")[:2] == (1, 3) and _pending(jpn, "KOR") == 0
    assert sorted(e["item_id"] for e in ledger_events(jpn.dir, "partner.receipt_false")) == sorted(lied)


def test_a_receipt_for_an_item_never_ledgered_is_caught_when_the_partner_serves_a_proof(node_pair, monkeypatch):
    """KOR acknowledges 'stored' without storing or ledgering anything and names an index of its
    log: the entry there (KOR's own pin of JPN) is not the item's."""
    nodes = node_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    _acknowledging_unstored(monkeypatch, 0)

    class Lying(InProcessNetwork):  # KOR's route, equally dishonest: it proves whatever entry is asked
        def get_receipts(self, node, party, indices, size, within=None):
            target = self._target(node, party)
            with write_lock(target):
                leaves = target.ledger.leaves(indices)
                paths = target.ledger.inclusion_proofs(indices, size)
            return {"size": size, "not_found": [], "proofs": [
                {"index": i, "size": size, "leaf": base64.b64encode(leaves[i]).decode(),
                 "path": [base64.b64encode(h).decode() for h in path]} for i, path in zip(indices, paths)]}

    fed = federation_over(nodes, Lying())
    lied = share(jpn, note(jpn, 0), "KOR")
    fed.sync()
    assert kor.items() == []
    assert _state(jpn, "KOR")[1] == 1
    [event] = ledger_events(jpn.dir, "partner.receipt_false")
    assert event["item_id"] == lied.item_id and "not the receipt of" in event["reason"]


def test_a_proof_that_does_not_verify_is_a_false_receipt(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    class Tampered(InProcessNetwork):
        def get_receipts(self, node, party, indices, size, within=None):
            answer = super().get_receipts(node, party, indices, size, within)
            for proof in answer["proofs"]:
                proof["path"] = [base64.b64encode(bytes(32)).decode() for _ in proof["path"]] or \
                    [base64.b64encode(bytes(32)).decode()]
            return answer

    fed = federation_over(nodes, Tampered())
    share(jpn, note(jpn, 0), "KOR")
    fed.sync()
    [event] = ledger_events(jpn.dir, "partner.receipt_false")
    assert "does not verify" in event["reason"]
    assert _state(jpn, "KOR")[3]


def test_a_partner_that_will_not_prove_is_warned_about_not_flagged(node_pair, monkeypatch, caplog):
    """KOR acknowledges without ledgering and its route (honest) answers 404: no evidence, so no
    flag; once unproven long enough a ``receipt.unproven`` warning says so."""
    nodes = node_pair
    jpn = nodes["JPN"]
    fed = federation_over(nodes, InProcessNetwork())
    share(jpn, note(jpn, 0), "KOR")
    fed.sync()                                                   # an entry of JPN's at KOR, proven
    _acknowledging_unstored(monkeypatch, 1)
    share(jpn, note(jpn, 1), "KOR")
    unproven = _said_at_once(monkeypatch, caplog)
    fed.sync()                                                   # asked: 404 (entry 1 is not JPN's item)
    fed.sync()                                                   # asked again: still refused, now said
    assert _pending(jpn, "KOR") == 1
    assert _state(jpn, "KOR")[:2] == (1, 0) and _state(jpn, "KOR")[3] is None
    said = unproven()
    assert len(said) == 1 and said[0].partner == "KOR"
    assert ledger_events(jpn.dir, "partner.receipt_false") == []


def test_a_receipt_naming_an_entry_beyond_every_signed_head_is_warned_about_and_dropped_by_a_reset(
        node_pair, monkeypatch, caplog):
    from accord.federation.treeheads import reset_partner_head

    nodes = node_pair
    jpn = nodes["JPN"]
    fed = federation_over(nodes, naming(lambda r: MAX_LEDGER_INDEX))
    lied = share(jpn, note(jpn, 0), "KOR")
    unproven = _said_at_once(monkeypatch, caplog)
    fed.sync()
    said = unproven()
    assert len(said) == 1 and said[0].item_id == lied.item_id and "beyond its signed head" in said[0].getMessage()
    assert _pending(jpn, "KOR") == 1 and _state(jpn, "KOR")[3] is None
    out = reset_partner_head(jpn, "KOR", reason="KOR restored from a backup")
    assert out["receipt_checks_dropped"] == 1 and _pending(jpn, "KOR") == 0
    assert ledger_events(jpn.dir, "partner.head_reset")[-1]["receipt_checks_dropped"] == 1


def test_receipts_without_an_index_are_counted_unproven_not_errors(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    # an older partner: no ledger_index in its receipts
    fed = federation_over(nodes, Rewriting(lambda r: dataclasses.replace(r, ledger_index=None)))
    for n in range(3):
        share(jpn, note(jpn, n), "KOR")
    fed.sync()
    assert _state(jpn, "KOR") == (0, 0, 3, None)
    assert _pending(jpn, "KOR") == 0


# --- the route ----------------------------------------------------------------------------------------
@pytest.fixture
def served(tmp_path):
    """JPN, KOR and USA; KOR holds an item from JPN and one from USA; a client of KOR's app."""
    nodes = make_nodes(tmp_path)
    jpn, kor, usa = nodes["JPN"], nodes["KOR"], nodes["USA"]
    from accord.core.envelopes import seal

    got = {}
    for sender, n in ((jpn, 1), (usa, 2)):
        item = note(sender, n, kind="warning.track")
        got[sender.party] = receive_envelope(kor, seal(item, "KOR", 1, sender.identity, sender.clock.now()).to_json(),
                                             sender=sender.party)
        assert got[sender.party].status == "stored", got[sender.party]
    with TestClient(create_app(kor), raise_server_exceptions=True) as client:
        yield nodes, got, client
    for n in nodes.values():
        n.close()


def _get(client, who, query, path="/federation/v1/receipt"):
    headers = sign_request(getattr(who, "identity", who), "GET", path, query, b"", datetime.now(UTC), "KOR")
    return client.get(f"{path}?{query}", headers=headers)


BATCH = "/federation/v1/receipts"


def _indices(indices) -> str:
    return "&".join(f"index={i}" for i in indices)


def test_the_route_proves_the_callers_entry_and_nothing_else(served):
    nodes, got, client = served
    jpn, kor = nodes["JPN"], nodes["KOR"]
    size = kor.ledger.size
    mine = got["JPN"].ledger_index
    r = _get(client, jpn, f"index={mine}&size={size}")
    assert r.status_code == 200, r.text
    body = r.json()
    leaf = base64.b64decode(body["leaf"])
    merkle.verify_inclusion(mine, size, merkle.hash_leaf(leaf), [base64.b64decode(p) for p in body["path"]],
                            kor.ledger.root(size))
    # USA's entry, KOR's own entries, an index past the tree, a size past the log: one and the same 404
    answers = set()
    for index, sz in ((got["USA"].ledger_index, size), (0, size), (size, size), (mine, size + 5), (mine, mine)):
        r = _get(client, jpn, f"index={index}&size={sz}")
        assert r.status_code == 404, (index, sz, r.text)
        answers.add(r.json()["detail"]["reason"].replace(f"index {index} ", "").replace(f"size {sz}", ""))
    assert len(answers) == 1 and "USA" not in answers.pop()
    for query in (f"index={2**63}&size=1", f"index=0&size={10**30}", "index=-1&size=3", "index=1"):
        r = _get(client, jpn, query)
        assert r.status_code == 400, (query, r.text)
        assert "\n" not in r.json()["detail"]["reason"]
    for query in ("index=abc&size=3", "index=1.5&size=3", "index=true&size=3"):
        r = _get(client, jpn, query)
        assert (r.status_code, r.json()["detail"]["error"]) == (422, "invalid"), (query, r.text)


def test_the_batch_route_proves_the_callers_entries_and_says_nothing_of_the_rest(served):
    nodes, got, client = served
    jpn, kor, usa = nodes["JPN"], nodes["KOR"], nodes["USA"]
    from accord.core.envelopes import seal

    more = [receive_envelope(kor, seal(note(jpn, n, kind="warning.track"), "KOR", n, jpn.identity,
                                       jpn.clock.now()).to_json(), sender="JPN") for n in (2, 3)]
    mine = [got["JPN"].ledger_index] + [r.ledger_index for r in more]
    theirs, size = got["USA"].ledger_index, kor.ledger.size
    asked = [mine[0], theirs, 0, mine[1], size, size + 10**6, mine[2]]
    r = _get(client, jpn, f"{_indices(asked)}&size={size}", BATCH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["size"] == size and [p["index"] for p in body["proofs"]] == mine
    # USA's entry, KOR's own, indices at and past the tree: listed alike, nothing said of why
    assert body["not_found"] == [theirs, 0, size, size + 10**6]
    for proof in body["proofs"]:
        leaf = base64.b64decode(proof["leaf"])
        assert leaf == kor.ledger.leaf(proof["index"])
        merkle.verify_inclusion(proof["index"], size, merkle.hash_leaf(leaf),
                                [base64.b64decode(p) for p in proof["path"]], kor.ledger.root(size))
        assert _get(client, jpn, f"index={proof['index']}&size={size}").json() == proof   # as the one-index route
    assert set(receipts.parse_proofs(r.content, "KOR", asked, size)) == set(mine)
    # a tree past the log: every index not found, those that exist too
    r = _get(client, jpn, f"{_indices(mine)}&size={size + 5}", BATCH)
    assert r.json() == {"size": size + 5, "proofs": [], "not_found": mine}
    r = _get(client, jpn, f"{_indices(mine)}&size={mine[1]}", BATCH)   # a smaller tree holds only the first
    assert ([p["index"] for p in r.json()["proofs"]], r.json()["not_found"]) == ([mine[0]], mine[1:])
    # USA is given its own entry, and JPN's is not found for it
    r = _get(client, usa, f"index={mine[0]}&index={theirs}&size={size}", BATCH)
    assert ([p["index"] for p in r.json()["proofs"]], r.json()["not_found"]) == ([theirs], [mine[0]])


def test_the_batch_route_answers_hostile_queries_in_one_line_and_reads_nothing(served, monkeypatch):
    nodes, got, client = served
    jpn, size = nodes["JPN"], nodes["KOR"].ledger.size
    read = []
    real = receipts.local_receipts
    monkeypatch.setattr(receipts, "local_receipts", lambda *a: read.append(a) or real(*a))
    for query in (f"{_indices(range(1000))}&size={size}", f"{_indices(range(65))}&size={size}",
                  f"index=1&index=2&index=1&size={size}", f"{_indices([0] * 64)}&size={size}",
                  f"index={2**63}&size={size}", f"index=1&index={10**30}&size={size}", f"index=0&size={10**30}",
                  "index=-1&size=3", "index=1&index=2", f"size={size}", ""):
        r = _get(client, jpn, query, BATCH)
        assert r.status_code == 400, (query[:80], r.text)
        reason = r.json()["detail"]["reason"]
        assert "\n" not in reason and len(reason) < 200, reason
    for query in ("index=1&index=abc&size=3", "index=1.5&size=3", "index=true&size=3"):
        r = _get(client, jpn, query, BATCH)
        assert (r.status_code, r.json()["detail"]["error"]) == (422, "invalid"), (query, r.text)
    assert read == []
    # unsigned, or signed by a key not pinned: 401, nothing read
    assert client.get(f"{BATCH}?{_indices(range(1000))}&size={size}").status_code == 401
    from accord.core.identity import Identity
    assert _get(client, Identity.generate("JPN"), f"index=0&size={size}", BATCH).status_code == 401
    assert read == []
    r = _get(client, jpn, f"{_indices(range(64))}&size={size}", BATCH)     # 64 different ones: answered
    assert r.status_code == 200 and len(r.json()["proofs"]) + len(r.json()["not_found"]) == 64
    assert len(read) == 1


def test_the_route_reads_nothing_for_an_unsigned_or_forged_request(served, monkeypatch):
    nodes, got, client = served
    from accord.core.identity import Identity

    def must_not_run(*args, **kwargs):
        raise AssertionError("the ledger was read for an unauthenticated request")

    monkeypatch.setattr(receipts, "local_receipt", must_not_run)
    query = f"index={got['JPN'].ledger_index}&size={nodes['KOR'].ledger.size}"
    assert client.get(f"/federation/v1/receipt?{query}").status_code == 401
    impostor = Identity.generate("JPN")
    r = _get(client, impostor, query)
    assert r.status_code == 401 and r.json()["detail"]["error"] == "unauthenticated"


# --- Receipt parsing ------------------------------------------------------------------------------
_RECEIPT = {"originator": "JPN", "seq": 1, "item_id": "JPN:test.note:x", "status": "stored", "code": None,
            "reason": None, "consumed": True}


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                       st.sampled_from([0, 1, MAX_LEDGER_INDEX, MAX_LEDGER_INDEX + 1, 2**63 - 1, 2**63, -1]),
                       st.floats(allow_nan=True), st.booleans(), st.text(max_size=5), st.none(),
                       st.lists(st.integers(), max_size=2)),
       status=st.sampled_from(["stored", "duplicate", "rejected"]))
def test_a_receipts_ledger_index_is_taken_only_as_an_integer_within_the_ledgers_bounds(value, status):
    d = dict(_RECEIPT, status=status, ledger_index=value)
    ok = value is None or (type(value) is int and 0 <= value <= MAX_LEDGER_INDEX and status != "rejected")
    try:
        r = Receipt.from_json(d)
    except InputError as exc:
        assert not ok, exc
        assert "ledger_index" in str(exc)
        with pytest.raises(InputError):
            BatchAck.from_json({"receiver": "KOR", "sender": "JPN", "next_seq": 2, "receipts": [d]})
        return
    assert ok
    assert r.ledger_index == value
    assert Receipt.from_json(r.to_json()) == r


def test_databases_from_before_receipt_proofs_gain_the_table_and_columns(tmp_path):
    from accord.store.migrations import versions

    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    for n in nodes.values():   # as nodes made before migrations 7 and 8 left them
        with n.conn:
            n.conn.execute("DROP TABLE fed_receipt_checks")
            n.conn.execute("ALTER TABLE fed_received DROP COLUMN ledger_idx")
            for col in ("receipts_proven", "receipts_false", "receipts_unindexed", "receipts_pending"):
                n.conn.execute(f"ALTER TABLE fed_partner_state DROP COLUMN {col}")
            n.conn.execute("UPDATE schema_version SET version = 6 WHERE component = 'federation'")
        n.close()
    nodes = {p: Node.open(tmp_path / p) for p in ("JPN", "KOR")}
    try:
        jpn = nodes["JPN"]
        fed = federation_over(nodes, InProcessNetwork())
        share(jpn, note(jpn, 0), "KOR")
        fed.sync()
        assert versions(jpn.conn)["federation"] == versions(nodes["KOR"].conn)["federation"] == 11   # (and the quota, pending-count and resealed steps after them)
        assert _state(jpn, "KOR") == (1, 0, 0, None)
    finally:
        for n in nodes.values():
            n.close()
