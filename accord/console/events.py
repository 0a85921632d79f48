"""What ``GET /console/events`` streams: the node's audit ledger, read as an event log.

Design (chosen over an in-process bus with a replay buffer): every item the node stores or
receives is already an ``item.created`` / ``item.received`` ledger entry with a dense, durable
leaf index, written in the same transaction as the item. So the stream's event id *is* the
ledger index: a browser that reconnects with ``Last-Event-ID: N`` gets every entry after ``N``
— after a dropped connection, a server restart, or from another serving process on the same
database — and nothing can be lost between "stored" and "announced", because there is no second
write (a client further behind than :data:`REPLAY` entries gets the last :data:`REPLAY`, after
a ``reload`` event: :func:`bounded_start`). A stream does not poll: it waits on the node's event
bus (:mod:`accord.node.bus`), which says "the ledger grew" after each committed write in this
process, and reads the new entries then; it also reads at least every :data:`CHECK_SECONDS` (one indexed read of the ledger's size),
which catches writes made by another process on the same database and checks the session.

A page notes the ledger's last index before it reads anything and opens
``/console/events?after=<that index>``, so what is stored while the page renders, or before its
stream starts, arrives too.

Each entry becomes at most one event, filtered for the viewer (:meth:`Viewer.sees`): ``item``
events carry the item's id, kind, originator, marking, creation time and a one-line summary (never
the body); a node-party viewer with the ``status`` scope also gets ``ledger`` events (sharing,
refusals, agreements: ids and reasons only, as the ledger holds them) and, every
:data:`STATUS_SECONDS`, a ``status`` snapshot of the partners (no id: a snapshot is not replayed).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sse_starlette.sse import ServerSentEvent

from accord.console.boards import alert_areas
from accord.console.i18n import LANGS
from accord.console.view import BANNER_CLASS, Viewer
from accord.errors import InputError
from accord.federation.schema import write_lock

if TYPE_CHECKING:
    from accord.node import Node

CHECK_SECONDS = 1.0  # a stream reads the ledger at least this often without a wake-up (other processes' writes)
GATHER_SECONDS = 0.1  # after a wake-up, wait this long so that a burst of commits is read at once
STATUS_SECONDS = 5.0
BATCH = 500
MAX_STREAMS = 4  # open streams per session (a few tabs); more are answered 429
MAX_TOKEN_STREAMS = 8  # open streams per token across its sessions (a token may hold 10 sessions)
REPLAY = 1000  # ledger entries one stream replays at most; from further back it skips to the last REPLAY
SEND_SECONDS = 30.0  # a stream whose client has not taken a write for this long ends (it stopped reading)
ITEM_EVENTS = ("item.created", "item.received")


@dataclass(frozen=True)
class ConsoleEvent:
    event: str
    data: dict[str, Any]
    id: int | None = None

    def json(self) -> str:
        """``data`` as JSON, encoded once: an item's event is shared by every stream."""
        return self._json

    def wire(self) -> bytes:
        """The event in SSE's wire form (encoded once, like :meth:`json`)."""
        return self._wire

    @cached_property
    def _json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))

    @cached_property
    def _wire(self) -> bytes:
        return ServerSentEvent(data=self.json(), event=self.event, id=str(self.id) if self.id is not None else None).encode()


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else empty: a body's parts are a partner's JSON, and a
    ``payload`` of ``[1]`` or an ``object`` of ``"x"`` made the event of every stream that read
    it raise, ending those streams at the same entry on every reconnection."""
    return value if isinstance(value, dict) else {}


def summary(item: Any) -> str:
    """One line saying what an item is, from fields every kind's body has (never secrets)."""
    b = _dict(item.body)
    if item.kind == "warning.alert":
        return f"{b.get('msgType', '?')} {b.get('incident', '')} — {', '.join(alert_areas(b))}"
    if item.kind in ("warning.track", "warning.prediction"):
        return " ".join(str(b[k]) for k in ("track_id", "phase") if k in b)
    if item.kind == "warning.radar":
        return str(b.get("id", ""))
    if item.kind == "intel.stix":
        obj = _dict(b.get("object", b))
        return f"{obj.get('type', '?')} {obj.get('name', obj.get('id', ''))}"
    if item.kind.startswith("dialogue."):
        state = _dict(_dict(b.get("payload")).get("state"))
        return " ".join(str(state[k]) for k in ("id", "status", "text", "title") if k in state)[:200]
    return ""


def item_event(item: Any, index: int, lang: str = "en") -> ConsoleEvent:
    data = {
        "id": item.id, "kind": item.kind, "originator": item.originator,
        "marking": str(item.marking), "level": BANNER_CLASS[item.marking.classification],
        "rel": sorted(item.marking.rel_to), "tlp": item.marking.tlp, "caveats": list(item.marking.caveats),
        "created": item.created.isoformat().replace("+00:00", "Z"), "summary": summary(item),
    }
    if item.kind == "warning.alert" and isinstance(item.body, dict):  # for the alerts board's incident tables
        from accord.console.boards import area_names

        names = area_names(lang)
        b = item.body
        data["alert"] = {"incident": f"{item.originator}:{b.get('incident', '?')}", "msgType": b.get("msgType"),
                         "reason": b.get("reason"), "areas": [names.get(c, c) for c in alert_areas(b)]}
    if item.kind == "warning.track" and isinstance(item.body, dict):  # for the picture's tracks table
        data["track"] = {"track_id": str(item.body.get("track_id", "")), "phase": item.body.get("phase")}
    if item.kind == "dialogue.commitment" and isinstance(item.body, dict):  # for the dialogue board's rows
        payload = _dict(item.body.get("payload"))
        state = _dict(payload.get("state"))
        data["commitment"] = {"id": state.get("id"), "status": state.get("status"), "owner": state.get("owner"),
                              "version": payload.get("version")}
    return ConsoleEvent("item", data, index)


