"""A partner that answers every envelope "replay" (not consumed), with ``next_seq`` just past the
batch, gets each queued item renumbered once — as a node restored from a backup needs — and no
more: a row already sealed again under a number the partner asked for is settled ``rejected``
when it is called a replay again, without a ledger entry. So such a partner cannot grow this
node's append-only ledger by one ``item.shared`` entry per item and round trip (nor have every
envelope re-signed, nor a warning logged, each round). Rows a refill sealed again (numbers the
partner had just asked for) are treated the same way."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from accord.errors import FederationError
from accord.federation import Federation, HttpTransport, share_many
from accord.federation.retention import prune
from accord.federation.treeheads import local_checkpoint
from accord.node.verify import verify_node
from federation_harness import note

import httpx


class EverythingAReplay(HttpTransport):
    """KOR answers every batch: each envelope a replay, next_seq one past the batch."""

    def __init__(self, nodes):
        super().__init__()
        self.nodes = nodes
        self.batches = 0

    def _request(self, node, party, method, path, params, body):
        if path.endswith("/checkpoint"):
            return httpx.Response(200, text=local_checkpoint(self.nodes[party]))
        self.batches += 1
        seqs = [e["seq"] for e in json.loads(body)["envelopes"]]
        receipts = [{"originator": "JPN", "seq": s, "item_id": None, "status": "rejected", "code": "replay",
                     "reason": "x", "consumed": False} for s in seqs]
        return httpx.Response(200, content=json.dumps({"receiver": "KOR", "sender": "JPN",
                                                       "next_seq": max(seqs) + 1, "receipts": receipts}).encode())


def _renumbered(node):
    return node.conn.execute("SELECT COUNT(*) FROM ledger_leaves WHERE type = 'item.shared' "
                             "AND instr(leaf, '\"renumbered_from\"') > 0").fetchone()[0]


def _states(node):
    return [tuple(r) for r in node.conn.execute("SELECT state, COUNT(*) FROM fed_outbox GROUP BY state")]


def test_a_partner_answering_replay_for_ever_does_not_grow_the_ledger_for_ever(node_pair, caplog):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, n) for n in range(10)], "KOR")
    transport = EverythingAReplay(node_pair)
    fed = Federation(jpn, transport)
    size = jpn.ledger.size
    caplog.set_level(logging.WARNING, logger="accord.federation")
    settled = [fed.deliver_once("KOR") for _ in range(20)]
    # renumbered once (#11..#20), then called replays again: settled, the queue empty
    assert settled == [10, 10] + [0] * 18 and transport.batches == 2
    assert jpn.ledger.size - size == _renumbered(jpn) == 10
    assert jpn.conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient = 'KOR'").fetchone()[0] == 20
    assert _states(jpn) == [("rejected", 10)]
    reasons = {r[0] for r in jpn.conn.execute("SELECT reason FROM fed_outbox")}
    assert len(reasons) == 10 and all(r.startswith("replay: ") and "not renumbered again" in r for r in reasons)
    again = [r for r in caplog.records if getattr(r, "event", None) == "outbox.replay_again"]
    assert len(again) == 1 and again[0].count == 10
    verify_node(jpn)  # raises unless every outbox row still matches its item.shared entry

    # later shares are renumbered once each too, and the warning is not said again within the hour
    share_many(jpn, [note(jpn, n) for n in range(10, 15)], "KOR")
    for _ in range(5):
        fed.deliver_once("KOR")
    assert _renumbered(jpn) == 15 and _states(jpn) == [("rejected", 15)]
    assert len([r for r in caplog.records if getattr(r, "event", None) == "outbox.replay_again"]) == 1


def test_the_delivery_worker_settles_a_partner_answering_replay_for_ever(node_pair):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, n) for n in range(10)], "KOR")
    transport = EverythingAReplay(node_pair)
    fed = Federation(jpn, transport, batch_size=4, poll_interval=0.05, head_interval=3600)
    fed.start()
    try:
        assert fed.wait_drained(30)
    finally:
        fed.stop()
    assert _renumbered(jpn) == 10 and _states(jpn) == [("rejected", 10)]


class Scripted(EverythingAReplay):
    """KOR answers each batch with the next of ``answers``: (code, next_seq) for every envelope."""

    def __init__(self, nodes, answers):
        super().__init__(nodes)
        self.answers = list(answers)

    def _request(self, node, party, method, path, params, body):
        if path.endswith("/checkpoint"):
            return httpx.Response(200, text=local_checkpoint(self.nodes[party]))
        code, next_seq = self.answers.pop(0)
        seqs = [e["seq"] for e in json.loads(body)["envelopes"]]
        receipts = [{"originator": "JPN", "seq": s, "item_id": None, "status": "rejected", "code": code,
                     "reason": "x", "consumed": False} for s in seqs]
        return httpx.Response(200, content=json.dumps({"receiver": "KOR", "sender": "JPN",
                                                       "next_seq": next_seq, "receipts": receipts}).encode())


def test_rows_a_refill_sealed_again_are_not_renumbered_when_called_replays(node_pair):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, n) for n in range(3)], "KOR")
    with jpn.conn:  # acknowledged, then pruned from the outbox
        jpn.conn.execute("UPDATE fed_outbox SET state = 'delivered', acked = '2000-01-01T00:00:00Z'")
    prune(jpn, timedelta(0))
    share_many(jpn, [note(jpn, 3)], "KOR")  # #4
    size = jpn.ledger.size
    # KOR asks for #1 again (restored): #1..#3 sealed again from the ledger; then it calls them replays
    fed = Federation(jpn, Scripted(node_pair, [("sequence_gap", 1), ("replay", 5)]))
    with pytest.raises(FederationError, match="settled none"):
        fed.deliver_once("KOR")
    assert [tuple(r) for r in jpn.conn.execute("SELECT seq, resealed FROM fed_outbox ORDER BY seq")] == [
        (1, 1), (2, 1), (3, 1), (4, 0)]
    assert fed.deliver_once("KOR") == 4
    assert [tuple(r) for r in jpn.conn.execute("SELECT seq, state FROM fed_outbox ORDER BY seq")] == [
        (1, "rejected"), (2, "rejected"), (3, "rejected"), (5, "queued")]
    assert jpn.ledger.size - size == _renumbered(jpn) == 1  # only #4, which had not been sealed again
    verify_node(jpn)
