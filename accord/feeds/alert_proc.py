"""The alert engine of ``accord warning ingest`` in an OS process of its own
(:class:`AlertProcess`), so that the tracker and the engine each have a core and a GIL.

The parent (the ingest) commits each batch's tracks and predictions and, in the same
transaction, queues the engine's work in ``ingest_alert_work`` (:meth:`IngestStore.commit`), then
sends the batch's stream sequence down a pipe. The child (:func:`child_main`, started with the
``spawn`` context) opens the node itself (its own database connection, signing key and clock, as
``Node.open`` gives any process), restores the engine from its last commit
(:class:`~accord.feeds.ingest.Ingest` built from the stored state), reads the queued work in
stream order, and commits alert items, engine state and the removal of the work done in one
transaction (:meth:`IngestStore.commit_alerts`), as the thread mode does
(:class:`accord.feeds.alert_path.AlertPath`); then it publishes the alerts on NATS over its own
connection. The two write the same database: on SQLite they take turns on its write lock (busy
timeout), on PostgreSQL they are two connections.

Shutdown: ``finish`` (the stream drained or the ingest stopped) has the child do all queued work,
then exit; ``abandon`` (an error, or the parent gone: the pipe ends) has it stop after the commit
in hand, the rest staying queued for the next run. A child that dies makes the parent fail with
one line at its next batch. Crash safety is the database's: whatever was killed, the next run's
child restores the engine as of its last commit and redoes the work still queued — the same
alerts, none twice. One child per consumer at a time: it holds
``DIR/ingest-<consumer>.alerts.lock`` (a child left over from a killed parent finishes its
commit before the next one starts).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from accord.errors import AccordError

if TYPE_CHECKING:
    from accord.core.items import Item
    from accord.feeds.ingest import Ingest, IngestOptions

log = logging.getLogger("accord.feeds.ingest")

FINISH, ABANDON = "finish", "abandon"


class AlertProcessDied(AccordError):
    """The alert process ended before the ingest told it to."""


class AlertProcess:
    """The parent's handle on the alert process: the same calls as :class:`AlertPath`."""

    def __init__(self, ingest: Ingest, log_config: tuple[str, str] = ("info", "text")) -> None:
        self.ingest = ingest
        ctx = multiprocessing.get_context("spawn")
        child_in, self._out = ctx.Pipe(duplex=False)   # parent → child: sequences, finish, abandon
        self._in, child_out = ctx.Pipe(duplex=False)   # child → parent: commits and CPU time
        self.proc = ctx.Process(target=child_main, name="accord-ingest-alerts", daemon=True,
                                args=(str(ingest.node.dir), ingest.opts, child_in, child_out, log_config))
        self.proc.start()
        child_in.close()
        child_out.close()
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0          # the child's, from its first work to its last commit
        self._ending = False
        self._reader = threading.Thread(target=self._read, name="accord-ingest-alerts-reader", daemon=True)
        self._reader.start()

    def put(self, seq: int, work: list[Any]) -> None:
        """The batch up to ``seq`` queued work (in the database): wake the child."""
        if self.error is None:
            try:
                self._out.send(seq)
            except (BrokenPipeError, OSError):
                self._died()

    def check(self) -> None:
        """Raise the alert process's failure in the consumer's loop."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Have the child do all queued work, then stop (blocking: call from a worker thread)."""
        self._ending = True
        self.check()
        try:
            self._out.send(FINISH)
        except (BrokenPipeError, OSError):
            self._ending = False
            self._died()
        self._reader.join()
        self.proc.join()
        if self.proc.exitcode != 0 and self.error is None:
            self._ending = False
            self._died()
        self.check()

    def abandon(self) -> None:
        """Stop the child after the commit in hand (the rest stays queued for next time)."""
        self._ending = True
        if self.proc.is_alive():
            try:
                self._out.send(ABANDON)
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(timeout=60)
            if self.proc.is_alive():
                self.proc.kill()   # it ignores SIGTERM
                self.proc.join(timeout=10)
        self._out.close()
        self._reader.join(timeout=10)

    def _died(self) -> None:
        self.proc.join(timeout=5)
        code = self.proc.exitcode
        self.error = AlertProcessDied(
            f"the alert process (pid {self.proc.pid}) ended unexpectedly (exit code {code}); "
            "its queued work is kept: restart the ingest to do it")
        log.error("ingest: %s", self.error, extra={"event": "feed.alerts_failed"})

    def _read(self) -> None:
        while True:
            try:
                msg = self._in.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "done":
                _, stored, cpu = msg
                self.cpu_seconds = cpu
                self.ingest.counted(stored)
            elif msg[0] == "error":
                self.error = AlertProcessDied(f"the alert process failed: {msg[1]}")
                log.error("ingest: %s", self.error, extra={"event": "feed.alerts_failed"})
        if self.error is None and not self._ending:
            self._died()


