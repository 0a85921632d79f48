"""A database migrated by a newer Accord is refused, not written without what the newer steps
keep up to date (the per-kind item counts of node migration 6, say): every process of a node is
upgraded together, and one left behind says so in one line instead of drifting the counts."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from accord.clock import ManualClock
from accord.errors import StoreError
from accord.node import Node
from accord.node.node import NODE_STEPS
from accord.store.base import transaction


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 6, 1, tzinfo=UTC))


def _ahead(directory, clock) -> None:
    node = Node.open(directory, clock)
    with transaction(node.conn):
        node.conn.execute("UPDATE schema_version SET version = ? WHERE component = 'node'", (len(NODE_STEPS) + 1,))
    node.close()


def test_a_node_database_migrated_by_a_newer_accord_is_refused(tmp_path, clock):
    Node.init(tmp_path / "jpn", "JPN", clock).close()
    _ahead(tmp_path / "jpn", clock)
    with pytest.raises(StoreError, match=rf"node tables are at schema version {len(NODE_STEPS) + 1}, newer than "
                                         rf"this Accord's {len(NODE_STEPS)}"):
        Node.open(tmp_path / "jpn", clock)


def test_the_cli_says_so_in_one_line(tmp_path, clock):
    Node.init(tmp_path / "jpn", "JPN", clock).close()
    _ahead(tmp_path / "jpn", clock)
    out = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "show", "--dir", str(tmp_path / "jpn")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr, out.stderr
    assert "newer than this Accord's" in out.stderr and "upgraded together" in out.stderr, out.stderr


def test_the_refused_database_is_closed(tmp_path, clock, monkeypatch):
    """Nothing is left open by the refusal (a process that goes on, a test run, keeps no
    connection or pool of a database it was refused)."""
    import accord.node.node as node_module

    Node.init(tmp_path / "jpn", "JPN", clock).close()
    _ahead(tmp_path / "jpn", clock)
    opened, closed = [], []
    real = node_module._open_store

    def recording(directory, config):
        store = real(directory, config)
        close = store.close
        store.close = lambda: (closed.append(store), close())[1]
        opened.append(store)
        return store

    monkeypatch.setattr(node_module, "_open_store", recording)
    with pytest.raises(StoreError, match="newer than this Accord's"):
        Node.open(tmp_path / "jpn", clock)
    assert len(opened) == 1 and closed == opened
