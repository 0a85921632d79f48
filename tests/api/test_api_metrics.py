"""``GET /metrics``: guarded like every route, and it reports a partner's backlog while it lasts
and the alert processes an ingest on the node started again."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.clock import ManualClock
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.federation import Federation, share
from federation_harness import networked, note


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


@pytest.fixture
def ops(tmp_path):
    clock = ManualClock()
    with networked(tmp_path, clock=clock) as (nodes, net):
        jpn = nodes["JPN"]
        token = create_token(jpn.conn, "prometheus", "JPN", {"metrics"})
        client = TestClient(create_app(jpn))
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, nodes, net, clock, Federation(jpn, net)


def test_metrics_report_the_backlog_while_it_lasts_then_the_delivery(ops):
    client, nodes, net, clock, fed = ops
    jpn = nodes["JPN"]
    net.down("KOR")
    for i in range(3):
        share(jpn, note(jpn, i), "KOR")
    share(jpn, note(jpn, 9, kind="warning.track"), "USA")
    assert fed.sync(heads=False)["KOR"] == "KOR is down"
    clock.advance(30)

    during = scrape(client)
    assert during[("accord_queue_depth", (("partner", "KOR"),))] == 3
    assert during[("accord_oldest_queued_age_seconds", (("partner", "KOR"),))] == 30
    assert during[("accord_partner_failing_seconds", (("partner", "KOR"),))] == 30
    assert during[("accord_partner_consecutive_failures", (("partner", "KOR"),))] == 1
    assert during[("accord_delivery_failures_total", (("partner", "KOR"),))] == 1
    # USA got its item: no backlog, no failure
    assert during[("accord_queue_depth", (("partner", "USA"),))] == 0
    assert during[("accord_envelopes_sent_total", (("partner", "USA"),))] == 1
    assert during[("accord_delivery_latency_seconds_count", (("partner", "USA"),))] == 1
    assert during[("accord_outbox_rows", ())] == 4
    assert during[("accord_partner_last_contact_age_seconds", (("partner", "KOR"),))] == -1  # never answered
    assert during[("accord_partner_last_contact_age_seconds", (("partner", "USA"),))] == 30

    net.up("KOR", nodes["KOR"])
    fed.sync(heads=False)
    after = scrape(client)
    assert after[("accord_queue_depth", (("partner", "KOR"),))] == 0
    assert after[("accord_oldest_queued_age_seconds", (("partner", "KOR"),))] == 0
    assert after[("accord_partner_failing_seconds", (("partner", "KOR"),))] == 0
    assert after[("accord_envelopes_sent_total", (("partner", "KOR"),))] == 3
    assert after[("accord_ledger_entries", ())] == jpn.ledger.size


def test_metrics_count_received_refused_alerts_auth_failures_and_taxii(ops):
    client, nodes, net, clock, fed = ops
    jpn, kor = nodes["JPN"], nodes["KOR"]
    share(kor, note(kor, 1), "JPN")
    Federation(kor, net).sync(heads=False)
    alert = new_item("warning.alert", {"msgType": "Alert", "identifier": "JPN-1", "areas": ["JP-13"]},
                     Marking.parse("UNCLASSIFIED//REL TO JPN, KOR, USA"), "JPN", clock.now())
    jpn.put_item(alert)
    bad = TestClient(client.app)
    assert bad.get("/api/v1/items", headers={"Authorization": "Bearer acc_nope"}).status_code == 401
    assert bad.get("/taxii2/", headers={"Authorization": "Bearer acc_nope"}).status_code == 401
    m = scrape(client)
    assert m[("accord_envelopes_received_total", (("partner", "KOR"),))] == 1
    assert m[("accord_envelopes_refused_total", (("partner", "KOR"),))] == 0
    assert m[("accord_alerts_total", (("msg_type", "Alert"), ("originator", "JPN")))] == 1
    assert m[("accord_auth_failures_total", (("api", "user"),))] == 1
    assert m[("accord_auth_failures_total", (("api", "taxii"),))] == 1
    assert m[("accord_taxii_requests_total", (("method", "GET"), ("status", "401")))] == 1


def test_a_partners_alert_types_are_bounded_labels_and_hostile_ones_parse(ops):
    """``msg_type`` came from the body of every alert a partner sent: each new value a series for
    good. Now the three CAP types and ``other``."""
    client, nodes, net, clock, fed = ops
    kor = nodes["KOR"]
    hostile = ['Alert"} 1e9\naccord_ledger_entries 0', *(f"Bogus{i}" for i in range(20)), "Update"]
    for i, msg_type in enumerate(hostile):
        share(kor, new_item("warning.alert", {"msgType": msg_type, "identifier": f"KOR-{i}", "areas": ["KR-11"]},
                            Marking.parse("UNCLASSIFIED//REL TO JPN, KOR, USA"), "KOR", clock.now()), "JPN")
    Federation(kor, net).sync(heads=False)
    m = scrape(client)
    alerts = {k[1]: v for k, v in m.items() if k[0] == "accord_alerts_total"}
    assert alerts == {(("msg_type", "Update"), ("originator", "KOR")): 1,
                      (("msg_type", "other"), ("originator", "KOR")): 21}
    assert m[("accord_ledger_entries", ())] == nodes["JPN"].ledger.size


def test_the_database_size_says_what_it_measures(ops):
    """Its HELP said "SQLite database file (pages)": the value is bytes, on PostgreSQL the database's."""
    client, nodes, *_ = ops
    r = client.get("/metrics")
    (fam,) = [f for f in text_string_to_metric_families(r.text) if f.name == "accord_database_bytes"]
    assert fam.documentation == ("Size of the node's database in bytes (SQLite: its file's pages; PostgreSQL: "
                                 "pg_database_size)")
    node = nodes["JPN"]
    if node.store.dialect == "postgresql":
        want = node.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        # the database is shared by the run's schemas and grows as other tests write: same order
        assert 0.5 * want <= fam.samples[0].value <= 2 * want
    else:
        page_count, page_size = (node.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        assert fam.samples[0].value == page_count * page_size


def test_metrics_count_the_alert_processes_an_ingest_started_again_by_consumer(ops):
    from accord.feeds.state import IngestStore

    client, nodes, *_ = ops
    jpn = nodes["JPN"]
    # no ingest ever ran on this node: no table yet, and the family has no sample
    assert not [k for k in scrape(client) if k[0] == "accord_ingest_alert_restarts_total"]
    radar = IngestStore(jpn, "ACCORD_RADAR/ingest-JPN")   # what the ingest's supervisor calls
    radar.count_alert_restart()
    radar.count_alert_restart()
    IngestStore(jpn, "DRILL/ingest-drill").count_alert_restart()
    m = scrape(client)
    assert m[("accord_ingest_alert_restarts_total", (("consumer", "ACCORD_RADAR/ingest-JPN"),))] == 2
    assert m[("accord_ingest_alert_restarts_total", (("consumer", "DRILL/ingest-drill"),))] == 1


def test_metrics_need_a_token_with_the_metrics_scope(ops):
    client, nodes, *_ = ops
    anonymous = TestClient(client.app)
    assert anonymous.get("/metrics").status_code == 401
    status_only = create_token(nodes["JPN"].conn, "dash", "JPN", {"status"})
    r = anonymous.get("/metrics", headers={"Authorization": f"Bearer {status_only}"})
    assert r.status_code == 403 and "metrics" in r.json()["detail"]


def test_metrics_of_a_node_that_never_federated_report_zero_and_create_nothing(tmp_path):
    """A fresh node (a partner pinned, no federation tables yet): the scrape reports what the
    node holds, the partner's federation figures at zero (never contacted: -1), and leaves the
    database as it was. (``add_partner`` creates the federation tables, to record the pin time:
    the partner is pinned here by editing ``node.yaml``, as an operator may.)"""
    import yaml

    from accord.api.metrics import NodeCollector
    from accord.node import Node
    from accord.store.base import table_exists

    jpn, kor = Node.init(tmp_path / "JPN", party="JPN"), Node.init(tmp_path / "KOR", party="KOR")
    try:
        config = yaml.safe_load((jpn.dir / "node.yaml").read_text())
        config["partners"] = {"KOR": {"key": kor.identity.public_b64, "fingerprint": kor.fingerprint}}
        (jpn.dir / "node.yaml").write_text(yaml.safe_dump(config))
        assert list(jpn.partners()) == ["KOR"]
        assert not table_exists(jpn.conn, "fed_outbox")
        got = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in NodeCollector(jpn).collect() for s in fam.samples}
        kor_label = (("partner", "KOR"),)
        assert got[("accord_queue_depth", kor_label)] == 0
        assert got[("accord_partner_consecutive_failures", kor_label)] == 0
        assert got[("accord_partner_last_contact_age_seconds", kor_label)] == -1
        assert got[("accord_outbox_rows", ())] == 0
        assert got[("accord_ledger_entries", ())] == jpn.ledger.size
        assert not table_exists(jpn.conn, "fed_outbox")
    finally:
        jpn.close()
        kor.close()


