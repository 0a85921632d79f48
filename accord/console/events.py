"""What ``GET /console/events`` streams: the node's audit ledger, read as an event log.

Design (chosen over an in-process bus with a replay buffer): every item the node stores or
receives is already an ``item.created`` / ``item.received`` ledger entry with a dense, durable
leaf index, written in the same transaction as the item. So the stream's event id *is* the
ledger index: a browser that reconnects with ``Last-Event-ID: N`` gets every entry after ``N``
— after a dropped connection, a server restart, or from another serving process on the same
database — and nothing can be lost between "stored" and "announced", because there is no second
write. The cost is polling: each open stream reads the ledger's size every
:data:`POLL_SECONDS` (one indexed read) and the new entries when it grew.

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
from dataclasses import dataclass
from typing import Any

from accord.console.view import BANNER_CLASS, Viewer
from accord.errors import AccordError, InputError
from accord.federation.schema import write_lock

POLL_SECONDS = 0.2
STATUS_SECONDS = 5.0
BATCH = 500
MAX_STREAMS = 4  # open streams per session (a few tabs); more are answered 429
ITEM_EVENTS = ("item.created", "item.received")


@dataclass(frozen=True)
class ConsoleEvent:
    event: str
    data: dict[str, Any]
    id: int | None = None

    def json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))


def summary(item: Any) -> str:
    """One line saying what an item is, from fields every kind's body has (never secrets)."""
    b = item.body if isinstance(item.body, dict) else {}
    if item.kind == "warning.alert":
        return f"{b.get('msgType', '?')} {b.get('incident', '')} — {', '.join(b.get('areas', []))}"
    if item.kind in ("warning.track", "warning.prediction"):
        return " ".join(str(b[k]) for k in ("track_id", "phase") if k in b)
    if item.kind == "warning.radar":
        return str(b.get("id", ""))
    if item.kind == "intel.stix":
        obj = b.get("object", b)
        return f"{obj.get('type', '?')} {obj.get('name', obj.get('id', ''))}"
    if item.kind.startswith("dialogue."):
        state = (b.get("payload") or {}).get("state") or {}
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
                         "reason": b.get("reason"), "areas": [names.get(c, c) for c in b.get("areas", [])]}
    if item.kind == "dialogue.commitment" and isinstance(item.body, dict):  # for the dialogue board's rows
        payload = item.body.get("payload") or {}
        state = payload.get("state") or {}
        data["commitment"] = {"id": state.get("id"), "status": state.get("status"), "owner": state.get("owner"),
                              "version": payload.get("version")}
    return ConsoleEvent("item", data, index)


def read_after(node: Any, viewer: Viewer, last: int, *, limit: int = BATCH,
               lang: str = "en") -> tuple[list[ConsoleEvent], int]:
    """Events for ``viewer`` from ledger entries after index ``last``; and the last index read."""
    with write_lock(node):
        size = node.ledger.size
        if size <= last + 1:
            return [], last
        entries = node.ledger.entries(last + 1, min(size, last + 1 + limit))
    out: list[ConsoleEvent] = []
    for e in entries:
        if e.type in ITEM_EVENTS and "item_id" in e.data:
            try:
                with write_lock(node):
                    item = node.get_item(e.data["item_id"])
            except AccordError:  # retracted or never stored: nothing to show
                continue
            if viewer.may("items:read") and viewer.sees(node, item):  # an item needs items:read
                out.append(item_event(item, e.index, lang))
        elif not viewer.partner and viewer.may("status"):
            out.append(ConsoleEvent("ledger", {"type": e.type, "data": e.data,
                                               "time": e.time.isoformat().replace("+00:00", "Z")}, e.index))
    return out, entries[-1].index if entries else last


_INDEX = re.compile(r"-?[0-9]{1,19}")


def start_index(node: Any, last_event_id: str | None, after: str | None) -> int:
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
