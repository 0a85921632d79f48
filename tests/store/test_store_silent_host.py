"""A database host that does not answer — what it carried reset, a new connection accepted and
never answered (tests/silentrelay.py), as from an unreachable host or a failover address nothing
listens behind — fails the requests that need it at once, with one connection attempt past the
pool at a time instead of one per request each waiting out its connect timeout; and the first
request once the host answers again is served (:meth:`PostgresStore.connect_directly`). A host
that stops answering without resetting anything (a frozen server, a network that drops packets)
fails the statement waiting on it at the store's deadline, and TCP notices a peer gone silent
in ~25 s (keepalives, a user timeout); long work (a migration, a verification) has no deadline."""

from __future__ import annotations

import pickle
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


def _deadline(url: str, seconds: float) -> str:
    return f"{url}{'&' if '?' in url else '?'}accord_statement_timeout={seconds:g}"


def test_a_statement_on_a_connection_the_host_stops_answering_fails_within_seconds(pg_server):
    """The host goes silent without resetting what it carried (a frozen server, a network fault
    that drops rather than resets; the relay's kernel still acknowledges, so no TCP timeout sees
    it): the node's next statement, on the connection it holds, fails as StoreUnavailable once
    past the store's deadline — its connection cut (_Watchdog) — instead of hanging as long as
    the host is silent (on a real network until TCP gives up, ~15 min) behind the node's lock."""
    from accord.store.postgres import PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_deadline(_through(relay, pg_server), 1), max_size=4)
    outcome: list[str] = []
    try:
        assert store.conn.execute("SELECT 1").fetchone()[0] == 1
        held = store.conn._conn
        relay.freeze()
        done = threading.Event()

        def statement() -> None:
            try:
                store.conn.execute("SELECT 1").fetchone()
                outcome.append("answered")
            except StoreUnavailable as exc:
                outcome.append(str(exc))
            done.set()

        threading.Thread(target=statement, daemon=True).start()
        assert done.wait(30), "the statement still waits after 30 s"
        assert len(outcome) == 1 and "no answer from the server within 1 s" in outcome[0], outcome
        assert held.closed, "the cut connection was kept (the pool closes a broken one given back)"
        assert store.conn._conn is None  # given back, and the pool discards a broken one
    finally:
        relay.close()  # (the statement's connection closed: it ends)
        store.close()


def test_a_statement_shorter_than_the_deadline_is_not_cut(pg_schemas):
    """A statement that takes longer than the watchdog's look (a quarter of the deadline) but
    less than the deadline is answered; one in ``unbounded`` (a migration's, a verification's)
    may take longer than the deadline."""
    from accord.store.base import unbounded
    from accord.store.postgres import PostgresStore

    store = PostgresStore(_deadline(pg_schemas.make(), 4), max_size=4)
    try:
        assert store.watch.deadline == 4
        assert store.conn.execute("SELECT pg_sleep(2), 1").fetchone()[1] == 1
        store.watch.deadline = 0.4
        with unbounded(store.conn):
            assert store.conn.execute("SELECT pg_sleep(1.2), 2").fetchone()[1] == 2
        with pytest.raises(StoreUnavailable, match="no answer from the server within 0.4 s"):
            store.conn.execute("SELECT pg_sleep(5)")  # the same, bounded: cut (the server answers in time otherwise)
        assert store.conn.execute("SELECT 3").fetchone()[0] == 3  # a new connection
    finally:
        store.close()


@pytest.mark.timeout(90)
def test_after_a_cut_the_pool_gives_a_working_connection_and_discards_its_frozen_ones(pg_server, monkeypatch):
    """A connection the pool holds idle to the frozen host fails the pool's check at the deadline
    and is discarded; once the host answers again, the next request is served, whatever the pool
    held."""
    from accord.store import postgres
    from accord.store.postgres import PgConnection, PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_deadline(_through(relay, pg_server), 1), max_size=4)
    monkeypatch.setattr(postgres, "PROBE_HOLD_S", 3600.0)  # no attempt past the pool before the host answers
    other = PgConnection(store)
    try:
        assert store.conn.execute("SELECT 1").fetchone()[0] == 1
        assert other.execute("SELECT 1").fetchone()[0] == 1
        idle = other._conn
        other.close()  # its connection idle in the pool
        relay.freeze()
        with pytest.raises(StoreUnavailable, match="no answer from the server within 1 s"):
            store.conn.execute("SELECT 1")
        with pytest.raises(StoreUnavailable):  # the pool's check of its idle one is cut too
            store.conn.execute("SELECT 1")
        assert idle.closed or idle.broken, "the pool's idle connection to the frozen host was kept"
        with pytest.raises(StoreUnavailable, match="no answer from the server"):
            store.conn.execute("SELECT 1")  # the pool failing: the attempt past it hangs
        relay.answer_again()  # the connections held unanswered fail: the attempt past the pool ends
        probe = store._probe
        assert probe is not None and probe.done.wait(30)
        monkeypatch.setattr(postgres, "PROBE_HOLD_S", 0.0)
        monkeypatch.setattr(postgres, "PROBE_WAIT_S", 30.0)
        assert store.conn.execute("SELECT 2").fetchone()[0] == 2, "the first request once the host answered"
        assert store.conn.execute("SELECT 3").fetchone()[0] == 3
    finally:
        relay.close()
        store.close()


