"""Simulated links between exercise nodes: delay, jitter, loss and partitions, in simulated time.

A message sent at ``t`` on the link ``a → b`` is either lost (probability ``loss``, or always while
the link is partitioned) or arrives at ``t + delay + |N(0, jitter)|``. Loss only means the sender
must retry: the federation layer's durable outbox and acknowledgements make delivery
at-least-once, and idempotent receipt makes it exactly-once in effect. Seeded: the same scenario
and seed give the same losses and delays.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accord.exercise.scenario import LinkFault


@dataclass(frozen=True)
class Link:
    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    partitions: tuple[tuple[float, float], ...] = ()

    def partitioned(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.partitions)


def links_from(faults: Iterable[LinkFault]) -> dict[frozenset[str], Link]:
    return {frozenset(f.between): Link(f.delay_ms / 1000.0, f.jitter_ms / 1000.0, f.loss,
                                       tuple((p.start_s, p.end_s) for p in f.partitions))
            for f in faults}


@dataclass(order=True)
class _Pending:
    arrive_t: float
    order: int
    src: str = field(compare=False)
    dst: str = field(compare=False)
    payload: Any = field(compare=False)


class SimulatedNetwork:
    """Messages in flight between parties, delivered in arrival-time order."""

    def __init__(self, links: dict[frozenset[str], Link], seed: int) -> None:
        self._links = links
        self._rng = np.random.default_rng(seed)
        self._queue: list[_Pending] = []
        self._order = itertools.count()
        self.sent = 0
        self.lost = 0
        self.partition_drops = 0

    def link(self, a: str, b: str) -> Link:
        return self._links.get(frozenset((a, b)), Link())

    def reachable(self, a: str, b: str, t: float) -> bool:
        return not self.link(a, b).partitioned(t)

    def send(self, src: str, dst: str, t: float, payload: Any) -> bool:
        """Put a message on the wire; False if the network dropped it (the sender will retry)."""
        self.sent += 1
        link = self.link(src, dst)
        if link.partitioned(t):
            self.partition_drops += 1
            return False
        if link.loss and self._rng.random() < link.loss:
            self.lost += 1
            return False
        delay = link.delay_s + (abs(self._rng.normal(0.0, link.jitter_s)) if link.jitter_s else 0.0)
        heapq.heappush(self._queue, _Pending(t + delay, next(self._order), src, dst, payload))
        return True

    def due(self, t: float) -> list[tuple[float, str, str, Any]]:
        """Pop every message that has arrived by ``t`` (a partition that began in flight drops it)."""
        out = []
        while self._queue and self._queue[0].arrive_t <= t:
            p = heapq.heappop(self._queue)
            if self.link(p.src, p.dst).partitioned(p.arrive_t):
                self.partition_drops += 1
                continue
            out.append((p.arrive_t, p.src, p.dst, p.payload))
        return out

    def in_flight(self) -> int:
        return len(self._queue)
