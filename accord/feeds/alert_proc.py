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
in hand, the rest staying queued for the next run. A child that dies (killed, or failed) is
started again by the parent, after a backoff, at most ``--alert-restarts`` times within ten
minutes (:class:`AlertProcess`); one more death makes the parent fail with one line at its next
batch. Crash safety is the database's: whatever was killed, the next child (restarted, or the
next run's) restores the engine as of its last commit and redoes the work still queued — the
same alerts, none twice. One child per consumer at a time: it holds
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

from accord.errors import AccordError, StoreUnavailable

if TYPE_CHECKING:
    from accord.core.identity import Identity
    from accord.core.items import Item
    from accord.feeds.ingest import Ingest, IngestOptions

log = logging.getLogger("accord.feeds.ingest")

FINISH, ABANDON = "finish", "abandon"


class AlertProcessDied(AccordError):
    """The alert process ended before the ingest told it to, more often than it may be restarted."""


RESTART_WINDOW_S = 600.0
"""The restarts counted against ``restarts`` (:class:`AlertProcess`) are those of the last ten minutes."""

BACKOFF_S, BACKOFF_CAP_S = 1.0, 30.0
"""The n-th restart within the window waits ``BACKOFF_S * 2**(n-1)`` seconds, at most ``BACKOFF_CAP_S``."""


def how_it_ended(exitcode: int | None) -> str:
    """A child's exit status in words: its exit code, or the signal that killed it."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class AlertProcess:
    """The parent's handle on the alert process: the same calls as :class:`AlertPath`.

    A supervising thread reads what the child sends and, should the child end unexpectedly
    (killed, or failed), starts a new one (one warning line each, with how the child ended),
    after a backoff: at most ``restarts`` times within :data:`RESTART_WINDOW_S`. The new child
    restores the engine from its last commit and does the work still queued, so the alerts are
    those of an uninterrupted run. One more death within the window makes :meth:`check` raise
    :class:`AlertProcessDied` (one line), and the ingest stops as it did before it restarted
    anything."""

    def __init__(self, ingest: Ingest, log_config: tuple[str, str] = ("info", "text"), *,
                 restarts: int = 3, window_s: float = RESTART_WINDOW_S) -> None:
        self.ingest, self.log_config = ingest, log_config
        self.max_restarts, self.window_s = restarts, window_s
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0          # the children's, from their first work to their last commit
        self._cpu_before = 0.0          # that of the children that ended
        self.restarts = 0               # children started again after one ended unexpectedly
        self._recent: list[float] = []  # monotonic times of the restarts within the window
        self._deaths_since_commit = 0   # children that ended unexpectedly since the last commit
        self._lock = threading.Lock()   # the current child and its pipe; the two flags below
        self._finishing = self._abandoning = False
        self._stop = threading.Event()  # abandon: cut a backoff short
        self._start()
        self._reader = threading.Thread(target=self._supervise, name="accord-ingest-alerts-reader", daemon=True)
        self._reader.start()

    def _start(self) -> None:
        """Start a child (under ``_lock``, or before the supervising thread runs)."""
        ctx = multiprocessing.get_context("spawn")
        child_in, self._out = ctx.Pipe(duplex=False)   # parent → child: sequences, finish, abandon
        self._in, child_out = ctx.Pipe(duplex=False)   # child → parent: commits and CPU time
        self.proc = ctx.Process(target=child_main, name="accord-ingest-alerts", daemon=True,
                                args=(str(self.ingest.node.dir), self.ingest.opts, child_in, child_out,
                                      self.log_config))
        self.proc.start()
        child_in.close()
        child_out.close()

    def put(self, seq: int, work: list[Any]) -> None:
        """The batch up to ``seq`` queued work (in the database): wake the child."""
        with self._lock:
            try:
                self._out.send(seq)
            except (BrokenPipeError, OSError):
                pass   # the child ended: the supervisor starts another, which reads the queue anew

    def check(self) -> None:
        """Raise the alert process's failure (past its restarts) in the consumer's loop."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Have the child do all queued work, then stop (blocking: call from a worker thread)."""
        self.check()
        with self._lock:
            self._finishing = True
            try:
                self._out.send(FINISH)
            except (BrokenPipeError, OSError):
                pass   # a new child is told to finish as it starts
        self._reader.join()
        self.check()

    def abandon(self) -> None:
        """Stop the child after the commit in hand (the rest stays queued for next time)."""
        with self._lock:
            self._abandoning = True
            self._stop.set()
            proc, out = self.proc, self._out
        if proc.is_alive():
            try:
                out.send(ABANDON)
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()   # it ignores SIGTERM
                proc.join(timeout=10)
        out.close()
        self._reader.join(timeout=10)

    def _supervise(self) -> None:
        """Run :meth:`_watch`; should it fail itself, the ingest fails (not a silent success
        with work left undone), and the parent's end of the pipe is closed either way."""
        try:
            self._watch()
        except BaseException as e:  # noqa: BLE001 - any failure here must stop the ingest
            self.error = AlertProcessDied(f"the alert process's supervisor failed: {e!r}; "
                                          "its queued work is kept: restart the ingest to do it")
            log.error("ingest: %s", self.error, extra={"event": "feed.alerts_failed"})
        finally:
            try:
                self._in.close()
            except OSError:
                pass

    def _watch(self) -> None:
        """Read the child's messages; when it ends unexpectedly, restart it or give up: past
        ``restarts`` restarts within the window, or ``restarts`` + 1 deaths with no commit in
        between however far apart (a child that fails the same way, slowly, every time)."""
        while True:
            failure = self._read()
            self.proc.join(timeout=30)
            if self.proc.is_alive():   # its pipe closed, the process still there: end it
                self.proc.kill()
                self.proc.join(timeout=10)
            self._cpu_before = self.cpu_seconds
            code = self.proc.exitcode
            with self._lock:
                if self._abandoning or (code == 0 and failure is None and self._finishing):
                    return
            ended = f"the alert process (pid {self.proc.pid}) ended unexpectedly ({how_it_ended(code)}" + (
                f": {failure})" if failure else ")")
            now = time.monotonic()
            self._recent = [t for t in self._recent if now - t < self.window_s]
            self._deaths_since_commit += 1
            if len(self._recent) >= self.max_restarts or self._deaths_since_commit > self.max_restarts:
                self.error = AlertProcessDied(
                    f"{ended}, after {len(self._recent)} restart(s) within {self.window_s:g} s and "
                    f"{self._deaths_since_commit - 1} since its last commit (--alert-restarts {self.max_restarts}); "
                    "its queued work is kept: restart the ingest to do it")
                log.error("ingest: %s", self.error, extra={"event": "feed.alerts_failed", "exitcode": code,
                                                             "restarts": self.restarts})
                return
            self._recent.append(now)
            wait = min(BACKOFF_S * 2 ** (len(self._recent) - 1), BACKOFF_CAP_S)
            log.warning("ingest: %s; restarting it in %g s (restart %d of %d within %g s); it resumes from "
                        "its last commit", ended, wait, len(self._recent), self.max_restarts, self.window_s,
                        extra={"event": "feed.alerts_restarted", "exitcode": code, "restarts": self.restarts + 1})
            if self._stop.wait(wait):
                return
            with self._lock:
                if self._abandoning:
                    return
                self._in.close()
                self._out.close()
                self._start()
                self.restarts += 1
                if self._finishing:
                    try:
                        self._out.send(FINISH)
                    except (BrokenPipeError, OSError):
                        pass
            try:
                self.ingest.store.count_alert_restart()   # the node's /metrics, across runs
            except StoreUnavailable as exc:   # a database blip: a metric, not a reason to stop the ingest
                # (failing here would close the pipe under the child just started, which would
                # then say the ingest is gone while it stops with this error)
                log.warning("ingest: the alert process's restart is not counted in the node's metrics: %s", exc,
                            extra={"event": "store.unavailable", "error": str(exc)})

    def _read(self) -> str | None:
        """The current child's messages until it ends; its failure, if it sent one."""
        failure = None
        while True:
            try:
                msg = self._in.recv()
            except (EOFError, OSError):
                return failure
            if msg[0] == "done":
                self._deaths_since_commit = 0
                _, stored, cpu = msg
                self.cpu_seconds = self._cpu_before + cpu
                self.ingest.counted(stored)
            elif msg[0] == "error":
                failure = str(msg[1])


