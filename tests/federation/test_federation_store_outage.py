"""The node's own PostgreSQL going away under a running delivery service, and coming back: the
delivery worker survives and delivers what was shared afterwards, and the log says so in one
line each way — no traceback per retry, and no "partner unreachable" for a partner that never was."""

from __future__ import annotations

import logging
import time

import pytest

from accord.federation import Federation, share

from federation_harness import attached, make_nodes, note, wait_for

pytestmark = pytest.mark.postgresql


def _received(kor) -> int:
    return kor.conn.execute("SELECT COUNT(*) FROM items WHERE originator = 'JPN'").fetchone()[0]


def test_delivery_survives_its_database_going_away_and_logs_it_once(tmp_path, pg_server, caplog):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), store=lambda p: pg_server.url if p == "JPN" else None)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    net = attached(nodes)
    caplog.set_level(logging.DEBUG, logger="accord")
    fed = Federation(jpn, net, backoff_base=0.01, backoff_cap=0.05, poll_interval=0.05, head_interval=0.1,
                     lease_renew=0.2)
    fed.start()
    try:
        for i in range(3):
            share(jpn, note(jpn, i), "KOR")
        assert wait_for(lambda: _received(kor) == 3)

        pg_server.stop("immediate")
        time.sleep(3.0)  # every thread of the service meets the outage, several times
        pg_server.start()

        def shared() -> bool:
            try:
                share(jpn, note(jpn, 3), "KOR")
                return True
            except Exception:  # noqa: BLE001 - the first statements may still find the old connections
                return False
        assert wait_for(shared, timeout=30)
        assert wait_for(lambda: _received(kor) == 4, timeout=30), "nothing delivered after the database came back"
        assert fed._threads["KOR"].is_alive()
        assert wait_for(lambda: any(getattr(r, "event", None) == "store.recovered" for r in caplog.records))
    finally:
        fed.stop()
        for n in nodes.values():
            n.close()

    records = [r for r in caplog.records if r.name.startswith("accord.federation")]
    assert not [r.getMessage() for r in records if r.exc_info], "a traceback was logged"
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    down = [r for r in records if getattr(r, "event", None) == "store.unavailable"]
    back = [r for r in records if getattr(r, "event", None) == "store.recovered"]
    assert len(down) == 1 and down[0].levelno == logging.WARNING, [r.getMessage() for r in down]
    assert len(back) >= 1 and back[0].attempts >= 2
    assert not [r for r in records if getattr(r, "event", None) == "partner.unreachable"]


def test_partner_api_answers_503_while_its_database_is_away(tmp_path, pg_server, caplog, monkeypatch):
    """A partner's tree-head check of a node whose database is away is answered 503 with
    Retry-After — not a 500 with a traceback in the log (checkpoint) nor a 400 blaming the
    request (consistency), and not naming the database's server, user or name (the log does) —
    and 200 again once the database is back."""
    from fastapi.testclient import TestClient

    from accord.logs import Throttle

    # the 503 lines are throttled per process (6 a minute): an earlier test's 503s (the TAXII
    # load of test_store_postgres_restart) spent them, and this test's line was never logged
    monkeypatch.setattr("accord.api.deps._unavailable_log", Throttle(per_minute=6))

    from accord.api.app import create_app
    from accord.api.deps import UNAVAILABLE_MESSAGE
    from accord.federation.httpsig import sign_request

    nodes = make_nodes(tmp_path, ("JPN", "KOR"), store=lambda p: pg_server.url if p == "KOR" else None)
    jpn, kor = nodes["JPN"], nodes["KOR"]
    caplog.set_level(logging.WARNING, logger="accord.api")

    def get(client, path: str, query: str = "") -> object:
        headers = sign_request(jpn.identity, "GET", path, query, b"", jpn.clock.now(), "KOR")
        return client.get(path + (f"?{query}" if query else ""), headers=headers)

    try:
        with TestClient(create_app(kor), raise_server_exceptions=False) as client:
            size = kor.ledger.size
            assert get(client, "/federation/v1/checkpoint").status_code == 200
            pg_server.stop("immediate")
            for path, query in (("/federation/v1/checkpoint", ""),
                                ("/federation/v1/consistency", f"first=1&second={size}")):
                r = get(client, path, query)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["retry-after"] == "1"
                # the partner API's reason, and message as the user API names it (accord.api.error_forms)
                assert r.json() == {"detail": {"error": "unavailable", "reason": UNAVAILABLE_MESSAGE,
                                               "message": UNAVAILABLE_MESSAGE}}
                for where in ("127.0.0.1", f":{pg_server.port}", "postgres"):  # postgresql://postgres@127.0.0.1:port/postgres
                    assert where not in r.text.lower(), (where, r.text)
            assert any(f"127.0.0.1:{pg_server.port}" in rec.getMessage() for rec in caplog.records
                       if rec.name == "accord.api"), "the log does not name the server"
            pg_server.start()
            assert wait_for(lambda: get(client, "/federation/v1/checkpoint").status_code == 200, timeout=30)
            r = get(client, "/federation/v1/consistency", f"first=1&second={size}")
            assert r.status_code == 200, r.text
    finally:
        for n in nodes.values():
            n.close()


def test_stopping_while_the_database_is_away_logs_one_line_not_a_traceback(tmp_path, pg_server, caplog):
    nodes = make_nodes(tmp_path, ("JPN", "KOR"), store=lambda p: pg_server.url if p == "JPN" else None)
    jpn = nodes["JPN"]
    net = attached(nodes)
    caplog.set_level(logging.INFO, logger="accord")
    fed = Federation(jpn, net, poll_interval=0.05, head_interval=0.1, lease_renew=0.2)
    fed.start()
    try:
        assert wait_for(lambda: fed.leases.held() == ["KOR"])
        pg_server.stop("immediate")
        fed.stop()
    finally:
        for n in nodes.values():
            n.close()
    records = [r for r in caplog.records if r.name.startswith("accord.federation")]
    assert not [r.getMessage() for r in records if r.exc_info], "a traceback was logged"
    assert [r for r in records if "partner leases not given back" in r.getMessage()]
