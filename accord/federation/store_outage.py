"""The node's own database away under the delivery service's threads (a PostgreSQL restart, a
failover, a network fault): one warning line when the first thread finds it away, one line when
one finds it back — never a traceback per retry, and never taken for a partner's outage.

The threads (deliveries, standing rules, leases, retention, tree-head checks) keep running and
retry; nothing half done was committed (:class:`accord.errors.StoreUnavailable`), so what they
retry is the whole step.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from accord.clock import duration_text, to_rfc3339
from accord.errors import StoreUnavailable

log = logging.getLogger("accord.federation")

#: A failure this soon after a thread found the database back is the same outage's tail (the
#: connection pool still reconnecting while another thread already got through): logged at debug,
#: not as a new outage.
RELAPSE_S = 30.0


class Step:
    """One step under :meth:`StoreOutage.guard`: ``away`` once it failed for want of the database."""

    __slots__ = ("away",)

    def __init__(self) -> None:
        self.away = False


class StoreOutage:
    """One record of the node database's outage, shared by the service's threads."""

    def __init__(self, clock: Any, monotonic: Any = time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._since: Any = None  # the clock's time of the first failure of the outage, or None
        self._started = 0.0  # monotonic() then
        self._failures = 0
        self._back: float | None = None  # monotonic() when the last outage ended
        self._quiet = False  # this outage is the last one's tail (RELAPSE_S): not logged again

    @property
    def away(self) -> bool:
        return self._since is not None

    @contextmanager
    def guard(self, what: str, *, reached: bool = True) -> Iterator[Step]:
        """Run a thread's step (``what``, named in the log) against the database.

        :class:`~accord.errors.StoreUnavailable` is recorded (:meth:`failed`) and not raised
        further: the step's ``away`` says so, for a loop that must skip what follows. Any other
        error goes through untouched (the thread logs it its own way). A step that ends without
        error reached the database and ends the outage (:meth:`ok`) — unless ``reached=False``:
        a step that may not have touched the database (a failure path's bookkeeping) only
        records failures."""
        step = Step()
        try:
            yield step
        except StoreUnavailable as exc:
            step.away = True
            self.failed(what, exc)
        else:
            if reached:
                self.ok()

    def failed(self, what: str, exc: Exception) -> None:
        """``what`` (a thread's step) failed for want of the database: log it if it is the first."""
        with self._lock:
            first = self._since is None
            if first:
                now = self._monotonic()
                self._since, self._started = self._clock.now(), now
                self._quiet = self._back is not None and now - self._back < RELAPSE_S
            self._failures += 1
            since, quiet = self._since, self._quiet
        if first and not quiet:
            log.warning("node database unavailable (%s): %s; deliveries and standing rules wait and retry",
                        what, exc, extra={"event": "store.unavailable", "since": to_rfc3339(since),
                                          "error": str(exc)})
        else:
            log.debug("node database still unavailable (%s): %s", what, exc)

    def ok(self) -> None:
        """A step reached the database: end the outage, if one was open, with one line."""
        if self._since is None:  # the usual case: no lock taken
            return
        with self._lock:
            since, started, failures, quiet = self._since, self._started, self._failures, self._quiet
            self._since, self._failures, self._quiet = None, 0, False
            if since is not None and not quiet:
                self._back = self._monotonic()   # a tail's end does not extend the window: flapping is logged
        if since is None:
            return
        length = self._monotonic() - started
        if quiet:
            log.debug("node database available again (%d failed attempts since %s)", failures, to_rfc3339(since))
            return
        log.info("node database available again after %s (since %s, %d failed attempts)",
                 duration_text(length), to_rfc3339(since), failures,
                 extra={"event": "store.recovered", "since": to_rfc3339(since), "outage_s": round(length, 3),
                        "attempts": failures})
