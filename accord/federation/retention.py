"""Retention: what the outbox must keep, and pruning the rest.

The outbox holds each sealed envelope a partner was sent. What must be kept:

* **every row not acknowledged yet** (``queued``) — a partner's catch-up needs exactly these, and
  they are never pruned, however old;
* an acknowledged row (``delivered``, or ``rejected`` by the partner's checks) only for the
  retention window, ``keep`` (:data:`DEFAULT_KEEP`): within it, a partner restored from a backup
  that asks again for numbers it had acknowledged is re-sent them from the rows
  (:func:`accord.federation.outbox.apply_ack`); past it, :func:`refill` seals them again from
  the ledger and the items, so even an older backup is caught up.

Nothing else needs the acknowledged rows: the ledger already records each share
(``item.shared`` with the item, partner and sequence number, which is how a retraction finds
every partner an item went to), the items themselves stay in the node's ``items`` table, the
sequence counters live in ``fed_out_seq``, and the status totals survive in
``fed_partner_state.pruned_delivered`` / ``pruned_rejected``. So :func:`prune` deletes
acknowledged rows older than ``keep`` and nothing in the ledger changes (``accord ledger
verify`` passes before and after). ``accord node prune`` runs it once; ``accord node serve``
runs it every :data:`PRUNE_INTERVAL` seconds. The outbox then holds the backlog plus at most
``keep`` worth of traffic, whatever the node has sent before.

The inbox (``fed_inbox``: one row per partner envelope number used up, with the envelope's
digest) is pruned too, by :func:`prune_inbox`, on its own window :data:`INBOX_KEEP`. A row
answers a resent envelope as ``duplicate`` (or as the refusal it had) instead of ``replay``;
that matters only while the envelope could still be accepted, and an envelope is refused as
``expired`` once its timestamp is more than ``MAX_AGE`` (7 days) old. So rows received more than
``MAX_AGE`` + a day ago go, except each originator's highest number, which is where its stream
resumes (``next_seq``). Should a sender whose acknowledgement was lost resend such an old
envelope anyway, it is refused as a ``replay`` without using a number, the sender seals the item
again under a new one (:func:`accord.federation.outbox.apply_ack`), and the receiver, finding
the item held, answers ``duplicate``: nothing is stored twice. ``fed_received`` (one row per item
received: originator, id, digest) is kept: it is what makes that last step a duplicate and a
different item under a held id a ``conflict``, for as long as the item is held — and items are
never deleted, so it grows with the ``items`` table, not with traffic.

``fed_rejections`` (one row per refused envelope or request: time, sender, number, code, reason)
is pruned by :func:`prune_rejections` on a window of its own, :data:`REJECTIONS_KEEP` by default
(the inbox's: 8 days). Each refusal is also an ``item.rejected`` ledger event, which stays; the
rows serve ``accord node status`` (the total, which counts the pruned rows from
``fed_rejections_pruned``, and the latest ones). A row whose envelope number still has its
``fed_inbox`` row is kept, however old: a resent envelope under that number is answered with the
refusal's code, read from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import duration_text, to_rfc3339
from accord.core.items import Item
from accord.errors import InputError
from accord.federation.inbox import MAX_AGE
from accord.federation.schema import ensure_node_schema
from accord.federation.schema import write_lock
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

DEFAULT_KEEP = timedelta(hours=1)

REFILL_CHUNK = 500
"""The most pruned envelopes one acknowledgement seals again (:func:`refill`): a partner that
asks again from ``next_seq=1`` is caught up a chunk per round, never in one transaction holding
the write lock for the whole history."""

REWIND_LOG_EVERY = timedelta(hours=1)
"""A rewind larger than a chunk is logged (``outbox.rewind``, warning) at most this often per partner."""

_rewind_logged: dict[tuple[str, str], Any] = {}
"""How long acknowledged envelopes stay in the outbox by default: a partner restored from a
backup up to this old is refilled from it. At 50 items/s that is ~180,000 rows (~160 MB)."""

INBOX_KEEP = MAX_AGE + timedelta(days=1)
"""How long a used-up partner envelope number's row stays in ``fed_inbox`` (:func:`prune_inbox`):
past the age at which the envelope itself is refused as expired (``MAX_AGE``, 30 s of clock skew
allowed), with a day to spare."""

REJECTIONS_KEEP = INBOX_KEEP
"""How long a ``fed_rejections`` row stays by default (:func:`prune_rejections`): the inbox's window."""

