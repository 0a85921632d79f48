"""Receipt proofs against a hostile partner's bookkeeping (accord.federation.receipts): the
sender's table of waiting checks cannot be grown without bound, and a leaf that names the item
but leaves out what an honest receiver records (the item's digest, the item a retraction
retracts) is a false receipt, not a proof."""

from __future__ import annotations

import pytest

from accord.federation import InProcessNetwork, Receipt, receipts, remove_partner, retract, share, status
from accord.federation.treeheads import reset_partner_head
from accord.federation.schema import write_lock
from accord.node import Node
from accord.store.base import transaction
from federation_harness import federation_over, ledger_events, make_nodes, naming, note


def _waiting(node: Node, party: str) -> list[tuple[int, int]]:
    return [tuple(r) for r in node.conn.execute(
        "SELECT seq, ledger_idx FROM fed_receipt_checks WHERE party = ? ORDER BY seq", (party,))]


def _crafted(kor: Node, event: str, data: dict) -> int:
    """An entry KOR's ledger really holds (so its proof verifies), made as a lying KOR would."""
    with write_lock(kor), transaction(kor.conn):
        return kor.ledger.append(event, data, time=kor.clock.now())


def _record(node: Node, party: str, given: list[Receipt]) -> int:
    with write_lock(node), transaction(node.conn):
        return receipts.record(node.conn, party, tuple(given), "2026-12-06T00:00:00Z")


def test_a_number_acknowledged_again_under_another_index_keeps_one_check(node_pair):
    """A partner that has its envelopes sent again (an acknowledgement asking for them anew) and
    names a new index each time grew one row per resend; the check is per envelope sent."""
    nodes = node_pair
    jpn = nodes["JPN"]
    sent = [share(jpn, note(jpn, n), "KOR") for n in range(3)]
    for round_ in range(4):
        _record(jpn, "KOR", [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True,
                                     ledger_index=100 * round_ + s.seq) for s in sent])
    assert _waiting(jpn, "KOR") == [(1, 1), (2, 2), (3, 3)]   # the first index named, kept


def _stored_receipts_under_a_cap_of_3(jpn, monkeypatch, n: int) -> list[Receipt]:
    """``n`` notes JPN shared with KOR, and the ``stored`` receipts KOR would give them (each
    naming its own sequence number as its ledger index), with the cap of waiting checks at 3."""
    monkeypatch.setattr(receipts, "MAX_PENDING", 3)
    sent = [share(jpn, note(jpn, k), "KOR") for k in range(n)]
    return [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True, ledger_index=s.seq) for s in sent]


def test_receipts_past_the_cap_of_waiting_checks_are_counted_unchecked_not_stored(node_pair, monkeypatch):
    nodes = node_pair
    jpn = nodes["JPN"]
    given = _stored_receipts_under_a_cap_of_3(jpn, monkeypatch, 5)
    assert _record(jpn, "KOR", given[:2]) == 0
    assert _record(jpn, "KOR", given[2:]) == 2          # room for one more of three
    assert [seq for seq, _ in _waiting(jpn, "KOR")] == [1, 2, 3]


def test_an_item_received_entry_without_the_items_digest_is_a_false_receipt(node_pair):
    """Every receiver that names an index records the item's digest in the entry; a lying one
    can write an entry with the right id and no digest for an item it altered or dropped."""
    nodes = node_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    item = note(jpn, 0)
    crafted = _crafted(kor, "item.received", {"item_id": item.id, "kind": item.kind, "from": "JPN"})
    fed = federation_over(nodes, naming(lambda r: crafted))
    share(jpn, item, "KOR")
    fed.sync()
    [event] = ledger_events(jpn.dir, "partner.receipt_false")
    assert event["item_id"] == item.id and "without its digest" in event["reason"]
    assert _waiting(jpn, "KOR") == []


def test_a_retraction_entry_of_another_item_is_a_false_receipt(node_pair):
    nodes = node_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    first = share(jpn, note(jpn, 0), "KOR")
    other = share(jpn, note(jpn, 1), "KOR")
    federation_over(nodes, InProcessNetwork()).sync()                 # both delivered and proven
    assert ledger_events(jpn.dir, "partner.receipt_false") == []
    # KOR records the retraction as one of the *other* item, and names that entry
    fed = federation_over(nodes, naming(lambda r: _crafted(kor, "item.retracted", {
        "item_id": other.item_id, "by": "JPN", "retraction": r.item_id})))
    [sent] = retract(jpn, first.item_id, "withdrawn")
    fed.sync()
    [event] = ledger_events(jpn.dir, "partner.receipt_false")
    assert event["item_id"] == sent.item_id and f"not of {first.item_id}" in event["reason"]


def test_a_removed_partners_waiting_checks_go_with_it(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]
    fed = federation_over(nodes, naming(lambda r: 2**40))   # beyond every head: never proven
    share(jpn, note(jpn, 0), "KOR")
    fed.sync()
    assert len(_waiting(jpn, "KOR")) == 1
    remove_partner(jpn, "KOR")
    assert _waiting(jpn, "KOR") == []


def _counted(node: Node, party: str) -> int:
    row = node.conn.execute("SELECT receipts_pending FROM fed_partner_state WHERE party = ?", (party,)).fetchone()
    return row[0] if row is not None else 0


