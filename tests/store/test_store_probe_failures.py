"""What becomes of the connection attempt past a failing pool (:meth:`PostgresStore.connect_directly`)
when its thread cannot be started: the request gets a clean StoreUnavailable (a 503, not a 500),
the attempt's place in the store's size is given back, and the next request makes an attempt."""

from __future__ import annotations

import threading
import types

import pytest

from accord.errors import StoreUnavailable

pytestmark = pytest.mark.postgresql


class _NoThread(threading.Thread):
    def start(self) -> None:
        raise RuntimeError("can't start new thread")


def test_an_attempt_whose_thread_cannot_start_fails_cleanly_and_gives_its_place_back(pg_schemas, monkeypatch):
    from accord.store import postgres
    from accord.store.postgres import PostgresStore

    store = PostgresStore(pg_schemas.make(), max_size=3)
    shim = types.ModuleType("threading")
    shim.__dict__.update(threading.__dict__)
    shim.Thread = _NoThread  # type: ignore[attr-defined]
    try:
        with monkeypatch.context() as m:
            m.setattr(postgres, "threading", shim)
            with pytest.raises(StoreUnavailable):
                store.connect_directly()
        assert store._direct == 0, "the attempt that never started kept its place"
        assert store._probe is None or store._probe.done.is_set(), "an attempt that never started is waited for"
        monkeypatch.setattr(postgres, "PROBE_WAIT_S", 30.0)
        conn = store.connect_directly()  # the next request makes its attempt (the server is there)
        assert conn is not None
        conn.close()
        store.direct_closed()
    finally:
        store.close()
