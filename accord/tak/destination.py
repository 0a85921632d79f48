"""A node's standing TAK destinations: where they are, what may go there, what is new for them.

A destination names a TAK server, the party ``P`` whose recipient it is treated as, the item
kinds it takes (``fnmatch`` patterns such as ``warning.*``), optionally a classification ceiling
(a server on a network cleared for less), and the rules for CoT coming back (:mod:`.follower`).
It is kept in the node database (table ``tak_destinations``), with a cursor into the ledger: the
items stored or received after it (``item.created`` / ``item.received``) are the ones still to
consider.

**Policy** (:func:`decide`): an item goes to a destination for party ``P`` only if its kind
matches, it is at or under the ceiling, and

* ``P`` is a partner: ``node.decide(item, P)`` allows it — exactly what sharing the item with
  partner ``P`` would need (its marking releases it to ``P``, an agreement in force covers its
  kind and classification from its originator to ``P``);
* ``P`` is the node's own party (its own forces' TAK server): its marking releases it to ``P`` —
  no ``REL TO`` (national), or ``P`` in it — and it is not ``TLP:RED``.

An item not releasable to ``P`` never leaves. Each send is ledgered (``item.sent_tak``).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.items import Item
from accord.core.markings import Classification, Marking
from accord.core.parties import party_problem
from accord.core.policy import NO, OK, VERDICT, Decision, Reason
from accord.errors import AccordError, ConfigError, InputError, NotFoundError
from accord.store.base import ensure_schema
from accord.tak.client import TakServer
from accord.tak.cot import TYPE_RE
from accord.tak.picture import Drawn

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.tak")

SENT_EVENT = "item.sent_tak"
REPORT_KIND = "warning.report"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tak_destinations (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,    -- JSON: server, tls files, party, kinds, ceiling, stale_s, accept, report_marking
    cursor     INTEGER NOT NULL, -- next ledger index to read
    added      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tak_drawn (
    destination TEXT PRIMARY KEY, -- a tak_destinations name
    areas       TEXT NOT NULL     -- JSON: incident → {uid: [lat, lon]}, the alerted areas drawn on its server
);
"""

#: the most incidents whose areas a destination remembers (the oldest drawn is forgotten first;
#: its areas fade on the clients at their CAP expiry): a partner issuing alert after alert with
#: new incident ids cannot grow the node's memory or its database without bound
MAX_DRAWN_INCIDENTS = 1_000


@dataclass(frozen=True)
class Destination:
    name: str
    server: TakServer
    party: str
    kinds: tuple[str, ...]
    max_classification: Classification | None = None
    stale_s: float = 10.0
    accept: tuple[str, ...] = ()          # CoT type patterns that become warning.report items
    report_marking: str | None = None     # the marking those reports get
    cursor: int = 0

    def config_json(self) -> dict[str, Any]:
        s = self.server
        return {"server": s.url, "cert": s.cert, "key": s.key, "ca": s.ca, "insecure": s.insecure,
                "party": self.party, "kinds": list(self.kinds),
                "max_classification": self.max_classification.name if self.max_classification is not None else None,
                "stale_s": self.stale_s, "accept": list(self.accept), "report_marking": self.report_marking}

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.config_json(), "cursor": self.cursor}

    @classmethod
    def from_row(cls, name: str, config: str, cursor: int) -> "Destination":
        c = json.loads(config)
        server = TakServer.parse(c["server"], cert=c.get("cert"), key=c.get("key"), ca=c.get("ca"),
                                 insecure=bool(c.get("insecure")))
        ceiling = Classification.parse(c["max_classification"]) if c.get("max_classification") else None
        return cls(name, server, c["party"], tuple(c["kinds"]), ceiling, float(c["stale_s"]),
                   tuple(c.get("accept") or ()), c.get("report_marking"), cursor)


def _ready(node: Node) -> None:
    with node.write_lock:
        ensure_schema(node.conn, SCHEMA)


