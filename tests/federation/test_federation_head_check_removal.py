"""A tree-head check still on its way when its partner is removed writes nothing back for it.

The removal is made at the exact point between the check's fetch and its write (by the
transport double, as the request returns), so the race is deterministic: no new head, no
``partner.inconsistent`` ledger event after ``partner.removed``, and a partner pinned again
meanwhile does not get a head verified under the pin that was removed. The same holds for the
gossip that follows a check: a third party removed while its proof was fetched is not flagged
``partner.equivocated``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from accord.federation import InProcessNetwork, remove_partner, share_many
from accord.federation.gossip import exchange_heads
from accord.federation.treeheads import check_partner_head, local_checkpoint, local_consistency
from federation_harness import make_nodes, note


class RemovedOnTheWay:
    """JPN as KOR's transport sees it; ``remove_at`` ("checkpoint" or "proof"): KOR removes
    JPN (and pins it again with ``repin``) as that answer arrives, before the check writes."""

    def __init__(self, jpn, kor, *, remove_at: str | None = None, repin: bool = False):
        self.jpn, self.kor, self.remove_at, self.repin = jpn, kor, remove_at, repin
        self.note: str | None = None
        self.proof_from = jpn

    def _remove(self, at: str) -> None:
        if self.remove_at != at:
            return
        self.remove_at = None
        pinned = self.kor.partners()["JPN"]
        remove_partner(self.kor, "JPN")
        if self.repin:
            self.kor.add_partner("JPN", pinned.public_key_b64, url=pinned.url)

    def get_checkpoint(self, node, party):
        answer = self.note or local_checkpoint(self.jpn)
        self._remove("checkpoint")
        return answer

    def get_consistency(self, node, party, first, second):
        answer = local_consistency(self.proof_from, first, second)
        self._remove("proof")
        return answer


def _head(kor):
    row = kor.conn.execute("SELECT head_size, head_note, inconsistent FROM fed_partner_state WHERE party='JPN'"
                           ).fetchone()
    return tuple(row) if row is not None else None


def _events(kor, kind):
    return [kor.ledger.entry(i) for i in range(kor.ledger.size) if kor.ledger.entry(i).type == kind]


@contextmanager
def _diverging(jpn, kor, tmp_path) -> Iterator[tuple[RemovedOnTheWay, tuple | None]]:
    """KOR has verified JPN's head (``before``); JPN has grown since, and the consistency proofs
    KOR is given come from another JPN ledger, larger, that links nothing: KOR's next check of JPN
    finds it inconsistent. Yields ``(transport, before)``; set ``remove_at`` (or ``_remove``)."""
    other = make_nodes(tmp_path / "other", ("JPN", "KOR"))
    try:
        share_many(jpn, [note(jpn, 1)], "KOR")
        transport = RemovedOnTheWay(jpn, kor)
        assert check_partner_head(kor, "JPN", transport).consistent
        before = _head(kor)
        for i in range(2, 6):
            share_many(jpn, [note(jpn, i)], "KOR")
        for i in range(20):
            share_many(other["JPN"], [note(other["JPN"], 100 + i)], "KOR")
        transport.proof_from = other["JPN"]
        yield transport, before
    finally:
        for n in other.values():
            n.close()


def test_a_first_head_fetched_as_the_partner_is_removed_is_not_recorded(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    check_partner_head(kor, "JPN", RemovedOnTheWay(jpn, kor, remove_at="checkpoint"))
    assert "JPN" not in kor.partners()
    head = _head(kor)
    assert head is None or head == (None, None, None)


def test_an_inconsistent_head_of_a_removed_partner_is_neither_flagged_nor_ledgered(node_pair, tmp_path):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    with _diverging(jpn, kor, tmp_path) as (transport, before):
        transport.remove_at = "proof"
        assert not check_partner_head(kor, "JPN", transport).consistent  # judged, but not recorded
    assert "JPN" not in kor.partners()
    assert len(_events(kor, "partner.removed")) == 1
    assert _events(kor, "partner.inconsistent") == []
    assert _head(kor) == before  # the last verified head, unflagged, as the removal left it


def test_a_head_fetched_under_a_pin_removed_and_made_again_is_not_recorded(node_pair):
    """Removed and pinned again (the same key) during the fetch: the new pin starts with no head
    of its own — the one fetched belonged to the pin that was removed."""
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    check_partner_head(kor, "JPN", RemovedOnTheWay(jpn, kor, remove_at="checkpoint", repin=True))
    assert "JPN" in kor.partners()
    assert _head(kor)[:2] == (None, None)
    assert check_partner_head(kor, "JPN", RemovedOnTheWay(jpn, kor)).consistent  # the next check records it
    assert _head(kor)[0] == jpn.ledger.size


class ProofAfterRemoval(InProcessNetwork):
    """The in-process network, but USA's consistency proof for KOR is a made-up one, and KOR
    removes USA as it arrives: the gossip judges an equivocation only after the removal."""

    def __init__(self, nodes):
        super().__init__()
        for n in nodes.values():
            self.attach(n)
        self.kor = nodes["KOR"]
        self.asked = 0

    def get_consistency(self, node, party, first, second):
        if (node.party, party) != ("KOR", "USA"):
            return super().get_consistency(node, party, first, second)
        self.asked += 1
        remove_partner(self.kor, "USA")
        return [base64.b64encode(bytes(32)).decode()]  # links nothing


def test_gossip_flags_no_third_party_removed_while_its_proof_was_fetched(net_trio):
    """KOR has verified USA's head; JPN relays a later one; the proof between them, asked of USA,
    does not link them — but USA was removed by KOR meanwhile: no flag, no ledger event after
    ``partner.removed``."""
    nodes, _ = net_trio
    jpn, kor, usa = nodes["JPN"], nodes["KOR"], nodes["USA"]
    net = ProofAfterRemoval(nodes)
    usa.put_item(note(usa, 1))
    assert check_partner_head(kor, "USA", net).consistent
    usa.put_item(note(usa, 2))
    assert check_partner_head(jpn, "USA", net).consistent  # JPN's head of USA is the larger
    result = exchange_heads(kor, "JPN", net)
    assert net.asked == 1 and "USA" not in kor.partners()
    assert result.equivocated == []
    assert _events(kor, "partner.equivocated") == []
    flag = kor.conn.execute("SELECT inconsistent FROM fed_partner_state WHERE party='USA'").fetchone()
    assert flag is None or flag[0] is None


def test_a_check_landing_between_the_two_steps_of_a_removal_records_nothing(node_pair, tmp_path, monkeypatch):
    """A removal is two transactions: ``partner.removed`` first, then ``node.yaml`` and the
    ``partners`` mirror. A check whose write lands between them still found the partner's key
    and pin time in the mirror, so it ledgered ``partner.inconsistent`` after ``partner.removed``.
    The second step is made to fail here, which leaves the node exactly between the two."""
    from accord.errors import StoreError

    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    with _diverging(jpn, kor, tmp_path) as (transport, before):
        def node_yaml_not_yet_written(party):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(kor, "remove_partner", node_yaml_not_yet_written)
        first_step_only = []

        def remove_first_step(at):
            if transport.remove_at != at:
                return
            transport.remove_at = None
            try:
                remove_partner(kor, "JPN")
            except StoreError as exc:
                first_step_only.append(exc)

        transport._remove = remove_first_step
        transport.remove_at = "proof"
        assert not check_partner_head(kor, "JPN", transport).consistent  # judged, but not recorded
    assert first_step_only and len(_events(kor, "partner.removed")) == 1
    assert _events(kor, "partner.inconsistent") == []
    assert _head(kor) == before
    monkeypatch.undo()
    remove_partner(kor, "JPN")  # completed by running it again
    assert "JPN" not in kor.partners() and _events(kor, "partner.inconsistent") == []


@pytest.mark.parametrize("repin", [False, True])
def test_a_check_whose_partner_was_removed_on_the_way_reports_no_recovery(node_pair, caplog, repin):
    """KOR's outage of JPN is open; its head check reaches JPN, but JPN is removed (and pinned
    again) as the answer arrives: the check records nothing, so it says nothing of the partner
    either — "partner JPN recovered" was logged after its removal — and a later check of the
    partner as pinned now says it."""
    from accord.errors import FederationError
    from accord.federation import Federation

    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    transport = RemovedOnTheWay(jpn, kor, remove_at="checkpoint", repin=repin)
    fed = Federation(kor, transport, head_interval=3600)
    caplog.set_level(logging.INFO, logger="accord")
    fed._unreached("JPN", FederationError("JPN is down"), None)
    fed._check_head("JPN")
    assert ("JPN" in kor.partners()) == repin
    assert not [r for r in caplog.records if getattr(r, "event", None) == "partner.recovered"]
    if repin:
        fed._check_head("JPN")   # (the transport double has no gossip to give)
        assert [r.partner for r in caplog.records if getattr(r, "event", None) == "partner.recovered"] == ["JPN"]


def test_a_check_looks_the_partners_key_up_once_and_verifies_under_the_pin_it_compares(node_pair, monkeypatch):
    """The key was looked up twice (once to refuse a party not pinned, again after the pin was
    read); it is looked up once, and the head is verified under the key of the pin read before
    the fetch — the one compared in the write's transaction — so a re-pin with another key just
    after the lookup is not missed: the head is checked under the new key, and nothing recorded."""
    from accord.core.identity import Identity
    from accord.errors import CheckpointError
    from accord.federation import wire

    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    lookups: list[str] = []
    partner_key = wire.partner_key

    def looked_up(node, party):
        lookups.append(party)
        return partner_key(node, party)

    monkeypatch.setattr(wire, "partner_key", looked_up)
    assert check_partner_head(kor, "JPN", RemovedOnTheWay(jpn, kor)).consistent
    assert lookups == ["JPN"] and _head(kor)[0] == jpn.ledger.size
    recorded = _head(kor)

    def repinned_after(node, party):
        key = partner_key(node, party)
        kor.add_partner("JPN", Identity.generate("JPN").public_b64, replace=True)   # another key, pinned now
        return key

    monkeypatch.setattr(wire, "partner_key", repinned_after)
    share_many(jpn, [note(jpn, 2)], "KOR")
    with pytest.raises(CheckpointError):
        check_partner_head(kor, "JPN", RemovedOnTheWay(jpn, kor))
    assert _head(kor) == recorded
