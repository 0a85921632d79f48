"""Dialogue writes and syncs on a node's shared connection from several threads (the API's
threadpool): a sync never records a valid version as a fork, whether two syncs race for the
same item or a sync runs while another thread's write is still inside its transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from accord.clock import ManualClock
from accord.dialogue.store import DialogueStore
from accord.node import Node

SERIES = {"id": "S1", "title": "Japan-ROK working-level talks", "parties": ["JPN", "KOR"],
          "level": "working-level", "cadence_months": 6, "first_meeting": "2025-08-31",
          "host_rotation": ["JPN", "KOR"], "venues": {"JPN": "Tokyo", "KOR": "Seoul"}}


def _node(tmp_path: Path) -> Node:
    clock = ManualClock(datetime(2025, 9, 8, 12, tzinfo=UTC))
    node = Node.init(tmp_path / "jpn", "JPN", clock)
    kor = Node.init(tmp_path / "kor", "KOR", clock)
    node.add_partner("KOR", kor.identity.public_b64)
    return node


def _rejections(node: Node, before: int) -> list[str]:
    return [e.type for e in node.ledger.entries(before) if e.type == "item.rejected"]


def test_a_sync_that_finds_an_item_already_indexed_does_not_call_it_a_fork(tmp_path):
    """Two syncs that both listed the same new item (or another process syncing the same
    database): the one that comes second finds the very version held — nothing to do."""
    node = _node(tmp_path)
    store = DialogueStore(node)
    store.create_series(SERIES, share=False)
    item_id = node.conn.execute("SELECT item_id FROM dialogue_versions WHERE record_id = 'S1'").fetchone()[0]
    stale = node.get_item(item_id)
    before = node.ledger.size
    store._unindexed_items = lambda: [stale]  # what a sync that read before the other indexed saw
    assert store.sync() == (0, 0)
    assert store.rejected() == [] and _rejections(node, before) == []


def test_a_sync_during_another_threads_write_waits_for_it(tmp_path):
    """A write (thread A) has stored its item but not yet indexed it, inside its transaction; a
    read's sync (thread B) on the same connection must not see that item as 'received and
    unindexed' — it waits for A, then finds it indexed."""
    node = _node(tmp_path)
    store = DialogueStore(node)
    before = node.ledger.size
    in_txn, go = threading.Event(), threading.Event()
    real_index = store._index

    def paused_index(v, item):
        in_txn.set()
        go.wait(10)
        return real_index(v, item)

    store._index = paused_index
    writer = threading.Thread(target=lambda: store.create_series(SERIES, share=False))
    writer.start()
    assert in_txn.wait(10)
    result: dict[str, tuple[int, int]] = {}
    reader = threading.Thread(target=lambda: result.setdefault("sync", store.sync()))
    reader.start()
    reader.join(timeout=0.5)  # it waits for A's lock (or, wrongly, has read A's item already)
    go.set()
    writer.join(10)
    reader.join(10)
    assert result["sync"] == (0, 0)
    assert store.rejected() == [] and _rejections(node, before) == []
    assert [r[0] for r in node.conn.execute("SELECT version FROM dialogue_versions WHERE record_id = 'S1'")] == [1]
