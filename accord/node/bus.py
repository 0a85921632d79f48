"""The node's in-process event bus: "something was committed", for whoever waits on it.

Every ledger append on a node (an item stored or received, a share, an agreement, a refusal …)
publishes one small :class:`BusEvent` on topic ``"ledger"`` once the write is committed: its data
says which leaf indices were added (``first``, ``count``), never what they hold. A subscriber that
wants the entries reads them from the ledger, through the library, with the permissions of whoever
it serves; the bus carries wake-ups, not data, so nothing can reach a subscriber that the ledger
would not give it, and a missed or spurious wake-up loses nothing (the next read catches up).

Interface (small on purpose, so that a bridge can carry it to another process, e.g. over NATS):

* :meth:`EventBus.publish` (``topic``, ``data``): from any thread, never blocks; subscribers'
  callbacks run in the publisher's thread and must be quick (set a flag, schedule a task).
* :meth:`EventBus.subscribe` (``callback``, ``topics``) → an ``unsubscribe`` function.
* :meth:`EventBus.waker` (``topics``): for asyncio code, ``async with bus.waker() as w:`` then
  ``await w.wait(timeout)``; the callback hands the wake-up to the waiting loop with
  ``loop.call_soon_threadsafe`` (writes happen in worker threads).

"Once committed": a node's writes hold its :class:`CommitLock` (``node.write_lock``) across their
transaction, so the node queues what it has to publish with :meth:`CommitLock.after_release`
and the lock publishes it when its outermost holder lets go, after the commit. A write that
rolls back still publishes (a wake-up with nothing new to read).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LEDGER = "ledger"  # data: {"first": leaf index, "count": how many were appended}
TOPICS = frozenset({LEDGER})  # every topic a node publishes: a bridge brings in no other
VIA = "via"  # a data key set by a bridge on the events it brings from another process ("nats")


@dataclass(frozen=True)
class BusEvent:
    topic: str
    data: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[BusEvent], None]


class EventBus:
    """Publish/subscribe within one process; thread-safe (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, tuple[Callback, frozenset[str] | None]] = {}
        self._next = 0
        self.published: dict[tuple[str, str], int] = {}  # (topic, source) -> events: "local", or the VIA

    def subscribe(self, callback: Callback, topics: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``topics`` (every topic if None); returns a
        function that ends the subscription (calling it twice is harmless)."""
        wanted = None if topics is None else frozenset(topics)
        with self._lock:
            key = self._next
            self._next += 1
            self._subs[key] = (callback, wanted)

        def unsubscribe() -> None:
            with self._lock:
                self._subs.pop(key, None)

        return unsubscribe

    def publish(self, topic: str, data: dict[str, Any] | None = None) -> None:
        """Hand ``BusEvent(topic, data)`` to every subscriber of ``topic``. A subscriber that raises
        is logged and skipped: a publisher (a write that has committed) never fails because of it."""
        event = BusEvent(topic, dict(data or {}))
        source = str(event.data.get(VIA, "local"))
        with self._lock:
            self.published[(topic, source)] = self.published.get((topic, source), 0) + 1
            subs = [cb for cb, topics in self._subs.values() if topics is None or topic in topics]
        for cb in subs:
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - one subscriber's bug must not reach the writer
                log.exception("event bus subscriber failed on %s", topic)

    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def waker(self, topics: Iterable[str] | None = None) -> Waker:
        """An asyncio wake-up for ``topics``: use as ``async with bus.waker() as w``."""
        return Waker(self, topics)


class Waker:
    """Wakes a coroutine on the event loop it was entered in when an event of its topics is
    published, from any thread. Wake-ups coalesce: many events before :meth:`wait` returns
    count as one; what happened is for the woken code to read from the ledger."""

    def __init__(self, bus: EventBus, topics: Iterable[str] | None) -> None:
        self._bus, self._topics = bus, topics
        self._flag = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def _on_event(self, _event: BusEvent) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._flag.set)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    async def __aenter__(self) -> Waker:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self._bus.subscribe(self._on_event, self._topics)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._loop = None

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for an event (True) or ``timeout`` seconds (False); either way the flag is reset,
        so the next wait waits for an event published after this one returned."""
        try:
            if timeout is None:
                await self._flag.wait()
            else:
                await asyncio.wait_for(self._flag.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._flag.clear()


class CommitLock:
    """A re-entrant lock (the node's write lock) that runs queued callbacks when its outermost
    holder releases it: writes commit inside the lock, so what is queued runs after the commit.
    It behaves as :class:`threading.RLock` for ``with``, ``acquire`` and ``release``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self._pending: list[Callable[[], None]] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ok = self._lock.acquire(blocking, timeout)
        if ok:
            self._owner = threading.get_ident()
            self._depth += 1
        return ok

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._depth -= 1
        pending: list[Callable[[], None]] = []
        if self._depth == 0:
            self._owner = None
            pending, self._pending = self._pending, []
        self._lock.release()
        for fn in pending:
            try:
                fn()
            except Exception:  # noqa: BLE001 - the write has committed: report, do not raise
                log.exception("after-commit callback failed")

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def owned(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    def after_release(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the calling thread's outermost hold ends (now, if it holds none)."""
        if self.owned():
            self._pending.append(fn)
        else:
            fn()
