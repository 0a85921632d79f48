"""An acknowledgement that lies about what was sent is refused whole and changes nothing: a
partner (or a buggy one) cannot mark rows delivered that it was never sent, nor push this node's
sequence counter for it to the 64-bit limit (every later share to it would fail)."""

from __future__ import annotations

import json

import pytest

from accord.errors import AccordError
from accord.federation import Federation, share_many
from federation_harness import note
from test_federation_hostile_answers import Canned


def _states(node):
    return [tuple(r) for r in node.conn.execute("SELECT seq, state FROM fed_outbox ORDER BY seq")]


def _ack(next_seq, *receipts):
    return json.dumps({"receiver": "KOR", "sender": "JPN", "next_seq": next_seq,
                       "receipts": list(receipts)}).encode()


def _stored(seq):
    return {"originator": "JPN", "seq": seq, "item_id": None, "status": "stored", "consumed": True}


LIES = {
    # batch size 1: only #1 is sent, #2 stays queued and unsent
    "acks a number never sent": _ack(3, _stored(1), _stored(2)),
    "acks a number it says it still expects": _ack(1, _stored(1)),
    "acks a negative number": _ack(2, _stored(1), _stored(-4)),
    "asks for a number below 1": _ack(0, _stored(1)),
}


@pytest.mark.parametrize("case", LIES)
def test_an_acknowledgement_of_numbers_not_sent_is_refused(node_pair, case):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, 1), note(jpn, 2)], "KOR")
    fed = Federation(jpn, Canned(node_pair, {"envelopes": LIES[case]}), batch_size=1)
    with pytest.raises(AccordError, match="acknowledgement"):
        fed.deliver_once("KOR")
    assert _states(jpn) == [(1, "queued"), (2, "queued")]


def test_a_replay_claim_cannot_push_the_sequence_counter_to_the_limit(node_pair):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    replay = {"originator": "JPN", "seq": 1, "item_id": None, "status": "rejected", "code": "replay",
              "reason": "x", "consumed": False}
    # 2**53 - 1: the largest number the ledger's canonical JSON holds; the next share would fail
    fed = Federation(jpn, Canned(node_pair, {"envelopes": _ack(2**53 - 1, replay)}))
    with pytest.raises(AccordError, match="acknowledgement"):
        fed.deliver_once("KOR")
    assert _states(jpn) == [(1, "queued")]
    share_many(jpn, [note(jpn, 2)], "KOR")  # the stream to KOR goes on
    assert _states(jpn) == [(1, "queued"), (2, "queued")]


def test_an_honest_restored_partner_answer_is_still_applied(node_pair):
    """next_seq above this node's counter is what a partner answers a node restored from a backup:
    the replayed rows are renumbered from there, as before."""
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    replay = {"originator": "JPN", "seq": 1, "item_id": None, "status": "rejected", "code": "replay",
              "reason": "x", "consumed": False}
    fed = Federation(jpn, Canned(node_pair, {"envelopes": _ack(6, replay)}))
    assert fed.deliver_once("KOR") == 1
    assert _states(jpn) == [(6, "queued")]
