"""A false receipt is ledgered with "the leaf and path it served" — whatever bytes the partner
put there, even when its path does not verify (so the leaf proves nothing: it is not evidence,
only the partner's words). The leaf has no bound but the answer cap (8 MiB; a partner answering
the batch route 404 is asked one index a request), and the ledger is append-only: a hostile
partner makes this node keep megabytes of its choosing per envelope it was sent, forever."""

from __future__ import annotations

import base64

from accord.federation import InProcessNetwork, share
from federation_harness import federation_over, ledger_events, note

BLOB = 2 * 1024 * 1024


def _ledger_bytes(node) -> int:
    return node.conn.execute("SELECT COALESCE(SUM(LENGTH(leaf)), 0) FROM ledger_leaves").fetchone()[0]


def test_an_unverified_leaf_of_a_false_receipt_does_not_grow_the_ledger_by_its_size(node_pair):
    nodes = node_pair
    jpn = nodes["JPN"]

    class Stuffing(InProcessNetwork):   # every proof: 2 MiB of the partner's choosing, a path of zeros
        def get_receipts(self, node, party, indices, size, within=None):
            answer = super().get_receipts(node, party, indices, size, within)
            for proof in answer["proofs"]:
                proof["leaf"] = base64.b64encode(b"x" * BLOB).decode()
                proof["path"] = [base64.b64encode(bytes(32)).decode()]
            return answer

    fed = federation_over(nodes, Stuffing())
    for n in range(3):
        share(jpn, note(jpn, n), "KOR")
    before = _ledger_bytes(jpn)
    fed.sync()
    events = ledger_events(jpn.dir, "partner.receipt_false")
    assert events and all("does not verify" in e["reason"] for e in events)
    grown = _ledger_bytes(jpn) - before
    assert grown < 256 * 1024, (f"{len(events)} false receipt(s) whose paths do not verify grew JPN's "
                                f"append-only ledger by {grown} bytes of KOR's choosing")
