"""Delivery: one worker per partner drains that partner's outbox, in sequence order.

Kept as one module: the delivery service: a worker per partner with its batching,
backoff, lease and acknowledgement handling, one lifecycle.

Each worker loops: take up to ``batch_size`` queued envelopes (lowest ``seq`` first), send them as
one batch, apply the acknowledgement (:func:`accord.federation.outbox.apply_ack`: rows are marked
delivered only once the partner has committed them), repeat while the queue is non-empty. A
failure (unreachable, refused, not committed) counts one more consecutive failure for *that*
partner and the worker sleeps a jittered exponential backoff
(:func:`accord.federation.backoff.backoff_delay`) — the other partners' workers are independent
threads, so one unresponsive partner never blocks delivery to the others. New shares wake the
worker at once (no polling delay on the hot path); shares written by another process (the CLI)
are found by a poll every ``poll_interval`` seconds. Apart from delivery, each partner's signed
tree head is fetched every ``head_interval`` seconds and checked
(:mod:`accord.federation.treeheads`) in a thread of its own (:data:`HEAD_CHECKERS` at once, a
check running past :data:`HEAD_CHECK_SLOW` seconds giving its place up), so a slow proof never
delays delivery and slow partners (their every request bounded by
:data:`accord.federation.transport.REQUEST_DEADLINE`), however many, delay the others' checks by
:data:`HEAD_CHECK_SLOW` seconds at most; every
``gossip_interval`` seconds it also compares each partner's view of the third parties with this
node's (:mod:`accord.federation.gossip`), so a node showing partners different histories is caught.

For the operator, a partner's outage (failed deliveries or tree-head checks) is logged once when
it starts, summarised every ``summary_interval`` seconds while it lasts and logged once more when
the partner answers again and its backlog has been delivered (never a line per retry); each worker
counts its traffic per batch for the metrics (:mod:`accord.federation.stats`).
With ``retention`` a further thread prunes acknowledged outbox rows
(:mod:`accord.federation.retention`).

When several processes serve one node, each partner's outbox is drained by one of them at a time:
the one holding that partner's lease (:mod:`accord.federation.leases`). A thread renews this
service's leases every ``lease_renew`` seconds and takes over those that are free or have run
out; a worker sends only while it holds its partner's lease, and the tree-head checks of a
partner are made by its lease holder too. :meth:`Federation.stop` gives the leases back.

A partner removed (:func:`accord.federation.outbox.remove_partner`, in this process or another)
has its worker retire: it sends nothing once it sees the removal (a batch already on its way
has its acknowledgement applied), closes its reader and gives its lease back — seen at its next
step, or within ``lease_renew`` seconds by the lease thread, which also cuts a backoff short.
Its queue is held; pinned again, the partner gets a new worker that sends it in order.

Nothing here is kept only in memory: the outbox, sequence counters, acknowledgements and
partner heads are rows in the node database, so a crashed sender resumes where it stopped.
:meth:`Federation.sync` performs the same steps synchronously (tests, simulations).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import duration_text, to_rfc3339
from accord.errors import AccordError, AuthError, FederationError, StoreUnavailable
from accord.federation import outbox, quota
from accord.federation.backoff import backoff_delay
from accord.federation.gossip import GOSSIP_INTERVAL, exchange_heads
from accord.federation.inbox import new_refusal
from accord.federation.schema import ensure_node_schema
from accord.federation.leases import RENEW, TTL, Leases
from accord.federation.schema import write_lock
from accord.federation.stats import counters
from accord.federation.store_outage import StoreOutage
from accord.federation.treeheads import check_partner_head

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")


HEAD_CHECKERS = 8
"""The most partners whose tree heads are being checked promptly at once, each in a thread of its
own (a check running past :data:`HEAD_CHECK_SLOW` no longer counts)."""

HEAD_CHECK_SLOW = 5.0
"""Seconds after which a tree-head check still running gives its place among the
:data:`HEAD_CHECKERS` up: it goes on in its thread (to its requests' deadline), and another
partner's check may start. A check takes well under a second when the partner answers; so
partners that hold their checks up to the deadline, however many, cannot keep the others' from
starting — each holds a place for this long at most. At most one check per partner is ever on
its way, so the threads are never more than the partners."""

MAX_BATCH_BYTES = 32 * 1024 * 1024
"""A batch stops growing at this many bytes of envelopes (it always holds at least one); a
partner reads requests up to twice this (:data:`accord.api.partner.MAX_REQUEST_BYTES`)."""


def _cap_bytes(rows: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    total = 0
    for k, (_, env) in enumerate(rows):
        total += len(env) + 1
        if total > MAX_BATCH_BYTES and k > 0:
            return rows[:k]
    return rows


def _settle(inflight: Future | None) -> None:
    """Wait for an acknowledgement being applied; its failure propagates. The worker then sets
    ``inflight = None`` (``_settle(inflight); inflight = None``: on failure it stays set, for
    the error handler to settle quietly)."""
    if inflight is not None:
        inflight.result()
    return None


def _settle_quietly(inflight: Future | None) -> None:
    """:func:`_settle`, ignoring a failure: rows it did not mark stay queued and are sent again
    (the partner answers them as duplicates)."""
    try:
        _settle(inflight)
    except Exception:  # noqa: BLE001
        pass


class _Outage:
    """One partner's run of failed contacts (deliveries, tree-head checks), for the log: one line when
    it starts, a summary each ``summary_interval`` while it lasts, one when the backlog it left
    has been delivered. ``since``/``until`` come from the node's clock (the outage's length);
    the summary's pacing from the monotonic clock."""

    def __init__(self, since: datetime) -> None:
        self.since: datetime = since
        self.until: datetime | None = None
        self.attempts, self.delivered = 1, 0
        self.next_summary = 0.0

    def length(self, now: Any) -> float:
        return ((self.until or now) - self.since).total_seconds()


