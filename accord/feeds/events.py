"""A node's event bus carried between the processes that serve it, over NATS.

Each process serving a node has its own :class:`~accord.node.bus.EventBus`: a write committed in
the process publishes ``ledger`` (``{"first", "count"}``: which leaf indices it appended) and
the console's streams wake on it and read the new entries from the ledger. With several
processes on one database (``node serve --workers N``, ``--join``, several machines on
PostgreSQL, ``warning ingest`` beside them), an :class:`EventBridge` in each process carries the
events across:

* every event published on the local bus is sent to NATS on ``<prefix>.<party>.events.<topic>``
  (core NATS, not a JetStream stream: a wake-up is worth nothing later, and a lost one costs at
  most the console's once-a-second read);
* every event received on ``<prefix>.<party>.events.>`` from *another* process (each bridge names
  itself with a random ``source``) is published on the local bus with ``via: "nats"`` — which the
  bridge does not send back out.

Only the wake-up travels (topic, leaf indices, the sender's random id), never an item, a marking or
a party's data: what a console shows is still read from the node's ledger and store with the
viewer's permissions, so the NATS cluster learns when the node wrote, not what. A message that
is not such a wake-up (too long, not JSON, other fields, a topic the node does not publish) is
dropped and logged (at most 30 lines a minute, the next one carrying the count passed over).

The bridge runs its own thread and event loop (a server's or the ingest's loop is not held up by
NATS), reconnects for as long as it runs, and fails to start with one line naming the URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from accord.errors import ConfigError, InputError
from accord.feeds.nats_connect import inbox_prefix, nats_servers, nats_shown
from accord.feeds.scans import check_prefix, check_token
from accord.logs import Throttle
from accord.node.bus import TOPICS, VIA, BusEvent

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.feeds.events")

MAX_MESSAGE = 1024  # bytes: a wake-up is a few dozen


def events_subject(prefix: str, party: str, topic: str | None = None) -> str:
    """``<prefix>.<party>.events.<topic>`` (``.>``: every topic)."""
    return f"{check_prefix(prefix)}.{check_token(party, 'party')}.events." + (
        ">" if topic is None else check_token(topic, "topic"))


def parse_wakeup(raw: bytes) -> tuple[str, dict[str, int], str]:
    """(topic, data, source) of a bridge message, or :class:`ValueError` saying what is wrong."""
    if len(raw) > MAX_MESSAGE:
        raise ValueError(f"{len(raw)} bytes (a wake-up is at most {MAX_MESSAGE})")
    try:
        msg = json.loads(raw)
    except RecursionError:   # 1,024 bytes of '[' nest deeper than the decoder's recursion limit
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(msg, dict) or set(msg) != {"topic", "data", "source"}:
        raise ValueError("not an object with exactly topic, data and source")
    topic, data, source = msg["topic"], msg["data"], msg["source"]
    if not isinstance(topic, str) or not isinstance(source, str):
        raise ValueError("topic and source must be strings")
    try:
        check_token(topic, "topic")
    except InputError as exc:
        raise ValueError(str(exc)) from None
    if topic not in TOPICS:  # a topic from outside would be a metrics series and a dict entry for good
        raise ValueError(f"topic {topic[:40]!r} is not one this node publishes ({', '.join(sorted(TOPICS))})")
    if not isinstance(data, dict) or len(data) > 8 or not all(
            isinstance(k, str) and type(v) is int for k, v in data.items()):
        raise ValueError("data must be an object of at most 8 integer fields")
    return topic, data, source


class EventBridge:
    """Carries ``node``'s bus events to and from the node's other processes (module docstring).

    ``with EventBridge(node, url, prefix=…):`` (or :meth:`start` / :meth:`stop`)."""

    def __init__(self, node: Node, url: str, *, prefix: str = "accord", connect_timeout: float = 5.0) -> None:
        self.node, self.url, self.prefix = node, url, prefix
        self.subject_all = events_subject(prefix, node.party)
        self.source = secrets.token_hex(8)  # this process's bridge, so that it skips its own echo
        self.connect_timeout = connect_timeout
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self._bad_lines = Throttle(30)  # a flood of bad messages is a count, not a flood of lines
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: Any = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._last_error = -1e9

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> EventBridge:
        """Connect and subscribe (in the bridge's thread); :class:`ConfigError` if NATS cannot be
        reached within ``connect_timeout``."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main(ready, failure))
            finally:
                loop.close()
                ready.set()

        self._thread = threading.Thread(target=run, name=f"accord-events-{self.node.party}", daemon=True)
        self._thread.start()
        if not ready.wait(self.connect_timeout + 5):
            failure.append(TimeoutError("no answer"))
        if failure:
            self.stop()
            exc = failure[0]
            raise ConfigError(f"cannot connect to NATS at {nats_shown(self.url)}: {exc or type(exc).__name__}")
        self._unsubscribe = self.node.bus.subscribe(self._on_local)
        log.info("event bridge on %s (NATS %s)", self.subject_all, nats_shown(self.url),
                 extra={"event": "events.bridge_started"})
        return self

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop has already ended
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> EventBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the bridge's loop -------------------------------------------------------------------
    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        import nats

        self._stop = asyncio.Event()
        try:
            await _probe(self.url, self.connect_timeout)  # the first connection fails, rather than retrying forever
            nc = await nats.connect(nats_servers(self.url), connect_timeout=self.connect_timeout, allow_reconnect=True,
                                    max_reconnect_attempts=-1, reconnect_time_wait=1, error_cb=self._error,
                                    name=f"accord-events-{self.node.party}",
                                    inbox_prefix=inbox_prefix(self.node.party, "events"))
            await nc.subscribe(self.subject_all, cb=self._on_message)
            await nc.flush(timeout=max(1, int(self.connect_timeout)))
        except Exception as exc:  # nats-py raises several kinds (OSError, NoServersError, timeouts)
            failure.append(exc)
            ready.set()
            return
        self._nc = nc
        ready.set()
        await self._stop.wait()
        self._nc = None
        try:
            await nc.drain()
        except Exception:  # noqa: BLE001 - closing: nothing left to do about it
            await nc.close()

    async def _error(self, exc: Exception) -> None:
        """nats-py's error callback (its default prints a traceback per failed reconnect)."""
        now = asyncio.get_running_loop().time()
        if now - self._last_error >= 60:  # one line a minute while NATS is away
            self._last_error = now
            log.warning("event bridge: NATS at %s: %s (reconnecting)", nats_shown(self.url), exc or type(exc).__name__,
                        extra={"event": "events.nats_error"})

    def _on_local(self, event: BusEvent) -> None:
        """A local bus event (any thread): sent to NATS unless a bridge brought it."""
        if VIA in event.data or self._loop is None:
            return
        payload = json.dumps({"topic": event.topic, "data": event.data, "source": self.source},
                             separators=(",", ":")).encode()
        try:
            self._loop.call_soon_threadsafe(self._send, events_subject(self.prefix, self.node.party, event.topic),
                                            payload)
        except RuntimeError:  # the bridge's loop has ended
            pass

    def _send(self, subject: str, payload: bytes) -> None:
        nc = self._nc
        if nc is None:
            return
        task = asyncio.ensure_future(nc.publish(subject, payload))
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            self.dropped += 1  # NATS away: the other processes' streams catch up on their timer
        else:
            self.sent += 1

    async def _on_message(self, msg: Any) -> None:
        try:
            topic, data, source = parse_wakeup(msg.data)
        except ValueError as exc:
            self.dropped += 1
            allowed, passed = self._bad_lines.allow()
            if allowed:
                log.warning("event bridge: dropped a message on %s: %s%s", msg.subject, exc,
                            f" ({passed} more passed over)" if passed else "",
                            extra={"event": "events.bad_message", "suppressed": passed})
            return
        if source == self.source:
            return  # our own, echoed back by the server
        self.received += 1
        self.node.bus.publish(topic, {**data, VIA: "nats"})


async def _probe(url: str, timeout: float) -> None:
    import nats

    async def quiet(_exc: Exception) -> None:  # the caller reports the failure, in one line
        return None

    nc = await nats.connect(nats_servers(url), connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=1,
                            error_cb=quiet)
    await nc.close()


def check_nats(url: str, timeout: float = 5.0) -> None:
    """:class:`ConfigError` naming ``url`` unless a NATS server answers there (before forking
    workers that would each fail on their own)."""
    try:
        asyncio.run(_probe(url, timeout))
    except Exception as exc:  # nats-py raises several kinds (OSError, NoServersError, timeouts)
        raise ConfigError(f"cannot connect to NATS at {nats_shown(url)}: {exc or type(exc).__name__}") from None
