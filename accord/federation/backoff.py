"""Retry delays: capped exponential backoff with jitter.

``delay(n) = uniform(c/10, c)`` with ``c = min(cap, base · 2^n)`` for the n-th consecutive
failure: jittered exponential backoff (AWS Architecture Blog, "Exponential Backoff and Jitter",
2015, with a floor of c/10 so a retry never spins): retries of many senders spread out instead
of arriving in waves. Each partner has its own counter, so one unresponsive partner
only ever delays itself.
"""

from __future__ import annotations

import random


def backoff_delay(failures: int, *, base: float = 0.05, cap: float = 5.0,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures (0 → no wait)."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * (2 ** min(failures, 30)))
    return (rng or random).uniform(ceiling / 10, ceiling)
