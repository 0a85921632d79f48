"""The alert engine of ``accord warning ingest`` off the track path, on a thread of its own
(:class:`AlertPath`)."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.core.items import Item
    from accord.feeds.ingest import Ingest

log = logging.getLogger("accord.feeds.ingest")


class AlertPath:
    """The alert engine off the track path, on a thread of its own: a batch's tracks and
    predictions are committed, published and acknowledged without waiting for it.

    The work (each scan's predictions and the seconds it completed) is queued in the database
    in the batch's own transaction (:meth:`IngestStore.commit`) and here in memory; the thread
    feeds it to the engine in stream order and commits the alert items, the engine's state and
    the work taken off in one transaction (:meth:`IngestStore.commit_alerts`), then publishes
    them. After a crash the engine is restored as of its last commit and the work still queued
    in the database is done first: the same alerts, none twice. What is queued when it gets to
    it is done in commits of up to ``COMMIT_S`` of work each."""

    COMMIT_S = 0.1

    def __init__(self, ingest: Ingest, nc: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.ingest, self.nc, self.loop = ingest, nc, loop
        self.queue: queue.Queue[tuple[int, list[tuple[list[Any], list[int]]]] | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="accord-ingest-alerts", daemon=True)
        self.thread.start()

    def put(self, seq: int, work: list[tuple[list[Any], list[int]]]) -> None:
        self.queue.put((seq, work))

    def check(self) -> None:
        """Raise the alert path's failure in the consumer's loop."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Do what is queued, then stop (blocking: call from a worker thread)."""
        self.queue.put(None)
        self.thread.join()
        self.check()

    def abandon(self) -> None:
        """Stop after the work in hand (the queued rest stays in the database for next time)."""
        if self.thread.is_alive():
            while True:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break
            self.queue.put(None)
            self.thread.join(timeout=60)

    def _run(self) -> None:
        ing = self.ingest
        try:
            stop = False
            while not stop:
                entry = self.queue.get()
                if entry is None:
                    break
                # the queued batches' work, one commit for as many as take COMMIT_S at most
                items: list[Item] = []
                start = time.perf_counter()
                while True:
                    seq, work = entry
                    for preds, seconds in work:
                        items += ing.alert(preds, seconds)
                    if time.perf_counter() - start >= self.COMMIT_S:
                        break
                    try:
                        nxt = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    entry = nxt
                engine = json.dumps(ing.engine.snapshot(), sort_keys=True)
                new = ing.store.commit_alerts(items, engine, ing.clock, seq)
                ing.counted(len(new))
                if items:
                    asyncio.run_coroutine_threadsafe(self._publish(items), self.loop).result()
        except BaseException as exc:  # raised in the consumer's loop (check)
            self.error = exc
            log.error("ingest: the alert path failed: %r", exc, extra={"event": "feed.alerts_failed"})

    async def _publish(self, items: list[Item]) -> None:
        await self.ingest.publish(self.nc, items)
        await self.nc.flush()
