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


class SignedHead(Canned):
    """A partner whose checkpoint, signed with its pinned key, states the size the test chooses."""

    def __init__(self, nodes, size):
        super().__init__(nodes, {})
        self.size = size

    def _request(self, node, party, method, path, params, body):
        import base64

        from accord.core.checkpoint import sign_note

        jpn = self.nodes[party]
        root = base64.b64encode(jpn.ledger.root()).decode()
        return httpx.Response(200, text=sign_note(f"{jpn.ledger.origin}\n{self.size}\n{root}\n", jpn.identity,
                                                  jpn.ledger.origin))


@pytest.mark.parametrize("size", [str(2**63), str(2**64 - 1), "9" * 5000])
def test_a_signed_head_past_64_bits_is_refused_in_one_line_and_stores_nothing(node_pair, size):
    """Signed by the partner's pinned key, a head of 2**63 entries was stored as its baseline
    (SQLite: OverflowError) and one of 5,000 digits was a ValueError out of int(): both ended
    the head check with a traceback."""
    kor = node_pair["KOR"]
    with pytest.raises(AccordError, match="past 2\\*\\*63-1") as exc:
        check_partner_head(kor, "JPN", SignedHead(node_pair, size))
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300
    row = kor.conn.execute("SELECT head_size FROM fed_partner_state WHERE party='JPN'").fetchone()
    assert row is None or row[0] is None
