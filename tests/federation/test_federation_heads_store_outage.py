"""The tree-head thread when a partner is unreachable while the node database is away too (one
network fault cutting both): the thread lives on, and the partner's outage is still reported
"unreachable" once the database is back."""

from __future__ import annotations

import logging
import threading

from accord.errors import FederationError, StoreUnavailable
from accord.federation import Federation, service
from accord.federation.transport import InProcessNetwork

from federation_harness import make_nodes, wait_for


def test_head_thread_survives_an_unreachable_partner_while_the_database_is_away(tmp_path, monkeypatch, caplog):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"))
    jpn = nodes["JPN"]
    net = InProcessNetwork()
    for n in nodes.values():
        net.attach(n)
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
