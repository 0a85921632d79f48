"""What a false receipt keeps as evidence (accord.federation.receipts): a leaf whose inclusion
path does not verify is only the partner's words, so its event keeps the leaf's SHA-256 and
length, not the bytes; a proof's leaf is bounded (``MAX_LEAF_BYTES``) and each path hash is 32
bytes, or the answer is malformed and proves nothing either way. A hostile partner cannot make
this node's append-only ledger keep megabytes of its choosing per envelope sent."""

from __future__ import annotations

import base64
import hashlib

import pytest

from accord.errors import FederationError
from accord.federation import InProcessNetwork, receipts, share
from federation_harness import federation_over, ledger_events, note

ZERO_PATH = [base64.b64encode(bytes(32)).decode()]


def _ledger_bytes(node) -> int:
    return node.conn.execute("SELECT COALESCE(SUM(LENGTH(leaf)), 0) FROM ledger_leaves").fetchone()[0]


def _pending(node, party: str) -> int:
    return node.conn.execute("SELECT COUNT(*) FROM fed_receipt_checks WHERE party = ?", (party,)).fetchone()[0]


def _stuffing(leaf: bytes, *, batch: bool) -> InProcessNetwork:
    """A KOR that serves ``leaf`` with a path of zeros for every proof, over the batch route or
    (``batch=False``: it answers the batch route 404) one index a request."""
    def stuffed(proof: dict) -> dict:
        return {**proof, "leaf": base64.b64encode(leaf).decode(), "path": ZERO_PATH}

    class Stuffing(InProcessNetwork):
        def get_receipts(self, node, party, indices, size, within=None):
            if not batch:
                return None
            answer = super().get_receipts(node, party, indices, size, within)
            return {**answer, "proofs": [stuffed(p) for p in answer["proofs"]]}

        def get_receipt(self, node, party, index, size):
            answer = super().get_receipt(node, party, index, size)
            return None if answer is None else stuffed(answer)

    return Stuffing()


@pytest.mark.parametrize("batch", [True, False], ids=["batch-route", "one-index-a-request"])
def test_a_false_receipt_whose_path_does_not_verify_keeps_the_leafs_digest_not_its_bytes(node_pair, batch):
    jpn = node_pair["JPN"]
    leaf = b"x" * receipts.MAX_LEAF_BYTES          # as large as a proof may carry
    fed = federation_over(node_pair, _stuffing(leaf, batch=batch))
    for n in range(3):
        share(jpn, note(jpn, n), "KOR")
    before = _ledger_bytes(jpn)
    fed.sync()
    events = ledger_events(jpn.dir, "partner.receipt_false")
    assert len(events) == 3 and all("does not verify" in e["reason"] for e in events)
    for event in events:
        assert "leaf" not in event and "path" not in event
        assert (event["leaf_sha256"], event["leaf_bytes"]) == (hashlib.sha256(leaf).hexdigest(), len(leaf))
    grown = _ledger_bytes(jpn) - before
    assert grown < len(leaf), f"3 false receipts grew JPN's ledger by {grown} bytes of KOR's choosing"


def test_a_leaf_over_the_bound_is_no_proof_and_is_not_ledgered(node_pair):
    jpn = node_pair["JPN"]
    leaf = b"x" * (2 * 1024 * 1024)
    fed = federation_over(node_pair, _stuffing(leaf, batch=True))
    for n in range(3):
        share(jpn, note(jpn, n), "KOR")
    before = _ledger_bytes(jpn)
    fed.sync()
    assert ledger_events(jpn.dir, "partner.receipt_false") == []
    assert _pending(jpn, "KOR") == 3                 # still waiting: asked again at the next check
    assert _ledger_bytes(jpn) - before < len(leaf)


def test_the_proof_parser_bounds_the_leaf_and_each_path_hash():
    def proof(leaf: bytes, path: list[bytes]) -> dict:
        return {"index": 0, "size": 2, "leaf": base64.b64encode(leaf).decode(),
                "path": [base64.b64encode(h).decode() for h in path]}

    most = b"x" * receipts.MAX_LEAF_BYTES
    assert receipts.parse_proof(proof(most, [bytes(32)]), "KOR", 0, 2) == (most, [bytes(32)])
    with pytest.raises(FederationError, match="leaf of over"):
        receipts.parse_proof(proof(most + b"x", [bytes(32)]), "KOR", 0, 2)
    for wrong in (bytes(31), bytes(33), bytes(4096)):
        with pytest.raises(FederationError, match="not 32 bytes"):
            receipts.parse_proof(proof(b"{}", [wrong]), "KOR", 0, 2)
    batch = {"size": 2, "not_found": [], "proofs": [proof(most + b"x", [bytes(32)])]}
    with pytest.raises(FederationError, match="leaf of over"):
        receipts.parse_proofs(batch, "KOR", [0], 2)
