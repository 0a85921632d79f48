"""A partner that answers every envelope "replay" (not consumed), with ``next_seq`` just past the
batch, has this node seal every queued item again under new numbers and ledger an ``item.shared``
entry for each — and then it answers the new numbers "replay" too. Each round trip appends as
many entries to this node's append-only ledger as the batch held (and re-signs every envelope,
and logs a warning), for ever: no backoff, no bound. An honest partner restored from a backup
needs one renumbering, not one per delivery."""

from __future__ import annotations

import json

from accord.federation import Federation, HttpTransport, share_many
from accord.federation.treeheads import local_checkpoint
from federation_harness import note

import httpx


class EverythingAReplay(HttpTransport):
    """KOR answers every batch: each envelope a replay, next_seq one past the batch."""

    def __init__(self, nodes):
        super().__init__()
        self.nodes = nodes

    def _request(self, node, party, method, path, params, body):
        if path.endswith("/checkpoint"):
            return httpx.Response(200, text=local_checkpoint(self.nodes[party]))
        seqs = [e["seq"] for e in json.loads(body)["envelopes"]]
        receipts = [{"originator": "JPN", "seq": s, "item_id": None, "status": "rejected", "code": "replay",
                     "reason": "x", "consumed": False} for s in seqs]
        return httpx.Response(200, content=json.dumps({"receiver": "KOR", "sender": "JPN",
                                                       "next_seq": max(seqs) + 1, "receipts": receipts}).encode())


def test_a_partner_answering_replay_for_ever_does_not_grow_the_ledger_for_ever(node_pair):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, n) for n in range(10)], "KOR")
    fed = Federation(jpn, EverythingAReplay(node_pair))
    size = jpn.ledger.size
    for _ in range(20):
        fed.deliver_once("KOR")
    renumbered = jpn.conn.execute("SELECT COUNT(*) FROM ledger_leaves WHERE type = 'item.shared'").fetchone()[0] - 10
    last = jpn.conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient = 'KOR'").fetchone()[0]
    assert renumbered <= 10, (f"20 deliveries of 10 items to a partner answering 'replay' appended "
                              f"{jpn.ledger.size - size} ledger entries ({renumbered} renumberings; the "
                              f"sequence counter to KOR is at {last})")