def child_main(node_dir: str, opts: IngestOptions, inbox: Connection, outbox: Connection,
               log_config: tuple[str, str]) -> None:
    """The alert process (module docstring)."""
    from accord.logs import configure

    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the parent stops the
    # child (finish: the queued work done first), and a parent gone ends the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure(*log_config)
    try:
        asyncio.run(_child(node_dir, opts, inbox, outbox))
    except BaseException as exc:
        log.error("ingest: the alert process failed: %r", exc, extra={"event": "feed.alerts_failed"})
        try:
            outbox.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        raise SystemExit(1) from None


def _alerts_lock(node_dir: str, durable: str) -> int:
    fd = os.open(os.path.join(node_dir, f"ingest-{durable}.alerts.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)   # a child of a killed parent may still finish its commit
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def _child(node_dir: str, opts: IngestOptions, inbox: Connection, outbox: Connection) -> None:
    from accord.feeds.alert_path import AlertPath
    from accord.feeds.events import EventBridge
    from accord.feeds.ingest import Ingest
    from accord.feeds.jetstream import connect
    from accord.feeds.state import IngestStore
    from accord.node import Node
    from accord.warning.types import Prediction

    lock = await asyncio.to_thread(_alerts_lock, node_dir, opts.durable)
    node = Node.open(node_dir)
    nc = await connect(opts.url)
    bridge = EventBridge(node, opts.url, prefix=opts.prefix).start()   # wake the node's consoles
    if opts.quiet_gc:
        from accord.feeds.ingest import quiet_gc

        quiet_gc()   # this process is the ingest's too
    try:
        store = IngestStore(node, f"{opts.stream}/{opts.durable}")
        ing: Ingest | None = None
        await _publish(nc, node.party, opts.prefix, [node.get_item(i) for i in store.last_alert_items()])  # maybe lost
        taken, cpu0 = 0, None
        finish = abandon = False
        while True:
            rows = await asyncio.to_thread(store.pending_work, after=taken)
            if rows and ing is None:
                ing = Ingest(node, None, opts)   # the engine as of its last commit
            items: list[Item] = []
            start = time.perf_counter()
            for k, (seq, work) in enumerate(rows):
                assert ing is not None
                if cpu0 is None:
                    cpu0 = time.process_time()
                stored = node.get_items([i for ids, _ in work for i in ids])
                for ids, seconds in work:
                    items += ing.alert([Prediction.from_json(stored[i].body) for i in ids], list(seconds))
                taken = seq
                if k == len(rows) - 1 or time.perf_counter() - start >= AlertPath.COMMIT_S:
                    engine = json.dumps(ing.engine.snapshot(), sort_keys=True)
                    new = await asyncio.to_thread(store.commit_alerts, items, engine, ing.clock, seq)
                    outbox.send(("done", len(new), time.process_time() - cpu0))
                    await _publish(nc, node.party, opts.prefix, items)
                    items, start = [], time.perf_counter()
                    f, abandon = _drain(inbox)
                    finish = finish or f
                    if abandon:
                        break
            if abandon or (finish and not rows):   # finish: once a fresh read finds nothing queued
                break
            if not finish:
                f, abandon = await asyncio.to_thread(_wait, inbox)
                finish = finish or f
                if abandon:
                    break
    finally:
        bridge.stop()
        await nc.close()
        node.close()
        os.close(lock)


def _drain(inbox: Connection) -> tuple[bool, bool]:
    """(finish, abandon) from what the parent sent so far; the parent gone counts as abandon."""
    finish = False
    try:
        while inbox.poll(0):
            msg = inbox.recv()
            if msg == ABANDON:
                return finish, True
            finish = finish or msg == FINISH
    except (EOFError, OSError):
        return finish, True
    return finish, False


def _wait(inbox: Connection) -> tuple[bool, bool]:
    """Block until the parent sends something, then :func:`_drain`."""
    try:
        inbox.poll(None)
    except (EOFError, OSError):
        return False, True
    return _drain(inbox)


async def _publish(nc: Any, party: str, prefix: str, items: list[Item]) -> None:
    from accord.feeds.scans import warning_subject

    if not items:
        return
    for it in items:
        await nc.publish(warning_subject(prefix, party, it.kind), it.canonical(),
                         headers={"Nats-Msg-Id": it.id})
    await nc.flush()