def test_the_pending_count_the_cap_reads_is_the_number_of_waiting_checks_through_every_change(node_pair,
                                                                                              monkeypatch):
    """The cap on waiting checks reads a per-partner count (not a COUNT(*) of up to 200,000 rows
    at every acknowledgement): it is changed in each transaction that inserts or deletes a check
    — recorded (once per number, up to the cap), proven, found false, dropped by a head reset or
    a removal — so it never drifts from the rows."""
    nodes = node_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]

    def same(expected: int) -> None:
        assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == expected

    same(0)
    monkeypatch.setattr(receipts, "MAX_PENDING", 4)
    sent = [share(jpn, note(jpn, n), "KOR") for n in range(6)]
    given = [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True, ledger_index=2**40 + s.seq) for s in sent]
    _record(jpn, "KOR", given[:3])
    _record(jpn, "KOR", given[:3])                       # named again: no new row
    same(3)
    assert _record(jpn, "KOR", given) == 2               # room for one more of three
    same(4)
    reset_partner_head(jpn, "KOR", "restored from a backup")
    same(0)
    monkeypatch.setattr(receipts, "MAX_PENDING", 200_000)
    fed = federation_over(nodes, InProcessNetwork())         # delivered, recorded and proven
    fed.sync()
    same(0)
    assert _state_proven(jpn) == 6
    item = note(jpn, 10)
    crafted = _crafted(kor, "item.received", {"item_id": item.id, "kind": item.kind, "from": "JPN"})
    fed = federation_over(nodes, naming(lambda r: crafted if r.item_id == item.id else 2**40))
    share(jpn, item, "KOR")
    share(jpn, note(jpn, 11), "KOR")
    fed.sync()                                           # one false, one beyond every head
    assert len(ledger_events(jpn.dir, "partner.receipt_false")) == 1
    same(1)
    remove_partner(jpn, "KOR")
    same(0)


def _state_proven(node: Node) -> int:
    return node.conn.execute("SELECT receipts_proven FROM fed_partner_state WHERE party = 'KOR'").fetchone()[0]


def test_the_schema_step_fills_the_pending_count_from_the_waiting_checks(tmp_path):
    from accord.store.migrations import versions

    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    sent = [share(jpn, note(jpn, n), "KOR") for n in range(3)]
    _record(jpn, "KOR", [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True, ledger_index=s.seq) for s in sent])
    with write_lock(jpn), transaction(jpn.conn):   # as a database from before the count left it
        jpn.conn.execute("ALTER TABLE fed_partner_state DROP COLUMN receipts_pending")
        jpn.conn.execute("DELETE FROM fed_partner_state WHERE party = 'KOR'")
        jpn.conn.execute("UPDATE schema_version SET version = 9 WHERE component = 'federation'")
    for n in nodes.values():
        n.close()
    with Node.open(tmp_path / "JPN") as jpn:
        status(jpn)                                        # migrates it
        assert versions(jpn.conn)["federation"] == 11
        assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == 3


def _set_count(node: Node, party: str, value: object) -> None:
    """A database edit of the partner's count of waiting checks (nothing in the node writes one)."""
    with write_lock(node), transaction(node.conn):
        node.conn.execute("UPDATE fed_partner_state SET receipts_pending = ? WHERE party = ?", (value, party))


def test_a_negative_pending_count_does_not_raise_the_cap_the_rows_are_counted_and_the_count_set(node_pair,
                                                                                               monkeypatch):
    """The cap was ``MAX_PENDING - receipts_pending``: a count edited below 0 admitted that many
    rows past it. A count below 0 is not trusted: the rows are counted, and the count set to them."""
    nodes = node_pair
    jpn = nodes["JPN"]
    given = _stored_receipts_under_a_cap_of_3(jpn, monkeypatch, 6)
    assert _record(jpn, "KOR", given[:1]) == 0
    _set_count(jpn, "KOR", -5)
    assert _record(jpn, "KOR", given[1:]) == 3           # room for two more of five, not for all
    assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == 3


def test_a_missing_pending_count_does_not_lift_the_cap(node_pair, monkeypatch):
    """A partner's state row deleted (its count with it) read as a count of 0: the cap admitted a
    whole MAX_PENDING more on top of the rows held."""
    nodes = node_pair
    jpn = nodes["JPN"]
    given = _stored_receipts_under_a_cap_of_3(jpn, monkeypatch, 5)
    assert _record(jpn, "KOR", given[:3]) == 0
    with write_lock(jpn), transaction(jpn.conn):
        jpn.conn.execute("DELETE FROM fed_partner_state WHERE party = 'KOR'")
    assert _record(jpn, "KOR", given[3:]) == 2
    assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == 3


@pytest.mark.sqlite_only  # SQLite keeps text in an INTEGER column; PostgreSQL refuses it
def test_a_pending_count_that_is_not_a_number_neither_stops_acknowledgements_nor_lifts_the_cap(node_pair,
                                                                                              monkeypatch):
    """A count edited to text raised TypeError in the acknowledgement's transaction, at every
    acknowledgement from the partner."""
    nodes = node_pair
    jpn = nodes["JPN"]
    given = _stored_receipts_under_a_cap_of_3(jpn, monkeypatch, 4)
    assert _record(jpn, "KOR", given[:2]) == 0
    _set_count(jpn, "KOR", "many")
    assert _record(jpn, "KOR", given[2:]) == 1
    assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == 3
