"""Per-partner intake quota: how many envelopes, and how many bytes of them, one partner may
have this node take in a window (an hour), however valid they are.

A partner's signed, policy-conforming envelopes are otherwise taken without bound; a partner
whose node is compromised or broken could fill this node's disk. Each pinned partner has a budget
per window of :data:`WINDOW_SECONDS` — :data:`DEFAULT_MAX_ITEMS` envelopes and
:data:`DEFAULT_MAX_BYTES` bytes unless its ``node.yaml`` entry sets ``max_items_per_hour`` /
``max_bytes_per_hour`` (0: unlimited).

What counts: every envelope that writes rows here — one that uses up one of the partner's
sequence numbers (stored, an item already held, or refused for its content), counted for its
signed content (RFC 8785, the item included) and its signature; and one refused without using
its number (out of sequence, not the sender's own, malformed, a bad signature …), which is
ledgered (``item.rejected``) all the same, counted for what that entry records (RFC 8785). Only
an envelope answered as a resend of one taken before, which writes nothing, does not count.

Windows are fixed: they start at multiples of :data:`WINDOW_SECONDS` since the Unix epoch (on the
hour). The counts are rows of ``fed_quota`` (partner, window start), updated in the transaction
that applies the batch, so every process serving the node (``node serve --workers N``, ``--join``,
several machines on one PostgreSQL) reads and adds to the same counts under the node's write
lock.

Clocks a little apart (:func:`current`): the processes' clocks may differ by seconds, so around
the turn of the hour one is already in the new window while another is still in the old. A
window opens when a batch is first counted into it, by the clock of the process that serves it;
from then on every process counts into it, a process whose clock is still in the hour before
included (its own window's row is the newest only if no later one is open). Counting is
serialised by the write lock, so the window counted into only moves forward and each window's
row holds all that was taken while it was the newest: one budget a window, whatever the skew,
and a process behind is neither given a fresh budget nor refused for longer than the window's
end by its own clock (its ``Retry-After``: up to the skew more than an hour). The row of the
window before the newest is kept (older ones are dropped), so a process behind still finds the
count it is to add to. A window more than one ahead of a process's own is a clock gone wrong,
not skew: that process ignores it and counts into its own (so the processes on either side of
such a clock may each take a budget, but none is held back by it; the rows of the two newest
windows are never dropped, so neither side's count is lost to the other's).

Enforcement (:func:`admit`, :class:`Budget`):

* before a batch's body is read, a partner whose window is used up (items or bytes) is answered
  429 ``over_quota`` with ``Retry-After`` the seconds left in the window;
* inside the batch, envelopes are taken in order while the window has room: an envelope is taken
  when fewer than the item budget have been taken and fewer than the byte budget's bytes (so the
  envelope that crosses the byte budget is still taken: a window's bytes may exceed the budget by
  at most one envelope, and any budget lets every envelope through eventually). The rest is
  answered ``over_quota`` without using up its numbers — the answer's ``next_seq`` is the first of
  them — so the sender keeps them queued and sends them again; nothing is recorded for them. A batch
  of which nothing could be taken is answered 429 like the first case, nothing applied.

Accepting the part that fits keeps delivery exactly once with nothing new: the sequence numbers
already carry "taken up to here, resend from there", and a batch larger than the whole budget
still goes through, one window's budget at a time (refusing it whole would hold it for ever).

The first refusal of a window is ledgered ``partner.over_quota`` (the window, its counts and the
budget); later ones in the same window are counted (metrics ``accord_batches_over_quota``) but
not ledgered again.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.errors import QuotaExceeded
from accord.federation.schema import ensure_node_schema, write_lock
from accord.federation.stats import counters
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.core.envelopes import Envelope
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

WINDOW_SECONDS = 3600
"""The quota window: an hour, starting on the hour (UTC)."""

DEFAULT_MAX_ITEMS = 1_000_000
"""Envelopes one partner may have taken in a window unless its entry says otherwise. The largest
sender measured, ``bench/federation.py --items 50000``, delivers about 105,000 envelopes to one
partner in its run (its phases share one pair of nodes); the demo and the exercises deliver a few
hundred to a few thousand an hour per partner. This is about ten times the bench's run."""

DEFAULT_MAX_BYTES = 1024 ** 3
"""Bytes of envelopes one partner may have taken in a window unless its entry says otherwise (1 GiB):
about ten times what the bench's largest run delivers (``--body track --items 50000``: ~105,000
envelopes of 947 bytes, ~100 MB)."""

