"""In-process counters of a node's traffic, for the metrics endpoint (:mod:`accord.api.metrics`).

Counting must cost the hot paths nothing measurable, so these are plain integers bumped once per
*batch* (never per envelope, never under a lock of their own) by the one thread that owns them:
a partner's delivery worker for what it sends, the receiving request for what it receives. The
metrics endpoint reads them when scraped and turns them into Prometheus counters there; what can
be read from the database instead (queue depths, ages, ledger size, alerts) is read there at
scrape time and counted nowhere. Counters start at zero with the process, as Prometheus expects
of counters; the workers of one ``node serve --workers N`` write theirs to files that a scrape
sums (``accord.api.worker_metrics``), off these paths.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.store.protocol import Node

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the delivery-latency histogram's buckets (``+Inf`` implied)."""


@dataclass
class Histogram:
    """A Prometheus-style histogram: counts per bucket (not cumulative), sum and count."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    sum: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                break
        else:
            i = len(self.buckets)
        self.counts[i] += 1
        self.sum += value
        self.count += 1


@dataclass
class PartnerCounters:
    """What went to and came from one partner since the process started."""

    sent: int = 0           # envelopes the partner acknowledged as stored (or already held)
    refused_by: int = 0     # envelopes the partner refused (its receipts)
    failures: int = 0       # delivery attempts that got no acknowledgement
    received: int = 0       # envelopes from the partner this node stored (or already held)
    refused: int = 0        # envelopes from the partner this node refused
    latency: Histogram = field(default_factory=Histogram)  # seconds from sending a batch to its answer
    over_quota: int = 0     # requests from the partner answered over_quota (its intake quota used up)


@dataclass
class NodeCounters:
    partners: dict[str, PartnerCounters] = field(default_factory=dict)
    auth_failures: Counter = field(default_factory=Counter)     # by API: "partner", "user", "taxii"
    taxii_requests: Counter = field(default_factory=Counter)    # by (method, status code)
    lock: threading.Lock = field(default_factory=threading.Lock)  # for the rare shared counts only

    def partner(self, party: str) -> PartnerCounters:
        found = self.partners.get(party)
        if found is None:
            with self.lock:
                found = self.partners.setdefault(party, PartnerCounters())
        return found

    def auth_failed(self, api: str) -> None:
        with self.lock:  # request threads of every API share this one
            self.auth_failures[api] += 1


_counters: "weakref.WeakKeyDictionary[Any, NodeCounters]" = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def counters(node: Node) -> NodeCounters:
    """The counters of ``node`` in this process (made on first use)."""
    found = _counters.get(node)
    if found is None:
        with _guard:
            found = _counters.setdefault(node, NodeCounters())
    return found
