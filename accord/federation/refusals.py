"""Refused partner requests: recorded in table and ledger, at a bounded rate.

A partner request whose RFC 9421 signature fails (forged, unknown key, stale …) is refused before
any envelope is read (:mod:`accord.api.partner`), and recorded here: a ``fed_rejections`` row and
an ``item.rejected`` ledger event with code ``unauthenticated``. Anyone can send such requests,
so the record is rate-limited per node (:data:`REFUSALS_PER_MINUTE`, :data:`REFUSALS_PER_DAY`):
the refusals past the limit are counted, and the count is recorded with the next one let
through, or by :func:`flush_refusal_count` when the server stops.

A server writes the records in a thread of its own (:class:`Recorder`: a record waits for the
node's write lock, never on the event loop), which its shutdown ends after a bounded wait: all
that a stop waits for the refusals' records — those pending, one being written, the count of
those passed over — shares one budget (:class:`StopBudget`, :data:`RECORD_WAIT_S` in all).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.federation.schema import ensure_node_schema, write_lock
from accord.federation.stats import counters
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

REFUSALS_PER_MINUTE = 30
REFUSALS_PER_DAY = 1000
"""At most this many refused partner requests per node are recorded one by one in a minute, and
at most :data:`REFUSALS_PER_DAY` in a day (a steady 30 a minute would still add 43,200 entries a
day); the rest are counted and the count is recorded with the next one let through, so a flood
of forged requests cannot grow the ledger without bound."""

RECORD_WAIT_S = 5.0
"""What a server's shutdown waits at most, in all, for the refusals' records: for those still
pending and for one being written (:meth:`Recorder.close`), then for the lock to record the count
of refusals passed over (:func:`flush_refusal_count`) — one budget (:class:`StopBudget`), not one
each: a stop after ``--grace`` stays within systemd's ``TimeoutStopSec``. A record waits for the
node's write lock, which a batch being applied, a retention pass or a CLI share holds for as long
as it takes: a shutdown that waited for the records without bound waited as long as the lock's
holder. The records not begun by then are not written, and their count is logged
(``refusals.unrecorded``)."""

STOP_BUDGET_KEY = "refusals_stop"
"""The app state's attribute holding the :class:`StopBudget` of the server's stop (:func:`stop_budget`)."""

RECORDER_THREAD = "accord-refusals"
"""The name (prefix) of the thread a server records refused partner requests in (:class:`Recorder`)."""

_LOCK_POLL_S = 0.1  # how often a record waiting for the write lock looks whether the recorder was closed

_refusal_windows: "weakref.WeakKeyDictionary[Any, list[float]]" = weakref.WeakKeyDictionary()
_refusal_guard = threading.Lock()


def _refusal_budget(node: Node, now: float) -> tuple[bool, int]:
    """(record this refusal?, refusals suppressed since the last recorded one)."""
    with _refusal_guard:
        try:
            # [minute start, recorded this minute, suppressed, day start, recorded this day]
            window = _refusal_windows.setdefault(node, [now, 0.0, 0.0, now, 0.0])
        except TypeError:  # pragma: no cover - a node type without weak references
            return True, 0
        if now - window[0] >= 60.0:
            window[0], window[1] = now, 0.0
        if now - window[3] >= 86400.0:
            window[3], window[4] = now, 0.0
        if window[1] >= REFUSALS_PER_MINUTE or window[4] >= REFUSALS_PER_DAY:
            window[2] += 1
            return False, 0
        window[1] += 1
        window[4] += 1
        suppressed, window[2] = int(window[2]), 0.0
        return True, suppressed


def _refusal_event(sender: str | None, reason: str, suppressed: int = 0) -> dict[str, Any]:
    """The ledger data of a refused partner request (``suppressed_before``: refusals counted,
    not recorded one by one, since the last recorded)."""
    data: dict[str, Any] = {"from": sender, "seq": None, "item_id": None, "code": "unauthenticated",
                            "reason": reason[:500]}
    if suppressed:
        data["suppressed_before"] = suppressed
    return data


class StopBudget:
    """What is left of the time a server's stop may wait for the refusals' records: ``total``
    seconds (default :data:`RECORD_WAIT_S`) from when it was made, by ``clock``, shared by every
    wait that is given it."""

    def __init__(self, total: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = RECORD_WAIT_S if total is None else total
        self.clock = clock
        self.deadline = clock() + self.total

    def left(self) -> float:
        """Seconds left (0 once spent)."""
        return max(0.0, self.deadline - self.clock())


def stop_budget(state: Any) -> StopBudget:
    """The :class:`StopBudget` of the stop of the server whose app state is ``state``: made by the
    first call after its startup set :data:`STOP_BUDGET_KEY` to None, the same one after that."""
    budget = getattr(state, STOP_BUDGET_KEY, None)
    if budget is None:
        budget = StopBudget()
        setattr(state, STOP_BUDGET_KEY, budget)
    return budget


def flush_refusal_count(node: Node, budget: StopBudget | None = None) -> int:
    """Record the refusals counted but not recorded one by one since the last recorded one (a
    server calls this when it stops, so a flood followed by silence still leaves its count in
    the ledger). Returns that count: 0 if there was none, or if the write lock was held for
    what is left of ``budget`` (default: a fresh one, :data:`RECORD_WAIT_S`; the count is then
    logged, ``refusals.unrecorded``)."""
    with _refusal_guard:
        try:
            window = _refusal_windows.get(node)
        except TypeError:  # pragma: no cover
            return 0
        if not window or not window[2]:
            return 0
        count, window[2] = int(window[2]), 0.0
    now = node.clock.now()
    budget = StopBudget() if budget is None else budget
    lock = write_lock(node)
    if not lock.acquire(timeout=budget.left()):  # shutting down: a writer holding the lock is not waited out
        _unrecorded(count, f"the count of refusals passed over: the node's write lock was held as the server "
                           f"stopped, past the {budget.total:g} s its stop waits for the refusals' records")
        return 0
    try:
        with transaction(node.conn):
            node.ledger.append("item.rejected", _refusal_event(
                None, "refusals counted, not recorded one by one", count), time=now)
    except Exception:  # noqa: BLE001 - shutting down: never fail on the record of refusals
        return 0
    finally:
        lock.release()
    return count


def _unrecorded(count: int, why: str) -> None:
    log.warning("refused partner requests not recorded: %d (%s)", count, why,
                extra={"event": "refusals.unrecorded", "count": count})


class Recorder:
    """Where a server records refused partner requests (the writes :func:`admit_request_rejection`
    returns): in a thread of its own (:data:`RECORDER_THREAD`, started by the first), one record
    at a time in the order the refusals came — at most 30 a minute and 1,000 a day are written,
    and so is this queue bounded. A record waits for the node's write lock and syncs its commit:
    never on the event loop. One thread (the event loop's) calls :meth:`submit`; :meth:`close`
    ends it, once."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._pool = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=RECORDER_THREAD)
        self._guard = threading.Lock()
        self._closed = False  # set by close(): a record not begun is dropped
        self._submitted = 0
        self._begun = 0  # records that took the write lock before close(): each is written
        self._writing = False  # a record begun is being written
        self._jobs: list[futures.Future[None]] = []  # not yet done (pruned at each submit)

    def submit(self, write: Callable[[], None]) -> futures.Future[None]:
        """Queue ``write`` (:func:`admit_request_rejection`'s); the future is done once it is
        written, or dropped by :meth:`close`."""
        with self._guard:
            if self._closed:
                raise RuntimeError("the refusals' recorder is closed")
            job = self._pool.submit(self._record, write)
            self._submitted += 1
            self._jobs = [*(j for j in self._jobs if not j.done()), job]
        return job

    def _record(self, write: Callable[[], None]) -> None:
        lock = write_lock(self._node)  # re-entrant: write() takes it again inside
        while True:
            if self._closed:  # dropped (counted by close)
                return
            if lock.acquire(timeout=_LOCK_POLL_S):
                break
        try:
            with self._guard:
                if self._closed:
                    return
                self._begun += 1
                self._writing = True
            write()
        finally:
            self._writing = False
            lock.release()

    def close(self, budget: StopBudget | None = None) -> int:
        """End the thread (in a thread that may wait: not the event loop's), within ``budget``
        (default: a fresh one, :data:`RECORD_WAIT_S`). The records pending are waited for while it
        lasts, then those not begun — still waiting for the write lock — are dropped: never
        written, even once the lock is free, and their count is logged at warning
        (``refusals.unrecorded``) and returned. A record begun holds the lock and is committing:
        it is waited for what is left of the budget (its store's deadline bounds its statements),
        and left to finish after that."""
        budget = StopBudget() if budget is None else budget
        with self._guard:
            jobs = list(self._jobs)
        futures.wait(jobs, timeout=budget.left())
        with self._guard:
            self._closed = True
            dropped = self._submitted - self._begun
        if dropped:
            _unrecorded(dropped, f"their records waited for the node's write lock as the server stopped, past "
                                 f"the {budget.total:g} s its stop waits for the refusals' records, and are dropped")
        futures.wait(jobs, timeout=budget.left())  # what is left but a record begun returns at once
        with self._guard:
            writing = self._writing
        # (a record dropped returns within the lock's poll, _LOCK_POLL_S: then the thread has ended)
        self._pool.shutdown(wait=not writing)
        if writing:  # begun, its commit not answered yet: the store's deadline ends it, written or not
            _unrecorded(1, f"a record still committing as the {budget.total:g} s its stop waits for the "
                           "refusals' records ran out; it is there if its commit completes")
        return dropped


def record_request_rejection(node: Node, signer: str | None, reason: str) -> None:
    """Record a refused partner request (bad signature, unknown party …) in table and ledger,
    at most :data:`REFUSALS_PER_MINUTE` a minute and :data:`REFUSALS_PER_DAY` a day (the others
    are counted, see there). ``signer`` is the party whose pinned key verified the request, or
    ``None``: a forged request is recorded as from an unknown key, never under the ``keyid`` it
    claims (:class:`~accord.errors.RequestSignatureError`). It waits for the node's write lock:
    a server's event loop calls :func:`admit_request_rejection` instead."""
    write = admit_request_rejection(node, signer, reason)
    if write is not None:
        write()


def admit_request_rejection(node: Node, signer: str | None, reason: str) -> Callable[[], None] | None:
    """The half of :func:`record_request_rejection` that never waits (an event loop calls it):
    the refusal counted, and logged if it is to be recorded. Returns the write that records it —
    a ``fed_rejections`` row and an ``item.rejected`` entry, under the node's write lock, synced
    on commit: to be run in a worker thread, in the order the refusals were admitted — or
    ``None`` if the refusal is only counted (past the limits)."""
    counters(node).auth_failed("partner")
    record, suppressed = _refusal_budget(node, time.monotonic())
    if not record:
        return None
    now = node.clock.now()
    data = {**_refusal_event(signer, reason, suppressed), "signer": signer or "unknown key"}
    # logged as recorded: at most as many lines as ledger entries, each with the count of the
    # refusals passed over since the last one. The request's headers are never logged.
    log.warning("refused a partner request from %s: %s%s", signer or "an unknown key", reason[:500],
                f" (+{suppressed} earlier refusals not logged one by one)" if suppressed else "",
                extra={"event": "auth.failed", "api": "partner", "partner": signer, "suppressed": suppressed})
    row = (to_rfc3339(now), signer, None, "unauthenticated",
           reason[:500] + (f" (+{suppressed} earlier refusals not recorded one by one)" if suppressed else ""))

    def write() -> None:
        try:
            ensure_node_schema(node)
            with write_lock(node), transaction(node.conn):
                node.conn.execute("INSERT INTO fed_rejections(at, sender, seq, code, reason) VALUES (?,?,?,?,?)",
                                  row)
                node.ledger.append("item.rejected", data, time=now)
        except Exception:  # noqa: BLE001 - recording a refusal must never turn it into a 500
            pass
    return write