OVER_QUOTA_EVENT = "partner.over_quota"


@dataclass(frozen=True)
class Limits:
    """A partner's budget per window; 0 is unlimited."""

    items: int
    bytes: int

    @property
    def unlimited(self) -> bool:
        return self.items == 0 and self.bytes == 0

    def room(self, items: int, size: int) -> bool:
        """Whether a window that has taken ``items`` envelopes of ``size`` bytes takes another."""
        return (self.items == 0 or items < self.items) and (self.bytes == 0 or size < self.bytes)


def limits_for(node: Node, party: str) -> Limits:
    """``party``'s budget: its ``node.yaml`` entry's, else the defaults."""
    partner = node.partners().get(party)
    items = getattr(partner, "max_items_per_hour", None)
    size = getattr(partner, "max_bytes_per_hour", None)
    return Limits(DEFAULT_MAX_ITEMS if items is None else items, DEFAULT_MAX_BYTES if size is None else size)


def window_start(now: datetime) -> int:
    """The start of the window ``now`` is in (Unix seconds)."""
    t = int(now.timestamp())
    return t - t % WINDOW_SECONDS


def retry_after(now: datetime, start: int | None = None) -> int:
    """Whole seconds (at least 1), by ``now``, until the window starting at ``start`` (else the
    one ``now`` is in) ends."""
    end = (window_start(now) if start is None else start) + WINDOW_SECONDS
    return max(1, int(-(-(end - now.timestamp()) // 1)))


def envelope_bytes(env: Envelope) -> int:
    """What one envelope counts for in the byte budget."""
    return len(env.signing_bytes()) + len(env.signature)


def current(conn: Any, party: str, now: datetime) -> tuple[int, int, int]:
    """(window start, envelopes, bytes): the window ``party``'s intake counts into at ``now`` by
    this process's clock — the newest opened of its own and the next (one a process whose clock
    is ahead already counted into), and what it has taken."""
    own = window_start(now)
    row = conn.execute("SELECT window_start, items, bytes FROM fed_quota WHERE partner = ? AND window_start >= ? "
                       "AND window_start <= ? ORDER BY window_start DESC LIMIT 1",
                       (party, own, own + WINDOW_SECONDS)).fetchone()
    return (row[0], row[1], row[2]) if row else (own, 0, 0)


def used(conn: Any, party: str, start: int) -> tuple[int, int]:
    """(envelopes, bytes) ``party`` has had taken in the window starting at ``start``."""
    row = conn.execute("SELECT items, bytes FROM fed_quota WHERE partner = ? AND window_start = ?",
                       (party, start)).fetchone()
    return (row[0], row[1]) if row else (0, 0)


class Budget:
    """One batch's view of its sender's window, read in the batch's transaction."""

    def __init__(self, conn: Any, party: str, limits: Limits, now: datetime) -> None:
        self.party, self.limits, self.now = party, limits, now
        self.start, self.items, self.bytes = (window_start(now), 0, 0) if limits.unlimited else current(conn, party, now)
        self.taken_items = self.taken_bytes = 0
        self.stopped = False

    def has_room(self) -> bool:
        """Whether the window takes another envelope; once it does not, the batch stops."""
        if not self.stopped and not self.limits.room(self.items, self.bytes):
            self.stopped = True
        return not self.stopped

    def take(self, env: Envelope) -> None:
        """Count ``env``, which used up a sequence number."""
        self.count(envelope_bytes(env))

    def count(self, size: int) -> None:
        """Count one envelope of ``size`` bytes: one taken, or a refusal recorded (ledgered) without
        using up a number."""
        self.items += 1
        self.bytes += size
        self.taken_items += 1
        self.taken_bytes += size

    def write(self, conn: Any) -> None:
        """Add what the batch took to its window's row (in the batch's transaction); rows of
        windows before the previous one are dropped, but never one of the two newest: a process
        whose clock is hours ahead counts into a window of its own, and dropping the one the
        others count into would give them their budget again at each of its batches."""
        if not self.taken_items:
            return
        conn.execute("INSERT INTO fed_quota(partner, window_start, items, bytes) VALUES (?,?,?,?) "
                     "ON CONFLICT(partner, window_start) DO UPDATE SET items = fed_quota.items + excluded.items, "
                     "bytes = fed_quota.bytes + excluded.bytes",
                     (self.party, self.start, self.taken_items, self.taken_bytes))
        second = conn.execute("SELECT window_start FROM fed_quota WHERE partner = ? ORDER BY window_start DESC "
                              "LIMIT 1 OFFSET 1", (self.party,)).fetchone()
        keep = self.start - WINDOW_SECONDS if second is None else min(self.start - WINDOW_SECONDS, second[0])
        conn.execute("DELETE FROM fed_quota WHERE partner = ? AND window_start < ?", (self.party, keep))

    def exceeded(self) -> QuotaExceeded:
        return _exceeded(self.party, self.limits, self.items, self.bytes, self.now, self.start)


def _exceeded(party: str, limits: Limits, items: int, size: int, now: datetime, start: int) -> QuotaExceeded:
    wait = retry_after(now, start)
    return QuotaExceeded(f"{party} is over its intake quota for this hour ({items} of {limits.items or 'unlimited'} "
                         f"envelopes, {size} of {limits.bytes or 'unlimited'} bytes taken); retry in {wait} s",
                         retry_after=wait)


def admit(node: Node, party: str) -> None:
    """Before a batch's body is read: raise :class:`QuotaExceeded` (ledgered as
    :func:`record_refusal` says) if ``party``'s window has no room left."""
    limits = limits_for(node, party)
    if limits.unlimited:
        return
    ensure_node_schema(node)
    now = node.clock.now()
    with write_lock(node):
        start, items, size = current(node.conn, party, now)
    if not limits.room(items, size):
        record_refusal(node, party, limits, items, size, now, start)
        raise _exceeded(party, limits, items, size, now, start)


class _Ledgered:
    """The (partner, window) refusals this process has seen ledgered already: later refusals in
    the window need no write at all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}


_ledgered: "weakref.WeakKeyDictionary[Any, _Ledgered]" = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _memo(node: Node) -> _Ledgered:
    with _guard:
        found = _ledgered.get(node)
        if found is None:
            found = _ledgered[node] = _Ledgered()
        return found


def record_refusal(node: Node, party: str, limits: Limits, items: int, size: int, now: datetime,
                   start: int) -> None:
    """Count a refusal for the metrics, and ledger ``partner.over_quota`` if it is the first of
    ``party``'s window (starting at ``start``, :func:`current`) on this node — whichever process
    serves it: the window's row says whether it is ledgered (``fed_quota.ledgered``), set in the
    transaction that appends the entry."""
    counters(node).partner(party).over_quota += 1
    memo = _memo(node)
    with memo.lock:
        if memo.seen.get(party) == start:
            return
    with write_lock(node), transaction(node.conn) as conn:
        conn.execute("INSERT OR IGNORE INTO fed_quota(partner, window_start, items, bytes) VALUES (?,?,0,0)",
                     (party, start))
        first = not conn.execute("SELECT ledgered FROM fed_quota WHERE partner = ? AND window_start = ?",
                                 (party, start)).fetchone()[0]
        if first:
            conn.execute("UPDATE fed_quota SET ledgered = 1 WHERE partner = ? AND window_start = ?", (party, start))
            node.ledger.append(OVER_QUOTA_EVENT, {
                "party": party, "window_start": to_rfc3339(datetime.fromtimestamp(start, timezone.utc)),
                "window_seconds": WINDOW_SECONDS, "items": items, "bytes": size,
                "max_items": limits.items, "max_bytes": limits.bytes}, time=now)
    with memo.lock:
        memo.seen[party] = start
    if first:
        log.warning("partner %s is over its intake quota for this hour (%d envelopes, %d bytes; budget %s "
                    "envelopes, %s bytes): its deliveries wait %d s for the next window", party, items, size,
                    limits.items or "unlimited", limits.bytes or "unlimited", retry_after(now, start),
                    extra={"event": OVER_QUOTA_EVENT, "partner": party, "items": items, "bytes": size})


def record_deferral(node: Node, party: str, reason: str) -> None:
    """The sender's side: ``party`` answered a batch 429 with ``Retry-After`` (its quota for this
    node used up). Reached, so not a failure: its last contact is now and ``reason`` its last
    error (what ``accord node status`` shows) until its next acknowledgement clears it."""
    now = to_rfc3339(node.clock.now())
    with write_lock(node), transaction(node.conn) as conn:
        conn.execute("INSERT INTO fed_partner_state(party, last_contact, last_error) VALUES (?,?,?) "
                     "ON CONFLICT(party) DO UPDATE SET last_contact=excluded.last_contact, "
                     "last_error=excluded.last_error", (party, now, reason[:500]))