def child_main(node_dir: str, opts: IngestOptions, inbox: Connection, outbox: Connection,
               log_config: tuple[str, str]) -> None:
    """The alert process (module docstring)."""
    from accord.logs import configure

    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the parent stops the
    # child (finish: the queued work done first), and a parent gone ends the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
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
    from accord.feeds.nats_connect import connect
    from accord.feeds.state import IngestStore
    from accord.node import Node
    from accord.warning.types import Prediction

    lock = await asyncio.to_thread(_alerts_lock, node_dir, opts.durable)
    node = Node.open(node_dir)
    nc = await connect(opts.url, party=node.party, role="ingest")   # the ingest's own user
    bridge = EventBridge(node, opts.url, prefix=opts.prefix).start()   # wake the node's consoles
    if opts.quiet_gc:
        from accord.feeds.ingest import quiet_gc

        quiet_gc()   # this process is the ingest's too
    try:
        store = IngestStore(node, f"{opts.stream}/{opts.durable}")
        ing: Ingest | None = None
        await _publish(nc, node.identity, opts.prefix, [node.get_item(i) for i in store.last_alert_items()])  # maybe lost
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
                    try:
                        outbox.send(("done", len(new), time.process_time() - cpu0))
                    except OSError:  # BrokenPipeError: the ingest is gone (killed); this commit is made
                        _orphaned()
                        abandon = True
                    await _publish(nc, node.identity, opts.prefix, items)
                    if abandon:
                        break
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


def _orphaned() -> None:
    """Say, once, that the ingest went away without telling its alert process (killed): the
    parent's end of the pipe is closed only after the child has stopped otherwise."""
    log.warning("ingest: the ingest process is gone; its alert process stops after its last "
                "commit (the work still queued waits for the next run)",
                extra={"event": "feed.alerts_orphaned"})


def _drain(inbox: Connection) -> tuple[bool, bool]:
    """(finish, abandon) from what the parent sent so far; the parent gone counts as abandon
    (:func:`_orphaned`)."""
    finish = False
    try:
        while inbox.poll(0):
            msg = inbox.recv()
            if msg == ABANDON:
                return finish, True
            finish = finish or msg == FINISH
    except (EOFError, OSError):
        _orphaned()
        return finish, True
    return finish, False


def _wait(inbox: Connection) -> tuple[bool, bool]:
    """Block until the parent sends something, then :func:`_drain`."""
    try:
        inbox.poll(None)
    except (EOFError, OSError):
        _orphaned()
        return False, True
    return _drain(inbox)


async def _publish(nc: Any, identity: Identity, prefix: str, items: list[Item]) -> None:
    """Publish ``items`` signed by the node's key (:mod:`accord.feeds.signed`)."""
    from accord.feeds.signed import publish_items

    if not items:
        return
    await publish_items(nc, identity, prefix, items)
    await nc.flush()
