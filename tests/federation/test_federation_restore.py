"""A node restored from a backup sends again: its sequence numbers to a partner never go behind
what that partner has already received from the node's lost history."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from accord.federation import Federation, share
from accord.node import Node
from accord.node.verify import verify_node
from federation_harness import note, received


@pytest.mark.sqlite_only  # the fix is the outbox's, whatever the store; the backup here is SQLite's
def test_a_restored_node_renumbers_past_what_its_partner_received_and_nothing_is_lost(net_pair, tmp_path):
    nodes, net = net_pair
    jpn, kor = nodes["JPN"], nodes["KOR"]
    for i in range(3):
        share(jpn, note(jpn, i), "KOR")
    assert Federation(jpn, net).sync("KOR", heads=False)["KOR"] is None
    backup = tmp_path / "backup.db"  # SQLite's online backup, as docs/deployment.md says
    with sqlite3.connect(jpn.dir / "accord.db") as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    for i in range(3, 6):  # the history the restore loses: KOR holds #4..#6
        share(jpn, note(jpn, i), "KOR")
    assert Federation(jpn, net).sync("KOR", heads=False)["KOR"] is None
    assert [s for s, _ in received(kor.dir, "JPN")] == [1, 2, 3, 4, 5, 6]
    jpn.close()
    for suffix in ("", "-wal", "-shm"):
        (jpn.dir / f"accord.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, jpn.dir / "accord.db")

    jpn = nodes["JPN"] = Node.open(jpn.dir)  # closed by net_pair with the others
    net.attach(jpn)
    fresh = [note(jpn, i) for i in range(10, 13)]
    for item in fresh:
        share(jpn, item, "KOR")  # numbered #4..#6 again by the restored counter
    fed = Federation(jpn, net)
    assert fed.sync("KOR", heads=False)["KOR"] is None
    got = received(kor.dir, "JPN")
    assert [s for s, _ in got] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert [i for _, i in got[-3:]] == [item.id for item in fresh]  # in the order shared
    assert jpn.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE state = 'queued'").fetchone()[0] == 0
    assert kor.conn.execute("SELECT COUNT(*) FROM fed_rejections WHERE code != 'replay'").fetchone()[0] == 0
    # the next share follows on: no replay, no renumbering
    share(jpn, note(jpn, 20), "KOR")
    assert fed.sync("KOR", heads=False)["KOR"] is None
    assert received(kor.dir, "JPN")[-1][0] == 10
    verify_node(jpn)  # every envelope row still matches its item.shared ledger entry