def _backlog(node: Node, reader: Any, party: str) -> tuple[int, float | None]:
    """(items queued for ``party``, the oldest one's age in seconds) — for log lines only."""
    from accord.clock import parse_rfc3339

    with nullcontext() if reader is not None else write_lock(node):
        n, oldest = (reader or node.conn).execute(
            "SELECT COUNT(*), MIN(queued) FROM fed_outbox WHERE recipient = ? AND state = 'queued'",
            (party,)).fetchone()
    return n, None if oldest is None else (node.clock.now() - parse_rfc3339(oldest)).total_seconds()


def _tally(party: str, counts: Any, ack: Any) -> int:
    """Count a batch's receipts into the partner's counters, log the partner's refusals (one line
    per batch), and return how many envelopes the batch settled."""
    ok = 0
    refused = []
    for r in ack.receipts:
        if r.consumed:
            if r.status != "rejected":
                ok += 1
            elif new_refusal(r):  # (a repeat of an earlier refusal is neither counted nor logged)
                refused.append(r)
    counts.sent += ok
    if refused:
        counts.refused_by += len(refused)
        first = refused[0]
        log.warning("partner %s refused %d envelope(s), first #%s (%s): %s: %s", party, len(refused), first.seq,
                    first.item_id, first.code, first.reason,
                    extra={"event": "partner.refused", "partner": party, "count": len(refused),
                           "codes": sorted({r.code or "rejected" for r in refused})})
    return ok + sum(1 for r in ack.receipts if r.consumed and r.status == "rejected")


def _settled_none(party: str, sent: int, ack: Any) -> FederationError:
    first = ack.receipts[0] if ack.receipts else None
    why = f"{first.code}: {first.reason}" if first else "no receipts"
    return FederationError(f"{party} settled none of {sent} envelope(s): {why}")


