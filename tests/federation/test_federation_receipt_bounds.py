"""Receipt proofs against a hostile partner's bookkeeping (accord.federation.receipts): the
sender's table of waiting checks cannot be grown without bound, and a leaf that names the item
but leaves out what an honest receiver records (the item's digest, the item a retraction
retracts) is a false receipt, not a proof."""

from __future__ import annotations

import dataclasses

from accord.federation import Federation, InProcessNetwork, Receipt, receipts, remove_partner, retract, share, status
from accord.federation.treeheads import reset_partner_head
from accord.federation.schema import write_lock
from accord.node import Node
from accord.store.base import transaction
from federation_harness import ledger_events, make_nodes, note


class _Naming(InProcessNetwork):
    """KOR's acknowledgements on their way back, each stored receipt given the index ``name(receipt)``."""

    def __init__(self, name) -> None:
        super().__init__()
        self.name = name

    def send(self, node, party, envelopes):
        ack = super().send(node, party, envelopes)
        return dataclasses.replace(ack, receipts=tuple(
            dataclasses.replace(r, ledger_index=self.name(r)) if r.status == "stored" else r for r in ack.receipts))


def _federation(nodes: dict[str, Node], net: InProcessNetwork) -> Federation:
    for n in nodes.values():
        net.attach(n)
    return Federation(nodes["JPN"], net)


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


def test_a_number_acknowledged_again_under_another_index_keeps_one_check(tmp_path):
    """A partner that has its envelopes sent again (an acknowledgement asking for them anew) and
    names a new index each time grew one row per resend; the check is per envelope sent."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    try:
        sent = [share(jpn, note(jpn, n), "KOR") for n in range(3)]
        for round_ in range(4):
            _record(jpn, "KOR", [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True,
                                         ledger_index=100 * round_ + s.seq) for s in sent])
        assert _waiting(jpn, "KOR") == [(1, 1), (2, 2), (3, 3)]   # the first index named, kept
    finally:
        for n in nodes.values():
            n.close()


def test_receipts_past_the_cap_of_waiting_checks_are_counted_unchecked_not_stored(tmp_path, monkeypatch):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    try:
        monkeypatch.setattr(receipts, "MAX_PENDING", 3)
        sent = [share(jpn, note(jpn, n), "KOR") for n in range(5)]
        given = [Receipt("JPN", s.seq, s.item_id, "stored", consumed=True, ledger_index=s.seq) for s in sent]
        assert _record(jpn, "KOR", given[:2]) == 0
        assert _record(jpn, "KOR", given[2:]) == 2          # room for one more of three
        assert [seq for seq, _ in _waiting(jpn, "KOR")] == [1, 2, 3]
    finally:
        for n in nodes.values():
            n.close()


def test_an_item_received_entry_without_the_items_digest_is_a_false_receipt(tmp_path):
    """Every receiver that names an index records the item's digest in the entry; a lying one
    can write an entry with the right id and no digest for an item it altered or dropped."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn, kor = nodes["JPN"], nodes["KOR"]
    try:
        item = note(jpn, 0)
        crafted = _crafted(kor, "item.received", {"item_id": item.id, "kind": item.kind, "from": "JPN"})
        fed = _federation(nodes, _Naming(lambda r: crafted))
        share(jpn, item, "KOR")
        fed.sync()
        [event] = ledger_events(jpn.dir, "partner.receipt_false")
        assert event["item_id"] == item.id and "without its digest" in event["reason"]
        assert _waiting(jpn, "KOR") == []
    finally:
        for n in nodes.values():
            n.close()


def test_a_retraction_entry_of_another_item_is_a_false_receipt(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn, kor = nodes["JPN"], nodes["KOR"]
    try:
        first = share(jpn, note(jpn, 0), "KOR")
        other = share(jpn, note(jpn, 1), "KOR")
        _federation(nodes, InProcessNetwork()).sync()                 # both delivered and proven
        assert ledger_events(jpn.dir, "partner.receipt_false") == []
        # KOR records the retraction as one of the *other* item, and names that entry
        fed = _federation(nodes, _Naming(lambda r: _crafted(kor, "item.retracted", {
            "item_id": other.item_id, "by": "JPN", "retraction": r.item_id})))
        [sent] = retract(jpn, first.item_id, "withdrawn")
        fed.sync()
        [event] = ledger_events(jpn.dir, "partner.receipt_false")
        assert event["item_id"] == sent.item_id and f"not of {first.item_id}" in event["reason"]
    finally:
        for n in nodes.values():
            n.close()


def test_a_removed_partners_waiting_checks_go_with_it(tmp_path):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    try:
        fed = _federation(nodes, _Naming(lambda r: 2**40))   # beyond every head: never proven
        share(jpn, note(jpn, 0), "KOR")
        fed.sync()
        assert len(_waiting(jpn, "KOR")) == 1
        remove_partner(jpn, "KOR")
        assert _waiting(jpn, "KOR") == []
    finally:
        for n in nodes.values():
            n.close()


def _counted(node: Node, party: str) -> int:
    row = node.conn.execute("SELECT receipts_pending FROM fed_partner_state WHERE party = ?", (party,)).fetchone()
    return row[0] if row is not None else 0


def test_the_pending_count_the_cap_reads_is_the_number_of_waiting_checks_through_every_change(tmp_path,
                                                                                              monkeypatch):
    """The cap on waiting checks reads a per-partner count (not a COUNT(*) of up to 200,000 rows
    at every acknowledgement): it is changed in each transaction that inserts or deletes a check
    — recorded (once per number, up to the cap), proven, found false, dropped by a head reset or
    a removal — so it never drifts from the rows."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn, kor = nodes["JPN"], nodes["KOR"]

    def same(expected: int) -> None:
        assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == expected

    try:
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
        fed = _federation(nodes, InProcessNetwork())         # delivered, recorded and proven
        fed.sync()
        same(0)
        assert _state_proven(jpn) == 6
        item = note(jpn, 10)
        crafted = _crafted(kor, "item.received", {"item_id": item.id, "kind": item.kind, "from": "JPN"})
        fed = _federation(nodes, _Naming(lambda r: crafted if r.item_id == item.id else 2**40))
        share(jpn, item, "KOR")
        share(jpn, note(jpn, 11), "KOR")
        fed.sync()                                           # one false, one beyond every head
        assert len(ledger_events(jpn.dir, "partner.receipt_false")) == 1
        same(1)
        remove_partner(jpn, "KOR")
        same(0)
    finally:
        for n in nodes.values():
            n.close()


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
        assert versions(jpn.conn)["federation"] == 10
        assert _counted(jpn, "KOR") == len(_waiting(jpn, "KOR")) == 3
