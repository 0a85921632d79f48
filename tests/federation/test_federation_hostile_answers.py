"""What a partner answers is checked before it is used: an acknowledgement or a consistency proof
of the wrong shape is one :class:`FederationError`-like refusal (an ``AccordError``, so the
delivery and head-check loops log one line and retry), never a ``TypeError`` or
``OverflowError`` deep in the outbox code, and it changes nothing."""

from __future__ import annotations

import json

import httpx
import pytest

from accord.errors import AccordError
from accord.federation import Federation, share_many
from accord.federation.transport import HttpTransport
from accord.federation.treeheads import check_partner_head, local_checkpoint
from federation_harness import note


class Canned(HttpTransport):
    """An HTTP transport whose partner answers what the test says (the requests are not sent)."""

    def __init__(self, nodes, answers):
        super().__init__()
        self.nodes, self.answers = nodes, answers

    def _request(self, node, party, method, path, params, body):
        if path.endswith("/checkpoint"):
            return httpx.Response(200, text=local_checkpoint(self.nodes[party]))
        return httpx.Response(200, content=self.answers[path.rsplit("/", 1)[-1]])


ACKS = {
    "receipts not a list": {"receiver": "KOR", "sender": "JPN", "next_seq": 2, "receipts": 5},
    "receipt not an object": {"receiver": "KOR", "sender": "JPN", "next_seq": 2, "receipts": [7]},
    "no status": {"receiver": "KOR", "sender": "JPN", "next_seq": 2, "receipts": [{"seq": 1}]},
    "next_seq a string": {"receiver": "KOR", "sender": "JPN", "next_seq": "2", "receipts": []},
    "next_seq past 64 bits": {"receiver": "KOR", "sender": "JPN", "next_seq": 10**30, "receipts": []},
    "seq a list": {"receiver": "KOR", "sender": "JPN", "next_seq": 2,
                   "receipts": [{"seq": [1], "status": "stored", "consumed": True}]},
    "not an object": [1, 2],
}


@pytest.mark.parametrize("case", ACKS)
def test_a_malformed_acknowledgement_is_refused_and_changes_nothing(node_pair, case):
    jpn = node_pair["JPN"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    fed = Federation(jpn, Canned(node_pair, {"envelopes": json.dumps(ACKS[case]).encode()}))
    with pytest.raises(AccordError, match="acknowledgement"):
        fed.deliver_once("KOR")
    states = jpn.conn.execute("SELECT state, COUNT(*) FROM fed_outbox GROUP BY state").fetchall()
    assert [tuple(r) for r in states] == [("queued", 1)]


@pytest.mark.parametrize("proof", [[1, 2], "c2hvcnQ=", [None], {"a": 1}])
def test_a_malformed_consistency_proof_is_refused_and_flags_nothing(node_pair, proof):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    transport = Canned(node_pair, {"consistency": json.dumps({"proof": proof}).encode()})
    assert check_partner_head(kor, "JPN", transport).consistent  # the first head: nothing to prove
    share_many(jpn, [note(jpn, 2)], "KOR")  # JPN's ledger grows: the next check asks for a proof
    with pytest.raises(AccordError, match="malformed consistency proof"):
        check_partner_head(kor, "JPN", transport)
    assert kor.conn.execute("SELECT inconsistent FROM fed_partner_state WHERE party='JPN'").fetchone()[0] is None
