"""PostgreSQL restarted under load: requests fail cleanly (503, one line, no traceback) while it
is away, the node serves again once it is back, and nothing it acknowledged is lost."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import UNAVAILABLE_MESSAGE
from accord.federation.tokens import create_token
from accord.intel.node_store import store_for
from accord.node import Node
from accord.node.verify import verify_node

pytestmark = pytest.mark.postgresql

MEDIA = "application/taxii+json;version=2.1"


def _indicator() -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z"}



def _server_clients(url: str, bound: int) -> int:
    """The server's client connections, this one left out — the least seen over up to 2 s, until
    one look finds at most ``bound``: a connection the store has just closed keeps its backend a
    moment after (the server ends it asynchronously), and one the store holds open stays counted
    however long it is looked at."""
    import psycopg

    seen = []
    with psycopg.connect(url, autocommit=True) as c:
        for _ in range(20):
            seen.append(int(c.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                      "'client backend' AND pid <> pg_backend_pid()").fetchone()[0]))
            if seen[-1] <= bound:
                break
            time.sleep(0.1)
    return min(seen)

def test_postgresql_restarted_under_load_fails_cleanly_recovers_and_loses_nothing(tmp_path, pg_server):
    node = Node.init(tmp_path / "jpn", "JPN", store=pg_server.url)
    secret = create_token(node.conn, "analyst", "JPN", {"admin"})
    coll = store_for(node).add_collection("feed", alias="feed")
    app = create_app(node)
    url = f"/taxii2/intel/collections/{coll.id}/objects/"
    headers = {"Authorization": f"Bearer {secret}", "Accept": MEDIA, "Content-Type": MEDIA}
    acknowledged: list[str] = []
    refused: list[tuple[int, dict]] = []
    others: list[tuple[int, str]] = []
    phase = {"name": "before"}
    by_phase: dict[str, list[int]] = {"before": [], "down": [], "after": []}
    stop = threading.Event()

    with TestClient(app) as client:  # raises any unhandled server error: none may happen
        def load() -> None:
            while not stop.is_set():
                obj = _indicator()
                r = client.post(url, json={"objects": [obj]}, headers=headers)
                by_phase[phase["name"]].append(r.status_code)
                if r.status_code == 202 and r.json()["success_count"] == 1:
                    acknowledged.append(obj["id"])
                elif r.status_code == 503:
                    refused.append((r.status_code, r.json()))
                else:
                    others.append((r.status_code, r.text))

        worker = threading.Thread(target=load)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while len(acknowledged) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            phase["name"] = "down"
            pg_server.stop("fast")  # what a restart or a failover looks like to the node
            time.sleep(2)
            phase["name"] = "after"
            pg_server.start()
            before = len(acknowledged)
            deadline = time.monotonic() + 30
            while len(acknowledged) < before + 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(60)

    assert others == [], f"answers other than 202 and 503: {others[:3]}"
    assert by_phase["before"] and set(by_phase["before"]) == {202}
    assert 503 in by_phase["down"], by_phase["down"]  # (a request in flight as it stopped may have committed)
    assert len(acknowledged) >= 40, "the node did not serve again once PostgreSQL was back"
    for status, body in refused:  # TAXII's error form, saying only that (the log names the server)
        assert body["title"] == "Service Unavailable"
        assert body["description"] == UNAVAILABLE_MESSAGE
    node.close()

    again = Node.open(tmp_path / "jpn")  # nothing acknowledged is lost; the ledger verifies
    try:
        stored = {r[0] for r in again.conn.execute("SELECT stix_id FROM intel_objects")}
        assert set(acknowledged) <= stored
        verify_node(again)
    finally:
        again.close()


def test_once_the_pool_failed_requests_fail_at_once_and_the_first_after_the_restart_succeeds(tmp_path, pg_server,
                                                                                              monkeypatch):
    """While the server is away only the first statement to need a connection waits for the pool
    (POOL_WAIT_S); the others connect directly and are refused at once. The first statement
    after the server is back gets through, although the pool's own reconnection is then backing
    off for seconds; the store takes its connections from the pool again once it has one."""
    from accord.errors import StoreUnavailable
    from accord.store.postgres import FAILING_POOL_WAIT_S, POOL_WAIT_S

    node = Node.init(tmp_path / "jpn", "JPN", store=pg_server.url)
    store = node.store
    waits: list[float] = []
    getconn = store.pool.getconn

    def recorded(timeout=None):
        waits.append(timeout)
        return getconn(timeout=timeout)

    monkeypatch.setattr(store.pool, "getconn", recorded)
    try:
        assert node.conn.execute("SELECT 1").fetchone()[0] == 1
        pg_server.stop("immediate")
        for _ in range(5):
            with pytest.raises(StoreUnavailable):
                node.conn.execute("SELECT 1").fetchone()
        assert waits[0] == POOL_WAIT_S and waits[1:] and set(waits[1:]) == {FAILING_POOL_WAIT_S}, waits
        time.sleep(4)  # the pool's reconnection attempts are seconds apart by now
        pg_server.start()
        assert node.conn.execute("SELECT 1").fetchone()[0] == 1, "the first statement after the restart failed"

        def from_the_pool() -> bool:
            reader = store.reader()
            try:
                reader.execute("SELECT 1").fetchone()
                return not reader._own
            except StoreUnavailable:  # an attempt outwaited by a loaded machine's slow accept: look again
                return False
            finally:
                reader.close()
        deadline = time.monotonic() + 60
        while not from_the_pool() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not store.pool_failing, "the store never went back to its pool"
    finally:
        node.close()


def test_a_pool_busy_with_the_server_there_is_waited_for_not_bypassed(pg_server):
    """A pool that times out because every connection of its is in use (none of its connection
    attempts failed) is no outage: the store keeps waiting for it rather than connecting past
    its size."""
    from accord.errors import StoreUnavailable
    from accord.store.postgres import PgConnection, PostgresStore

    store = PostgresStore(pg_server.url, max_size=3)  # the store's own connection holds one
    # connections like the store's own, with no place of their own in the pool (a reader has one)
    first, second, third = PgConnection(store), PgConnection(store), PgConnection(store)
    try:
        first.execute("SELECT 1").fetchone()
        second.execute("SELECT 1").fetchone()          # with the store's own: the pool's three, held
        with pytest.raises(StoreUnavailable):
            third.execute("SELECT 1").fetchone()        # waited for the pool, which had none free
        assert not store.pool_failing
        first.close()
        assert third.execute("SELECT 1").fetchone()[0] == 1 and not third._own
    finally:
        for conn in (first, second, third):
            conn.close()
        store.close()


def test_after_an_outage_connections_stay_within_the_pool_size_and_go_back_to_the_pool(pg_server):
    """Once the pool has failed, the connections made directly and the pool's own are together
    never more than the pool's ``max_size`` (past it, the pool is waited for), and a connection
    made directly is given up for one of the pool's once the pool works again: without that,
    every connection wanted after a restart was opened past the pool, and kept for good."""

    from accord.errors import StoreUnavailable
    from accord.store.postgres import PgConnection, PostgresStore

    def clients() -> int:
        return _server_clients(pg_server.url, 3)

    store = PostgresStore(pg_server.url, max_size=3)
    readers = [PgConnection(store) for _ in range(4)]  # no place of their own in the pool (a reader has one)
    conns = [store.conn, *readers]
    try:
        store.conn.execute("SELECT 1").fetchone()
        pg_server.stop("immediate")
        for conn in conns:
            with pytest.raises(StoreUnavailable):
                conn.execute("SELECT 1").fetchone()
        assert store.pool_failing
        pg_server.start()
        served = 0
        for conn in conns:
            try:
                served += conn.execute("SELECT 1").fetchone()[0]
            except StoreUnavailable:  # waited for the pool, all of whose connections were in use
                pass
        assert served >= 1, "nothing served after the restart"
        assert clients() <= 3, "more connections opened than the pool's max_size"

        for reader in readers[2:]:
            reader.close()
        conns = conns[:3]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for conn in conns:
                try:
                    conn.execute("SELECT 1").fetchone()
                except StoreUnavailable:
                    pass
            if not any(conn._own for conn in conns):
                break
            time.sleep(0.2)
        assert not any(conn._own for conn in conns), "connections made past the pool were kept"
        assert not store.pool_failing and clients() <= 3
    finally:
        for conn in readers:
            conn.close()
        store.close()


def test_each_reader_has_a_place_of_its_own_before_during_and_after_an_outage(pg_server):
    """A reader (a delivery worker's, one per partner) holds its connection for good: the store's
    size grows by one place for each reader open, so the store's own connection and every reader
    are served however many readers there are — before an outage, and after it, within the grown
    size (direct connections and the pool's together) and back on the pool's connections — and
    the size shrinks again as they close."""

    from accord.errors import StoreUnavailable
    from accord.store.postgres import PostgresStore

    def clients() -> int:
        return _server_clients(pg_server.url, 3)

    store = PostgresStore(pg_server.url, max_size=3)
    readers = [store.reader() for _ in range(4)]
    conns = [store.conn, *readers]
    try:
        assert store.max_size == 3 + 4 and store.pool.max_size == 3 + 4
        assert all(conn.execute("SELECT 1").fetchone()[0] == 1 for conn in conns), "a holder waited in vain"
        assert not any(conn._own for conn in conns) and clients() == 5
        pg_server.stop("immediate")
        for conn in conns:  # each finds its connection dropped
            with pytest.raises(StoreUnavailable):
                conn.execute("SELECT 1").fetchone()
        for k, conn in enumerate(conns):  # the first waits for the pool; the others, refused, fail at once
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                conn.execute("SELECT 1").fetchone()
            assert k == 0 or time.monotonic() - started < 1.0, (k, time.monotonic() - started)
        assert store.pool_failing
        pg_server.start()
        most = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            served = 0
            for conn in conns:
                try:
                    served += conn.execute("SELECT 1").fetchone()[0]
                except StoreUnavailable:  # waited for the pool, all of whose places were taken
                    pass
            most = max(most, clients())
            assert store._direct + int(store.pool.get_stats().get("pool_size", 0)) <= store.max_size
            if served == len(conns) and not any(conn._own for conn in conns):
                break
            time.sleep(0.2)
        assert served == len(conns) and not any(conn._own for conn in conns), "not every holder back on the pool"
        assert not store.pool_failing and most <= store.max_size, (most, store.max_size)
        for reader in readers:
            reader.close()
        readers[0].close()  # a second close gives back no second place
        assert store.max_size == 3 and store.pool.max_size == 3
        assert store.conn.execute("SELECT 1").fetchone()[0] == 1
    finally:
        for conn in readers:
            conn.close()
        store.close()