def test_a_scrape_that_loses_the_database_after_authentication_answers_503(ops, monkeypatch, caplog):
    """The token lookup succeeds, then the figures' reads find the database away: the scrape is
    answered like any route's request then (503, ``Retry-After: 1``, the API's error body), with
    one log line naming the error and no traceback — not a 500."""
    from accord.api.deps import UNAVAILABLE_MESSAGE
    from accord.errors import StoreUnavailable
    from accord.logs import Throttle

    client, nodes, *_ = ops
    monkeypatch.setattr("accord.api.deps._unavailable_log", Throttle(per_minute=6))

    def away(*args, **kwargs):
        raise StoreUnavailable("PostgreSQL at db-7.internal is unavailable (connection refused); retry")

    monkeypatch.setattr("accord.api.metrics.backlogs", away)  # the first read after the token lookup
    caplog.set_level(logging.INFO)
    r = client.get("/metrics")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json() == {"detail": {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}}
    assert "db-7" not in r.text
    lines = [rec for rec in caplog.records if "db-7.internal" in rec.getMessage()]
    assert len(lines) == 1 and lines[0].name == "accord.api"
    assert not any(rec.exc_info for rec in caplog.records)


def test_a_scrape_whose_postgresql_stops_after_authentication_answers_503(tmp_path, pg_server, monkeypatch, caplog):
    """The same against a real server: stopped once the token is checked, before the figures
    are read; started again, the next scrape answers 200."""
    from accord.api import metrics
    from accord.logs import Throttle
    from accord.node import Node

    monkeypatch.setattr("accord.api.deps._unavailable_log", Throttle(per_minute=6))
    node = Node.init(tmp_path / "jpn", "JPN", store=pg_server.url)
    token = create_token(node.conn, "prometheus", "JPN", {"metrics"})
    real_table_exists = metrics.table_exists
    stopped: list[bool] = []

    def stop_first(conn, name):  # the collector's first step, after the token lookup
        if not stopped:
            stopped.append(True)
            pg_server.stop("immediate")
        return real_table_exists(conn, name)

    monkeypatch.setattr(metrics, "table_exists", stop_first)
    caplog.set_level(logging.INFO)
    try:
        with TestClient(create_app(node)) as client:  # raises any unhandled server error
            r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert stopped and r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1" and r.json()["detail"]["error"] == "unavailable"
            assert f":{pg_server.port}" not in r.text
            assert len([rec for rec in caplog.records if "answered 503" in rec.getMessage()]) == 1
            assert not any(rec.exc_info for rec in caplog.records)
            pg_server.start()
            for _ in range(20):  # the first statements may still find the old connections
                r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 200:
                    break
            assert r.status_code == 200, r.text
    finally:
        node.close()
