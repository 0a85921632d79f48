"""Inbox retention: ``fed_inbox`` rows older than the envelopes' freshness limit (+ a day) are
pruned, each originator's highest number kept; inside the window a resend is still answered
``duplicate``; past it, a resend is refused as a replay and healed by renumbering, stored once."""

from __future__ import annotations

from datetime import timedelta

from accord.federation import share_many, status
from accord.federation.inbox import MAX_AGE, receive_envelope
from accord.federation.retention import INBOX_KEEP, prune, prune_inbox
from federation_harness import note, received


def _inbox(node) -> list[int]:
    return [r[0] for r in node.conn.execute("SELECT seq FROM fed_inbox WHERE originator='JPN' ORDER BY seq")]


def _envelope(node, seq: int) -> bytes:
    return bytes(node.conn.execute("SELECT envelope FROM fed_outbox WHERE recipient='KOR' AND seq=?",
                                   (seq,)).fetchone()[0])


def test_the_window_outlasts_the_envelopes_freshness_limit():
    assert INBOX_KEEP > MAX_AGE + timedelta(minutes=5)


def test_old_inbox_rows_go_the_recent_ones_and_each_originators_last_stay(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share_many(jpn, [note(jpn, i) for i in range(10)], "KOR")
    fed.sync(heads=False)
    clock.advance(2 * 86400)
    share_many(jpn, [note(jpn, i) for i in range(10, 15)], "KOR")
    fed.sync(heads=False)
    assert _inbox(kor) == list(range(1, 16))

    clock.advance(INBOX_KEEP.total_seconds() - 2 * 86400 + 3600)  # the first ten are past the window
    result = prune(kor)  # the node's prune (serve, `accord node prune`) prunes the inbox too
    assert result.inbox == {"JPN": 10} and result.to_json()["inbox_pruned"] == {"JPN": 10}
    assert _inbox(kor) == list(range(11, 16))
    assert prune_inbox(kor) == {}  # nothing more to do

    # inside the window a resent envelope is still an idempotent duplicate
    again = receive_envelope(kor, _envelope(jpn, 12), sender="JPN")
    assert (again.status, again.consumed) == ("duplicate", True)

    # everything old: the highest number stays, so the stream resumes where it was
    clock.advance(INBOX_KEEP.total_seconds())
    assert prune_inbox(kor) == {"JPN": 4}
    assert _inbox(kor) == [15]
    assert {p["party"]: p for p in status(kor)["partners"]}["JPN"]["received_seq"] == 15
    share_many(jpn, [note(jpn, 99)], "KOR")
    fed.sync(heads=False)
    assert _inbox(kor) == [15, 16]
    assert [s for s, _ in received(kor.dir, "JPN")][-1] == 16
    kor.ledger.verify()


def test_a_resend_of_a_pruned_number_is_refused_then_healed_and_stored_once(fed_pair):
    nodes, net, clock, fed = fed_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    items = [note(jpn, i) for i in range(3)]
    share_many(jpn, items, "KOR")
    fed.sync(heads=False)
    clock.advance(INBOX_KEEP.total_seconds() + 60)
    assert prune_inbox(kor) == {"JPN": 2}

    # the exact bytes of #2 again: no row answers for them now, and they are not taken again
    r = receive_envelope(kor, _envelope(jpn, 2), sender="JPN")
    assert (r.status, r.code, r.consumed) == ("rejected", "replay", False)
    held = kor.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    # a sender that never saw its acknowledgement sends #2 again: refused as a replay, it seals
    # the item again under a new number, and the receiver answers that one as a duplicate
    jpn.conn.execute("UPDATE fed_outbox SET state='queued', acked=NULL WHERE recipient='KOR' AND seq=2")
    jpn.conn.commit()
    fed.sync(heads=False)
    states = dict(jpn.conn.execute("SELECT state, COUNT(*) FROM fed_outbox GROUP BY state").fetchall())
    assert states == {"delivered": 3}
    assert kor.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == held
    assert [iid for _, iid in received(kor.dir, "JPN")] == [i.id for i in items]
    jpn.ledger.verify()
    kor.ledger.verify()
