"""The node's event bus: a committed write wakes subscribers once, after the commit; asyncio
waiters are woken from other threads; a failing subscriber never fails the write."""

from __future__ import annotations

import asyncio
import threading

import pytest

from accord.core.items import new_item
from accord.core.markings import Marking
from accord.node import Node
from accord.node.bus import LEDGER, BusEvent, CommitLock, EventBus


def _item(node: Node, n: int):
    return new_item("test.note", {"n": n}, Marking.parse("UNCLASSIFIED"), node.party, node.clock.now())


def test_a_write_publishes_one_ledger_event_after_it_commits(tmp_path):
    node = Node.init(tmp_path / "jpn", "JPN")
    seen: list[tuple[BusEvent, bool, int]] = []

    def on(event: BusEvent) -> None:  # what a reader in another thread would find at that moment
        size = node.ledger.size
        seen.append((event, node.conn.in_transaction, size))

    node.bus.subscribe(on, [LEDGER])
    size = node.ledger.size
    node.put_items([_item(node, 1), _item(node, 2)])
    assert [(e.topic, e.data) for e, _, _ in seen] == [(LEDGER, {"first": size, "count": 2})]
    assert seen[0][1] is False and seen[0][2] == size + 2  # published after the commit, not inside it
    # several writes inside one outer hold of the write lock: one event covering all of them
    seen.clear()
    with node.write_lock:
        node.put_item(_item(node, 3))
        node.put_item(_item(node, 4))
        assert seen == []  # nothing yet: the holder may still roll back or add more
    assert [e.data for e, _, _ in seen] == [{"first": size + 2, "count": 2}]
    node.close()


def test_an_unsubscribed_or_other_topic_subscriber_hears_nothing(tmp_path):
    node = Node.init(tmp_path / "jpn", "JPN")
    got: list[BusEvent] = []
    stop = node.bus.subscribe(got.append, ["federation"])
    also: list[BusEvent] = []
    stop_also = node.bus.subscribe(also.append)
    node.put_item(_item(node, 1))
    assert got == [] and [e.topic for e in also] == [LEDGER]
    stop_also()
    stop_also()  # twice is harmless
    node.put_item(_item(node, 2))
    assert len(also) == 1 and node.bus.subscribers() == 1
    stop()
    assert node.bus.subscribers() == 0
    node.close()


def test_a_failing_subscriber_does_not_fail_the_write_or_the_others(tmp_path, caplog):
    node = Node.init(tmp_path / "jpn", "JPN")

    def broken(_: BusEvent) -> None:
        raise ValueError("subscriber bug")

    got: list[BusEvent] = []
    node.bus.subscribe(broken)
    node.bus.subscribe(got.append)
    item = node.put_item(_item(node, 1))
    assert node.get_item(item.id) == item and len(got) == 1
    assert "subscriber bug" in caplog.text
    node.close()


def test_a_waker_is_woken_from_a_worker_thread_and_times_out_without_events():
    bus = EventBus()

    async def main() -> tuple[bool, bool, bool]:
        async with bus.waker([LEDGER]) as w:
            idle = await w.wait(0.05)
            threading.Thread(target=bus.publish, args=(LEDGER, {"first": 0, "count": 1})).start()
            woken = await w.wait(5)
            # many events before the next wait: one wake-up, then quiet again
            for _ in range(3):
                bus.publish(LEDGER)
            await asyncio.sleep(0.01)
            coalesced = await w.wait(1) and not await w.wait(0.05)
        assert bus.subscribers() == 0  # leaving the block unsubscribes
        return idle, woken, coalesced

    assert asyncio.run(main()) == (False, True, True)


def test_the_commit_lock_is_reentrant_and_runs_callbacks_at_the_outermost_release():
    lock = CommitLock()
    ran: list[str] = []
    lock.after_release(lambda: ran.append("unheld"))  # not held: runs at once
    with lock:
        with lock:
            lock.after_release(lambda: ran.append("inner"))
        assert ran == ["unheld"] and lock.owned()
    assert ran == ["unheld", "inner"] and not lock.owned()
    assert lock.acquire(timeout=0.01)
    other: list[bool] = []
    t = threading.Thread(target=lambda: other.append(lock.acquire(timeout=0.01)))
    t.start()
    t.join()
    assert other == [False]  # held by this thread: another cannot take it
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_items_read_by_window_newest_and_ids_are_the_items_stored(tmp_path):
    from datetime import timedelta

    from accord.core.items import stored_item
    from accord.errors import InputError

    node = Node.init(tmp_path / "jpn", "JPN")
    now = node.clock.now()
    made = [new_item("test.note", {"n": k, "f": 0.5, "s": "é"}, Marking.parse("SECRET//REL TO JPN"), "JPN",
                     now - timedelta(minutes=10 - k)) for k in range(10)]
    node.put_items(made)
    node.put_item(new_item("warning.track", {"track_id": "T"}, Marking.parse("UNCLASSIFIED"), "JPN", now))
    window = node.items("test.note", since=now - timedelta(minutes=5), until=now - timedelta(minutes=2))
    assert window == made[5:9]
    assert node.items("test.note", newest=3) == made[7:]
    assert node.count_items() == {"test.note": 10, "warning.track": 1}
    got = node.get_items([made[0].id, "JPN:test.note:missing", made[3].id])
    assert got == {made[0].id: made[0], made[3].id: made[3]}
    assert all(got[i.id].digest() == i.digest() for i in (made[0], made[3]))
    with pytest.raises(InputError, match="stored item x"):
        stored_item(b'{"kind": "test.note"}', source="stored item x")
    with pytest.raises(InputError, match="not JSON"):
        stored_item(b"{", source="stored item y")
    node.close()
