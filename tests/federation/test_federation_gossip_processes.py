"""Tree-head gossip between real node processes (``accord node serve``) over HTTP: USA runs two
servers under its one key, each with its own ledger — JPN is pointed at one, KOR at the other —
and both JPN and KOR, each of whose own checks passes, flag USA ``partner.equivocated`` once they
compare what they were shown (``GET /federation/v1/heads``); neither flags the other."""

from __future__ import annotations

import shutil

import pytest

from accord.node import Node
from federation_harness import NodeProcess, db, free_port, ledger_events, make_nodes, note, start_all, wait_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.sqlite_only]  # USA's fork is a copy of its database file


def _flags(dir):
    conn = db(dir)
    try:
        return {r[0]: r[1] for r in conn.execute("SELECT party, inconsistent FROM fed_partner_state")}
    finally:
        conn.close()


def test_a_node_serving_two_histories_is_flagged_by_both_partners(tmp_path):
    ports = {p: free_port() for p in ("JPN", "KOR", "USA")}
    fork_port = free_port()
    nodes = make_nodes(tmp_path, ports=ports)
    nodes["KOR"].add_partner("USA", nodes["USA"].identity.public_b64, url=f"http://127.0.0.1:{fork_port}")
    for n in nodes.values():
        n.close()
    shutil.copytree(tmp_path / "USA", tmp_path / "USA-fork")
    for name, n in (("USA", 1), ("USA-fork", 2)):   # the same size, another root
        usa = Node.open(tmp_path / name)
        try:
            usa.put_item(note(usa, n, kind="warning.track"))
        finally:
            usa.close()
    args = ["--gossip-every", "1s"]
    procs = {p: NodeProcess(tmp_path / p, ports[p], args=args) for p in ("JPN", "KOR", "USA")}
    procs["USA-fork"] = NodeProcess(tmp_path / "USA-fork", fork_port, args=args)
    try:
        start_all(procs)
        assert wait_for(lambda: all(ledger_events(tmp_path / p, "partner.equivocated") for p in ("JPN", "KOR")),
                        timeout=120)
    finally:
        for proc in procs.values():
            proc.stop()
    for me, relayer in (("JPN", "KOR"), ("KOR", "JPN")):
        events = ledger_events(tmp_path / me, "partner.equivocated")
        assert [(e["party"], e["relayer"]) for e in events] == [("USA", relayer)]
        assert events[0]["ours"]["size"] == events[0]["relayed"]["size"]
        assert events[0]["ours"]["root"] != events[0]["relayed"]["root"]
        flags = _flags(tmp_path / me)
        assert "equivocated" in flags["USA"] and not flags[relayer]
        assert ledger_events(tmp_path / me, "partner.inconsistent") == []
    for usa in ("USA", "USA-fork"):
        assert not any(_flags(tmp_path / usa).values())