PRUNE_INTERVAL = 60.0
"""Seconds between two prunes while a node serves."""

CHUNK = 5000
"""Rows deleted per transaction, so that pruning never holds the node's write lock for long."""


@dataclass(frozen=True)
class PruneResult:
    cutoff: str                       # rows acknowledged at or before this instant were pruned
    delivered: dict[str, int]         # per partner: delivered rows pruned
    rejected: dict[str, int]          # per partner: rows the partner refused, pruned
    kept_queued: int                  # unacknowledged rows, all kept
    kept_acknowledged: int            # acknowledged rows still inside the window
    inbox: dict[str, int] = field(default_factory=dict)  # per originator: inbox rows pruned
    rejections: int = 0               # fed_rejections rows pruned

    @property
    def pruned(self) -> int:
        return sum(self.delivered.values()) + sum(self.rejected.values())

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "pruned": self.pruned, "delivered": self.delivered,
                "rejected": self.rejected, "kept_queued": self.kept_queued,
                "kept_acknowledged": self.kept_acknowledged, "inbox_pruned": self.inbox,
                "rejections_pruned": self.rejections}


def prune(node: Node, keep: timedelta = DEFAULT_KEEP, rejections_keep: timedelta = REJECTIONS_KEEP) -> PruneResult:
    """Delete the outbox rows acknowledged ``keep`` or more ago (see the module docstring);
    unacknowledged rows are never touched; then the inbox rows past :data:`INBOX_KEEP` and the
    ``fed_rejections`` rows past ``rejections_keep``. Returns what was pruned and what is kept."""
    if keep < timedelta(0):
        raise InputError(f"retention {keep} must not be negative", field="keep")
    ensure_node_schema(node)
    conn = node.conn
    now = node.clock.now()
    cutoff = to_rfc3339(now - keep)
    pruned: dict[str, dict[str, int]] = {"delivered": {}, "rejected": {}}
    with write_lock(node):
        parties = [r[0] for r in conn.execute("SELECT DISTINCT recipient FROM fed_outbox")]
    for party in parties:
        for state in ("delivered", "rejected"):
            if n := _delete_in_chunks(node, _prune_outbox_chunk, party, state, cutoff):
                pruned[state][party] = n
    with write_lock(node):
        counts = dict(conn.execute("SELECT state = 'queued', COUNT(*) FROM fed_outbox GROUP BY state = 'queued'"))
    inbox = prune_inbox(node)   # first: a refusal's row goes once its number's inbox row has gone
    result = PruneResult(cutoff, pruned["delivered"], pruned["rejected"], counts.get(1, 0), counts.get(0, 0),
                         inbox, prune_rejections(node, rejections_keep))
    if result.pruned:
        log.info("pruned %d acknowledged envelope(s) from the outbox (acknowledged over %s ago); kept %d "
                 "unacknowledged and %d inside the window", result.pruned, duration_text(keep.total_seconds()),
                 result.kept_queued, result.kept_acknowledged,
                 extra={"event": "outbox.pruned", "pruned": result.pruned, "kept_queued": result.kept_queued,
                        "kept_acknowledged": result.kept_acknowledged, "keep_s": keep.total_seconds()})
    return result


def prune_inbox(node: Node, keep: timedelta = INBOX_KEEP) -> dict[str, int]:
    """Delete the ``fed_inbox`` rows received ``keep`` or more ago, except each originator's
    highest number (see the module docstring); returns the rows pruned per originator.

    A receiver uses numbers up in order, so an originator's rows are oldest first by number: each
    transaction reads at most :data:`CHUNK` of its lowest numbers (the primary key) and deletes
    the run of them received before the cutoff, stopping at the first one after it. A row newer
    than one after it (a clock set back) only stops that run early: keeping a row is always safe.
    """
    if keep < timedelta(0):
        raise InputError(f"retention {keep} must not be negative", field="keep")
    ensure_node_schema(node)
    conn = node.conn
    cutoff = to_rfc3339(node.clock.now() - keep)
    pruned: dict[str, int] = {}
    with write_lock(node):
        tops = conn.execute("SELECT originator, MAX(seq) FROM fed_inbox GROUP BY originator").fetchall()
    for orig, top in tops:
        if n := _delete_in_chunks(node, _prune_inbox_chunk, orig, top, cutoff):
            pruned[orig] = n
    if pruned:
        log.info("pruned %d inbox row(s) received over %s ago", sum(pruned.values()),
                 duration_text(keep.total_seconds()),
                 extra={"event": "inbox.pruned", "pruned": sum(pruned.values()), "keep_s": keep.total_seconds()})
    return pruned


