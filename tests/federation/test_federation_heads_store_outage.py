"""The tree-head thread when a partner is unreachable while the node database is away too (one
network fault cutting both): the thread lives on, and the partner's outage is still reported
"unreachable" once the database is back."""

from __future__ import annotations

import logging
import threading

from accord.errors import FederationError, StoreUnavailable
from accord.federation import Federation, service

from federation_harness import attached, make_nodes, wait_for


def test_head_thread_survives_an_unreachable_partner_while_the_database_is_away(tmp_path, monkeypatch, caplog):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    net = attached(nodes)
    checks = []
    database_away = threading.Event()
    database_away.set()
    backlog = service._backlog

    def unreachable(node, party, transport):
        checks.append(party)
        raise FederationError(f"{party}: connection refused")

    def away_backlog(*args, **kwargs):
        if database_away.is_set():
            raise StoreUnavailable("PostgreSQL at postgresql://x/y is unavailable (Connection refused)")
        return backlog(*args, **kwargs)

    monkeypatch.setattr(service, "check_partner_head", unreachable)
    monkeypatch.setattr(service, "_backlog", away_backlog)
    caplog.set_level(logging.WARNING, logger="accord")
    fed = Federation(jpn, net, poll_interval=0.05, head_interval=0.05, lease_renew=0.2)
    fed.start()
    try:
        assert wait_for(lambda: len(checks) >= 3)
        seen = len(checks)
        assert wait_for(lambda: len(checks) >= seen + 3), "the tree-head thread stopped checking"
        assert fed._heads_thread.is_alive()
        database_away.clear()   # the database is back, the partner still unreachable
        assert wait_for(lambda: any("partner KOR unreachable" in r.getMessage() for r in caplog.records)), \
            "the partner's outage was never reported"
    finally:
        fed.stop()
        for n in nodes.values():
            n.close()


def test_lease_thread_skips_its_round_while_the_database_is_away_and_goes_on(tmp_path, monkeypatch, caplog):
    """The lease thread's rounds while the database is away are skipped — from its very first
    round: nothing taken over, no worker woken —, the outage is logged once, and the thread
    takes leases over again after it."""
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    net = attached(nodes)
    caplog.set_level(logging.INFO, logger="accord")
    fed = Federation(jpn, net, poll_interval=0.05, head_interval=5, lease_renew=0.2)
    # the service's first refresh (before the thread), then the database away, then KOR's lease
    # held by another worker, then the lease free again
    phase = {"now": "start"}
    refresh, rounds, woken = fed.leases.refresh, [], []

    def phased_refresh(partners):
        rounds.append(phase["now"])
        if phase["now"] == "away":
            raise StoreUnavailable("PostgreSQL at postgresql://x/y is unavailable (Connection refused)")
        if phase["now"] == "elsewhere":
            return []
        return refresh(partners)

    monkeypatch.setattr(fed.leases, "refresh", phased_refresh)
    fed.start()
    try:
        phase["now"] = "away"
        monkeypatch.setattr(fed, "notify", woken.append)
        assert wait_for(lambda: rounds.count("away") >= 3)
        assert fed._leases_thread.is_alive() and woken == []
        phase["now"] = "elsewhere"
        assert wait_for(lambda: rounds.count("elsewhere") >= 2)
        phase["now"] = "back"
        assert wait_for(lambda: woken == ["KOR"]), "the lease thread did not go on after the outage"
    finally:
        fed.stop()
        for n in nodes.values():
            n.close()
    assert rounds[0] == "start"
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("store.unavailable") == 1 and events.count("store.recovered") == 1