class Federation:
    """The delivery service of one node."""

    def __init__(self, node: Node, transport: Any = None, *, batch_size: int = 2000,
                 head_interval: float = 2.0, poll_interval: float = 0.5, backoff_base: float = 0.05,
                 backoff_cap: float = 5.0, summary_interval: float = 300.0, retention: timedelta | None = None,
                 prune_interval: float = 60.0, lease_ttl: float = TTL, lease_renew: float = RENEW,
                 rejections_retention: timedelta | None = None, gossip_interval: float = GOSSIP_INTERVAL) -> None:
        if transport is None:
            from accord.federation.transport import HttpTransport
            transport = HttpTransport()
        ensure_node_schema(node)
        self.node, self.transport = node, transport
        self.batch_size, self.head_interval, self.poll_interval = batch_size, head_interval, poll_interval
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.summary_interval = summary_interval  # seconds between "still unreachable" log lines
        # outbox retention while running (a timedelta; None: keep every row, as a library default)
        self.retention, self.prune_interval = retention, prune_interval
        # how long fed_rejections rows stay, pruned beside the outbox (None: REJECTIONS_KEEP)
        self.rejections_retention = rejections_retention
        self._events: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._halts: dict[str, threading.Event] = {}  # set: that worker stops (the service stops, or it retires)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._outages: dict[str, _Outage] = {}  # open outages by partner (see _unreached)
        self._outage_lock = threading.Lock()
        self.store_outage = StoreOutage(node.clock)  # the node database away (logged once, not per retry)
        self.leases = Leases(node, ttl=lease_ttl)
        self.lease_renew = lease_renew
        self.gossip_interval = gossip_interval
        self._gossiped: dict[str, float] = {}  # partner -> monotonic time of the last gossip exchange
        self._checkers: dict[str, threading.Thread] = {}  # partner -> the thread checking its tree head
        self._check_started: dict[str, float] = {}  # partner -> monotonic start of its check on its way

    # --- one step, synchronously -----------------------------------------------------------
    def deliver_once(self, party: str) -> int:
        """Send one batch to ``party``; return how many envelopes it settled (0: queue empty).

        Raises :class:`FederationError` / :class:`AuthError` if the batch got no acknowledgement.
        """
        with write_lock(self.node):  # committed rows only, never another thread's open transaction
            batch = _cap_bytes(outbox.pending(self.node, party, self.batch_size))
        if not batch:
            return 0
        counts = counters(self.node).partner(party)
        started = time.monotonic()
        ack = self.transport.send(self.node, party, [env for _, env in batch])
        counts.latency.observe(time.monotonic() - started)
        sent = [seq for seq, _ in batch]
        outbox.check_ack(ack, party, sent)  # a lying answer: a failure, before it is counted
        _tally(party, counts, ack)
        delivered, rejected = outbox.apply_ack(self.node, party, ack, sent)
        if delivered + rejected == 0:
            raise _settled_none(party, len(batch), ack)
        return delivered + rejected

    def sync(self, party: str | None = None, *, heads: bool = True) -> dict[str, str | None]:
        """Drain every (or one) partner's outbox and check heads, synchronously.

        Returns ``{party: error or None}``; a failing partner does not stop the others.
        """
        result: dict[str, str | None] = {}
        while outbox.apply_rules_to_new_items(self.node):
            pass
        for p in [party] if party else sorted(self.node.partners()):
            try:
                if not self.leases.refresh([p]):  # a server of this node delivers to it now
                    result[p] = f"{p} is being delivered to by another worker of this node"
                    continue
                while self.deliver_once(p):
                    pass
                if heads:
                    check_partner_head(self.node, p, self.transport)
                    self._gossip(p, due=True)
                result[p] = None
            except AccordError as exc:
                if getattr(exc, "retry_after", None) is not None:  # deferred (its quota): reached, not failed
                    quota.record_deferral(self.node, p, str(exc))
                else:
                    counters(self.node).partner(p).failures += 1
                    outbox.record_failure(self.node, p, str(exc))
                result[p] = str(exc)
            finally:
                if not self._threads:  # a running service keeps its leases; a one-off sync gives them back
                    self.leases.release([p])
        return result

    # --- background workers ----------------------------------------------------------------
    def start(self) -> None:
        outbox.register_notifier(self.node, self.notify)
        try:
            self.leases.refresh(self.node.partners())
        except Exception:  # noqa: BLE001 - the lease thread tries again
            log.exception("partner leases: first refresh failed")
        self._leases_thread = threading.Thread(target=self._run_leases, name="accord-leases", daemon=True)
        self._leases_thread.start()
        for party in sorted(self.node.partners()):
            self._ensure_worker(party)
        self._rules_thread = threading.Thread(target=self._run_rules, name="accord-rules", daemon=True)
        self._rules_thread.start()
        self._heads_thread = threading.Thread(target=self._run_heads, name="accord-heads", daemon=True)
        self._heads_thread.start()
        if self.retention is not None:
            self._prune_thread = threading.Thread(target=self._run_prune, name="accord-prune", daemon=True)
            self._prune_thread.start()

    def _run_prune(self) -> None:
        """Prune acknowledged outbox rows older than ``retention`` each ``prune_interval`` seconds
        (:func:`accord.federation.retention.prune`; unacknowledged rows are never pruned)."""
        from accord.federation.retention import REJECTIONS_KEEP, prune

        keep = self.retention
        assert keep is not None  # started only with a retention
        rejections = self.rejections_retention if self.rejections_retention is not None else REJECTIONS_KEEP
        while not self._stop.is_set():
            try:
                with self.store_outage.guard("retention"):
                    prune(self.node, keep, rejections)
            except Exception:  # noqa: BLE001 - try again next time; pruning is never urgent
                log.exception("outbox retention: prune failed")
            self._stop.wait(self.prune_interval)

    def _run_leases(self) -> None:
        """Every ``lease_renew`` seconds: renew this service's partner leases and take over those
        that are free or have run out (a worker that died); wake the workers that got one."""
        had: set[str] = set(self.leases.held())
        while not self._stop.wait(self.lease_renew):
            try:
                with self.store_outage.guard("partner leases") as step:
                    now = set(self.leases.refresh(self.node.partners()))
                    # a partner removed while the refresh ran (its worker may have just given
                    # its lease back): not taken again, so no worker starts only to retire
                    stale = now - set(self.node.partners())
                    if stale:
                        self.leases.release(stale)
                        now -= stale
            except Exception:  # noqa: BLE001 - the store is failing: our leases run out, others take over
                log.exception("partner leases: refresh failed")
                continue
            if step.away:  # our leases run out, as above; the outage is logged once
                continue
            for party in sorted(now - had):
                log.info("delivering to %s (took over its lease)", party,
                         extra={"event": "partner.lease", "partner": party, "holder": self.leases.holder})
                self.notify(party)
            for party in sorted(now):  # pinned again after its worker retired (see _retire)
                self._ensure_worker(party)
            with self._lock:
                running = dict(self._halts)
            for party, halt in running.items():
                if not self._pinned(party):  # unpinned here or by another process: it retires, backing off or not
                    halt.set()
                    wake = self._events.get(party)
                    if wake is not None:
                        wake.set()
            had = now

    def _run_rules(self) -> None:
        """Apply standing rules to items other parts of Accord stored (``node.put_item``)."""
        while not self._stop.is_set():
            more = 0
            try:
                with self.store_outage.guard("standing rules"):
                    more = outbox.apply_rules_to_new_items(self.node)
            except Exception:  # noqa: BLE001 - keep scanning; the cursor did not move
                log.exception("standing rules: scan failed")
            if more:  # ledger entries were read: look again at once
                continue
            self._stop.wait(self.poll_interval)

    def _ensure_worker(self, party: str) -> None:
        """Start ``party``'s delivery worker unless one runs: also in place of one that died of an
        error its loop does not catch (the lease thread calls this each ``lease_renew`` seconds)."""
        with self._lock:
            running = self._threads.get(party)
            if (running is not None and running.is_alive()) or self._stop.is_set():
                return
            if running is not None:
                log.error("delivery worker for %s had stopped on an error; starting another", party)
            ev = self._events.setdefault(party, threading.Event())
            halt = self._halts[party] = threading.Event()
            t = threading.Thread(target=self._run, args=(party, ev, halt), name=f"accord-deliver-{party}",
                                 daemon=True)
            self._threads[party] = t
            t.start()

    def notify(self, party: str) -> None:
        ev = self._events.get(party)
        if ev is None:
            self._ensure_worker(party)
            ev = self._events.get(party)
        if ev is not None:
            ev.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread of the service, waiting ``timeout`` seconds in all for them (one
        deadline shared by every partner's worker, the background loops and the head checks, so
        a stop with many partners stuck in a send still ends ``timeout`` after it began; a thread
        still running then is a daemon and ends with the process)."""
        outbox.unregister_notifier(self.node)
        self._stop.set()
        with self._lock:  # (a worker retiring meanwhile leaves these dicts)
            workers = list(self._threads.values())
            checkers = list(self._checkers.values())
            for ev in [*self._halts.values(), *self._events.values()]:
                ev.set()
        end = time.monotonic() + timeout
        for t in [*workers, getattr(self, "_rules_thread", None),
                  getattr(self, "_heads_thread", None), getattr(self, "_prune_thread", None),
                  getattr(self, "_leases_thread", None), *checkers]:
            if t is not None:
                t.join(max(0.0, end - time.monotonic()))
        try:
            self.leases.release()  # another worker of this node takes the partners over at once
        except StoreUnavailable as exc:  # they run out within lease_ttl anyway
            log.warning("partner leases not given back (the node database is away: %s); they run out within %g s",
                        exc, self.leases.ttl, extra={"event": "store.unavailable", "error": str(exc)})
        except Exception:  # noqa: BLE001 - they run out within lease_ttl anyway
            log.exception("partner leases: release failed")
        close = getattr(self.transport, "close", None)
        if close:
            close()

    def _reader(self) -> Any:
        """A connection of this worker's own for reading the outbox: it sees committed rows only,
        so an envelope is never sent from a transaction that might still roll back, and reading
        never waits for the node's write lock. ``None`` for a database without a file."""
        store = getattr(self.node, "store", None)
        if store is None or getattr(store, "location", "") == ":memory:":
            return None  # a node double without a real store
        return store.reader()

    def _pending_after(self, reader: Any, party: str, after: int) -> list[tuple[int, bytes]]:
        if reader is None:  # the node's connection: under the write lock, so committed rows only
            with write_lock(self.node):
                return _cap_bytes(outbox.pending(self.node, party, self.batch_size, after=after))
        return _cap_bytes(outbox.pending(self.node, party, self.batch_size, after=after, conn=reader))

    def _pinned(self, party: str) -> bool:
        try:
            return party in self.node.partners()  # (one stat of node.yaml: a removal elsewhere is seen)
        except Exception:  # noqa: BLE001 - the store failing: the worker's step meets it and backs off
            return True

    def _retire(self, party: str) -> None:
        """The worker of ``party``, no longer pinned, has stopped (its reader closed, so its pool
        place given back): give its lease back and leave its place to a new worker, started if
        ``party`` is pinned again (by :meth:`notify` or the lease thread)."""
        try:
            self.leases.release([party])
        except Exception as exc:  # noqa: BLE001 - it runs out within lease_ttl anyway
            log.warning("partner lease of %s not given back (%s); it runs out within %g s", party, exc,
                        self.leases.ttl)
        with self._lock:
            if self._threads.get(party) is threading.current_thread():
                del self._threads[party]
                self._halts.pop(party, None)
                self._events.pop(party, None)
        with self._outage_lock:
            self._outages.pop(party, None)
        log.info("delivery worker for %s retired: no longer a pinned partner; its queue is held until it is "
                 "pinned again", party, extra={"event": "partner.retired", "partner": party})

    def _wait_until(self, halt: threading.Event, until: Any) -> None:
        """Wait until the node's clock reads ``until`` (a partner's ``Retry-After``), or the
        worker is halted: looked at every poll interval, so a clock set forward ends it too."""
        while not halt.is_set() and self.node.clock.now() < until:
            halt.wait(min(self.poll_interval, max(0.01, (until - self.node.clock.now()).total_seconds())))

    def _run(self, party: str, wake: threading.Event, halt: threading.Event) -> None:
        """Deliver to ``party`` until stopped, one batch in flight; retire once ``party`` is no
        longer pinned (:meth:`_retire`): no batch is sent after the worker has seen the removal,
        and one already sent has its acknowledgement applied first.

        The partner's acknowledgement of batch *k* is applied (a write transaction, which may wait
        for the node's write lock) by a helper thread while batch *k+1* is already on its way, so
        the partner is not left idle meanwhile. At most one acknowledgement is outstanding: it is
        settled before the next one is handed over. ``cursor`` is the last sequence number sent;
        whenever the partner asks for an earlier number (a gap, or it lost data) or anything
        fails, the cursor goes back to 0 and the lowest queued row is sent next.
        """
        failures = 0
        counts = counters(self.node).partner(party)
        applier = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"accord-ack-{party}")
        try:   # the reader last before the ``try`` whose ``finally`` closes it (it holds a pool place)
            reader = self._reader()
        except Exception:  # noqa: BLE001 - read under the write lock instead (still committed rows only)
            log.exception("delivery worker for %s: no reading connection of its own", party)
            reader = None
        inflight: Future | None = None
        cursor = 0
        try:
            while not halt.is_set():
                wake.clear()
                if not self._pinned(party):
                    break
                if not self.leases.holds(party):  # another worker of this node delivers to it
                    _settle_quietly(inflight)
                    cursor, inflight = 0, None
                    wake.wait(self.lease_renew)
                    continue
                try:
                    # (not under guard(): the database reached ends an outage even if the partner
                    # then fails, and a StoreUnavailable from any part of the step — the
                    # acknowledgement applied in the helper thread too — resets the step below)
                    batch = self._pending_after(reader, party, cursor)
                    self.store_outage.ok()
                    if not batch:
                        cursor = 0
                        if inflight is not None:  # its acknowledgement may queue rows again: look again
                            _settle(inflight)
                            inflight = None
                            continue
                        self._backlog_delivered(party)
                        failures = 0
                        # woken at once by shares made in this process; other processes writing
                        # the same database (the CLI) are picked up by the poll
                        wake.wait(self.poll_interval)
                        continue
                    if not self._pinned(party):  # removed while the batch was read: it is not sent
                        break
                    started = time.monotonic()
                    ack = self.transport.send(self.node, party, [env for _, env in batch])
                    counts.latency.observe(time.monotonic() - started)
                    _settle(inflight)
                    inflight = None
                    sent = [seq for seq, _ in batch]
                    outbox.check_ack(ack, party, sent)  # a lying answer: a failure, before it is counted
                    if not any(r.seq is not None and r.consumed for r in ack.receipts):
                        if sum(outbox.apply_ack(self.node, party, ack, sent)) == 0:  # (replays renumbered: go on)
                            raise _settled_none(party, len(batch), ack)
                        _settle(inflight)
                        inflight, cursor = None, 0
                        continue
                    settled = _tally(party, counts, ack)
                    self._reached(party, settled)
                    inflight = applier.submit(outbox.apply_ack, self.node, party, ack, sent)
                    cursor = batch[-1][0]
                    if ack.next_seq is not None and ack.next_seq <= cursor:
                        _settle(inflight)
                        inflight, cursor = None, 0
                    failures = 0
                except StoreUnavailable as exc:  # our database, not the partner: no partner failure counted
                    _settle_quietly(inflight)
                    cursor, inflight = 0, None
                    failures += 1
                    self.store_outage.failed(f"deliveries to {party}", exc)
                    halt.wait(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))
                except AccordError as exc:
                    _settle_quietly(inflight)
                    cursor, inflight = 0, None
                    wait = getattr(exc, "retry_after", None)
                    if wait is not None:  # a 429 saying when (its quota window): reached, not a failure
                        log.warning("partner %s takes no more deliveries now, retry in %.0f s (the batch stays "
                                    "queued): %s", party, wait, exc,
                                    extra={"event": "partner.deferred", "partner": party, "retry_after_s": wait})
                        try:  # shown by status; the store away: said by the next step that needs it
                            quota.record_deferral(self.node, party, str(exc))
                        except Exception:  # noqa: BLE001 - the worker lives on and waits
                            log.debug("delivery worker for %s: recording the deferral failed", party, exc_info=True)
                        self._wait_until(halt, self.node.clock.now() + timedelta(seconds=wait))
                        continue
                    failures += 1
                    counts.failures += 1
                    try:  # the store failing too: the worker lives on and retries
                        with self.store_outage.guard(f"deliveries to {party}", reached=False):
                            outbox.record_failure(self.node, party, str(exc))
                    except Exception:  # noqa: BLE001 - the worker lives on and retries
                        log.exception("delivery worker for %s: recording the failure failed", party)
                    # its backlog unread while the store is away: the line waits for the next failure
                    with self.store_outage.guard(f"deliveries to {party}", reached=False):
                        self._unreached(party, exc, reader)
                    delay = backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap)
                    log.debug("delivery to %s failed (%d in a row), retry in %.2fs: %s", party, failures, delay, exc)
                    halt.wait(delay)
                except Exception:  # noqa: BLE001 - a worker must survive anything and retry
                    _settle_quietly(inflight)
                    cursor, inflight = 0, None
                    failures += 1
                    log.exception("delivery worker for %s: unexpected error", party)
                    halt.wait(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))
        finally:
            _settle_quietly(inflight)
            applier.shutdown(wait=True)
            if reader is not None:
                reader.close()
        if not self._stop.is_set():
            self._retire(party)

    # --- outages, as the operator's log tells them -------------------------------------------
    # Both the delivery worker and its tree-head check reach a partner; either failing opens
    # (or continues) its outage, either succeeding ends it, and it is reported recovered once
    # nothing that queued up during it is left. One record per partner, under one lock.
    def _unreached(self, party: str, exc: Exception, reader: Any) -> None:
        """A contact with ``party`` failed: the first failure of a run is logged "unreachable",
        then a summary at most every ``summary_interval`` seconds while the run lasts, and
        nothing for the retries in between."""
        now = self.node.clock.now()
        with self._outage_lock:
            outage = self._outages.get(party)
            if outage is None:
                # the backlog first: with the database away this raises before the outage is
                # recorded, so the next failure still opens it with this line
                queued, oldest = _backlog(self.node, reader, party)
                outage = self._outages[party] = _Outage(now)
                outage.next_summary = time.monotonic() + self.summary_interval
                log.warning("partner %s unreachable: %s (%d item(s) queued)", party, exc, queued,
                            extra={"event": "partner.unreachable", "partner": party, "since": to_rfc3339(now),
                                   "error": str(exc), "backlog": queued, "oldest_queued_age_s": oldest})
                return
            if outage.until is not None:  # failing again while draining: the same outage goes on
                outage.until = None
            outage.attempts += 1
            if time.monotonic() >= outage.next_summary:
                self._summarise(party, outage, exc, reader, now)

    def _summarise(self, party: str, outage: _Outage, exc: Exception, reader: Any, now: Any) -> None:
        outage.next_summary = time.monotonic() + self.summary_interval
        queued, oldest = _backlog(self.node, reader, party)
        length = outage.length(now)
        log.warning("partner %s still unreachable after %s (since %s): %d failed attempts, %d item(s) "
                    "queued, the oldest %s old; last error: %s", party, duration_text(length),
                    to_rfc3339(outage.since), outage.attempts, queued, duration_text(oldest), exc,
                    extra={"event": "partner.still_unreachable", "partner": party,
                           "since": to_rfc3339(outage.since), "outage_s": round(length, 3),
                           "attempts": outage.attempts, "backlog": queued, "oldest_queued_age_s": oldest,
                           "error": str(exc)})

    def _reached(self, party: str, settled: int = 0) -> bool:
        """A contact with ``party`` succeeded (``settled`` envelopes acknowledged): an open outage
        ends here, though it is reported only once its backlog is delivered. Returns whether
        one was open."""
        with self._outage_lock:
            outage = self._outages.get(party)
            if outage is None:
                return False
            if outage.until is None:
                outage.until = self.node.clock.now()
            outage.delivered += settled
            return True

    def _backlog_delivered(self, party: str) -> None:
        """Nothing is queued for ``party``: report its outage recovered, if it had one that ended."""
        with self._outage_lock:
            outage = self._outages.get(party)
            if outage is None or outage.until is None:
                return
            del self._outages[party]
        length = outage.length(self.node.clock.now())
        log.info("partner %s recovered after %s unreachable (since %s, %d failed attempts); backlog of %d "
                 "item(s) delivered", party, duration_text(length), to_rfc3339(outage.since), outage.attempts,
                 outage.delivered,
                 extra={"event": "partner.recovered", "partner": party, "since": to_rfc3339(outage.since),
                        "outage_s": round(length, 3), "attempts": outage.attempts, "drained": outage.delivered})

    def _run_heads(self) -> None:
        """Every ``head_interval`` seconds, start the tree-head check of each partner whose last
        check has ended, each in a thread of its own, apart from delivery. At most
        :data:`HEAD_CHECKERS` checks younger than :data:`HEAD_CHECK_SLOW` run at once; an older
        one gives its place up, so partners holding their checks to the deadline — any number
        of them — delay the others' by :data:`HEAD_CHECK_SLOW` at most, not by the deadline.
        The places go first to the partners whose checks started longest ago (or never), so
        partners whose checks end just inside :data:`HEAD_CHECK_SLOW` cannot take them back
        round after round either."""
        while not self._stop.is_set():
            partners = self.node.partners()
            with self._lock:  # a partner removed has no check to wait for
                self._check_started = {p: t for p, t in self._check_started.items() if p in partners}
                # the partner whose check started longest ago (or never) first: taken in name
                # order, partners whose checks end just inside HEAD_CHECK_SLOW took every place
                # back at each round, and a partner named after them was never checked
                order = sorted(partners, key=lambda p: (self._check_started.get(p, float("-inf")), p))
            for party in order:
                if self._stop.is_set():
                    break
                if not self.leases.holds(party):  # its lease holder checks it
                    continue
                with self._lock:  # stop() sets _stop before it takes this lock: it waits for every checker
                    if self._stop.is_set():
                        break
                    self._checkers = {p: t for p, t in self._checkers.items() if t.is_alive()}
                    if party in self._checkers or self._prompt_checks() >= HEAD_CHECKERS:
                        continue
                    checker = threading.Thread(target=self._check_head, args=(party,), daemon=True,
                                               name=f"accord-heads-{party}")
                    self._checkers[party] = checker
                    self._check_started[party] = time.monotonic()
                checker.start()
            self._stop.wait(self.head_interval)

    def _prompt_checks(self) -> int:
        """Under ``_lock``: the checks on their way that started less than
        :data:`HEAD_CHECK_SLOW` seconds ago (those holding a place among :data:`HEAD_CHECKERS`)."""
        since = time.monotonic() - HEAD_CHECK_SLOW
        return sum(1 for p in self._checkers if self._check_started.get(p, since) > since)

    def _check_head(self, party: str) -> None:
        """One partner's tree-head check and gossip; an outage reported as the worker's is."""
        try:
            with self.store_outage.guard("tree-head checks"):
                check = check_partner_head(self.node, party, self.transport)
                if check.pin_changed:
                    # removed (or pinned again) during the check: it says nothing of the partner
                    # as pinned now, so no gossip and no "recovered" after the removal
                    return
                self._gossip(party)
                # reached; with nothing queued for it no worker will say so: say it here
                if self._reached(party) and _backlog(self.node, None, party)[0] == 0:
                    self._backlog_delivered(party)
        except Exception as exc:  # noqa: BLE001
            if self._stop.is_set():
                # the service stopped under it (stop() closes the transport, its caller the node,
                # while a request may still be on its way): not the partner's fault, nothing to say
                log.debug("tree head check of %s cut short by the service stopping: %s", party, exc)
            elif isinstance(exc, (FederationError, AuthError)):  # not reached, or it refused us
                log.debug("tree head of %s not checked: %s", party, exc)
                # one fault cutting both: said once by the store outage; a partner removed meanwhile
                # (its check cut short by the removal) has no outage to report
                with self.store_outage.guard("tree-head checks", reached=False):
                    if party in self.node.partners():
                        self._unreached(party, exc, None)
            elif isinstance(exc, AccordError):  # a bad checkpoint: reached, and what it says is logged
                log.debug("tree head of %s not checked: %s", party, exc)
            else:
                log.exception("tree head check of %s: unexpected error", party)

    def _gossip(self, party: str, *, due: bool = False) -> None:
        """Compare ``party``'s view of the third parties with ours, at most once per
        ``gossip_interval`` seconds (``due``: now). Its failures are not the partner's outage (the
        head check just reached it): a line at debug level, or one throttled line for a refusal."""
        now = time.monotonic()
        last = self._gossiped.get(party)
        if not due and last is not None and now - last < self.gossip_interval:
            return
        self._gossiped[party] = now
        try:
            exchange_heads(self.node, party, self.transport)
        except StoreUnavailable:
            raise
        except AccordError as exc:
            log.debug("tree heads gossip with %s not done: %s", party, exc)

    # --- helpers for tests and benches -----------------------------------------------------
    def drained(self) -> bool:
        return all(outbox.queue_depth(self.node, p) == 0 for p in self.node.partners())

    def wait_drained(self, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.drained():
                return True
            time.sleep(0.02)
        return self.drained()
