"""What the alerts board and the live picture read of kinds that are kept for good (alerts,
radars): each originator's newest items of the kind, a bounded number of them, through the
``items_by_kind_originator`` index (node migration 5) — never every item of the kind the node
ever stored.

Every alert and radar item was read and decoded for each view of the board and each drawing of
the picture (~15–18 ms of CPU a page at 200,000 items stored, growing without bound, any
console user's to ask, the picture once a second while items arrive). Now a page reads at most
:data:`ORIGINATORS` × :data:`ALERTS_PER_ORIGINATOR` alerts and :data:`ORIGINATORS` ×
:data:`RADARS_PER_ORIGINATOR` radar items, and, the bound being per originator, a party that
floods a kind does not push the others' items off the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.console.routes.common import Console
    from accord.console.view import Viewer

ORIGINATORS = 16
"""The originators of a kind a page reads (in order; the node's own party always among them)."""

ALERTS_PER_ORIGINATOR = 300
"""The newest alert messages (``warning.alert`` items) read of each originator: its incidents on
the alerts board and its alerted areas on the picture."""

RECENT = timedelta(hours=2)
"""Every alert message an originator stored this long before its newest one is read, beyond
:data:`ALERTS_PER_ORIGINATOR`: an open incident is at most a missile's flight old (under an
hour), so a salvo's burst of newer messages never pushes a still-open incident off the board
(a quiet incident's last message may be many messages back)."""

RECENT_MAX = 1_000
"""At most this many alert messages of one originator are read even within :data:`RECENT`."""

RADARS_PER_ORIGINATOR = 100
"""The newest ``warning.radar`` items read of each originator (the picture draws the latest of
each radar among them)."""


@dataclass
class Newest:
    items: list[Any]  # what the viewer may see of them, oldest first
    cut: bool  # some originator has more than were read, or more originators were left out


def still_open(messages: list[Any], per: int) -> list[Any]:
    """Of alert messages oldest first: the newest ``per``, and before them only those of the
    incidents whose latest message here is not a Cancel — the closed incidents beyond the newest
    ``per`` are what the board leaves out (a page of every incident of a busy window cost ~1 s)."""
    last: dict[str, Any] = {}
    for m in messages:
        last[str(m.body.get("incident"))] = m.body.get("msgType")
    older, newer = messages[:-per] if per else messages, messages[-per:] if per else []
    return [m for m in older if last[str(m.body.get("incident"))] != "Cancel"] + newer


def newest(c: Console, v: Viewer, kind: str, per: int, *, until: datetime | None = None,
           recent: timedelta | None = None) -> Newest:
    """The newest ``per`` items of ``kind`` (created by ``until``) of each of the first
    :data:`ORIGINATORS` originators, and the node's own party, that ``v`` may see; with
    ``recent`` (alert messages), also the messages of each incident still open among an
    originator's created within ``recent`` of its newest (at most :data:`RECENT_MAX` read:
    :func:`still_open`)."""
    node = c.node
    parties = node.originators(kind, ORIGINATORS + 1)
    cut = len(parties) > ORIGINATORS
    parties = parties[:ORIGINATORS]
    if node.party not in parties and cut:
        parties[-1] = node.party
    out: list[Any] = []
    for party in parties:
        read = node.items(kind=kind, originator=party, until=until, newest=per + 1)
        if recent is not None and len(read) > per and read[0].created >= read[-1].created - recent:
            since = read[-1].created - recent
            read = node.items(kind=kind, originator=party, since=since, until=until, newest=RECENT_MAX + 1)
            cut = cut or len(read) > RECENT_MAX or bool(
                node.items(kind=kind, originator=party, until=since - timedelta(milliseconds=1), newest=1))
            kept = still_open(read[-RECENT_MAX:], per)
            cut = cut or len(kept) < min(len(read), RECENT_MAX)
            out += kept
            continue
        cut = cut or len(read) > per
        out += read[-per:]
    with c.lock:
        v.settle(node, out)
    out = v.visible(node, out)
    out.sort(key=lambda i: (i.created, i.id))
    return Newest(out, cut)