def add_destination(node: Node, dest: Destination, *, from_start: bool = False) -> Destination:
    """Store ``dest`` (its name must be new). Items stored from now on go there (or, with
    ``from_start``, every item the node holds). Plain TCP off loopback is ledgered first."""
    _ready(node)
    problem = party_problem(dest.party, what="--party")
    if problem:
        raise InputError(problem, field="party")
    if dest.party != node.party and dest.party not in node.partners():
        raise NotFoundError(f"{dest.party} is neither this node's party ({node.party}) nor a pinned partner; "
                            "a TAK destination is treated as a partner's recipient")
    if not dest.kinds:
        raise InputError("name the item kinds to send (--kinds 'warning.*')", field="kinds")
    for pattern in dest.accept:
        if not TYPE_RE.fullmatch(pattern.replace("*", "x").replace("?", "x")):
            raise InputError(f"{pattern!r} is not a CoT type pattern such as 'b-r-f-h-c' or 'a-n-G*'",
                             field="accept")
    if dest.accept:
        if not dest.report_marking:
            raise InputError("accepting CoT reports needs the marking they get (--report-marking)",
                             field="report_marking")
        Marking.parse(dest.report_marking)
    if not 1.0 <= dest.stale_s <= 86400.0:
        raise InputError(f"stale must be 1 s to 1 day, got {dest.stale_s}", field="stale")
    if node.conn.execute("SELECT 1 FROM tak_destinations WHERE name = ?", (dest.name,)).fetchone():
        raise ConfigError(f"a TAK destination named {dest.name!r} exists already (remove it first)")
    if dest.server.insecure and not dest.server.tls and not dest.server.loopback:
        node.record_plain_http({"use": "tak", "name": dest.name, "url": dest.server.url})
    cursor = 0 if from_start else node.ledger.size
    with node.write_lock:
        with node.conn:
            node.conn.execute("INSERT INTO tak_destinations(name, config, cursor, added) VALUES (?,?,?,?)",
                              (dest.name, json.dumps(dest.config_json()), cursor, to_rfc3339(node.clock.now())))
    return get_destination(node, dest.name)


def destinations(node: Node) -> list[Destination]:
    _ready(node)
    rows = node.conn.execute("SELECT name, config, cursor FROM tak_destinations ORDER BY name").fetchall()
    out = []
    for name, config, cursor in rows:
        try:
            out.append(Destination.from_row(name, config, cursor))
        except (AccordError, KeyError, ValueError) as exc:
            raise ConfigError(f"TAK destination {name!r} in the node database: {exc}") from None
    return out


def get_destination(node: Node, name: str) -> Destination:
    for d in destinations(node):
        if d.name == name:
            return d
    raise NotFoundError(f"no TAK destination named {name!r} on node {node.party}")


def remove_destination(node: Node, name: str) -> Destination:
    dest = get_destination(node, name)
    with node.write_lock:
        with node.conn:
            node.conn.execute("DELETE FROM tak_destinations WHERE name = ?", (name,))
            node.conn.execute("DELETE FROM tak_drawn WHERE destination = ?", (name,))
    return dest


