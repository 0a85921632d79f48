"""A node on PostgreSQL with more partners than its connection pool had places: each partner's
delivery worker holds a reading connection of its own for as long as it runs, beside the node's
own connection, so the store's pool must have a place for each of them — else the last workers
wait for a connection that never comes, their partners are never delivered to, and the node
logs a database outage that is none. A removed partner's worker retires and gives its place back."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.federation import Federation, remove_partner, share
from accord.federation.outbox import queue_depth
from accord.node import Node

from federation_harness import attached, make_nodes, note, wait_for

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
    net = attached(nodes)
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


def test_a_removed_partners_worker_gives_its_pool_place_back_and_a_new_one_takes_it_when_pinned_again(
        tmp_path, pg_schemas, caplog):
    """`accord node partner remove` beside a serving node on PostgreSQL: the removed partner's
    worker retires and its reader's place leaves the store's size; pinned again, a new worker
    reads on a new reader (a place again) and delivers the held row."""
    url = pg_schemas.make()
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), store=lambda p: url if p == "JPN" else None)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    initial = jpn.store.max_size
    net = attached(nodes)
    caplog.set_level(logging.INFO, logger="accord.federation")
    fed = Federation(jpn, net, backoff_base=0.01, backoff_cap=0.05, poll_interval=0.05, head_interval=60,
                     lease_renew=0.1)
    fed.start()
    try:
        share(jpn, note(jpn, 1), "KOR")
        assert wait_for(lambda: _received(kor) == 1)
        # and acknowledged: KOR stores before it answers, so under load the row can still be
        # queued here, and the remove below held both (fresh-clone CI: queue_held 2)
        assert wait_for(lambda: queue_depth(jpn, "KOR") == 0)
        assert jpn.store.max_size == initial + 1  # KOR's worker's reader
        net.down("KOR")
        share(jpn, note(jpn, 2), "KOR")
        cli = Node.open(tmp_path / "JPN")  # another process's node, on the same schema
        try:
            assert remove_partner(cli, "KOR")["queue_held"] == 1
            net.up("KOR")
            assert wait_for(lambda: "accord-deliver-KOR" not in {t.name for t in threading.enumerate()}, timeout=10)
            assert jpn.store.max_size == initial and jpn.store.pool.max_size == initial
            assert [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "partner.retired"] \
                == ["delivery worker for KOR retired: no longer a pinned partner; its queue is held until it is "
                    "pinned again"]
            assert _received(kor) == 1
            cli.add_partner("KOR", kor.identity.public_b64)
        finally:
            cli.close()
        assert wait_for(lambda: _received(kor) == 2, timeout=10)
        assert jpn.store.max_size == initial + 1
    finally:
        fed.stop()
    assert jpn.store.max_size == initial and jpn.store.pool.max_size == initial
    for n in nodes.values():
        n.close()
