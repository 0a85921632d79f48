"""The bound on a store's connections (its pool's and those made directly while the pool fails,
:meth:`PostgresStore.take_direct`) holds against the pool growing in another thread: the pool
grows under its own lock, so a connection it adds between take_direct's reading of its size and
the smaller size take_direct gives it must count."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.postgresql


def test_a_pool_growing_meanwhile_does_not_take_the_store_past_its_size(pg_schemas):
    from accord.store.postgres import PostgresStore

    store = PostgresStore(pg_schemas.make(), max_size=3)  # its own connection holds the pool's one
    pool = store.pool
    try:
        assert store.take_direct()          # one place made direct: the pool has two left
        stats = pool.get_stats

        def grown_meanwhile() -> dict:      # another thread's getconn grows the pool (its own lock)
            seen = stats()
            with pool._lock:
                pool._maybe_grow_pool()
            pool.get_stats = stats          # once
            return seen

        pool.get_stats = grown_meanwhile
        took = store.take_direct()
        assert store._direct + int(pool.get_stats()["pool_size"]) <= store.max_size, \
            (took, store._direct, pool.get_stats()["pool_size"])
        deadline = time.monotonic() + 10    # the growing connection made, the pool settled
        while pool.get_stats().get("pool_size", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store._direct + int(pool.get_stats()["pool_size"]) <= store.max_size
    finally:
        while store._direct:
            store.direct_closed()
        store.close()
