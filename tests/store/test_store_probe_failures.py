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



def _slow_attempts(pg_schemas, monkeypatch):
    """A store whose direct connection attempts each outlast their request's wait and end only
    once ``release`` is set; ``made`` collects the connections they make."""
    from accord.store import postgres
    from accord.store.postgres import PostgresStore

    store = PostgresStore(pg_schemas.make(), max_size=3)
    monkeypatch.setattr(postgres, "PROBE_WAIT_S", 0.0)  # every attempt outlasts its request's wait
    release = threading.Event()
    made: list = []
    real = store._connect

    def slow():
        release.wait(30)
        made.append(real())
        return made[-1]

    monkeypatch.setattr(store, "_connect", slow)
    return store, release, made

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


def _attempt_threads(store) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"{store.pool.name}-connect"]


def test_a_connection_made_after_its_request_stopped_waiting_serves_the_next_request(pg_schemas, monkeypatch):
    """A server that is back but slower to connect than a request waits for the attempt (a remote
    host: TLS and SCRAM are several round trips): the connection the attempt makes is the next
    request's, not closed — else every attempt is thrown away and nothing past the pool is ever
    served until the pool's own reconnection comes round, its backoff seconds to minutes away."""

    store, release, made = _slow_attempts(pg_schemas, monkeypatch)
    try:
        with pytest.raises(StoreUnavailable, match="no answer from the server"):
            store.connect_directly()
        probe = store._probe
        release.set()
        assert probe is not None and probe.done.wait(30) and probe.error is None
        conn = store.connect_directly()
        assert conn is not None and conn is made[0] and len(made) == 1, "the attempt's connection was thrown away"
        assert store._direct == 1  # its place, now the request's
        conn.close()
        store.direct_closed()
        for t in _attempt_threads(store):
            t.join(30)
    finally:
        store.close()


def test_a_connection_made_late_and_not_taken_is_closed_and_its_place_given_back(pg_schemas, monkeypatch):
    from accord.store import postgres

    monkeypatch.setattr(postgres, "PROBE_KEEP_S", 0.0, raising=False)
    store, release, made = _slow_attempts(pg_schemas, monkeypatch)
    try:
        with pytest.raises(StoreUnavailable):
            store.connect_directly()
        threads = _attempt_threads(store)
        release.set()
        for t in threads:
            t.join(30)
        assert len(made) == 1 and made[0].closed and store._direct == 0
        assert store._probe is not None and store._probe.conn is None
    finally:
        store.close()


def test_a_store_closed_while_its_attempt_runs_answers_unavailable(pg_schemas, monkeypatch):
    """Shutting down while a request waits for its attempt: the request gets the store's
    "unavailable" (a 503), not the closed pool's error, and the connection made late is closed."""
    from accord.store import postgres

    store, release, made = _slow_attempts(pg_schemas, monkeypatch)
    monkeypatch.setattr(postgres, "PROBE_WAIT_S", 30.0)  # the request waits for its attempt throughout
    out: list = []

    def request() -> None:
        try:
            out.append(store.connect_directly())
        except StoreUnavailable as exc:
            out.append(exc)

    t = threading.Thread(target=request)
    t.start()
    started = threading.Event()
    for _ in range(300):
        if store._probe is not None:
            started.set()
            break
        started.wait(0.01)
    assert started.is_set(), "the attempt never started"
    store.close()
    release.set()
    t.join(30)
    assert len(out) == 1 and isinstance(out[0], StoreUnavailable), out
    assert "closed while connecting" in str(out[0])
    for th in _attempt_threads(store):
        th.join(30)
    assert made and made[0].closed