def prune_rejections(node: Node, keep: timedelta = REJECTIONS_KEEP) -> int:
    """Delete the ``fed_rejections`` rows recorded ``keep`` or more ago, except those whose
    (sender, number) still has a ``fed_inbox`` row (see the module docstring), at most
    :data:`CHUNK` per transaction, and count them in ``fed_rejections_pruned``; returns how many."""
    if keep < timedelta(0):
        raise InputError(f"retention {keep} must not be negative", field="keep-rejections")
    ensure_node_schema(node)
    cutoff = to_rfc3339(node.clock.now() - keep)
    total = _delete_in_chunks(node, _prune_rejections_chunk, cutoff)
    if total:
        log.info("pruned %d refusal record(s) (fed_rejections) recorded over %s ago", total,
                 duration_text(keep.total_seconds()),
                 extra={"event": "rejections.pruned", "pruned": total, "keep_s": keep.total_seconds()})
    return total


def _delete_in_chunks(node: Node, chunk: Callable[..., tuple[int, bool]], *args: Any) -> int:
    """Call ``chunk(conn, *args)`` — it deletes at most :data:`CHUNK` rows and returns how many,
    and whether rows may be left — each call in a transaction of its own under the node's write
    lock, until none may be left; returns the rows deleted in all."""
    total = 0
    while True:
        with write_lock(node):
            with transaction(node.conn):
                n, more = chunk(node.conn, *args)
        total += n
        if not more:
            return total


def _prune_outbox_chunk(conn: Any, party: str, state: str, cutoff: str) -> tuple[int, bool]:
    """One partner's acknowledged rows in one state, oldest numbers first (the state index),
    counted in ``fed_partner_state``."""
    n = conn.execute(
        "DELETE FROM fed_outbox WHERE recipient = ? AND seq IN (SELECT seq FROM fed_outbox WHERE recipient = ? "
        "AND state = ? AND acked <= ? ORDER BY seq LIMIT ?)", (party, party, state, cutoff, CHUNK)).rowcount
    if n:
        column = "pruned_delivered" if state == "delivered" else "pruned_rejected"
        conn.execute(f"INSERT INTO fed_partner_state(party, {column}) VALUES (?, ?) "
                     f"ON CONFLICT(party) DO UPDATE SET {column} = fed_partner_state.{column} + excluded.{column}",
                     (party, n))
    return n, n == CHUNK


def _prune_inbox_chunk(conn: Any, orig: str, top: int, cutoff: str) -> tuple[int, bool]:
    """The run of an originator's lowest numbers below ``top`` received before the cutoff, from at
    most :data:`CHUNK` of them (:func:`prune_inbox`)."""
    rows = conn.execute("SELECT seq, received FROM fed_inbox WHERE originator = ? AND seq < ? "
                        "ORDER BY seq LIMIT ?", (orig, top, CHUNK)).fetchall()
    last = None
    for seq, received in rows:
        if received >= cutoff:
            break
        last = seq
    if last is None:
        return 0, False
    n = conn.execute("DELETE FROM fed_inbox WHERE originator = ? AND seq <= ?", (orig, last)).rowcount
    return n, last == rows[-1][0] and len(rows) == CHUNK


def _prune_rejections_chunk(conn: Any, cutoff: str) -> tuple[int, bool]:
    """``fed_rejections`` rows recorded before the cutoff whose number has no inbox row, counted
    in ``fed_rejections_pruned``."""
    n = conn.execute(
        "DELETE FROM fed_rejections WHERE id IN (SELECT r.id FROM fed_rejections r WHERE r.at <= ? "
        "AND NOT EXISTS (SELECT 1 FROM fed_inbox i WHERE i.originator = r.sender AND i.seq = r.seq) "
        "ORDER BY r.id LIMIT ?)", (cutoff, CHUNK)).rowcount
    if n:
        conn.execute("INSERT INTO fed_rejections_pruned(name, pruned) VALUES ('total', ?) ON CONFLICT(name) "
                     "DO UPDATE SET pruned = fed_rejections_pruned.pruned + excluded.pruned", (n,))
    return n, n == CHUNK


