"""Outbox retention: after delivery and pruning the outbox holds only what is unacknowledged, the
ledger still verifies, status totals and retractions survive, and the outbox stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from accord.federation import Federation, retract, share_many, status
from accord.federation.retention import prune
from federation_harness import ROOT, federated, note, received


@pytest.fixture
def trio(tmp_path):
    """JPN's, KOR's and USA's nodes, network, clock and JPN's federation (:func:`federated`)."""
    with federated(tmp_path) as fed:
        yield fed


def _outbox(node) -> dict[str, int]:
    return dict(node.conn.execute("SELECT state, COUNT(*) FROM fed_outbox GROUP BY state").fetchall())


def test_after_delivery_and_pruning_the_outbox_holds_only_what_is_unacknowledged(trio):
    nodes, net, clock, fed = trio
    jpn = nodes["JPN"]
    share_many(jpn, [note(jpn, i) for i in range(20)], "KOR")
    share_many(jpn, [note(jpn, i, kind="warning.track") for i in range(5)], "USA")
    fed.sync(heads=False)
    net.down("USA")
    usa_waiting = share_many(jpn, [note(jpn, i, kind="warning.track") for i in range(5, 8)], "USA")
    fed.sync(heads=False)
    assert _outbox(jpn) == {"delivered": 25, "queued": 3}

    clock.advance(3600 * 24)  # the unacknowledged rows are a day old: kept all the same
    result = prune(jpn, timedelta(0))
    assert result.delivered == {"KOR": 20, "USA": 5} and result.kept_queued == 3
    assert _outbox(jpn) == {"queued": 3}
    assert {r[0] for r in jpn.conn.execute("SELECT seq FROM fed_outbox")} == {r.seq for r in usa_waiting}
    jpn.ledger.verify()  # pruning touches no ledger entry
    from accord.node.verify import verify_node

    assert verify_node(jpn).checked["queued envelopes"] == 3  # nor anything the node's own check holds the outbox to
    by_party = {p["party"]: p for p in status(jpn)["partners"]}
    assert by_party["KOR"]["delivered"] == 20 and by_party["USA"]["delivered"] == 5
    assert by_party["USA"]["queued"] == 3 and by_party["KOR"]["sent_seq"] == 20

    # the rest still goes out, numbered on from where it was, and a retraction of a pruned
    # row's item still finds its partner (through the ledger's item.shared event)
    net.up("USA", nodes["USA"])
    first = jpn.items(kind="test.note")[0]
    sent = retract(jpn, first.id, "superseded")
    assert [r.to for r in sent] == ["KOR"]
    fed.sync(heads=False)
    assert [s for s, _ in received(nodes["USA"].dir, "JPN")] == list(range(1, 9))
    assert nodes["KOR"].conn.execute("SELECT COUNT(*) FROM fed_retractions WHERE item_id=?",
                                     (first.id,)).fetchone()[0] == 1
    nodes["KOR"].ledger.verify()


def test_rows_inside_the_window_are_kept_and_refusals_counted_after_pruning(trio):
    nodes, net, clock, fed = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    fed.sync(heads=False)
    # KOR refuses one of JPN's envelopes: its agreements no longer allow test.note
    kor.conn.execute("DELETE FROM agreements")
    kor.conn.commit()
    share_many(jpn, [note(jpn, 2)], "KOR")
    fed.sync(heads=False)
    assert _outbox(jpn) == {"delivered": 1, "rejected": 1}
    assert prune(jpn, timedelta(hours=1)).pruned == 0  # acknowledged just now: inside the window
    clock.advance(3601)
    result = prune(jpn, timedelta(hours=1))
    assert result.delivered == {"KOR": 1} and result.rejected == {"KOR": 1} and _outbox(jpn) == {}
    kor_row = {p["party"]: p for p in status(jpn)["partners"]}["KOR"]
    assert kor_row["delivered"] == 1 and kor_row["rejected_by_partner"] == 1


def _outbox_bytes(node) -> int:
    """Bytes of pages the outbox table and its indexes occupy (SQLite's dbstat)."""
    return node.conn.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'fed_outbox' "
                             "OR name LIKE 'sqlite_autoindex_fed_outbox%' OR name LIKE 'fed_outbox_%'").fetchone()[0]


@pytest.mark.sqlite_only  # measures the outbox's pages with SQLite's dbstat
def test_soak_with_pruning_keeps_the_outbox_bounded(trio):
    nodes, net, clock, fed = trio
    jpn = nodes["JPN"]
    sizes = []
    for round_ in range(8):
        share_many(jpn, [note(jpn, round_ * 250 + i) for i in range(250)], "KOR")
        fed.sync(heads=False)
        sizes.append(_outbox_bytes(jpn))  # one round's rows, delivered, before pruning
        clock.advance(120)
        prune(jpn, timedelta(seconds=60))
        assert _outbox(jpn) == {}
    assert len(received(nodes["KOR"].dir, "JPN")) == 2000
    # freed pages are reused: the outbox never needs more room than one round's rows
    assert max(sizes[1:]) <= sizes[0], sizes
    jpn.ledger.verify()