def drawn_areas(node: Node, name: str) -> Drawn:
    """The alerted areas destination ``name`` has drawn and no Cancel has deleted yet, as
    :func:`record_sent` last recorded them (empty if none, or if the record does not read)."""
    _ready(node)
    row = node.conn.execute("SELECT areas FROM tak_drawn WHERE destination = ?", (name,)).fetchone()
    if row is None:
        return {}
    try:
        data = json.loads(row[0])
        return {str(incident): {str(uid): (float(lat), float(lon)) for uid, (lat, lon) in areas.items()}
                for incident, areas in data.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("TAK %s: the record of drawn areas does not read (%s); an all-clear deletes only "
                    "the areas it names until the next alert", name, str(exc)[:200],
                    extra={"event": "tak.drawn_unreadable"})
        return {}


def decide(node: Node, item: Item, dest: Destination) -> Decision:
    """May ``item`` go to ``dest``? (module docstring; default deny, with reasons)."""
    if not any(fnmatch.fnmatchcase(item.kind, k) for k in dest.kinds):
        return Decision(False, (Reason(NO, "kind", f"destination {dest.name} takes {', '.join(dest.kinds)}, not {item.kind}"),))
    level = item.marking.classification
    if dest.max_classification is not None and level > dest.max_classification:
        return Decision(False, (Reason(NO, "ceiling", f"{item.kind} is {level.banner}, above destination {dest.name}'s "
                                           f"ceiling {dest.max_classification.banner}"),))
    if dest.party != node.party:
        return node.decide(item, dest.party)
    m = item.marking
    if m.tlp == "RED":
        return Decision(False, (Reason(NO, "marking", "marked TLP:RED, which is never released through automated sharing"),))
    if m.rel_to and dest.party not in m.rel_to:
        return Decision(False, (Reason(NO, "marking", f"marking {m} does not release it to {dest.party}"),))
    return Decision(True, (Reason(OK, "marking", f"marking {m} releases it to {dest.party} (the node's own party)"),
                           Reason(VERDICT, "decision", f"ALLOW: {item.id} → TAK {dest.name}")))


def new_items(node: Node, dest: Destination, *, limit: int = 5000) -> tuple[list[Item], int]:
    """Items stored or received after ``dest``'s cursor (oldest first) and the cursor past them."""
    from accord.core.canonical import parse_json_strict

    with node.write_lock:
        rows = node.conn.execute(
            "SELECT idx, leaf FROM ledger_leaves WHERE idx >= ? AND type IN ('item.created', 'item.received') "
            "ORDER BY idx LIMIT ?", (dest.cursor, limit)).fetchall()
        end = (rows[-1][0] + 1 if len(rows) == limit else
               node.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves").fetchone()[0])
    items = []
    for _, leaf in rows:
        data = parse_json_strict(bytes(leaf)).get("data") or {}
        kind = str(data.get("kind", ""))
        if any(fnmatch.fnmatchcase(kind, k) for k in dest.kinds):
            try:
                items.append(node.get_item(data["item_id"]))
            except (NotFoundError, KeyError):  # pragma: no cover - an event without its item
                continue
    return items, max(end, dest.cursor)


#: the newest radar items read for :func:`radar_items` (a node's radars are a handful of items each)
RADAR_SCAN = 1_000


def radar_items(node: Node, dest: Destination) -> list[Item]:
    """The newest ``warning.radar`` item of each radar (by originator and radar ``id``) among the
    node's newest :data:`RADAR_SCAN`, that ``dest`` may have (:func:`decide`), in the order each
    radar's first item was made. As the console's picture, an item whose body is not a radar (a
    warning-file header sensor) is left out (:func:`accord.warning.tracking.sensors.latest_radars`):
    it could not be drawn, and it does not hide the radar's newest item that can."""
    if not any(fnmatch.fnmatchcase("warning.radar", k) for k in dest.kinds):
        return []
    from accord.warning.tracking.sensors import latest_radars

    newest = latest_radars(node.items("warning.radar", newest=RADAR_SCAN))
    return [item for item in newest.values() if decide(node, item, dest).allowed]


def record_sent(node: Node, dest: Destination, sent: list[tuple[Item, list[str]]], cursor: int,
                drawn: Drawn | None = None) -> None:
    """Ledger one ``item.sent_tak`` per item sent (with the UIDs of its events) and move the
    cursor, in one transaction; with ``drawn``, record the areas drawn after this send (what
    :func:`drawn_areas` reads when the destination's follower starts again)."""
    from accord.store.base import transaction

    now = node.clock.now()
    with node.write_lock:
        with transaction(node.conn):
            node.ledger.append_many([(SENT_EVENT, {"item_id": item.id, "kind": item.kind, "digest": item.digest(),
                                                   "destination": dest.name, "party": dest.party,
                                                   "server": dest.server.url, "uids": uids}, now)
                                     for item, uids in sent])
            node.conn.execute("UPDATE tak_destinations SET cursor = ? WHERE name = ?", (cursor, dest.name))
            if drawn is not None:
                node.conn.execute("INSERT INTO tak_drawn(destination, areas) VALUES (?, ?) ON CONFLICT(destination) "
                                  "DO UPDATE SET areas = excluded.areas", (dest.name, json.dumps(drawn)))