class EventLog:
    """The ledger entries of one node as the streams read them, decoded once for all of them:
    each entry with its item (``None`` for other entries, or an item no longer stored), and each
    item's event per UI language, kept for the last :data:`CACHE` entries read. A node's streams
    all read the same new entries when its ledger grows, so five consoles cost one decode, not five.
    Ledger entries never change; an item is immutable by id, and a retraction (an
    ``item.retracted`` entry) empties the cache, so a retracted item is not served from it."""

    CACHE = 4096

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._events: dict[tuple[int, str], ConsoleEvent] = {}

    def read(self, last: int, limit: int = BATCH) -> list[tuple[Any, Any]]:
        """(entry, item or None) for the entries after index ``last`` (at most ``limit``)."""
        node = self.node
        with write_lock(node):
            size = node.ledger.size
        end = min(size, last + 1 + limit)
        if end <= last + 1:
            return []
        with self._lock:
            if all(i in self._entries for i in range(last + 1, end)):
                return [self._entries[i] for i in range(last + 1, end)]
        with write_lock(node):
            entries = node.ledger.entries(last + 1, end)
            wanted = [e.data["item_id"] for e in entries if e.type in ITEM_EVENTS and "item_id" in e.data]
            items = node.get_items(wanted) if wanted else {}
        out = [(e, items.get(e.data.get("item_id", "")) if e.type in ITEM_EVENTS else None) for e in entries]
        with self._lock:
            if any(e.type == "item.retracted" for e in entries):
                self._entries.clear()
                self._events.clear()
            for pair in out:
                self._entries[pair[0].index] = pair
            while len(self._entries) > self.CACHE:
                index, _ = self._entries.popitem(last=False)
                for lang in LANGS:
                    self._events.pop((index, lang), None)
        return out

    def item_event(self, item: Any, index: int, lang: str) -> ConsoleEvent:
        key = (index, lang)
        with self._lock:
            event = self._events.get(key)
        if event is None:
            event = item_event(item, index, lang)
            with self._lock:
                if index in self._entries:
                    self._events[key] = event
        return event


def read_after(node: Node, viewer: Viewer, last: int, *, limit: int = BATCH, lang: str = "en",
               log: EventLog | None = None) -> tuple[list[ConsoleEvent], int]:
    """Events for ``viewer`` from ledger entries after index ``last``; and the last index read.
    ``log``: the node's shared :class:`EventLog` (a throwaway one if None)."""
    log = log or EventLog(node)
    pairs = log.read(last, limit)
    out: list[ConsoleEvent] = []
    # an item needs items:read; a retracted or never stored one has nothing to show. Filtered
    # for the viewer all at once (one look-up of a partner's redacted versions for the batch)
    seen = {i.id for i in viewer.visible(node, [item for e, item in pairs if item is not None
                                                and e.type in ITEM_EVENTS and "item_id" in e.data])
            } if viewer.may("items:read") else set()
    for e, item in pairs:
        if e.type in ITEM_EVENTS and "item_id" in e.data:
            if item is not None and item.id in seen:
                out.append(log.item_event(item, e.index, lang))
        elif not viewer.partner and viewer.may("status"):
            out.append(ConsoleEvent("ledger", {"type": e.type, "data": e.data,
                                               "time": e.time.isoformat().replace("+00:00", "Z")}, e.index))
    return out, pairs[-1][0].index if pairs else last


def encode(events: list[ConsoleEvent]) -> bytes:
    """The SSE wire form of ``events``, one chunk (one write to the connection for a batch)."""
    return b"".join(e.wire() for e in events)


_INDEX = re.compile(r"-?[0-9]{1,19}")


def start_index(node: Node, last_event_id: str | None, after: str | None) -> int:
    """Where a stream starts: after ``Last-Event-ID`` (a reconnect), else after ``?after=`` (the
    page's ledger size at render), else at the current end.

    Only ASCII decimal integers of at most 19 digits count. A malformed ``?after=`` is the
    caller's mistake: :class:`~accord.errors.InputError` (a 400). A malformed ``Last-Event-ID``
    is treated as absent — it is whatever id the browser last saw, and a bad one must not stop a
    reconnect."""
    if last_event_id is not None and _INDEX.fullmatch(last_event_id.strip()):
        return max(-1, int(last_event_id.strip()))
    if after is not None:
        if not _INDEX.fullmatch(after.strip()):
            raise InputError(f"after must be a ledger index (an integer of at most 19 digits), "
                             f"not {after[:40]!r}")
        return max(-1, int(after.strip()))
    with write_lock(node):
        return node.ledger.size - 1


def bounded_start(node: Node, last: int) -> tuple[int, int]:
    """``last`` if at most :data:`REPLAY` entries follow it, else the index :data:`REPLAY`
    entries before the ledger's end; and how many entries that skips. ``?after=-1`` or
    ``Last-Event-ID: 0`` asked for the whole ledger, as often as a client reconnected: one stream
    now replays at most the last :data:`REPLAY` entries (held by :class:`EventLog`'s cache once
    read), after a ``reload`` event telling the page that its board is older than that."""
    with write_lock(node):
        size = node.ledger.size
    first = size - 1 - REPLAY
    return (last, 0) if last >= first else (first, first - last)
