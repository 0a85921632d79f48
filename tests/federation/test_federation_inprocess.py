"""Federation in one process (InProcessNetwork): rejections, loops, two paths, retractions,
rewritten ledgers. The same code paths as over HTTP, minus the sockets."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from accord.core.envelopes import seal
from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.errors import FederationError, PolicyDenied
from accord.federation import (Federation, check_partner_head, receive_envelope, retract,
                               retraction_of, share, status)
from federation_harness import ledger_events, note, now_utc, received


@pytest.fixture
def trio(net_trio):
    """The three nodes on one in-process network and a :class:`Federation` of each."""
    nodes, net = net_trio
    return nodes, net, {p: Federation(n, net) for p, n in nodes.items()}


def _env(node, item, to, seq, when=None):
    return seal(item, to, seq, node.identity, when or now_utc()).to_json()


def _rejections(node):
    return [(r[0], r[1]) for r in node.conn.execute("SELECT code, sender FROM fed_rejections ORDER BY id")]


# --- (d) forged, replayed and policy-violating envelopes -----------------------------------
def test_forged_envelope_is_rejected_recorded_and_not_stored(trio):
    nodes, _, _ = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    env = _env(jpn, note(jpn, 1), "KOR", 1)
    env["item"]["body"] = {"n": 666}                    # altered in transit
    r = receive_envelope(kor, env, sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "forged", False)
    impostor = Identity.generate("JPN")                 # right party name, wrong key
    r = receive_envelope(kor, seal(note(jpn, 2), "KOR", 1, impostor, now_utc()).to_json(), sender="JPN")
    assert (r.status, r.code) == ("rejected", "forged")
    stranger = Identity.generate("CHN")
    item = new_item("test.note", {}, Marking.parse("UNCLASSIFIED"), "CHN", now_utc())
    r = receive_envelope(kor, seal(item, "KOR", 1, stranger, now_utc()).to_json())
    assert (r.status, r.code) == ("rejected", "unknown_key")
    assert kor.items() == []
    assert [e["code"] for e in ledger_events(kor.dir, "item.rejected")] == ["forged", "forged", "unknown_key"]
    assert [c for c, _ in _rejections(kor)] == ["forged", "forged", "unknown_key"]
    # none of them used up JPN's sequence: the genuine #1 is still accepted
    assert receive_envelope(kor, _env(jpn, note(jpn, 3), "KOR", 1), sender="JPN").status == "stored"


def test_replays_are_acknowledged_once_or_rejected_never_applied_twice(trio):
    nodes, _, _ = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    first = _env(jpn, note(jpn, 1), "KOR", 1)
    assert receive_envelope(kor, first, sender="JPN").status == "stored"
    size = kor.ledger.size
    again = receive_envelope(kor, first, sender="JPN")   # same bytes: idempotent acknowledgement
    assert (again.status, again.consumed) == ("duplicate", True)
    assert kor.ledger.size == size and len(kor.items()) == 1
    other = _env(jpn, note(jpn, 2), "KOR", 1)            # seq 1 reused for different content
    r = receive_envelope(kor, other, sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "replay", False)
    stale = _env(jpn, note(jpn, 3), "KOR", 2, when=now_utc() - timedelta(days=30))
    r = receive_envelope(kor, stale, sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "expired", True)
    usa_env = _env(jpn, note(jpn, 4, kind="warning.track"), "USA", 1)  # JPN→USA replayed at KOR
    r = receive_envelope(kor, usa_env, sender="JPN")
    assert (r.status, r.code) == ("rejected", "wrong_recipient")
    gap = _env(jpn, note(jpn, 5), "KOR", 9)
    r = receive_envelope(kor, gap, sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "sequence_gap", False)
    assert len(kor.items()) == 1
    assert [c for c, _ in _rejections(kor)] == ["replay", "expired", "wrong_recipient", "sequence_gap"]


def test_policy_violating_envelope_is_rejected_with_reasons(trio):
    nodes, _, _ = trio
    jpn, usa, kor = nodes["JPN"], nodes["USA"], nodes["KOR"]
    # JPN and USA share only warning.* (trilateral): a test.note sealed anyway is refused by USA
    r = receive_envelope(usa, _env(jpn, note(jpn, 1), "USA", 1), sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "policy_denied", True)
    assert "test.note" in r.reason and "JPN" in r.reason
    # a warning.track not releasable to USA
    secret = note(jpn, 2, kind="warning.track", banner="SECRET//REL TO JPN, KOR")
    r = receive_envelope(usa, _env(jpn, secret, "USA", 2), sender="JPN")
    assert (r.status, r.code) == ("rejected", "policy_denied")
    assert "USA" in r.reason
    # above the ceiling of every agreement
    ts = note(jpn, 3, banner="TOP SECRET//REL TO JPN, KOR")
    r = receive_envelope(kor, _env(jpn, ts, "KOR", 1), sender="JPN")
    assert (r.status, r.code) == ("rejected", "policy_denied")
    assert usa.items() == [] and kor.items() == []
    assert [e["code"] for e in ledger_events(usa.dir, "item.rejected")] == ["policy_denied"] * 2
    # and the sender's own policy refuses the same share up front
    with pytest.raises(PolicyDenied):
        share(jpn, note(jpn, 4), "USA")


def test_rejection_reason_reaches_the_sender_and_the_stream_goes_on(trio):
    nodes, net, feds = trio
    jpn, usa = nodes["JPN"], nodes["USA"]
    items = [note(jpn, i, kind="warning.track") for i in range(3)]
    for it in items:
        share(jpn, it, "USA")
    # USA withdraws from everything before delivery: its policy now refuses the second item
    usa.conn.execute("DELETE FROM agreements")
    usa.conn.commit()
    feds["JPN"].sync("USA", heads=False)
    rows = jpn.conn.execute("SELECT seq, state, reason FROM fed_outbox WHERE recipient='USA' ORDER BY seq").fetchall()
    assert [(s, st) for s, st, _ in rows] == [(1, "rejected"), (2, "rejected"), (3, "rejected")]
    assert all("policy_denied" in reason for _, _, reason in rows)
    assert status(jpn)["partners"][1]["rejected_by_partner"] == 3


# --- loops, two paths, retractions ----------------------------------------------------------
def test_received_items_are_never_re_forwarded(trio):
    nodes, _, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    track = note(jpn, 1, kind="warning.track")
    share(jpn, track, "KOR")
    feds["JPN"].sync(heads=False)
    assert kor.get_item(track.id) == track
    with pytest.raises(FederationError, match="never re-forwarded"):
        share(kor, track, "USA")
    # and an envelope relaying a third party's item is refused by the receiver
    env = _env(jpn, track, "USA", 1)
    env["originator"] = "KOR"
    r = receive_envelope(nodes["USA"], env, sender="KOR")
    assert r.status == "rejected"


def test_same_item_by_two_envelopes_is_stored_once(trio):
    nodes, _, _ = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    it = note(jpn, 1)
    assert receive_envelope(kor, _env(jpn, it, "KOR", 1), sender="JPN").status == "stored"
    r = receive_envelope(kor, _env(jpn, it, "KOR", 2), sender="JPN")
    assert (r.status, r.consumed) == ("duplicate", True)
    assert len(kor.items()) == 1 and len(ledger_events(kor.dir, "item.received")) == 1


def test_retraction_propagates_to_everyone_who_got_the_item(trio):
    nodes, net, feds = trio
    jpn, kor, usa = nodes["JPN"], nodes["KOR"], nodes["USA"]
    track = note(jpn, 1, kind="warning.track")
    share(jpn, track, "KOR")
    share(jpn, track, "USA")
    feds["JPN"].sync(heads=False)
    net.partition("JPN", "USA")
    sent = retract(jpn, track.id, "false alarm: sensor fault")
    assert sorted(r.to for r in sent) == ["KOR", "USA"]
    feds["JPN"].sync(heads=False)
    assert retraction_of(kor, track.id)["reason"] == "false alarm: sensor fault"
    assert retraction_of(usa, track.id) is None          # cut off: still queued
    net.heal()
    feds["JPN"].sync(heads=False)
    assert retraction_of(usa, track.id)["by"] == "JPN"
    assert [e["item_id"] for e in ledger_events(usa.dir, "item.retracted")] == [track.id]
    # after shares, deliveries, a partition and a retraction every node's stored state matches
    # its ledger (accord ledger verify): queued and delivered envelopes, received items, agreements
    from accord.node.verify import verify_node

    checked = {p: verify_node(n).checked for p, n in nodes.items()}
    assert checked["JPN"]["queued envelopes"] == 4 and checked["KOR"]["items"] == len(kor.items()) == 1


def test_batch_is_applied_whole_or_not_at_all(trio, monkeypatch):
    nodes, net, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for i in range(20):
        share(jpn, note(jpn, i), "KOR")
    size = kor.ledger.size
    import accord.federation.wire as wire

    def failing_store(node, items):  # the disk fails half way through the batch
        node.conn.execute("INSERT INTO items(id, kind, originator, created, classification, digest, json, stored) "
                          "VALUES ('KOR:x:y','test.note','KOR','t',0,'d',x'00','t')")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(wire, "store_received_items", failing_store)
    result = feds["JPN"].sync("KOR", heads=False)
    assert "could not commit" in result["KOR"]
    assert kor.items() == [] and kor.ledger.size == size and received(kor.dir, "JPN") == []
    monkeypatch.undo()
    assert feds["JPN"].sync("KOR", heads=False)["KOR"] is None
    assert len(received(kor.dir, "JPN")) == 20


# --- (e) a rewritten ledger is caught by both partners -------------------------------------
def _rewrite_history(node, extra: int) -> None:
    """What a node that rewrites its past would do: rebuild its log with different entries."""
    from accord.store.ledger import Ledger

    entries = node.ledger.entries()
    node.conn.execute("DELETE FROM ledger_leaves")
    node.conn.execute("DELETE FROM ledger_nodes")
    node.conn.commit()
    fresh = Ledger(node.conn, node.identity, node.origin)
    events = [(e.type, {**e.data, "rewritten": True} if i == 1 else e.data, e.time) for i, e in enumerate(entries)]
    events += [("item.created", {"item_id": f"JPN:test.note:{i}"}, now_utc()) for i in range(extra)]
    fresh.append_many(events)
    node.ledger = fresh


@pytest.mark.parametrize("extra", [3, 0])
def test_rewritten_ledger_is_flagged_by_both_partners(trio, extra, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="accord.federation")
    nodes, _, feds = trio
    jpn, kor, usa = nodes["JPN"], nodes["KOR"], nodes["USA"]
    share(jpn, note(jpn, 1, kind="warning.track"), "KOR")
    for p in ("KOR", "USA"):
        feds[p].sync("JPN")                                 # both record JPN's honest head
    assert all(s["inconsistent"] is None for s in status(kor)["partners"])
    _rewrite_history(jpn, extra)
    for p in ("KOR", "USA"):
        check = check_partner_head(nodes[p], "JPN", feds[p].transport)
        assert not check.consistent
        flagged = [s for s in status(nodes[p])["partners"] if s["party"] == "JPN"][0]
        assert flagged["inconsistent"] and "JPN" in flagged["inconsistent"]
        events = ledger_events(nodes[p].dir, "partner.inconsistent")
        assert [e["party"] for e in events] == ["JPN"]
    # the flag is sticky and recorded once, even as JPN's head keeps moving
    share(jpn, note(jpn, 2, kind="warning.track"), "USA")
    assert not check_partner_head(usa, "JPN", feds["USA"].transport).consistent
    assert len(ledger_events(usa.dir, "partner.inconsistent")) == 1
    # and logged once per partner that caught it, at error level, for the operator
    logged = [r for r in caplog.records if getattr(r, "event", None) == "ledger.inconsistent"]
    assert [(r.levelno, r.partner) for r in logged] == [(logging.ERROR, "JPN")] * 2
    assert "reset-head" in logged[0].getMessage()


def test_honest_growth_is_consistent(trio):
    nodes, _, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for i in range(5):
        share(jpn, note(jpn, i), "KOR")
        feds["JPN"].sync(heads=False)
        assert check_partner_head(kor, "JPN", feds["KOR"].transport).consistent
    assert len(kor.conn.execute("SELECT * FROM fed_partner_state WHERE inconsistent IS NOT NULL").fetchall()) == 0


def test_checkpoint_signed_by_another_key_is_refused(trio):
    from accord.core.checkpoint import sign_checkpoint
    from accord.errors import CheckpointError

    nodes, _, _ = trio

    class Impostor:  # serves JPN's tree head signed by a key that is not JPN's pinned one
        def get_checkpoint(self, node, party):
            return sign_checkpoint(nodes["JPN"].ledger.checkpoint_body(), Identity.generate("JPN"),
                                   nodes["JPN"].origin)

    with pytest.raises(CheckpointError):
        check_partner_head(nodes["KOR"], "JPN", Impostor())


def test_standing_rules_from_table_and_node_yaml_share_only_what_policy_allows(trio):
    from accord.federation import add_rule, create_item

    nodes, _, feds = trio
    jpn = nodes["JPN"]
    add_rule(jpn, "warning.track", "*")
    created = create_item(jpn, note(jpn, 1, kind="warning.track"))
    assert created.shared_to == ["KOR", "USA"]
    # REL TO JPN, KOR: the rule names every partner, the policy lets only KOR have it
    assert create_item(jpn, note(jpn, 2, kind="warning.track", banner="SECRET//REL TO JPN, KOR")).shared_to == ["KOR"]
    assert create_item(jpn, note(jpn, 3)).shared_to == []          # no rule for test.note yet
    cfg = jpn.dir / "node.yaml"
    cfg.write_text(cfg.read_text() + "sharing:\n  - {kinds: 'test.*', to: KOR}\n  - {kinds: 'test.*', to: USA}\n")
    import os
    os.utime(cfg, (1, 1))  # a different mtime than the cached read
    assert create_item(jpn, note(jpn, 4)).shared_to == ["KOR"]      # USA: no agreement for test.*
    feds["JPN"].sync(heads=False)
    # the delivery service's scan also applies the new rule to note 3 (stored after rules were
    # first set up on this node); USA never gets a test.note
    assert len(received(nodes["KOR"].dir, "JPN")) == 4 and len(received(nodes["USA"].dir, "JPN")) == 1


def test_a_node_yaml_rule_naming_an_unpinned_party_is_warned_once_and_in_status(trio, caplog):
    import logging
    import os

    from accord.federation import create_item
    from accord.federation import status as fed_status

    nodes, _, _ = trio
    jpn = nodes["JPN"]
    cfg = jpn.dir / "node.yaml"
    cfg.write_text(cfg.read_text() + "sharing:\n  - {kinds: 'test.*', to: KOR}\n  - {kinds: 'test.*', to: GBR}\n")
    os.utime(cfg, (2, 2))  # a different mtime than any cached read
    with caplog.at_level(logging.WARNING, logger="accord.federation"):
        for i in range(3):
            assert create_item(jpn, note(jpn, 10 + i)).shared_to == ["KOR"]   # GBR: not pinned, skipped
    warned = [r.getMessage() for r in caplog.records if "GBR" in r.getMessage()]
    assert len(warned) == 1, warned   # once for the file read, not once an item
    assert "sharing[1] (kinds test.*) names GBR, which is not a pinned partner" in warned[0]
    assert fed_status(jpn)["sharing_warnings"] == [warned[0]]
    assert not any("KOR" in r.getMessage() for r in caplog.records)


@pytest.mark.sqlite_only  # restores a copy of the node directory (its SQLite file)
def test_partner_restored_from_backup_is_refilled_from_its_sequence_number(trio, tmp_path):
    import shutil

    from accord.node import Node

    nodes, net, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    first = [note(jpn, i) for i in range(3)]
    for it in first:
        share(jpn, it, "KOR")
    feds["JPN"].sync("KOR", heads=False)
    kor.close()
    shutil.copytree(kor.dir, tmp_path / "backup")            # KOR's state after 3 items
    kor = nodes["KOR"] = Node.open(kor.dir)
    net.up("KOR", kor)
    later = [note(jpn, 10 + i) for i in range(3)]
    share(jpn, later[0], "KOR")
    secret = note(jpn, 99, banner="TOP SECRET//REL TO JPN, KOR")
    from accord.federation.outbox import _enqueue
    _enqueue(jpn, [(secret, "KOR", None)])                    # a row KOR will refuse (above ceiling)
    for it in later[1:]:
        share(jpn, it, "KOR")
    feds["JPN"].sync("KOR", heads=False)
    assert len(received(kor.dir, "JPN")) == 6
    kor.close()                                               # KOR loses everything after the backup
    shutil.rmtree(kor.dir)
    shutil.copytree(tmp_path / "backup", kor.dir)
    kor = nodes["KOR"] = Node.open(kor.dir)
    net.up("KOR", kor)
    assert len(received(kor.dir, "JPN")) == 3
    share(jpn, note(jpn, 50), "KOR")                          # next contact: KOR asks for #4
    for _ in range(3):
        feds["JPN"].sync("KOR", heads=False)
    got = [i for _, i in received(kor.dir, "JPN")]
    assert got == [i.id for i in first + later] + [got[-1]] and len(got) == 7
    assert secret.id not in got


def test_standing_rules_also_share_items_stored_by_other_parts_of_accord(trio):
    from accord.federation import add_rule

    nodes, _, feds = trio
    jpn = nodes["JPN"]
    before = note(jpn, 0, kind="warning.track")
    jpn.put_item(before)                      # stored before any rule existed: not shared
    add_rule(jpn, "warning.*", "*")
    track = note(jpn, 1, kind="warning.track")
    jpn.put_item(track)                       # as the warning pillar stores its tracks
    feds["JPN"].sync(heads=False)
    for party in ("KOR", "USA"):
        assert [i for _, i in received(nodes[party].dir, "JPN")] == [track.id]
    feds["JPN"].sync(heads=False)             # a rescan shares nothing twice
    assert jpn.conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0] == 2


def test_refusal_is_repeated_when_the_acknowledgement_was_lost(trio):
    """A refused envelope sent again (its acknowledgement was lost) is refused again with the
    same reason — not acknowledged as a duplicate, which the sender would take as delivered."""
    from accord.core.agreements import new_agreement, sign_agreement

    nodes, net, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    item = note(kor, 1)
    share(kor, item, "JPN")  # allowed at KOR: the bilateral agreement covers test.note
    old = jpn.get_agreement("jpn-kor-bilateral")
    now = now_utc()
    v2 = new_agreement(old.id, old.parties, dict(old.keys),
                       [(a, b, ["warning.*"], "SECRET") for a, b in (("JPN", "KOR"), ("KOR", "JPN"))],
                       now - timedelta(days=1), now + timedelta(days=30), version=old.version + 1)
    for p in ("JPN", "KOR"):
        v2 = sign_agreement(v2, nodes[p].identity)
    jpn.add_agreement(v2)  # JPN alone has the new version: it now refuses test.note from KOR
    net.ack_loss = 1.0
    try:
        feds["KOR"].sync("JPN", heads=False)
    finally:
        net.ack_loss = 0.0
    state = kor.conn.execute("SELECT state FROM fed_outbox WHERE item_id=?", (item.id,)).fetchone()[0]
    assert state == "queued"  # the refusal never reached KOR
    size = jpn.ledger.size
    assert feds["KOR"].sync("JPN", heads=False)["JPN"] is None
    state, reason = kor.conn.execute("SELECT state, reason FROM fed_outbox WHERE item_id=?", (item.id,)).fetchone()
    assert state == "rejected" and reason.startswith("policy_denied: already refused: policy of JPN refuses")
    assert jpn.ledger.size == size  # the repeat is an answer, not a new event
    assert received(jpn.dir, "KOR") == [r for r in received(jpn.dir, "KOR") if r[1] != item.id]


def test_operator_resets_a_flagged_head_and_the_next_head_is_the_baseline(trio, tmp_path):
    from typer.testing import CliRunner

    from accord.cli.main import app as cli
    from accord.errors import InputError, NotFoundError
    from accord.federation.treeheads import reset_partner_head

    nodes, _, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share(jpn, note(jpn, 1, kind="warning.track"), "KOR")
    feds["KOR"].sync("JPN")
    _rewrite_history(jpn, 2)
    assert not check_partner_head(kor, "JPN", feds["KOR"].transport).consistent
    with pytest.raises(InputError, match="reason"):
        reset_partner_head(kor, "JPN", "  ")
    with pytest.raises(NotFoundError):
        reset_partner_head(kor, "FRA", "no such partner")
    flagged = [s for s in status(kor)["partners"] if s["party"] == "JPN"][0]["inconsistent"]
    assert flagged
    # through the CLI, as an operator would
    kor.close()
    result = CliRunner().invoke(cli, ["node", "partner", "reset-head", "--dir", str(kor.dir), "--party", "JPN",
                                      "--reason", "JPN restored from backup, confirmed by phone", "--json"])
    assert result.exit_code == 0, result.output
    import json
    out = json.loads(result.output)
    assert out["was_inconsistent"] == flagged and out["old_size"] > 0
    from accord.node import Node
    kor = nodes["KOR"] = Node.open(kor.dir)
    net = feds["KOR"].transport
    net.up("KOR", kor)
    assert [s for s in status(kor)["partners"] if s["party"] == "JPN"][0]["inconsistent"] is None
    events = ledger_events(kor.dir, "partner.head_reset")
    assert len(events) == 1 and events[0]["reason"].startswith("JPN restored")
    # the next head is taken as the baseline, and honest growth from there is consistent again
    assert check_partner_head(kor, "JPN", net).consistent
    share(jpn, note(jpn, 3, kind="warning.track"), "KOR")
    assert check_partner_head(kor, "JPN", net).consistent
    assert len(ledger_events(kor.dir, "partner.inconsistent")) == 1  # history keeps the flag's event


def test_a_head_check_racing_a_reset_records_nothing(trio):
    """A check that fetched its proof while an operator reset the head must not write back the
    stale verdict (it would re-flag the partner for good)."""
    from accord.federation.treeheads import reset_partner_head

    nodes, net, feds = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share(jpn, note(jpn, 1, kind="warning.track"), "KOR")
    feds["KOR"].sync("JPN")
    _rewrite_history(jpn, 2)
    assert not check_partner_head(kor, "JPN", net).consistent  # flagged

    class ResetDuringProof:
        def __init__(self, inner):
            self.inner = inner

        def get_checkpoint(self, node, party):
            return self.inner.get_checkpoint(node, party)

        def get_consistency(self, node, party, first, second):
            proof = self.inner.get_consistency(node, party, first, second)
            reset_partner_head(kor, "JPN", "restored from backup; checked with JPN")
            return proof

    share(jpn, note(jpn, 2, kind="warning.track"), "KOR")  # the head grows: a proof is fetched
    check_partner_head(kor, "JPN", ResetDuringProof(net))
    state = kor.conn.execute("SELECT head_size, inconsistent FROM fed_partner_state WHERE party='JPN'").fetchone()
    assert state[0] is None and state[1] is None  # the reset stands
    assert check_partner_head(kor, "JPN", net).consistent  # next head: the new baseline
    assert check_partner_head(kor, "JPN", net).consistent
    flag = kor.conn.execute("SELECT inconsistent FROM fed_partner_state WHERE party='JPN'").fetchone()[0]
    assert flag is None


def test_an_item_retracted_before_the_rules_shared_it_never_leaves(trio):
    """An item stored (rules share it on the next scan, within half a second) and retracted
    before that scan: nobody had it, so no retraction is sent — and the scan must not then send
    the retracted item itself. An explicit share of it is refused the same way."""
    from accord.federation import add_rule
    from accord.federation.outbox import apply_rules_to_new_items

    nodes, _, feds = trio
    jpn = nodes["JPN"]
    add_rule(jpn, "warning.*", "*")
    track = note(jpn, 1, kind="warning.track")
    jpn.put_item(track)                       # as the warning pillar stores its tracks
    assert retract(jpn, track.id, "false alarm") == []  # not sent to anyone yet
    apply_rules_to_new_items(jpn)             # the rules scan comes after the retraction
    assert share(jpn, track, "KOR").status == "retracted"
    feds["JPN"].sync(heads=False)
    assert jpn.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE item_id = ?", (track.id,)).fetchone()[0] == 0
    for party in ("KOR", "USA"):
        assert track.id not in [i for _, i in received(nodes[party].dir, "JPN")]
