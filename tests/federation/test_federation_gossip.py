"""Tree-head gossip between three nodes (JPN, KOR, USA): a USA that shows JPN one history and KOR
another — each consistent in itself, so each partner's own tree-head check passes — is flagged
``partner.equivocated`` by both once they compare what USA showed them; neither JPN nor KOR (who
only relayed USA's own signed notes) is ever flagged."""

from __future__ import annotations

import json
import shutil

import pytest

from accord.federation import Federation, InProcessNetwork, status
from accord.federation.treeheads import local_checkpoint, reset_partner_head
from accord.node import Node
from federation_harness import note


class SplitView(InProcessNetwork):
    """An in-process network on which USA answers KOR from a fork of its ledger (same key)."""

    def __init__(self, nodes, fork):
        super().__init__()
        for p in ("JPN", "KOR", "USA"):
            self.attach(nodes[p])
        self.fork = fork

    def _target(self, node, party):
        target = super()._target(node, party)
        return self.fork if (node.party, party) == ("KOR", "USA") else target


def _rewrite(nodes, net, party):
    """``party``'s node edits one past entry of its ledger and rebuilds its Merkle tree (the same
    size, another root; it verifies on its own), then is opened again on ``net``."""
    from accord.store.ledger import Ledger

    node = nodes[party]
    entries = node.ledger.entries()
    node.conn.execute("DELETE FROM ledger_leaves")
    node.conn.execute("DELETE FROM ledger_nodes")
    node.conn.commit()
    forged = [(e.type, {**e.data, "rewritten": True} if i == 1 else e.data, e.time) for i, e in enumerate(entries)]
    rebuilt = Ledger(node.conn, node.identity, node.origin)
    rebuilt.append_many(forged)
    rebuilt.verify()
    node.close()
    nodes[party] = Node.open(node.dir)
    net.attach(nodes[party])
    return nodes[party]


def test_a_history_rewritten_between_two_partners_fetches_is_flagged_by_both(net_trio):
    """USA shows JPN its head, rewrites its history, then shows KOR the other head of the same
    size: neither partner's own check can tell (each saw one head); comparing, both can."""
    nodes, net = net_trio
    usa = nodes["USA"]
    usa.put_item(note(usa, 1))
    feds = {p: Federation(nodes[p], net) for p in ("JPN", "KOR")}
    assert feds["JPN"].sync("USA") == {"USA": None}
    before = local_checkpoint(usa)
    usa = _rewrite(nodes, net, "USA")
    after = local_checkpoint(usa)
    assert before.split("\n")[1] == after.split("\n")[1] and before.split("\n")[2] != after.split("\n")[2]
    assert feds["KOR"].sync("USA") == {"USA": None}
    assert feds["KOR"].sync("JPN") == {"JPN": None}   # KOR compares with JPN's view of USA
    assert feds["JPN"].sync("KOR") == {"KOR": None}   # and JPN with KOR's
    _assert_usa_flagged_by_both(nodes)


def _fork_usa(nodes, base):
    """USA's node and a copy of it (the same key, the same ledger so far): the second is put in
    ``nodes`` under "USA-fork" so that the fixture closes it."""
    nodes["USA"].close()
    shutil.copytree(base / "USA", base / "USA-fork")
    nodes["USA"] = Node.open(base / "USA")
    nodes["USA-fork"] = Node.open(base / "USA-fork")
    return nodes["USA"], nodes["USA-fork"]


def _flags(node):
    return {r[0]: r[1] for r in node.conn.execute("SELECT party, inconsistent FROM fed_partner_state")}


def _events(node, kind):
    return [json.loads(r[0])["data"] for r in node.conn.execute("SELECT leaf FROM ledger_leaves WHERE type=? ORDER BY idx", (kind,))]


def _rounds(nodes, net, n=2):
    feds = {p: Federation(nodes[p], net) for p in ("JPN", "KOR")}
    for _ in range(n):
        for p in ("JPN", "KOR"):
            feds[p].sync()


def _split_view(net_trio, tmp_path, extra_for_kor: int):
    nodes, _ = net_trio
    usa, fork = _fork_usa(nodes, tmp_path)
    usa.put_item(note(usa, 1))                 # what JPN sees of USA …
    fork.put_item(note(fork, 2))               # … and what KOR sees instead
    for i in range(extra_for_kor):
        fork.put_item(note(fork, 10 + i))
    return nodes, usa, fork, SplitView(nodes, fork)


