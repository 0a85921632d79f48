"""The background delivery worker: it sends only committed outbox rows, and with an
acknowledgement applied while the next batch is in flight it still delivers everything exactly
once, in order."""

from __future__ import annotations

import threading
import time

import pytest

from accord.federation import Federation, share_many
from federation_harness import note, received, wait_for


def test_rows_of_a_transaction_that_rolls_back_are_never_sent(net_pair, monkeypatch):
    nodes, net = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    fed = Federation(jpn, net, poll_interval=0.02, batch_size=50)
    fed.start()
    try:
        inside = threading.Event()
        real_append = jpn.ledger.append_many

        def slow_failing_append(events):  # the outbox rows are written; the ledger write fails late
            if any(e[0] == "item.shared" for e in events):
                inside.set()
                time.sleep(0.6)  # the worker polls many times meanwhile
                raise OSError("disk full")
            return real_append(events)

        monkeypatch.setattr(jpn.ledger, "append_many", slow_failing_append)
        doomed = [note(jpn, i) for i in range(5)]
        with pytest.raises(OSError):
            share_many(jpn, doomed, "KOR")
        assert inside.is_set()
        monkeypatch.undo()
        assert received(kor.dir, "JPN") == []
        kept = [note(jpn, 100 + i) for i in range(3)]
        share_many(jpn, kept, "KOR")
        assert wait_for(lambda: len(received(kor.dir, "JPN")) == 3)
        assert received(kor.dir, "JPN") == [(1, kept[0].id), (2, kept[1].id), (3, kept[2].id)]
        assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 0
    finally:
        fed.stop()


def test_many_batches_with_acks_applied_behind_arrive_once_in_order(net_pair):
    nodes, net = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    fed = Federation(jpn, net, poll_interval=0.02, batch_size=7)  # many small batches
    fed.start()
    try:
        ids = []
        for start in range(0, 200, 40):  # shares keep arriving while batches are in flight
            items = [note(jpn, k) for k in range(start, start + 40)]
            share_many(jpn, items, "KOR")
            ids += [i.id for i in items]
        assert wait_for(lambda: len(received(kor.dir, "JPN")) == 200)
        assert wait_for(fed.drained)
        assert received(kor.dir, "JPN") == list(enumerate(ids, start=1))
        states = jpn.conn.execute("SELECT state, COUNT(*) FROM fed_outbox GROUP BY state").fetchall()
        assert [tuple(r) for r in states] == [("delivered", 200)]
    finally:
        fed.stop()
