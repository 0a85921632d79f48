"""Keep a TAK destination fed: new items out as CoT, accepted CoT back in as reports.

:class:`Follower` runs one destination on an asyncio loop: it connects, then every ``poll_s`` reads
the items stored or received since the destination's cursor
(:func:`accord.tak.destination.new_items`), keeps those its policy allows
(:func:`accord.tak.destination.decide`), sends their events, and only then ledgers each send and
moves the cursor (:func:`accord.tak.destination.record_sent`, in a worker thread, in order, so that
the durable commit does not hold up the next poll). Nothing on the loop waits on the node's
database: the poll's read runs in a worker thread too (reads take the node's write lock, which a
write in another thread may hold through a lock wait), and so does each report's write. A crash
between the send and the ledger write sends those items again on restart: TAK replaces an event by
its UID, so a client sees the same picture. Within one read, only the newest update of each track
and of each track's prediction is sent (an older one would be replaced at once); a superseded item
is not ledgered as sent, since it was not. A lost connection is retried with backoff; what was not
sent waits behind the cursor. A connection the server closes or loses before :data:`STEADY_S` counts
as a failure too (each connection sends and ledgers the radars: a server closing every connection at
once made a reconnection storm that grew the ledger).

Radars do not move, so a radar's item is stored once; its event is sent with a stale time a day
later. The follower therefore sends the newest item of each radar it may send
(:func:`accord.tak.destination.radar_items`) again on each connection — a destination added
after the radars were stored, or a TAK server restarted, shows them — and every
:data:`RADAR_REFRESH_S` while connected, before they go stale.

CoT from the server whose type matches one of the destination's ``accept`` patterns becomes an item
of kind ``warning.report`` (originator: this node; marking: the destination's ``report_marking``)
holding the sender's callsign, position and remarks. A malformed, oversized or invalid event is
refused with one log line (at most :data:`REFUSED_LINES_PER_MINUTE` a minute, the rest counted)
and nothing stored; an event without a callsign, a stale one or one dated in the future is
refused too, and so is any report past :data:`REPORTS_PER_MINUTE` in a minute.
Events with Accord's own UIDs (``accord.…``) are never taken back in. The reader checks each event
on the loop and hands an accepted report to the connection's writer, which stores them one after
another, in the order read, each in a worker thread: a slow write (an SQLite lock wait, PostgreSQL
under load) does not stop the loop; the reader reads on, and the next poll waits for the database in
its thread. At most :data:`REPORTS_PER_MINUTE` wait for the writer (then the reader waits); when the
connection ends, what was accepted is stored first. A failed write ends the connection, said in one
line (event ``tak.store_failed``), and the follower connects again with backoff.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import fnmatch
import logging
import time
from dataclasses import dataclass
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.errors import AccordError
from accord.federation.backoff import backoff_delay
from accord.logs import Throttle
from accord.tak import destination as dst
from accord.tak.client import TakConnection
from accord.tak.cot import CotError, CotEvent, cot_time
from accord.tak.picture import Drawn, Stamp, item_events

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.tak")

FUTURE_SLACK = timedelta(minutes=5)
#: reports stored per destination in any 60 s (by the wall clock); more are refused. A TAK server
#: does not say who sent an event, and every report is an item and a ledger entry of the node
REPORTS_PER_MINUTE = 1200
#: seconds between sends of the radars while connected: half their stale time (a day)
RADAR_REFRESH_S = 43_200.0
#: refused events logged per destination in any minute; the others are counted (the next line says how many)
REFUSED_LINES_PER_MINUTE = 30
#: a connection that ends sooner (the server closed it, or it was lost) counts as a failure:
#: the next one waits out the backoff. Each connection sends and ledgers the radars, so a server
#: closing every connection at once was a reconnection storm growing the node's ledger
STEADY_S = 60.0
#: the longest wait between connections that each end before :data:`STEADY_S`
SHORT_BACKOFF_CAP_S = 60.0


@dataclass
class FollowerStats:
    items_sent: int = 0
    events_sent: int = 0
    denied: int = 0
    superseded: int = 0
    reports: int = 0
    refused: int = 0
    ignored: int = 0
    connects: int = 0


def coalesce(items: list[Item]) -> tuple[list[Item], int]:
    """The newest track and prediction item per track (later in the list = newer); every other
    item kept, order preserved. Returns the kept items and how many were dropped."""
    last: dict[tuple[str, str, str], int] = {}
    for i, item in enumerate(items):
        key = _track_key(item)
        if key is not None:
            last[key] = i
    kept = [item for i, item in enumerate(items) if (k := _track_key(item)) is None or last[k] == i]
    return kept, len(items) - len(kept)


def _track_key(item: Item) -> tuple[str, str, str] | None:
    if item.kind not in ("warning.track", "warning.prediction"):
        return None
    # the originator, as the events' UIDs: a partner's body naming another party as its
    # ``source`` would drop that party's own update as "superseded"
    return (item.kind, item.originator, str(item.body.get("track_id")))


class Follower:
    """Run one destination of ``node`` until :meth:`stop` (or for ever)."""

    def __init__(self, node: Node, name: str, *, poll_s: float = 0.02,
                 wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 clock: Callable[[], float] = time.monotonic) -> None:
        # events are stamped with the wall clock (TAK clients compare it with their own); the
        # policy runs at the node's clock; ``clock`` times the radars' refresh
        self.node, self.poll_s, self.wall, self.clock = node, poll_s, wall, clock
        self.dest = dst.get_destination(node, name)
        self.stats = FollowerStats()
        self._ledgering: asyncio.Task | None = None  # the previous send's ledger write, in a thread
        # alerted areas on the server, by incident (a Cancel deletes them): kept in the node
        # database with the cursor, so an all-clear after a restart still deletes them all
        self.drawn: Drawn = dst.drawn_areas(node, name)
        self._taken: collections.deque[datetime] = collections.deque()  # when the last reports were accepted
        self._refused_lines = Throttle(REFUSED_LINES_PER_MINUTE)
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        failures = 0
        read_failures = 0   # connections in a row whose reading failed (not reset by connecting)
        short = 0   # connections in a row that ended before STEADY_S (the server closed or lost them)
        ended: str | None
        while not self._stop.is_set():
            try:
                conn = await TakConnection.open(self.dest.server)
            except AccordError as exc:
                failures += 1
                log.warning("TAK %s: %s", self.dest.name, exc, extra={"event": "tak.unreachable"})
                await self._sleep(backoff_delay(failures))
                continue
            failures = 0
            self.stats.connects += 1
            self.connected.set()
            # accepted reports wait here for the writer; the reader waits when a minute's worth do
            reports: asyncio.Queue[Item | None] = asyncio.Queue(REPORTS_PER_MINUTE)
            reader = asyncio.create_task(self._receive(conn, reports))
            writer = asyncio.create_task(self._store_reports(reports))
            opened, ended = time.monotonic(), None   # ended: how the connection ended, if not stopped
            try:
                radars_sent = None
                while not self._stop.is_set() and not reader.done() and not writer.done():
                    radars = radars_sent is None or self.clock() - radars_sent >= RADAR_REFRESH_S
                    if radars:
                        radars_sent = self.clock()
                    await self.send_new(conn, radars=radars)
                    await self._sleep(self.poll_s)
                if reader.done() and not self._stop.is_set() and reader.exception() is None:
                    ended = "the server closed the connection"   # its stream ended
            except (OSError, ConnectionError) as exc:
                ended = f"connection lost: {exc}"
            finally:
                self.connected.clear()
                if self._ledgering is not None:
                    await self._ledgering  # every send made is ledgered before the follower stops
                reader.cancel()
                (outcome,) = await asyncio.gather(reader, return_exceptions=True)
                stored = await _finish(writer, reports)  # every report accepted is stored first
                await conn.close()
            if isinstance(outcome, Exception):   # a bug in reading: said, and not retried at once
                read_failures += 1
                log.error("TAK %s: reading the connection failed: %s: %s; reconnecting", self.dest.name,
                          type(outcome).__name__, str(outcome)[:200], extra={"event": "tak.read_failed"})
                await self._sleep(backoff_delay(read_failures))
            elif isinstance(stored, Exception):   # the store refused a write: said, and not retried at once
                read_failures += 1
                lost = sum(item is not None for item in _drain(reports))
                log.error("TAK %s: storing a report failed: %s: %s; %d accepted report(s) not stored; reconnecting",
                          self.dest.name, type(stored).__name__, str(stored)[:200], lost,
                          extra={"event": "tak.store_failed"})
                await self._sleep(backoff_delay(read_failures))
            else:
                read_failures = 0
                if ended is not None:
                    lived = time.monotonic() - opened
                    short = short + 1 if lived < STEADY_S else 0
                    await self._ended(ended, lived, short)

    async def _ended(self, what: str, lived: float, short: int) -> None:
        """A connection the server closed, or that was lost, after ``lived`` seconds: one line
        (event ``tak.closed`` or ``tak.lost``) and the backoff of ``short`` connections in a row
        that each ended before :data:`STEADY_S` (none after a steady one) before the next."""
        wait = backoff_delay(short, cap=SHORT_BACKOFF_CAP_S)
        event = "tak.lost" if what.startswith("connection lost") else "tak.closed"
        log.warning("TAK %s: %s after %.1f s; connecting again in %.1f s", self.dest.name, what, lived, wait,
                    extra={"event": event})
        await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def send_new(self, conn: TakConnection, *, radars: bool = False) -> int:
        """Send what is new since the cursor — with ``radars``, first the newest item of each radar
        the destination may have (module docstring) —; ledger it; return the number of items sent."""
        # the reads and the policy's look-ups wait on the node's lock: in a thread, off the loop
        allowed, denied, cursor, radar_items = await asyncio.to_thread(self._select, self.dest, radars)
        sent = await self._send(conn, radar_items, self.dest.cursor) if radar_items else 0
        if cursor == self.dest.cursor:
            return sent
        self.stats.denied += denied
        kept, dropped = coalesce(allowed)
        self.stats.superseded += dropped
        return sent + await self._send(conn, kept, cursor)

    async def _send(self, conn: TakConnection, kept: list[Item], cursor: int) -> int:
        """Send the events of ``kept``, then ledger them and move the cursor to ``cursor``."""
        stamp = Stamp(self.wall(), self.dest.stale_s)
        sent: list[tuple[Item, list[str]]] = []
        events: list[CotEvent] = []
        for item in kept:
            try:
                evs = item_events(item, stamp, self.drawn)
            except AccordError as exc:
                log.warning("TAK %s: item %s has no picture: %s", self.dest.name, item.id, exc)
                continue
            if evs:
                sent.append((item, [e.uid for e in evs]))
                events += evs
        if events:
            await conn.send(events)
        elif cursor == self.dest.cursor:
            return 0   # nothing sent, the cursor stays: nothing to ledger
        drawn = self._drawn_snapshot() if any(item.kind == "warning.alert" for item in kept) else None
        # the ledger write (a durable commit) runs in a thread so the next poll is not held behind
        # it; writes stay in order, each after the one before
        previous, dest = self._ledgering, self.dest

        async def ledger() -> None:
            if previous is not None:
                await previous
            await asyncio.to_thread(dst.record_sent, self.node, dest, sent, cursor, drawn)

        self._ledgering = asyncio.create_task(ledger())
        self.dest = dataclasses.replace(self.dest, cursor=cursor)
        self.stats.items_sent += len(sent)
        self.stats.events_sent += len(events)
        return len(sent)

    def _drawn_snapshot(self) -> Drawn:
        """A copy of the areas drawn now, the oldest incidents past MAX_DRAWN_INCIDENTS forgotten."""
        for incident in list(self.drawn)[:max(0, len(self.drawn) - dst.MAX_DRAWN_INCIDENTS)]:
            del self.drawn[incident]
        return {incident: dict(areas) for incident, areas in self.drawn.items()}

    def _select(self, dest: dst.Destination, radars: bool = False) -> tuple[list[Item], int, int, list[Item]]:
        """The items new since ``dest``'s cursor that its policy allows, how many it denied, the
        cursor past them and, with ``radars``, the radars' newest items it may have (in a worker
        thread: one hop off the loop for a poll)."""
        items, cursor = dst.new_items(self.node, dest)
        fresh = {item.id for item in items}   # a radar new since the cursor goes once, with the new items
        radar_items = [r for r in dst.radar_items(self.node, dest) if r.id not in fresh] if radars else []
        if cursor == dest.cursor:
            return [], 0, cursor, radar_items
        allowed = [item for item in items if dst.decide(self.node, item, dest).allowed]
        return allowed, len(items) - len(allowed), cursor, radar_items

    async def _receive(self, conn: TakConnection, reports: asyncio.Queue[Item | None]) -> None:
        async for event in conn.events():
            if isinstance(event, CotError):
                self._refused(event)
                continue
            try:
                item = self.accept_report(event)
            except CotError as exc:
                self._refused(exc)
                continue
            if item is not None:
                await reports.put(item)

    def _refused(self, exc: CotError) -> None:
        """Count a refused event; one line for it unless :data:`REFUSED_LINES_PER_MINUTE` were
        logged in the minute (then the next line says how many were passed over): what a server
        sends is hostile, and a refusal costs it 11 bytes."""
        self.stats.refused += 1
        self._refused_lines.log(log, logging.WARNING, "TAK %s: refused: %s", self.dest.name, exc,
                                extra={"event": "tak.refused"})

    async def _store_reports(self, reports: asyncio.Queue[Item | None]) -> None:
        """Store the reports the reader accepted, in order, each in a worker thread, until ``None``."""
        while (item := await reports.get()) is not None:
            await asyncio.to_thread(self.node.put_item, item)
            self._stored(item)

    def take_report(self, event: CotEvent) -> Item | None:
        """Store ``event`` as a ``warning.report`` if a rule accepts it (``None`` otherwise), in
        the calling thread (:meth:`run` hands the write to a worker thread instead)."""
        item = self.accept_report(event)
        if item is not None:
            self.node.put_item(item)
            self._stored(item)
        return item

    def accept_report(self, event: CotEvent) -> Item | None:
        """The ``warning.report`` item ``event`` becomes if a rule accepts it (``None`` if none
        does; :class:`CotError` if it is refused), not yet stored; it counts towards the minute's
        :data:`REPORTS_PER_MINUTE` from now."""
        d = self.dest
        if event.uid.startswith("accord.") or not any(fnmatch.fnmatchcase(event.type, p) for p in d.accept):
            self.stats.ignored += 1
            return None
        now = self.wall()
        src = d.server.url
        if not event.callsign:
            raise CotError("a report needs the sender's callsign (detail/contact@callsign)", source=src,
                           field="detail.contact.callsign")
        if event.stale <= now:
            raise CotError(f"stale since {cot_time(event.stale)}", source=src, field="stale")
        if event.time > now + FUTURE_SLACK:
            raise CotError(f"dated {cot_time(event.time)}, in the future", source=src, field="time")
        body = {"source": "tak", "destination": d.name, "server": src, "uid": event.uid,
                "cot_type": event.type, "how": event.how, "callsign": event.callsign,
                "time": cot_time(event.time), "stale": cot_time(event.stale), "lat_deg": event.lat,
                "lon_deg": event.lon, "hae_m": event.hae, "ce_m": event.ce, "le_m": event.le,
                "remarks": event.remarks or ""}
        while self._taken and self._taken[0] <= now - timedelta(seconds=60):
            self._taken.popleft()
        if len(self._taken) >= REPORTS_PER_MINUTE:
            raise CotError(f"more than {REPORTS_PER_MINUTE} reports in a minute from the server", source=src,
                           field="rate")
        assert d.report_marking is not None  # add_destination requires it with accept rules
        # created = the event's own time: the same event relayed twice is the same item
        item = new_item(dst.REPORT_KIND, body, Marking.parse(d.report_marking), self.node.party, event.time)
        self._taken.append(now)
        return item

    def _stored(self, item: Item) -> None:
        self.stats.reports += 1
        b = item.body
        log.info("TAK %s: report %s from %s stored as %s", self.dest.name, b["cot_type"], b["callsign"], item.id,
                 extra={"event": "tak.report", "item_id": item.id})


async def _finish(writer: asyncio.Task[None], reports: asyncio.Queue[Item | None]) -> BaseException | None:
    """With the reader done, let ``writer`` store what is queued and end; its failure, if any."""
    if not writer.done():
        end = asyncio.ensure_future(reports.put(None))
        await asyncio.wait((end, writer), return_when=asyncio.FIRST_COMPLETED)
        end.cancel()   # the writer failed before taking the end: nothing will
    outcome: tuple[BaseException | None] = await asyncio.gather(writer, return_exceptions=True)
    return outcome[0]


def _drain(reports: asyncio.Queue[Item | None]) -> list[Item | None]:
    out = []
    while not reports.empty():
        out.append(reports.get_nowait())
    return out