def _assert_usa_flagged_by_both(nodes):
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for me, relayer in ((jpn, "KOR"), (kor, "JPN")):
        events = _events(me, "partner.equivocated")
        assert [(e["party"], e["relayer"]) for e in events] == [("USA", relayer)], me.party
        ours, relayed = events[0]["ours"], events[0]["relayed"]
        assert ours["note"] != relayed["note"] and "accord.node/USA/" in ours["note"] + relayed["note"]
        flags = _flags(me)
        assert flags["USA"] and "equivocated" in flags["USA"]
        assert not flags.get(relayer), "the relaying partner must never be flagged"
        assert not _events(me, "partner.inconsistent")     # each of USA's views was consistent in itself
        row = [p for p in status(me)["partners"] if p["party"] == "USA"][0]
        assert "equivocated" in row["inconsistent"]


@pytest.mark.sqlite_only  # the fork is a copy of USA's database file
def test_a_split_view_of_the_same_size_is_flagged_by_both_partners(net_trio, tmp_path):
    nodes, usa, fork, net = _split_view(net_trio, tmp_path, 0)
    a, b = local_checkpoint(usa), local_checkpoint(fork)
    assert a.split("\n")[1] == b.split("\n")[1] and a.split("\n")[2] != b.split("\n")[2]  # the same size, another root
    _rounds(nodes, net)
    _assert_usa_flagged_by_both(nodes)


@pytest.mark.sqlite_only  # the fork is a copy of USA's database file
def test_a_split_view_of_different_sizes_is_flagged_by_both_partners(net_trio, tmp_path):
    """KOR's view is 3 entries ahead of JPN's when they first compare (neither can prove anything
    yet: USA's shorter view has no proof up to the longer head); both views grow, and at the next
    comparison each asks USA for the proof between its head and the relayed one, which fails."""
    nodes, usa, fork, net = _split_view(net_trio, tmp_path, 3)
    _rounds(nodes, net, 1)
    assert not _events(nodes["JPN"], "partner.equivocated")
    for i in range(5):
        usa.put_item(note(usa, 20 + i))
        fork.put_item(note(fork, 30 + i))
    _rounds(nodes, net, 1)
    heads = {p: int(local_checkpoint(n).split("\n")[1]) for p, n in (("JPN", usa), ("KOR", fork))}
    assert heads["JPN"] != heads["KOR"]
    _assert_usa_flagged_by_both(nodes)


@pytest.mark.sqlite_only  # the fork is a copy of USA's database file
def test_the_flag_stays_until_an_operator_resets_the_head(net_trio, tmp_path):
    nodes, usa, fork, net = _split_view(net_trio, tmp_path, 0)
    _rounds(nodes, net)
    jpn = nodes["JPN"]
    assert _flags(jpn)["USA"]
    usa.put_item(note(usa, 40))
    _rounds(nodes, net, 1)
    assert _flags(jpn)["USA"]                                # still flagged; one event only
    assert len(_events(jpn, "partner.equivocated")) == 1
    reset_partner_head(jpn, "USA", "investigated the split view")
    assert not _flags(jpn)["USA"]


class RefusingSplitView(SplitView):
    """The split view, with USA refusing every consistency proof once its partners have its head:
    its own views do not grow, so their tree-head checks ask for none, and gossip gets none."""

    refusing = False

    def get_consistency(self, node, party, first, second):
        if party == "USA" and self.refusing:
            from accord.errors import FederationError
            raise FederationError("USA answered HTTP 400: no such tree size")
        return super().get_consistency(node, party, first, second)


@pytest.mark.sqlite_only  # the fork is a copy of USA's database file
def test_a_split_view_hidden_by_refusing_the_proofs_is_said_by_both(net_trio, tmp_path, caplog, monkeypatch):
    """USA signed both sizes, so only an outage or a node hiding a split view leaves a proof
    between them ungiven: it cannot be flagged without evidence, but it was not said at all."""
    import logging

    from accord.federation import gossip

    monkeypatch.setattr(gossip, "_said", {})
    nodes, usa, fork, _ = _split_view(net_trio, tmp_path, 2)
    net = RefusingSplitView(nodes, fork)
    _rounds(nodes, net, 1)
    net.refusing = True
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="accord.federation"):
        _rounds(nodes, net, 1)
    assert not _events(nodes["JPN"], "partner.equivocated") and not _events(nodes["KOR"], "partner.equivocated")
    said = [r for r in caplog.records if getattr(r, "event", None) == "gossip.unproven"]
    assert {(r.partner, r.name) for r in said} == {("USA", "accord.federation")}
    text = " | ".join(r.getMessage() for r in said)
    assert "relayed by KOR" in text and "relayed by JPN" in text and "no such tree size" in text, text
