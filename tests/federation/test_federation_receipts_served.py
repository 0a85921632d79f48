"""The receiving side of receipt proofs (accord.federation.receipts_served): what a partner's
concurrent requests may open. Each answer read from a snapshot of its own is a connection of its
own (on PostgreSQL a place added to the pool), so their number is bounded per process whatever a
partner asks; past the bound an answer is read as before, under the node's write lock."""

from __future__ import annotations

import threading
import time

from accord.federation import receipts, receipts_served
from accord.federation.inbox import receive_envelope
from accord.store.base import begin_read
from federation_harness import make_nodes, note


def _sealed(sender, n: int) -> dict:
    from accord.core.envelopes import seal

    return seal(note(sender, n), "KOR", n + 1, sender.identity, sender.clock.now()).to_json()


def test_a_partners_concurrent_proof_requests_open_a_bounded_number_of_snapshot_connections(tmp_path, monkeypatch):
    """A partner may have MAX_IN_FLIGHT requests in progress per serving process: each answered
    on a reader of its own took a PostgreSQL connection beyond the ``4 + N`` a serving process was
    sized for (every serve worker, every partner), enough for a hostile partner's flood to exhaust
    the server's ``max_connections``. At most SNAPSHOT_READERS are open at once; the others are
    answered under the write lock, with the same proofs."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    try:
        jpn, kor = nodes["JPN"], nodes["KOR"]
        for n in range(3):
            assert receive_envelope(kor, _sealed(jpn, n), sender="JPN").status == "stored"
        size = kor.ledger.size
        expected = receipts.local_receipts(kor, "JPN", list(range(size)), size)
        assert len(expected["proofs"]) == 3
        lock, open_now, most = threading.Lock(), [0], [0]

        def slow_begin(conn):   # a snapshot that takes a while to read: the requests overlap in it
            begin_read(conn)
            with lock:
                open_now[0] += 1
                most[0] = max(most[0], open_now[0])
            time.sleep(0.3)
            with lock:
                open_now[0] -= 1

        monkeypatch.setattr(receipts_served, "begin_read", slow_begin)
        start, answers = threading.Barrier(4), []

        def ask():
            start.wait(10)
            answers.append(receipts.local_receipts(kor, "JPN", list(range(size)), size))

        threads = [threading.Thread(target=ask) for _ in range(4)]   # MAX_IN_FLIGHT of one partner
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == [expected] * 4
        assert most[0] == 1, f"{most[0]} snapshot connections open at once"
        assert receipts_served.SNAPSHOT_READERS == 1
    finally:
        for n in nodes.values():
            n.close()
