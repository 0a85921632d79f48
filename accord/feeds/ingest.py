"""``accord warning ingest``: a durable JetStream consumer that tracks, predicts and alerts live.

The loop, one batch of scan messages at a time (those JetStream has, up to ``batch`` messages and
``batch_bytes``, plus what arrives within ``gather_s`` of the fetch: a paced feed does not pay a commit per scan):

1. skip messages at or below the stored stream sequence (processed before a crash, not yet
   acknowledged); check each other scan (:func:`accord.feeds.scans.parse_scan`, then time order
   and radar, :meth:`LiveTracker.check`, and the node's clock, :meth:`Ingest.check`) — a bad
   one is logged in one line and *terminated* (JetStream never redelivers it), and nothing of
   it is stored;
2. feed the good scans to the :class:`LiveTracker`; each whole second it completes gives
   ``warning.track`` items (every confirmed track) and ``warning.prediction`` items, and the
   predictions go through the :class:`AlertEngine` (ticked every second, as
   :func:`accord.warning.alerts.batch.run_engine` does) for ``warning.alert`` items;
3. store the items, the tracker and engine snapshots and the last sequence in **one**
   transaction (:class:`accord.feeds.state.IngestStore`); the items are ledgered
   ``item.created``, so a serving node shares them under its standing rules and the policy as
   it does any item;
4. publish each item on ``<prefix>.<party>.warning.<track|prediction|alert>`` (its canonical
   JSON, ``Nats-Msg-Id`` = the item id, signed by the node's key: :mod:`accord.feeds.signed`),
   then acknowledge the batch (``AckAll`` on its last message).

Item ids derive from the content and the scenario time (``epoch + t``), so the same detections always give the same
items: a replay could not duplicate one. One process per consumer (a lock file in the node directory).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.errors import ConfigError, InputError
from accord.feeds.alert_path import AlertPath
from accord.feeds.alert_proc import AlertProcess
from accord.feeds.jetstream import ensure_stream, pull_consumer
from accord.feeds.nats_connect import connect, explained
from accord.feeds.scans import (CLOCK_AHEAD_S, check_datable, check_not_ahead, check_prefix, check_token, is_present,
                                parse_scan)
from accord.feeds.signed import publish_items
from accord.feeds.state import IngestState, IngestStore, consumer_lock
from accord.logs import Throttle
from accord.warning.alerts import AlertEngine, AlertRules, Geography
from accord.warning.alerts.engine import DEFAULT_EPOCH
from accord.warning.io import DetectionsHeader, parse_header
from accord.warning.live import LiveTracker
from accord.warning.tracking import warm_up
from accord.warning.types import Prediction

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.feeds.ingest")

#: refused scans logged in any minute; the rest are counted (the summary's ``refused``, the next line's ``suppressed``)
REFUSED_LINES_PER_MINUTE = 30


@dataclass
class IngestSummary:
    scans: int = 0
    detections: int = 0
    refused: int = 0
    skipped: int = 0            # already processed before a restart
    items: int = 0
    first_fetch: float | None = None   # perf_counter of the first message received
    last_commit: float | None = None   # perf_counter of the last commit
    cpu0: float | None = None          # process CPU time at the first message
    cpu1: float | None = None          # process CPU time at the last commit
    batches: int = 0
    batch_bytes_max: int = 0    # the most bytes of messages one batch held
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        busy = (self.last_commit - self.first_fetch) if self.first_fetch and self.last_commit else None
        cpu = (self.cpu1 - self.cpu0) if self.cpu0 is not None and self.cpu1 is not None else None
        alert_cpu = self.extra.get("alert_process_cpu_seconds")
        own, cpu = cpu, (cpu + alert_cpu if cpu is not None and alert_cpu is not None else cpu)  # both processes'
        return {**self.extra, "ingest_cpu_seconds": None if own is None else round(own, 4), "scans": self.scans, "detections": self.detections, "refused": self.refused,
                "skipped": self.skipped, "items": self.items, "batches": self.batches, "batch_bytes_max": self.batch_bytes_max,
                "busy_seconds": None if busy is None else round(busy, 4),
                "cpu_seconds": None if cpu is None else round(cpu, 4),
                "detections_per_s": round(self.detections / busy) if busy else None,
                "detections_per_cpu_s": round(self.detections / cpu) if cpu else None}


@dataclass(frozen=True)
class IngestOptions:
    url: str
    stream: str
    durable: str
    prefix: str = "accord"
    marking: str | None = None     # default CONFIDENTIAL//REL TO <party>
    status: str = "Exercise"
    sender: str | None = None
    epoch: datetime = DEFAULT_EPOCH
    clock_ahead_s: float = CLOCK_AHEAD_S   # a scan dated further ahead of the node's clock is refused
    batch: int = 512
    batch_bytes: int = 8 * 1024 * 1024   # the bytes of messages one batch holds at most (see run)
    gather_s: float = 0.03         # after a fetch, wait this long at most for more of a batch (see run)
    idle_exit_s: float | None = None
    alerts: bool = True            # False: tracks and predictions only (alerting done elsewhere)
    quiet_gc: bool = False         # the process is the ingest's own: see quiet_gc (the CLI sets it)
    alert_process: bool = False    # the alert engine in a child process (alert_proc), else on a thread
    alert_restarts: int = 3        # an alert process that dies is started again this often within 10 min


class Ingest:
    """The consumer of one node (see the module docstring). ``header``: the radars, or None to
    use the ones the stored state was made with."""

    def __init__(self, node: Node, header: DetectionsHeader | None, opts: IngestOptions) -> None:
        check_prefix(opts.prefix)
        check_token(opts.stream, "stream")
        check_token(opts.durable, "consumer")
        self.node, self.opts, self.party = node, opts, node.party
        self.marking = Marking.parse(opts.marking or f"CONFIDENTIAL//REL TO {node.party}")
        self.store = IngestStore(node, f"{opts.stream}/{opts.durable}")
        saved = self.store.load()
        if header is None and saved is None:
            raise ConfigError("no radars: give --sensors (a detections file or its header line) the first time")
        if saved is not None:
            stored = parse_header(saved.sensors, source="stored ingest state")
            if header is not None and header.to_json() != stored.to_json():
                raise ConfigError(f"--sensors lists other radars than the ones consumer {opts.durable} "
                                  "tracked with so far; use a new --consumer for a new radar list")
            header = stored
        assert header is not None
        self.header = header
        self.sensors_json = json.dumps(header.to_json(), sort_keys=True)
        config = Path(node.dir) / "node.yaml"  # its ``alerts:`` section: areas, margin … (docs/alerts.md)
        rules = AlertRules.from_yaml(config, party=self.party) if config.exists() else AlertRules(party=self.party)
        geo = Geography.load(None, parties=[self.party])
        rules.validate(geo)  # an unknown area code stops the ingest here, naming it
        sender = opts.sender or f"accord.{self.party.lower()}.example"
        if saved is None:
            self.live = LiveTracker(header.sensors)
            self.engine = AlertEngine(rules, geo, sender, opts.status, epoch=opts.epoch)
            self.seq, self.clock, self.last_items, self.scans, self.detections = 0, None, [], 0, 0
            self.engine_json0 = json.dumps(self.engine.snapshot(), sort_keys=True)
        else:
            self.live = LiveTracker.restore(header.sensors, saved.tracker, saved.arrays)
            assert saved.engine is not None   # always stored
            self.engine = AlertEngine.restore(json.loads(saved.engine), rules, geo, sender, opts.status,
                                              epoch=opts.epoch)
            self.seq, self.clock, self.last_items = saved.stream_seq, saved.alert_clock, saved.last_items
            self.scans, self.detections = saved.scans, saved.detections
            self.engine_json0 = saved.engine
        self.live.is_current = self._is_current
        self.summary = IngestSummary()
        self._summary_lock = threading.Lock()
        self._refused_lines = Throttle(REFUSED_LINES_PER_MINUTE)
        self._alert_path: AlertPath | AlertProcess | None = None
        self.log_config = ("info", "text")   # the alert process's logging (level, format)

    # --- the pure part: scans in, items out ---------------------------------------------------
    def _when(self, t: float) -> datetime:
        return self.opts.epoch + timedelta(seconds=t)

    def _is_current(self, t: float) -> bool:
        """:func:`accord.feeds.scans.is_present` by the node's clock and the lead ``clock_ahead_s``
        allows (:attr:`LiveTracker.is_current`)."""
        return is_present(self.opts.epoch, self.node.clock.now(), t, self.opts.clock_ahead_s)

    def check(self, t: float, sensor: str) -> None:
        """:class:`InputError` if a scan cannot be taken: its time past what a datetime holds
        (:func:`~accord.feeds.scans.check_datable`), what :meth:`LiveTracker.check` refuses, or a
        time ahead of the node's clock (:func:`~accord.feeds.scans.check_not_ahead`)."""
        check_datable(self.opts.epoch, t)
        self.live.check(t, sensor)
        check_not_ahead(self.opts.epoch, self.node.clock.now(), t, self.opts.clock_ahead_s)

    def _alerts(self, preds: list[Any], seconds: list[int]) -> list[Any]:
        """Feed predictions and clock ticks to the engine as run_engine does for a file."""
        out: list[Any] = []

        def tick(until: float) -> None:
            if self.clock is None:
                return
            while self.clock + 1.0 <= until:
                self.clock += 1.0
                out.extend(self.engine.on_time(self.clock))

        for q in sorted(preds, key=lambda p: (p.t, p.track_id)):
            if self.clock is None:
                self.clock = float(math.floor(q.t))
            tick(q.t)
            out.extend(self.engine.on_prediction(q, q.t))
        if seconds:
            tick(float(seconds[-1]))
        return out

    def track(self, t: float, sensor: str, plots: Any) -> tuple[list[Item], tuple[list[Any], list[int]] | None]:
        """One checked scan through the tracker: the track and prediction items it makes final,
        and the alert engine's work for it (its predictions, whose items end the list, and the
        whole seconds it completed), None when it completed no second."""
        out = self.live.process(t, sensor, plots)
        self.scans += 1
        self.detections += len(plots)
        if not out.seconds:
            return [], None
        party, mk = self.party, self.marking
        items = []
        for tr in out.tracks:
            items.append(new_item("warning.track", {**tr.to_json(), "source": party}, mk, party,
                                  self._when(tr.t)))
        for p in out.predictions:
            items.append(new_item("warning.prediction", p.to_json(), mk, party, self._when(p.t)))
        return items, (list(out.predictions), list(out.seconds))

    def alert(self, preds: list[Any], seconds: list[int]) -> list[Item]:
        """The alert engine's items for one scan's work (:meth:`track`)."""
        return [m.to_item() for m in self._alerts(preds, seconds)]

    def process(self, t: float, sensor: str, plots: Any) -> list[Item]:
        """One checked scan through tracker and alert engine; the items it makes final."""
        items, work = self.track(t, sensor, plots)
        if work is not None and self.opts.alerts:
            items += self.alert(*work)
        return items

    def state(self, *, engine: bool = True) -> IngestState:
        """The state to commit; ``engine`` False leaves the alert engine's to its own path."""
        tracker, arrays = self.live.snapshot()
        snap = json.dumps(self.engine.snapshot(), sort_keys=True) if engine else None
        return IngestState(self.seq, self.sensors_json, tracker, arrays, snap, self.clock if engine else None,
                           self.last_items, self.scans, self.detections)

    # --- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> IngestSummary:
        """Consume until ``stop`` is set (or, with ``idle_exit_s``, the stream has been idle that long)."""
        opts = self.opts
        lock = consumer_lock(self.node.dir, opts.durable)
        warm_up()   # load the tracker's compiled kernels before the first scan waits on them
        if opts.quiet_gc:
            quiet_gc()
        self.summary.extra["alert_mode"] = ("process" if opts.alert_process else "thread") if opts.alerts else "off"
        refused: list[str] = []
        nc = await connect(opts.url, party=self.party, role="ingest", refused=refused)
        try:
            with explained(opts.url, "ingest", refused):   # a timeout the server's refusal explains
                await ensure_stream(nc.jetstream(), opts.stream, opts.prefix, self.party)
                sub = await pull_consumer(nc, opts.stream, opts.durable, opts.prefix, self.party,
                                          after_seq=self.seq, max_pending=max(4 * opts.batch, 1000))
            await self.publish(nc, [self.node.get_item(i) for i in self.last_items])  # maybe lost in a crash
            if opts.alerts and opts.alert_process:
                # the child publishes what its last commit stored and does the queued work itself
                self._alert_path = AlertProcess(self, self.log_config, restarts=opts.alert_restarts)
            elif opts.alerts:
                await self.publish(nc, [self.node.get_item(i) for i in self.store.last_alert_items()])
                self._alert_path = AlertPath(self, nc, asyncio.get_running_loop())
                for seq, work in self.store.pending_work():   # queued before a crash, not yet done
                    stored = self.node.get_items([i for ids, _ in work for i in ids])
                    self._alert_path.put(seq, [([Prediction.from_json(stored[i].body) for i in ids], list(seconds))
                                               for ids, seconds in work])
            idle_since = time.perf_counter()
            while stop is None or not stop.is_set():
                try:
                    msgs = await sub.fetch(opts.batch, 0.5, self.batch_bytes(sub))
                except asyncio.TimeoutError:
                    msgs = []
                if not msgs:
                    if self._alert_path is not None:
                        self._alert_path.check()   # an alert process that died, noticed while idle
                    if opts.idle_exit_s is not None and time.perf_counter() - idle_since >= opts.idle_exit_s:
                        break
                    continue
                msgs = await self._gather(sub, msgs)
                if self.summary.first_fetch is None:
                    self.summary.first_fetch, self.summary.cpu0 = time.perf_counter(), time.process_time()
                await self._batch(nc, msgs)
                idle_since = time.perf_counter()
            if self._alert_path is not None:
                await asyncio.to_thread(self._alert_path.finish)   # what the tracker passed it, done
                if isinstance(self._alert_path, AlertProcess):
                    self.summary.extra["alert_process_cpu_seconds"] = round(self._alert_path.cpu_seconds, 4)
        finally:
            if self._alert_path is not None:
                await asyncio.to_thread(self._alert_path.abandon)
                if isinstance(self._alert_path, AlertProcess):
                    self.summary.extra["alert_process_restarts"] = self._alert_path.restarts
            await nc.close()
            os.close(lock)
        return self.summary

    async def _gather(self, sub: Any, msgs: list[Any]) -> list[Any]:
        """More messages for the batch, for ``gather_s`` at most: a fetch returns what the server
        has at once, which on a paced live feed is a scan or two, and every batch costs a tracker
        snapshot and a durable commit (~8 ms here) whatever its size. So the commits of a live
        feed are bounded (about 1 / ``gather_s`` a second) at the price of that much latency;
        a backlog fills whole batches and does not wait."""
        deadline, budget = time.perf_counter() + self.opts.gather_s, self.batch_bytes(sub)
        held = sum(len(m.data) for m in msgs)
        while len(msgs) < self.opts.batch and held < budget and (left := deadline - time.perf_counter()) > 0.001:
            try:
                more = await sub.fetch(self.opts.batch - len(msgs), left, budget - held)
            except asyncio.TimeoutError:
                break
            msgs, held = msgs + more, held + sum(len(m.data) for m in more)
        return msgs

    def batch_bytes(self, sub: Any) -> int:
        """The bytes of messages a batch may hold: ``batch_bytes``, or twice the largest message
        the server takes if more (:class:`accord.feeds.jetstream.BytePull`)."""
        return max(self.opts.batch_bytes, sub.min_bytes)

    async def _batch(self, nc: Any, msgs: list[Any]) -> None:
        s, path = self.summary, self._alert_path
        s.batch_bytes_max = max(s.batch_bytes_max, sum(len(m.data) for m in msgs))
        if path is not None:
            path.check()
        items: list[Item] = []
        work: list[tuple[list[Any], list[int]]] = []
        queued: list[list[Any]] = []   # the work as stored: the prediction items' ids, the seconds
        refused: list[Any] = []
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq <= self.seq:
                s.skipped += 1
                continue
            try:
                scan = parse_scan(msg.data, msg.subject)
                self.check(scan.t, scan.sensor)
            except InputError as exc:
                self._refused_lines.log(log, logging.ERROR, "ingest: scan message %d on %s refused: %s", seq,
                                        msg.subject, exc, extra={"event": "feed.scan_refused", "stream_seq": seq})
                refused.append(msg)
                self.seq = seq
                continue
            if path is None:
                items += self.process(scan.t, scan.sensor, scan.plots)
            else:
                made, todo = self.track(scan.t, scan.sensor, scan.plots)
                items += made
                if todo is not None:
                    work.append(todo)
                    queued.append([[i.id for i in made[len(made) - len(todo[0]):]], todo[1]])
            s.scans += 1
            s.detections += len(scan.plots)
            self.seq = seq
        self.last_items = [i.id for i in items]
        # the whole batch — items, tracker, engine (or the alert engine's work), sequence — or
        # nothing; acknowledged after
        new = await asyncio.to_thread(self.store.commit, items, self.state(engine=path is None),
                                      work=queued, engine0=self.engine_json0)
        self.counted(len(new))
        s.batches += 1
        s.refused += len(refused)
        await self.publish(nc, items)
        if path is not None and work:
            path.put(self.seq, work)
        for msg in refused:
            await msg.term()
        bad = {id(m) for m in refused}
        good = [m for m in msgs if id(m) not in bad]
        if good:
            await good[-1].ack()   # AckAll: every earlier message of the batch too
        await nc.flush()

    def counted(self, stored: int) -> None:
        """A commit (of either path) stored ``stored`` new items."""
        with self._summary_lock:
            s = self.summary
            s.items += stored
            s.last_commit, s.cpu1 = time.perf_counter(), time.process_time()

    async def publish(self, nc: Any, items: list[Item]) -> None:
        await publish_items(nc, self.node.identity, self.opts.prefix, items)   # signed by the node's key


def quiet_gc() -> None:
    """Move what start-up made (modules, the tracker's kernels and priors, the alert engine's
    geography: some 200,000 objects) out of the cyclic collector's sight and collect less often.

    The loop allocates many short-lived lists and dicts (item bodies, JSON, NATS messages); with
    the default thresholds the collector ran so often, each time walking that start-up heap, that
    it cost more than building the items themselves (a prediction's ``to_json`` beside that heap:
    40 µs with the collector, 4 µs without it). Reference counting still frees everything that
    is not in a cycle at once; cycles are collected as before, only in fewer, later passes. It
    changes the whole interpreter, so only ``accord warning ingest``, whose process it is, asks
    for it (:attr:`IngestOptions.quiet_gc`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


GC_THRESHOLDS = (50_000, 20, 20)