def test_migrations_and_ledger_verify_run_without_the_deadline(tmp_path, pg_schemas, monkeypatch):
    """Work that may rightly outlast a request's statement — a migration step on a large table,
    ``accord ledger verify`` reading every row — is not cut at the store's deadline."""
    from typer.testing import CliRunner

    from accord.cli.main import app
    from accord.node import verify
    from accord.store.migrations import migrate

    url = _deadline(pg_schemas.make(), 0.4)
    with Node.init(tmp_path / "jpn", "JPN", store=url) as node:
        with pytest.raises(StoreUnavailable, match="within 0.4 s"):  # a request's statement: cut
            node.conn.execute("SELECT pg_sleep(1.2)")
        assert migrate(node.conn, "slow_part", [lambda conn: conn.execute("SELECT pg_sleep(1.2)")]) == 0
        assert node.conn.execute("SELECT version FROM schema_version WHERE component = 'slow_part'").fetchone()[0] == 1
    real = verify.verify_node

    def slow_verify(node, **kw):
        node.conn.execute("SELECT pg_sleep(1.2)")
        return real(node, **kw)

    monkeypatch.setattr(verify, "verify_node", slow_verify)
    r = CliRunner().invoke(app, ["ledger", "verify", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0 and "ledger OK" in r.output, r.output


def _socket_settings(conn) -> tuple[int, int, int]:
    """SO_KEEPALIVE, TCP_KEEPIDLE and TCP_USER_TIMEOUT (ms) as the kernel has them for ``conn``."""
    import os
    import socket

    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        return (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
    finally:
        sock.close()


def test_connections_notice_a_peer_gone_silent_by_tcp_unless_the_url_says_otherwise(pg_schemas):
    """The pool's connections and those made past it have TCP keepalives and a user timeout (a
    network that drops packets is noticed in ~25 s, not TCP's ~15 min); a URL's own setting is
    kept, and Accord's deadline setting is taken out of what libpq is given."""
    from accord.store.postgres import PostgresStore

    url = pg_schemas.make()
    plain = PostgresStore(url, max_size=4)
    own = PostgresStore(_deadline(f"{url}{'&' if '?' in url else '?'}keepalives_idle=60", 7))
    try:
        assert _socket_settings(plain.conn._raw()) == (1, 10, 25_000)
        direct = plain._connect()
        try:
            assert _socket_settings(direct) == (1, 10, 25_000)
        finally:
            direct.close()
        assert plain.watch.deadline == 30
        assert _socket_settings(own.conn._raw()) == (1, 60, 25_000)
        assert own.watch.deadline == 7 and "accord_statement_timeout" not in own.url
        assert own.conn.execute("SELECT current_schema()").fetchone()[0] in url  # the URL's other settings kept
    finally:
        plain.close()
        own.close()


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_bad_deadline_in_the_url_is_one_clear_error(value):
    from accord.errors import ConfigError
    from accord.store.postgres import PostgresStore

    with pytest.raises(ConfigError, match=f"accord_statement_timeout='{value}': give the seconds"):
        PostgresStore(f"postgresql://nobody@127.0.0.1:1/none?accord_statement_timeout={value}")


@pytest.mark.parametrize("piped", [False, True], ids=["plain", "pipelined"])
def test_a_commit_left_unanswered_is_not_said_to_have_committed_nothing(pg_server, piped):
    """The host freezes with the COMMIT sent: the server may have committed before the answer was
    lost, so the error must not tell the operator that nothing was committed (it may have been):
    it states that outcome alone, whatever the wording of the one it replaces."""
    from accord.store.postgres import MAYBE_COMMITTED, NOTHING_COMMITTED, PostgresStore

    relay = SilentRelay(pg_server.port)
    store = PostgresStore(_deadline(_through(relay, pg_server), 1), max_size=4)
    conn = store.conn
    try:
        conn.execute("CREATE TEMP TABLE t (x int)")
        if piped:
            with pytest.raises(StoreUnavailable) as caught:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    conn.execute("INSERT INTO t VALUES (1)")
                    relay.freeze()
                    conn.commit()
        else:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (1)")
            relay.freeze()
            with pytest.raises(StoreUnavailable) as caught:
                conn.commit()
        said = str(caught.value)
        assert "nothing was committed" not in said and "may or may not have been committed" in said, said
        assert NOTHING_COMMITTED not in said and "retry" not in said, said
        reason = caught.value.reason  # the lost connection's own line, the one thing besides the outcome
        assert said == f"PostgreSQL at {store.name} is unavailable ({reason}); {MAYBE_COMMITTED}", said
        assert str(pickle.loads(pickle.dumps(caught.value))) == said  # it crosses a process boundary whole
        assert "\n" not in said
    finally:
        relay.close()
        store.close()
