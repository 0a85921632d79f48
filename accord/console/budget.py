"""The console's request budget: how many pages (and event streams opened) a session, or an
address without a session, may ask for, beyond the login rate limit.

Each page reads the store and renders (the picture, the alerts board, the intelligence board: a
few to tens of ms of CPU each at 200,000 items), and nothing but the overview's reuse
(:mod:`accord.console.overview`) kept a logged-in user — or whoever holds its session cookie —
from asking for them in a loop from as many requests at once as the server has threads. A
:class:`Budget` is a token bucket per key: :data:`SESSION_BURST` requests at once, then
:data:`SESSION_RATE` a second, for each session; :data:`ANON_BURST` and :data:`ANON_RATE` for
each client address whose request carries no live session (answered by a redirect to the login
page, after a read of the session table). Beyond it a request is answered 429 with
``Retry-After``.

Normal use stays well inside it: a page load is one request (its static files and its event
stream's once-a-second session checks are not counted), the live picture's redraws come at most
once a second, the time control's *Replay* two a second for 15 s, and a browser reconnecting its
stream once every few seconds. Buckets are kept in the serving process's memory (each process of
``node serve --workers N`` has its own), at most :data:`KEYS` of them (the least recently used
is forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

SESSION_BURST = 60
SESSION_RATE = 2.0
ANON_BURST = 30
ANON_RATE = 1.0
KEYS = 20_000


def monotonic() -> float:
    """The budgets' clock (a module function, looked up at each request: tests stop it)."""
    return time.monotonic()


class Budget:
    """Token buckets by key: ``burst`` requests at once, refilled at ``rate`` a second."""

    def __init__(self, burst: int, rate: float, *, keys: int = KEYS, clock: Callable[[], float] | None = None) -> None:
        self.burst, self.rate, self.keys, self.clock = burst, rate, keys, clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, when)
        self.guard = threading.Lock()

    def take(self, key: str) -> int | None:
        """Spend one request of ``key``'s budget: None if it had one, else the whole seconds until
        it has one again (nothing is spent)."""
        now = (self.clock or monotonic)()
        with self.guard:
            tokens, when = self.buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.rate)
            wait = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            self.buckets[key] = (tokens, now)
            while len(self.buckets) > self.keys:
                self.buckets.popitem(last=False)
            return wait