def refill(node: Node, party: str, first: int, last: int) -> int:
    """Queue again, re-sealed, the envelopes ``first``…``last`` to ``party`` that retention pruned:
    for a partner restored from a backup older than the window, which asks again for numbers it
    had acknowledged. Inside the caller's transaction, under the node's write lock
    (:func:`accord.federation.outbox.apply_ack` calls it).

    At most :data:`REFILL_CHUNK` numbers, from ``first`` on, are sealed per call: once the partner
    has them it asks from the next missing number, and that acknowledgement refills the next
    chunk. So a partner answering ``next_seq=1`` every round costs one bounded chunk per round,
    never the whole history in one transaction under the write lock. A rewind larger than a chunk
    is logged once (``outbox.rewind``, throttled to :data:`REWIND_LOG_EVERY` per partner), its
    chunks at info.

    What each number carried is in the ledger (``item.shared``: item, partner, number) and the
    item in the ``items`` table, so the envelope is sealed again with the same number and a fresh
    timestamp (the partner refuses envelopes older than its freshness limit). The policy is not
    asked again: the partner was given exactly this item under this number once already, so
    sending it again reveals nothing new — as with the rows still held. Returns how many rows
    were queued; a number the ledger does not explain is left missing (the partner keeps asking,
    and the delivery failures say so).
    """
    from accord.core.canonical import canonical_json, parse_json_strict
    from accord.federation import wire

    conn = node.conn
    whole = last
    last = min(last, first + REFILL_CHUNK - 1)
    now = node.clock.now()
    large = whole > last
    if large:
        key = (str(getattr(node, "dir", id(node))), party)
        if key not in _rewind_logged or now - _rewind_logged[key] >= REWIND_LOG_EVERY:
            _rewind_logged[key] = now
            log.warning("partner %s asked again for #%d…#%d, pruned from the outbox (restored from an old "
                        "backup?): sealing them again from the ledger, %d per acknowledgement", party, first,
                        whole, REFILL_CHUNK, extra={"event": "outbox.rewind", "partner": party,
                                                    "first": first, "last": whole, "chunk": REFILL_CHUNK})
    wanted: dict[int, str] = {}
    needle = b'"to":' + canonical_json(party)
    for (leaf,) in conn.execute("SELECT leaf FROM ledger_leaves WHERE type = 'item.shared' AND instr(leaf, ?) > 0",
                                (needle,)):
        data = parse_json_strict(bytes(leaf)).get("data") or {}
        seq, item_id = data.get("seq"), data.get("item_id")
        if data.get("to") == party and isinstance(seq, int) and first <= seq <= last and isinstance(item_id, str):
            wanted[seq] = item_id
    rows = []
    for seq in sorted(wanted):
        row = conn.execute("SELECT json FROM items WHERE id = ?", (wanted[seq],)).fetchone()
        if row is None:  # pragma: no cover - items are never deleted
            continue
        item = Item.from_json(parse_json_strict(bytes(row[0])), source=f"stored item {wanted[seq]}")
        rows.append((party, seq, item.id, item.kind, wire.seal_envelope(node, item, party, seq, now), to_rfc3339(now)))
    # resealed: the partner has just asked for these numbers, so a "replay" answer for one of them
    # is not renumbered (accord.federation.outbox.apply_ack)
    conn.executemany("INSERT OR IGNORE INTO fed_outbox(recipient, seq, item_id, kind, envelope, queued, resealed) "
                     "VALUES (?,?,?,?,?,?,1)", rows)
    log.log(logging.INFO if large else logging.WARNING,
            "partner %s asked again for #%d…#%d, pruned from the outbox (restored from an old backup?): "
            "%d envelope(s) sealed again from the ledger and queued", party, first, last, len(rows),
            extra={"event": "outbox.refilled", "partner": party, "first": first, "last": last,
                   "queued": len(rows)})
    return len(rows)
