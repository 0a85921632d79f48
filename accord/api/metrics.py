"""``GET /metrics``: the node in the Prometheus text format, for a bearer token with scope ``metrics``.

Why behind a token rather than open on loopback: the node's port is the one partners reach (a
node serving them listens beyond loopback), and what the metrics tell — which partners exist,
how far behind each one is, how many alerts were issued — is itself operational information.
So ``/metrics`` is guarded like every other route but ``/health``; Prometheus sends the token
(``authorization: {credentials_file: …}`` in its scrape config), and a token with only the
``metrics`` scope can read nothing else. A scrape that finds the database away (a PostgreSQL
restart) is answered like any route's request then: 503, ``Retry-After: 1``
(:func:`accord.api.deps.store_unavailable`).

Everything the database can answer — queue depth and oldest item per partner, since when a
partner has been failing, ledger size, outbox and database size, alerts by type, the alert
processes ``accord warning ingest`` started again after one died — is read when
scraped, so it is right whichever process wrote it and costs nothing between scrapes. Only
traffic is counted as it happens (:mod:`accord.federation.stats`: a few integer additions per
batch), and those counters start at zero with the serve, as Prometheus expects; with ``node serve
--workers N`` a scrape reports them summed over the serve's workers, whichever worker answers
(:mod:`accord.api.worker_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from accord.api.deps import BEARER_ERRORS, Principal, require_scope, store_unavailable
from accord.api.worker_metrics import totals
from accord.clock import parse_rfc3339
from accord.errors import StoreUnavailable
from accord.federation.schema import write_lock
from accord.store.base import database_bytes, table_exists
from accord.federation.status import backlogs

if TYPE_CHECKING:
    from accord.node import Node


CAP_MSG_TYPES = frozenset({"Alert", "Update", "Cancel"})


class NodeCollector:
    """A Prometheus collector reading one node's state and counters at each scrape."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: every family is made when collected

    def collect(self) -> Iterator[Metric]:
        node = self.node
        conn = node.conn
        now = node.clock.now()
        parties = sorted(node.partners())
        with write_lock(node):  # reads on the shared connection: not inside another thread's write
            queued, health, outbox_rows = {}, {}, 0
            # a node that never federated has no federation tables: its figures are zero (a
            # scrape reads, it does not create them)
            if table_exists(conn, "fed_outbox"):
                queued = backlogs(conn)
                health = {r[0]: r[1:] for r in conn.execute(
                    "SELECT party, failures, failing_since, inconsistent, last_contact FROM fed_partner_state")}
                outbox_rows = conn.execute("SELECT COUNT(*) FROM fed_outbox").fetchone()[0]
            ledger_size = node.ledger.size
            alerts = conn.execute(
                "SELECT originator, json_extract(CAST(json AS TEXT), '$.body.msgType'), COUNT(*) FROM items "
                "WHERE kind = 'warning.alert' GROUP BY 1, 2").fetchall()
            db_bytes = database_bytes(conn)
            restarts = []   # written by `accord warning ingest` (accord.feeds.state), if it ever ran here
            if table_exists(conn, "ingest_alert_restarts"):
                restarts = conn.execute("SELECT consumer, restarts FROM ingest_alert_restarts ORDER BY consumer").fetchall()

        def gauge(name: str, doc: str, values: dict[str, float]) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["partner"])
            for party in parties:
                g.add_metric([party], values.get(party, 0))
            return g

        def age(stamp: str | None) -> float:
            return 0.0 if stamp is None else max(0.0, (now - parse_rfc3339(stamp)).total_seconds())

        yield gauge("accord_queue_depth", "Envelopes queued for the partner, not acknowledged yet",
                    {p: n for p, (n, _) in queued.items()})
        yield gauge("accord_oldest_queued_age_seconds", "Age of the oldest envelope waiting for the partner "
                    "(0: none waiting)", {p: age(oldest) for p, (_, oldest) in queued.items()})
        yield gauge("accord_partner_failing_seconds", "How long deliveries to the partner have been failing "
                    "(0: the last one succeeded)", {p: age(h[1]) for p, h in health.items()})
        # an idle partner (nothing queued for it) is still reached every few seconds for its
        # tree head: a growing age here says it is gone before any delivery fails
        yield gauge("accord_partner_last_contact_age_seconds", "Seconds since the partner last answered "
                    "(a delivery or a tree-head check; -1: never)",
                    {p: age(h[3]) if h[3] else -1 for p, h in health.items()} | {
                        p: -1 for p in parties if p not in health})
        yield gauge("accord_partner_consecutive_failures", "Delivery attempts in a row that got no answer",
                    {p: h[0] for p, h in health.items()})
        yield gauge("accord_partner_inconsistent", "1 if the partner's ledger was found inconsistent (flag "
                    "set until an operator resets it)", {p: 1 if h[2] else 0 for p, h in health.items()})
        traffic = totals(node)  # this process's counters, or the sum over the serve's workers
        for name, doc, field in (
            ("accord_envelopes_sent", "Envelopes the partner acknowledged as stored", "sent"),
            ("accord_envelopes_refused_by_partner", "Envelopes the partner refused", "refused_by"),
            ("accord_envelopes_received", "Envelopes from the partner this node stored", "received"),
            ("accord_envelopes_refused", "Envelopes from the partner this node refused", "refused"),
            ("accord_delivery_failures", "Delivery attempts to the partner that got no answer", "failures"),
            ("accord_batches_over_quota", "Batches from the partner answered over_quota (its intake quota "
             "for the hour used up; the envelopes not taken are sent again later)", "over_quota"),
        ):
            c = CounterMetricFamily(name, doc, labels=["partner"])
            for party in parties:
                pc = traffic.partners.get(party)
                c.add_metric([party], getattr(pc, field) if pc else 0)
            yield c
        h = HistogramMetricFamily("accord_delivery_latency_seconds", "Seconds from sending a batch of "
                                  "envelopes to the partner's acknowledgement", labels=["partner"])
        for party in parties:
            pc = traffic.partners.get(party)
            if pc is None:
                continue
            hist, running, buckets = pc.latency, 0, []
            for bound, n in zip([*map(str, hist.buckets), "+Inf"], hist.counts):
                running += n
                buckets.append((bound, running))
            h.add_metric([party], buckets, hist.sum)
        yield h
        yield GaugeMetricFamily("accord_ledger_entries", "Entries in the node's audit ledger", value=ledger_size)
        yield GaugeMetricFamily("accord_outbox_rows", "Outbox rows held: unacknowledged, and acknowledged ones "
                                "inside the retention window", value=outbox_rows)
        yield GaugeMetricFamily("accord_database_bytes", "Size of the node's database in bytes (SQLite: its "
                                "file's pages; PostgreSQL: pg_database_size)", value=db_bytes)
        a = CounterMetricFamily("accord_alerts", "CAP alerts held, by originator and message type "
                                "(Alert, Update, Cancel; other: anything else a partner sent)",
                                labels=["originator", "msg_type"])
        by_type: dict[tuple[str, str], int] = {}
        for originator, msg_type, n in alerts:  # the type is the sender's text: a label only if it is CAP's
            key = (originator, msg_type if msg_type in CAP_MSG_TYPES else "other")
            by_type[key] = by_type.get(key, 0) + n
        for (originator, msg_type), n in sorted(by_type.items()):
            a.add_metric([originator, msg_type], n)
        yield a
        r = CounterMetricFamily("accord_ingest_alert_restarts", "Alert processes `accord warning ingest` "
                                "started again after one died, by consumer (stream/durable), over all its runs",
                                labels=["consumer"])
        for consumer, n in restarts:
            r.add_metric([consumer], n)
        yield r
        f = CounterMetricFamily("accord_auth_failures", "Requests refused for want of valid credentials",
                                labels=["api"])
        for api, n in sorted(traffic.auth_failures.items()):
            f.add_metric([api], n)
        yield f
        b = CounterMetricFamily("accord_bus_events", "Events on the event bus of the serving process (summed "
                                "over the workers of --workers N), by topic and source (local: a write in "
                                "that process; nats: brought by the NATS bridge from another process serving "
                                "the node)", labels=["topic", "source"])
        for (topic, source), n in sorted(traffic.bus_events.items()):
            b.add_metric([topic, source], n)
        yield b
        t = CounterMetricFamily("accord_taxii_requests", "TAXII 2.1 requests answered", labels=["method", "status"])
        for (method, code), n in sorted(traffic.taxii_requests.items()):
            t.add_metric([method, str(code)], n)
        yield t


def make_router(node: Node) -> APIRouter:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", summary="Prometheus metrics (scope metrics)", response_class=Response,
                responses={**BEARER_ERRORS, 200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    def metrics(_: Principal = Depends(require_scope("metrics"))) -> Response:
        try:
            body = generate_latest(registry)
        except StoreUnavailable as exc:  # the database went away after the token lookup: retry
            raise store_unavailable(exc) from None
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