def test_prune_from_the_cli_and_a_bad_duration_is_one_line(trio):
    nodes, net, clock, fed = trio
    jpn = nodes["JPN"]
    share_many(jpn, [note(jpn, i) for i in range(3)], "KOR")
    fed.sync(heads=False)
    jpn.close()
    run = [sys.executable, "-m", "accord.cli.main", "node", "prune", "--dir", str(jpn.dir)]
    out = subprocess.run([*run, "--keep", "0", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["delivered"] == {"KOR": 3}
    bad = subprocess.run([*run, "--keep", "soon"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "duration 'soon'" in bad.stderr


@pytest.mark.sqlite_only  # the backup is a copy of the node directory, SQLite's database file in it
def test_a_partner_restored_from_a_backup_older_than_the_window_is_refilled_from_the_ledger(trio, tmp_path,
                                                                                          caplog):
    import logging
    import shutil

    from accord.node import Node

    nodes, net, clock, fed = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    first = share_many(jpn, [note(jpn, i) for i in range(3)], "KOR")
    fed.sync("KOR", heads=False)
    kor.close()
    shutil.copytree(kor.dir, tmp_path / "backup")             # KOR's state after 3 items
    kor = nodes["KOR"] = Node.open(kor.dir, clock=clock)
    net.up("KOR", kor)
    later = share_many(jpn, [note(jpn, 10 + i) for i in range(3)], "KOR")
    fed.sync("KOR", heads=False)
    clock.advance(7200)
    assert prune(jpn, timedelta(hours=1)).delivered == {"KOR": 6}  # nothing left to re-send from
    kor.close()                                               # KOR loses everything after the backup
    shutil.rmtree(kor.dir)
    shutil.copytree(tmp_path / "backup", kor.dir)
    kor = nodes["KOR"] = Node.open(kor.dir, clock=clock)
    net.up("KOR", kor)
    caplog.set_level(logging.WARNING, logger="accord.federation")
    last = share_many(jpn, [note(jpn, 50)], "KOR")             # next contact: KOR asks for #4
    for _ in range(3):
        fed.sync("KOR", heads=False)
    got = [i for _, i in received(kor.dir, "JPN")]
    assert got == [r.item_id for r in first + later + last]
    refilled = [r for r in caplog.records if getattr(r, "event", None) == "outbox.refilled"]
    assert len(refilled) == 1 and (refilled[0].first, refilled[0].last, refilled[0].queued) == (4, 6, 3)
    kor.ledger.verify()
    jpn.ledger.verify()
    from accord.node.verify import verify_node

    verify_node(jpn)  # the re-sealed rows are recorded, addressed and signed as the ledger says


def test_a_database_made_before_the_new_columns_gains_them(tmp_path):
    import sqlite3

    from accord.federation.schema import ensure_federation_schema

    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE fed_partner_state (party TEXT PRIMARY KEY, last_contact TEXT, last_error TEXT, "
                 "failures INTEGER NOT NULL DEFAULT 0, peer_next_seq INTEGER, head_size INTEGER, head_root TEXT, "
                 "head_note TEXT, head_checked TEXT, inconsistent TEXT)")
    conn.execute("INSERT INTO fed_partner_state(party, failures) VALUES ('KOR', 2)")
    conn.commit()
    ensure_federation_schema(conn)
    ensure_federation_schema(conn)  # and again: nothing left to add
    row = conn.execute("SELECT failures, failing_since, pruned_delivered, pruned_rejected FROM fed_partner_state")
    assert row.fetchone() == (2, None, 0, 0)


def test_a_serving_node_prunes_by_itself(trio):
    import time

    nodes, net, clock, _ = trio
    jpn = nodes["JPN"]
    fed = Federation(jpn, net, retention=timedelta(0), prune_interval=0.02, head_interval=3600)
    fed.start()
    try:
        share_many(jpn, [note(jpn, i) for i in range(5)], "KOR")
        end = time.monotonic() + 20
        while time.monotonic() < end and not (len(received(nodes["KOR"].dir, "JPN")) == 5 and _outbox(jpn) == {}):
            time.sleep(0.02)
    finally:
        fed.stop()
    assert len(received(nodes["KOR"].dir, "JPN")) == 5 and _outbox(jpn) == {}
    assert {p["party"]: p["delivered"] for p in status(jpn)["partners"]}["KOR"] == 5


def test_two_processes_adding_the_new_columns_at_once_both_succeed(tmp_path, monkeypatch):
    """The other process added the columns between this one's look and its ALTER TABLE."""
    import sqlite3

    from accord.federation import schema

    conn = sqlite3.connect(tmp_path / "race.db")
    schema.ensure_federation_schema(conn)  # the columns are there (the "other process" added them)
    looks = iter([list(schema._ADDED_COLUMNS), []])  # this process looked just before that
    monkeypatch.setattr(schema, "_missing_columns", lambda c: next(looks))
    schema.ensure_federation_schema(conn)
    assert not conn.in_transaction
    assert conn.execute("SELECT COUNT(*) FROM fed_partner_state").fetchone() == (0,)


def test_sharing_again_after_pruning_sends_a_duplicate_the_partner_stores_once(trio):
    from accord.federation import share

    nodes, net, clock, fed = trio
    jpn = nodes["JPN"]
    item = note(jpn, 1)
    assert share(jpn, item, "KOR").seq == 1
    fed.sync(heads=False)
    prune(jpn, timedelta(0))
    again = share(jpn, item, "KOR")
    assert (again.status, again.seq) == ("queued", 2)
    fed.sync(heads=False)
    assert received(nodes["KOR"].dir, "JPN") == [(1, item.id)]
    assert _outbox(jpn) == {"delivered": 1}


def test_a_rewind_to_1_is_refilled_a_bounded_chunk_per_acknowledgement(trio, tmp_path, monkeypatch, caplog):
    import logging
    import shutil

    from accord.federation import retention
    from accord.federation.inbox import BatchAck
    from accord.federation.outbox import apply_ack
    from accord.node import Node

    monkeypatch.setattr(retention, "REFILL_CHUNK", 3)
    nodes, net, clock, fed = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    kor.close()
    shutil.copytree(kor.dir, tmp_path / "backup")             # KOR before anything was shared
    kor = nodes["KOR"] = Node.open(kor.dir, clock=clock)
    net.up("KOR", kor)
    shared = share_many(jpn, [note(jpn, i) for i in range(10)], "KOR")
    fed.sync("KOR", heads=False)
    clock.advance(7200)
    assert prune(jpn, timedelta(hours=1)).delivered == {"KOR": 10}

    def queued() -> list[int]:
        return [r[0] for r in jpn.conn.execute("SELECT seq FROM fed_outbox WHERE recipient='KOR' ORDER BY seq")]

    # one hostile or confused acknowledgement asking from #1 seals one chunk, not all ten …
    caplog.set_level(logging.INFO, logger="accord.federation")
    apply_ack(jpn, "KOR", BatchAck("KOR", "JPN", 1))
    assert queued() == [1, 2, 3]
    apply_ack(jpn, "KOR", BatchAck("KOR", "JPN", 1))          # … and asking again seals nothing more
    assert queued() == [1, 2, 3]

    # a partner really restored from that backup still gets everything, a chunk per round
    kor.close()
    shutil.rmtree(kor.dir)
    shutil.copytree(tmp_path / "backup", kor.dir)
    kor = nodes["KOR"] = Node.open(kor.dir, clock=clock)
    net.up("KOR", kor)
    last = share_many(jpn, [note(jpn, 50)], "KOR")             # next contact: KOR asks for #1
    for _ in range(8):
        fed.sync("KOR", heads=False)
    assert [i for _, i in received(kor.dir, "JPN")] == [r.item_id for r in shared + last]
    refilled = [r for r in caplog.records if getattr(r, "event", None) == "outbox.refilled"]
    assert refilled and all(r.queued <= 3 for r in refilled)
    rewinds = [r for r in caplog.records if getattr(r, "event", None) == "outbox.rewind"]
    assert len(rewinds) == 1 and (rewinds[0].first, rewinds[0].last) == (1, 10)  # logged once


def test_pruning_over_many_chunks_deletes_every_old_row_and_counts_each_chunk(trio, monkeypatch):
    """Outbox, inbox and refusal records pruned two rows per transaction: a run ending in a part
    chunk (5 rows) and one filling its last chunk exactly (4 rows) both go whole, and the totals
    kept for the status count every chunk."""
    from accord.federation import retention
    from accord.federation.refusals import record_request_rejection

    monkeypatch.setattr(retention, "CHUNK", 2)
    nodes, net, clock, fed = trio
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share_many(jpn, [note(jpn, i) for i in range(5)], "KOR")
    share_many(jpn, [note(jpn, i, kind="warning.track") for i in range(4)], "USA")
    fed.sync(heads=False)
    for _ in range(5):
        record_request_rejection(kor, None, "bad signature")
    clock.advance(retention.INBOX_KEEP.total_seconds() + 3600)

    result = prune(jpn, timedelta(0))
    assert result.delivered == {"KOR": 5, "USA": 4} and _outbox(jpn) == {}
    by_party = {p["party"]: p for p in status(jpn)["partners"]}
    assert by_party["KOR"]["delivered"] == 5 and by_party["USA"]["delivered"] == 4

    result = prune(kor)
    assert result.inbox == {"JPN": 4}   # #1…#4 in two full chunks; #5, JPN's last, stays
    assert [r[0] for r in kor.conn.execute("SELECT seq FROM fed_inbox WHERE originator='JPN'")] == [5]
    assert result.rejections == 5
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections").fetchone()[0] == 0
    assert status(kor)["rejections"]["total"] == 5
