"""A database host that does not answer — what it carried reset, a new connection accepted and
never answered (tests/silentrelay.py), as from an unreachable host or a failover address nothing
listens behind — fails the requests that need it at once, with one connection attempt past the
pool at a time instead of one per request each waiting out its connect timeout; and the first
request once the host answers again is served (:meth:`PostgresStore.connect_directly`)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from silentrelay import SilentRelay

from accord.api.app import create_app
from accord.api.deps import UNAVAILABLE_MESSAGE
from accord.errors import StoreUnavailable
from accord.federation.tokens import create_token
from accord.node import Node

pytestmark = pytest.mark.postgresql


def _through(relay: SilentRelay, server) -> str:
    return server.url.replace(f":{server.port}/", f":{relay.port}/")


def _pool_attempts(store) -> int:
    return int(store.pool.get_stats().get("connections_num", 0))


def test_concurrent_requests_meeting_a_silent_host_fail_at_once_and_the_first_after_it_answers_is_served(
        tmp_path, pg_server, monkeypatch):
    from accord.store import postgres

    relay = SilentRelay(pg_server.port)
    node = Node.init(tmp_path / "jpn", "JPN", store=_through(relay, pg_server))
    store = node.store
    secret = create_token(node.conn, "ops", "JPN", {"items:read"})
    headers = {"Authorization": f"Bearer {secret}"}
    # the attempt that outlasts its request's wait holds the others off until it has failed and
    # for this long after: long enough here that the count below does not depend on how long the
    # requests take on a loaded machine
    monkeypatch.setattr(postgres, "PROBE_HOLD_S", 3600.0)
    try:
        with TestClient(create_app(node)) as client:
            assert client.get("/api/v1/items", headers=headers).status_code == 200
            relay.go_silent()
            pool_before = _pool_attempts(store)
            answers: list[tuple[int, object]] = []

            def one_client() -> None:
                for _ in range(10):
                    r = client.get("/api/v1/items", headers=headers)
                    answers.append((r.status_code, r.json().get("detail")))

            clients = [threading.Thread(target=one_client) for _ in range(4)]
            for t in clients:
                t.start()
            for t in clients:
                t.join()
            assert [code for code, _ in answers] == [503] * 40, answers
            assert all(detail == {"error": "unavailable", "message": UNAVAILABLE_MESSAGE} for _, detail in answers)
            asked = relay.silent_accepts  # read before the pool's count: an attempt is counted there first
            direct = asked - (_pool_attempts(store) - pool_before)
            # one request waited for the pool (its own reconnection asks the host too); one attempt
            # was then made past it, and the other requests failed at once instead of each making one
            assert direct <= 1, (asked, direct)
            assert asked < len(answers) // 2, asked

            relay.answer_again()  # the connections held unanswered fail: the attempt past the pool ends
            probe = store._probe
            assert probe is not None and probe.done.wait(30) and probe.error is not None
            # the hold over, and a request waiting as long as a connection takes on this machine
            monkeypatch.setattr(postgres, "PROBE_HOLD_S", 0.0)
            monkeypatch.setattr(postgres, "PROBE_WAIT_S", 30.0)
            r = client.get("/api/v1/items", headers=headers)
            assert r.status_code == 200, "the first request once the host answered was not served"
    finally:
        node.close()
        relay.close()


def test_an_attempt_that_hangs_leaves_the_other_connections_failing_at_once(pg_server, monkeypatch):
    """At the store, without the API's lock around the token lookup: connections wanting one in
    threads of their own while the attempt past the pool hangs each fail at once, none making an
    attempt of its own; the attempt's place is given back once it has failed, and a connection
    made after its requester stopped waiting serves the next request."""
    from accord.store import postgres
    from accord.store.postgres import PgConnection, PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_through(relay, pg_server), max_size=4)
    conns = [PgConnection(store) for _ in range(3)]
    monkeypatch.setattr(postgres, "PROBE_HOLD_S", 3600.0)
    try:
        store.conn.execute("SELECT 1").fetchone()
        relay.go_silent()
        with pytest.raises(StoreUnavailable):  # its connection reset
            store.conn.execute("SELECT 1").fetchone()
        with pytest.raises(StoreUnavailable):  # waits for the pool, which connects to nothing
            store.conn.execute("SELECT 1").fetchone()
        assert store.pool_failing, "a pool whose connection attempt hangs was taken for a busy one"
        with pytest.raises(StoreUnavailable, match="no answer from the server"):
            store.conn.execute("SELECT 1").fetchone()  # starts the attempt, stops waiting for it
        probe = store._probe
        assert probe is not None and not probe.done.is_set()
        pool_before, asked = _pool_attempts(store), relay.silent_accepts

        failed: list[str] = []

        def want(conn: PgConnection) -> None:
            for _ in range(5):
                try:
                    conn.execute("SELECT 1").fetchone()
                except StoreUnavailable as exc:
                    failed.append(str(exc))

        threads = [threading.Thread(target=want, args=(conn,)) for conn in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(failed) == 15 and store._probe is probe
        assert relay.silent_accepts - asked <= _pool_attempts(store) - pool_before  # none of theirs
        assert probe.done.wait(30) and probe.error is not None  # its connect timeout
        assert store._direct == 0, "the failed attempt's place was not given back"

        relay.answer_again()
        monkeypatch.setattr(postgres, "PROBE_HOLD_S", 0.0)
        monkeypatch.setattr(postgres, "PROBE_WAIT_S", 0.0)  # its requester stops waiting at once
        with pytest.raises(StoreUnavailable):
            store.conn.execute("SELECT 1").fetchone()
        late = store._probe
        assert late is not None and late.done.wait(30) and late.error is None
        # made after its requester stopped waiting: kept (its place counted) for the next request
        assert late.conn is not None and store._direct == 1
        assert store.conn.execute("SELECT 1").fetchone()[0] == 1  # served by it, no wait
        assert late.conn is None and store._probe is late
    finally:
        for conn in conns:
            conn.close()
        store.close()
        relay.close()


def test_requests_racing_to_connect_past_the_pool_make_one_attempt(pg_server, monkeypatch):
    """Requests that want a connection past the pool at the same moment, the host silent: one of
    them starts the attempt (and stops waiting for it), every other fails at once, and the
    attempt's place in the store's size is given back once it has failed."""
    from accord.store import postgres
    from accord.store.postgres import PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_through(relay, pg_server), max_size=4)
    monkeypatch.setattr(postgres, "PROBE_HOLD_S", 3600.0)
    started: list = []
    attempt = store._attempt
    monkeypatch.setattr(store, "_attempt", lambda probe: (started.append(probe), attempt(probe)))
    try:
        relay.go_silent()
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def race() -> None:
            barrier.wait()
            try:
                store.connect_directly()
                outcomes.append("connected")
            except StoreUnavailable as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=race) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(started) == 1, "more than one connection attempt at a time"
        assert len(outcomes) == 8 and "connected" not in outcomes
        assert sum("no answer from the server" in o for o in outcomes) == 1, outcomes  # the one that waited
        assert started[0].done.wait(30) and store._direct == 0
    finally:
        store.close()
        relay.close()


@pytest.mark.xfail(strict=True, reason="no client-side bound on a statement: a connection the host stops "
                   "answering without resetting it hangs the statement")
def test_a_statement_on_a_connection_the_host_stops_answering_fails_within_seconds(pg_server):
    """The host goes silent without resetting what it carried (a frozen server, a network fault
    that drops rather than resets): the node's next statement, on the connection it holds, should
    fail as StoreUnavailable within a few seconds, as a new connection's attempt does — it hangs
    (on a real network until TCP gives up, ~15 min; here for as long as the host is silent),
    behind the node's lock in the API."""
    from accord.store.postgres import PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_through(relay, pg_server), max_size=4)
    outcome: list[str] = []
    try:
        assert store.conn.execute("SELECT 1").fetchone()[0] == 1
        relay.freeze()
        done = threading.Event()

        def statement() -> None:
            try:
                store.conn.execute("SELECT 1").fetchone()
                outcome.append("answered")
            except StoreUnavailable:
                outcome.append("unavailable")
            done.set()

        threading.Thread(target=statement, daemon=True).start()
        assert done.wait(10), "the statement still waits after 10 s"
        assert outcome == ["unavailable"]
    finally:
        relay.close()  # (the statement's connection closed: it ends)
        store.close()
