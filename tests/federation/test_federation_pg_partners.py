"""A node on PostgreSQL with more partners than its connection pool had places: each partner's
delivery worker holds a reading connection of its own for as long as it runs, beside the node's
own connection, so the store's pool must have a place for each of them — else the last workers
wait for a connection that never comes, their partners are never delivered to, and the node
logs a database outage that is none."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.federation import Federation, share
from accord.federation.transport import InProcessNetwork

from federation_harness import make_nodes, wait_for

pytestmark = pytest.mark.postgresql

PARTNERS = ("KOR", "USA", "AUS", "GBR", "CAN")  # five: with the node's own connection, six holders


def _received(node) -> int:
    return node.conn.execute("SELECT COUNT(*) FROM items WHERE originator = 'JPN'").fetchone()[0]


def test_every_partner_of_a_postgresql_node_is_delivered_to_however_many_it_has(tmp_path, pg_schemas, caplog):
    parties = ("JPN", *PARTNERS)
    url = pg_schemas.make()
    nodes = make_nodes(tmp_path, parties, store=lambda p: url if p == "JPN" else None)
    jpn = nodes["JPN"]
    from accord.store.postgres import PostgresStore

    assert isinstance(jpn.store, PostgresStore)
    initial = jpn.store.max_size
    assert initial < 1 + len(PARTNERS), "the test needs more partners than the pool's first size"
    keys = {p: n.identity.public_b64 for p, n in nodes.items()}
    now = jpn.clock.now()
    ag = new_agreement("jpn-five", parties, keys, [("JPN", p, ["test.*"], "SECRET") for p in PARTNERS],
                       now - timedelta(days=1), now + timedelta(days=30), title="JPN and five partners")
    for p in parties:
        ag = sign_agreement(ag, nodes[p].identity)
    for n in nodes.values():
        n.add_agreement(ag)
    net = InProcessNetwork()
    for n in nodes.values():
        net.attach(n)
    caplog.set_level(logging.INFO, logger="accord")
    fed = Federation(jpn, net, backoff_base=0.01, backoff_cap=0.05, poll_interval=0.05, head_interval=0.5,
                     lease_renew=0.2)
    fed.start()
    banner = "RESTRICTED//REL TO " + ", ".join(sorted(parties))
    try:
        for i in range(3):
            item = new_item("test.note", {"n": i}, Marking.parse(banner), "JPN", jpn.clock.now())
            for p in PARTNERS:
                share(jpn, item, p)
        assert wait_for(lambda: all(_received(nodes[p]) == 3 for p in PARTNERS), timeout=20), \
            {p: _received(nodes[p]) for p in PARTNERS}
        # every worker holds its reader (and the node its connection): the pool has grown to them
        assert jpn.store.max_size >= 1 + len(PARTNERS)
        assert jpn.store.pool.max_size == jpn.store.max_size
    finally:
        fed.stop()
    # the workers' readers closed: the pool back to its first size
    assert jpn.store.max_size == initial and jpn.store.pool.max_size == initial
    try:
        records = [r for r in caplog.records if r.name.startswith("accord")]
        assert not [r.getMessage() for r in records if getattr(r, "event", None) == "store.unavailable"]
        assert not [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    finally:
        for n in nodes.values():
            n.close()
