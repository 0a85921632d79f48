"""Receiving envelopes: verify everything first, then apply a whole batch in one transaction.

Kept as one module: the steps of one batch, in the order this docstring gives them,
around the one transaction they share.

:func:`receive_batch` takes each envelope of a batch, in order, through these steps (each a
function below; :func:`_receive_one` runs them for one envelope):

0. **Structure** — :func:`_parse`: a JSON object that is not an envelope is rejected
   (``malformed``) and does not consume a sequence number.
1. **Authenticity** — :func:`accord.core.envelopes.authenticate`: the Ed25519 signature under
   the pinned key of its originator, addressed to this node. A forged, altered, unknown-key or
   wrongly addressed envelope is rejected and does *not* consume a sequence number (no one else
   can burn a partner's sequence). The signature checks are pure, so
   :func:`_authenticate_unlocked` runs them — and the item checks of step 4's first half —
   *before* the node's write lock is taken (the node's other writers do not wait for up to
   10,000 Ed25519 verifications); under the lock the pinned keys are compared with those used
   (all verified again against the keys in force if any changed), and
   :func:`_authentic_in_sequence` raises the refusals in exactly the order
   :func:`~accord.core.envelopes.verify_envelope` has them: its steps composed, the sequence
   check between.
2. **Addressing** — :func:`_from_sender`: the originator must be the authenticated sender of
   the request (the recipient, this node, is checked with the signature): no relaying, no
   wrong-party envelopes.
3. **Sequence** — :func:`~accord.core.envelopes.check_sequence`, per (originator, this node)
   against the next expected number ``n``: ``seq == n`` is applied; ``seq < n`` with the same
   signature as the envelope accepted then is an idempotent duplicate, answered as it was then
   (:func:`_answered_before`: acknowledged, nothing applied again, no signature checked);
   ``seq < n`` with a different signature is a replay and rejected; ``seq > n`` is a gap:
   rejected without consuming, and the answer's ``next_seq`` tells the sender where to resume.
   Catch-up is keyed on these numbers only.
4. **Content** — :func:`~accord.core.envelopes.check_item`: not expired, a well-formed item
   whose originator is the envelope's (a node never relays another party's items, which rules
   out loops A→B→C→A); then :func:`_take_content`: the same item id from the same originator
   already held is a duplicate (same digest) or a conflict (different digest); a retraction
   must name one of its originator's own items; the receiver's own policy (its agreements in
   force now, :func:`_allowed`) must allow the item from its originator to this node. A
   rejection here consumes the sequence number (the sender signed it; the stream goes on).
5. **Write** — :meth:`_Batch.write`: everything — stored items, inbox rows, rejections and their
   ledger events (``item.received``, ``item.rejected``, ``item.retracted``) — in **one**
   transaction (``synchronous=FULL``: on disk when the commit returns).

The stateful checks and the writes run in that one write transaction of the store, begun before
the sequence numbers are read, so several processes serving the node (``node serve --workers``)
that receive the same batch apply it once: the second sees the first's commit. Only after the
commit does the caller send the acknowledgement, so an acknowledged item is never lost and an
interrupted batch leaves nothing half applied. If the commit fails, nothing was applied and the
sender retries.

Refused partner *requests* (before any envelope is read) are recorded by
:mod:`accord.federation.refusals`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.canonical import canonical_json, parse_json_strict
from accord.core.envelopes import Envelope, authenticate, check_item, check_sequence, verify_envelope
from accord.core.identity import raw_public
from accord.core.items import Item
from accord.core.json_budget import MAX_JSON_CONTAINERS
from accord.errors import InputError, QuotaExceeded, StoreError, StoreUnavailable, VerificationError
from accord.federation import quota, wire
from accord.federation.batch_json import read_batch
from accord.federation.schema import ensure_node_schema, write_lock
from accord.federation.stats import counters
from accord.store.base import DatabaseError, select_in, transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

RETRACTION_KIND = wire.RETRACTION_KIND
MAX_AGE = timedelta(days=7)
"""Oldest envelope accepted. Freshness is not what stops replays (sequence numbers do); it bounds
how long a partner may be cut off and still catch up from the sender's outbox."""


@dataclass(frozen=True)
class Receipt:
    """The outcome of one envelope. ``consumed``: its sequence number is used up."""

    originator: str | None
    seq: int | None
    item_id: str | None
    status: str                      # "stored" | "duplicate" | "rejected"
    code: str | None = None          # rejection code, e.g. "policy_denied"
    reason: str | None = None
    consumed: bool = False
    ledger_index: int | None = None  # stored/duplicate: the receiver's item.received (or item.retracted) entry

    def to_json(self) -> dict[str, Any]:
        out = {"originator": self.originator, "seq": self.seq, "item_id": self.item_id,
               "status": self.status, "code": self.code, "reason": self.reason,
               "consumed": self.consumed}
        if self.ledger_index is not None:  # (absent from older receivers' answers; older senders ignore it)
            out["ledger_index"] = self.ledger_index
        return out

    @classmethod
    def from_json(cls, d: Any) -> "Receipt":
        """A receipt as a partner sent it; :class:`InputError` if any field has the wrong type."""
        if not isinstance(d, dict) or d.get("status") not in ("stored", "duplicate", "rejected"):
            raise InputError("malformed acknowledgement: a receipt is an object with a status", source="ack")
        for name in ("originator", "item_id", "code", "reason"):
            if not isinstance(d.get(name), (str, type(None))):
                raise InputError(f"malformed acknowledgement: receipt {name} is not a string", source="ack")
        index = d.get("ledger_index")
        if index is not None:
            if type(index) is not int or not 0 <= index <= MAX_LEDGER_INDEX:
                raise InputError(f"malformed acknowledgement: receipt ledger_index is not an integer in "
                                 f"0..{MAX_LEDGER_INDEX}", source="ack")
            if d["status"] == "rejected":
                raise InputError("malformed acknowledgement: a rejected receipt names a ledger_index", source="ack")
        return cls(d.get("originator"), _ack_number(d.get("seq"), "receipt seq"), d.get("item_id"), d["status"],
                   d.get("code"), d.get("reason"), d.get("consumed") is True, index)


MAX_LEDGER_INDEX = 2**53 - 2
"""The largest ledger index a receipt may name: a ledger's size is a JSON integer (at most
2**53 - 1, RFC 8785's exact range), so its last index is one below."""


@dataclass(frozen=True)
class BatchAck:
    """The answer to a batch: per-envelope receipts and the next sequence number expected."""

    receiver: str
    sender: str | None
    next_seq: int | None
    receipts: tuple[Receipt, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "sender": self.sender, "next_seq": self.next_seq,
                "receipts": [r.to_json() for r in self.receipts]}

    @classmethod
    def from_json(cls, d: Any) -> "BatchAck":
        """An acknowledgement as a partner sent it; :class:`InputError` if it is not of this shape
        (a wrong type would otherwise fail deep in :func:`accord.federation.outbox.apply_ack`)."""
        if (not isinstance(d, dict) or not isinstance(d.get("receiver"), str)
                or not isinstance(d.get("sender"), (str, type(None))) or not isinstance(d.get("receipts", []), list)):
            raise InputError("malformed acknowledgement: not {receiver, sender, next_seq, receipts: [...]}",
                             source="ack")
        return cls(d["receiver"], d.get("sender"), _ack_number(d.get("next_seq"), "next_seq"),
                   tuple(Receipt.from_json(r) for r in d.get("receipts", [])))


def _ack_number(value: Any, name: str) -> int | None:
    """A sequence number of an acknowledgement: None or an integer a database column holds."""
    if value is None or (type(value) is int and -(2**63) <= value < 2**63):
        return value
    raise InputError(f"malformed acknowledgement: {name} is not a 64-bit integer", source="ack")


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    """The envelopes of a POSTed batch ``{"envelopes": [...]}`` (strict JSON), at most
    :data:`~accord.federation.batch_json.MAX_BATCH_ENVELOPES`: a batch with more is refused
    before the envelopes past the cap are parsed (:mod:`accord.federation.batch_json`), and one
    that would build more than :data:`~accord.core.json_budget.MAX_JSON_CONTAINERS` arrays and
    objects, in however few envelopes, before any is parsed."""
    data = parse_json_strict(body, source="envelope batch", reader=read_batch, max_containers=MAX_JSON_CONTAINERS)
    if not isinstance(data, dict) or not isinstance(data.get("envelopes"), list):
        raise InputError('an envelope batch must be {"envelopes": [...]}', source="envelope batch")
    return data["envelopes"]


def _last_seq(conn: Any, originator: str) -> int:
    row = conn.execute("SELECT MAX(seq) FROM fed_inbox WHERE originator = ?", (originator,)).fetchone()
    return row[0] or 0


OVER_QUOTA = "over_quota"
"""The receipt code of an envelope not taken because its sender's quota window is used up."""

CONSUMING_CODES = ("expired", "malformed", "conflict", "policy_denied", "bad_retraction")
"""Refusal codes that use up the envelope's sequence number (the sender's stream goes on)."""


def _first_outcome(conn: Any, orig: str, seq: int, seen_in_batch: dict[tuple[str, int], str],
                   receipts: list["Receipt"]) -> tuple[str, str, str | None, str | None] | None:
    """(digest, outcome, code, reason) of the envelope that consumed ``(orig, seq)`` — earlier in
    this batch or before — or None. ``outcome`` is "stored", "duplicate" or "rejected"."""
    digest = seen_in_batch.get((orig, seq))
    if digest is not None:
        for r in reversed(receipts):
            if r.originator == orig and r.seq == seq and r.consumed:
                return digest, r.status, r.code, r.reason
        return None  # pragma: no cover - a consumed number always has its receipt
    row = conn.execute("SELECT digest, outcome, reason FROM fed_inbox WHERE originator=? AND seq=?",
                       (orig, seq)).fetchone()
    if row is None:
        return None
    code = None
    if row[1] == "rejected":
        # the refusal that used the number up (refusals that did not consume it may share the seq)
        found = conn.execute("SELECT code FROM fed_rejections WHERE sender=? AND seq=? AND code IN "
                             f"({','.join('?' * len(CONSUMING_CODES))}) ORDER BY id DESC LIMIT 1",
                             (orig, seq, *CONSUMING_CODES)).fetchone()
        code = found[0] if found else None
    return row[0], row[1], code, row[2]


def receive_envelope(node: Node, envelope: bytes | dict[str, Any], *, sender: str | None = None,
                     max_age: timedelta = MAX_AGE) -> Receipt:
    """Receive one envelope (bytes or parsed JSON); see :func:`receive_batch`."""
    if isinstance(envelope, (bytes, bytearray, str)):
        envelope = parse_json_strict(envelope, source="envelope")
    return receive_batch(node, [envelope], sender=sender, max_age=max_age).receipts[0]


def receive_batch(node: Node, envelopes: list[Any], *, sender: str | None = None,
                  max_age: timedelta = MAX_AGE) -> BatchAck:
    """Verify and apply a batch of envelopes from ``sender`` (the authenticated partner), in the
    steps of the module docstring.

    Raises :class:`StoreError` if the batch could not be committed (nothing applied).
    """
    ensure_node_schema(node)
    now = node.clock.now()
    limits = quota.limits_for(node, sender) if sender is not None else None
    parsed = _parse(envelopes)
    keys = wire.partner_keys(node)
    pre = _authenticate_unlocked(node, parsed, sender=sender, keys=keys, now=now, max_age=max_age)
    claimed = _claimed_ids(envelopes)
    budget: quota.Budget | None = None
    try:
        with write_lock(node), _batch_transaction(node, len(envelopes), sender) as conn:
            keys_now = wire.partner_keys(node)
            if _key_bytes(keys_now) != _key_bytes(keys):
                # a key was pinned, re-pinned or dropped meanwhile: what was verified against the old
                # keys counts for nothing; verify under the lock against the keys in force
                keys, pre = keys_now, {}
            held_before, held_index = _held_items(conn, claimed)
            batch = _Batch(node, conn, sender=sender, now=now, keys=keys, max_age=max_age,
                           held_before=held_before, held_index=held_index)
            if sender is not None and limits is not None and not limits.unlimited:
                budget = batch.budget = quota.Budget(conn, sender, limits, now)
            for i, (raw, env) in enumerate(zip(envelopes, parsed)):
                _receive_one(batch, raw, env, pre.get(i))
            if budget is not None and budget.stopped and not budget.taken_items:
                raise budget.exceeded()  # nothing of the batch taken: nothing applied (rolled back)
            batch.write(len(envelopes))
            ack = BatchAck(node.party, sender, batch.next_seq_for_sender(), tuple(batch.receipts))
    except QuotaExceeded:
        _over_quota(node, sender, budget, now)
        raise
    _over_quota(node, sender, budget, now)
    # counted and logged once committed (a failed commit raised StoreError: nothing was applied)
    _count_and_log(node, sender, batch.receipts)
    return ack


def _over_quota(node: Node, sender: str | None, budget: quota.Budget | None, now: Any) -> None:
    """A batch stopped by its sender's quota: the refusal counted, and ledgered if it is the
    window's first (a transaction of its own, after the batch's)."""
    if budget is not None and budget.stopped and sender is not None:
        quota.record_refusal(node, sender, budget.limits, budget.items, budget.bytes, now, budget.start)


def _parse(envelopes: list[Any]) -> list[Envelope | InputError]:
    """Step 0: each envelope's structure (:meth:`Envelope.from_json`), or why it is malformed."""
    parsed: list[Envelope | InputError] = []
    for raw in envelopes:
        try:
            parsed.append(Envelope.from_json(raw))
        except InputError as exc:
            parsed.append(exc)
    return parsed


@dataclass(frozen=True, slots=True)
class _PreChecked:
    """What the pure checks said of one envelope before the lock: the refusal of
    :func:`authenticate` (checks 1–3), else the item :func:`check_item` returned or its refusal
    (checks 5–6). Under the lock :func:`_verified` puts the sequence check (4) between them."""

    refusal: VerificationError | InputError | None
    item: Item | None = None
    item_refusal: VerificationError | InputError | None = None


def _authenticate_unlocked(node: Node, parsed: list[Envelope | InputError], *, sender: str | None,
                           keys: dict[str, Any], now: Any, max_age: timedelta) -> dict[int, _PreChecked]:
    """Step 1's pure part, run *outside* the node's write lock so that the node's other writers
    (TAXII adds, refusal records, dialogue …) do not wait for up to 10,000 Ed25519
    verifications: each envelope's checks against the partner keys pinned now, by position.

    Only numbers not accepted yet are worth verifying: a resent batch (its acknowledgement was
    lost) is answered from the inbox without a signature check. The numbers accepted so far are
    read under the lock for a moment; they only grow, so an envelope skipped here is one the
    locked loop answers as a resend or verifies itself. Envelopes from another party than the
    sender are refused unverified (step 2)."""
    originators = {e.originator for e in parsed if isinstance(e, Envelope)
                   and (sender is None or e.originator == sender)}
    with write_lock(node):
        accepted = {orig: _last_seq(node.conn, orig) for orig in originators}
    pre: dict[int, _PreChecked] = {}
    for i, one in enumerate(parsed):
        if isinstance(one, Envelope) and one.originator in accepted and one.seq > accepted[one.originator]:
            checked = _pre_verify(one, recipient=node.party, keys=keys, now=now, max_age=max_age)
            if checked is not None:
                pre[i] = checked
    return pre


def _pre_verify(env: Envelope, *, recipient: str, keys: dict[str, Any], now: Any,
                max_age: timedelta) -> _PreChecked | None:
    """The checks of :func:`verify_envelope` that do not depend on stored state, in its order
    and from its own steps: :func:`authenticate`, then :func:`check_item`. None when one failed
    otherwise than with a refusal (say, a RecursionError canonicalising a deeply nested item:
    where in the order of checks that falls is not known): the envelope is then verified under
    the lock."""
    try:
        authenticate(env, recipient=recipient, keys=keys)
    except (VerificationError, InputError) as exc:  # raised again, in order, under the lock (_verified)
        return _PreChecked(exc)
    except Exception:  # noqa: BLE001 - not a refusal: verify_envelope under the lock decides
        return None
    try:
        return _PreChecked(None, check_item(env, now=now, max_age=max_age))
    except (VerificationError, InputError) as exc:
        return _PreChecked(None, None, exc)
    except Exception:  # noqa: BLE001 - as above
        return None


def _verified(env: Envelope, pre: _PreChecked, last_seq: int) -> Item:
    """What ``verify_envelope(env, last_seq=last_seq, window=1, …)`` gives, from the checks made
    before the lock (same keys, recipient, time and age): :func:`verify_envelope`'s steps in its
    order — authenticity (1–3), the sequence (4), the item (5–6)."""
    if pre.refusal is not None:
        raise pre.refusal
    check_sequence(env, last_seq=last_seq, window=1)
    if pre.item_refusal is not None:
        raise pre.item_refusal
    assert pre.item is not None
    return pre.item


def _key_bytes(keys: dict[str, Any]) -> dict[str, bytes]:
    """The raw 32-byte public keys by party: what "the same pinned keys" means."""
    return {party: raw_public(key) for party, key in keys.items()}


def _claimed_ids(envelopes: list[Any]) -> dict[str, set[str]]:
    """The item ids of this batch by originator, as the envelopes claim them (an envelope is
    verified before its id is trusted): the items that may be held already."""
    claimed: dict[str, set[str]] = {}
    for raw in envelopes:
        if isinstance(raw, dict) and isinstance(raw.get("item"), dict):
            orig, iid = raw.get("originator"), raw["item"].get("id")
            # a string no store takes (a lone surrogate) is no id of an item held
            if isinstance(orig, str) and isinstance(iid, str) and _text(orig) is orig and _text(iid) is iid:
                claimed.setdefault(orig, set()).add(iid)
    return claimed


def _held_items(conn: Any, claimed: dict[str, set[str]]) -> tuple[dict[tuple[str, str], str | None],
                                                                      dict[tuple[str, str], int]]:
    """(originator, item id) → digest held (None: not held) for the claimed items, and → the
    ledger index of its ``item.received`` entry where it is known: one query per originator and
    500 ids."""
    held: dict[tuple[str, str], str | None] = {}
    index: dict[tuple[str, str], int] = {}
    for orig, id_set in claimed.items():
        held.update(dict.fromkeys(((orig, i) for i in id_set), None))
        for iid, dig, idx in select_in(conn, "SELECT item_id, digest, ledger_idx FROM fed_received WHERE "
                                       "originator = ? AND item_id IN ({})", id_set, orig):
            held[(orig, iid)] = dig
            if idx is not None:
                index[(orig, iid)] = idx
    return held, index


def _text(value: str) -> str:
    """``value`` as every store and the ledger's canonical JSON take it: a lone surrogate escaped."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _claimed_text(value: Any) -> str | None:
    """A claimed originator or item id, kept when it is a string (at most 200 characters)."""
    return _text(value[:200]) if isinstance(value, str) else None


def _claimed_seq(value: Any) -> int | None:
    """A claimed sequence number, kept when it is an integer both a database column and the
    ``item.rejected`` entry's canonical JSON hold (RFC 8785: at most 2**53 - 1 either way)."""
    return value if type(value) is int and -(2**53) < value < 2**53 else None


class _Batch:
    """One batch under the write lock: the sequence numbers it has used up, the items it has
    taken, its receipts, and the rows and ledger events it writes in :meth:`write`."""

    def __init__(self, node: Node, conn: Any, *, sender: str | None, now: Any, keys: dict[str, Any],
                 max_age: timedelta, held_before: dict[tuple[str, str], str | None],
                 held_index: dict[tuple[str, str], int] | None = None) -> None:
        self.node, self.conn, self.sender, self.now, self.keys, self.max_age = node, conn, sender, now, keys, max_age
        self.stamp = to_rfc3339(now)
        self.held_before = held_before
        self.held_index = held_index or {}                     # (originator, item id) -> its entry, held before
        self.event_of: dict[tuple[str, str], int] = {}         # … -> position in self.events, taken in this batch
        self.base: int | None = None                           # the ledger's size before the batch's events
        self.receipts: list[Receipt] = []
        self.expected: dict[str, int] = {}                    # originator -> next sequence number
        self.seen_in_batch: dict[tuple[str, int], str] = {}    # (originator, seq) consumed -> digest
        self.items_seen: dict[tuple[str, str], str] = {}       # (originator, item id) taken -> digest
        self.decisions: dict[tuple[str, str, str], Any] = {}
        self.inbox_rows: list[tuple] = []
        self.received_rows: list[tuple] = []
        self.rejection_rows: list[tuple] = []
        self.retraction_rows: list[tuple] = []
        self.items_to_store: list[Any] = []
        self.events: list[tuple[str, dict[str, Any], Any]] = []
        self.budget: quota.Budget | None = None                # the sender's quota window, if limited

    def next_seq(self, orig: str) -> int:
        nxt = self.expected.get(orig)
        if nxt is None:  # (not setdefault: that would run the query for every envelope)
            nxt = self.expected[orig] = _last_seq(self.conn, orig) + 1
        return nxt

    def consume(self, env: Envelope, nxt: int, digest: str) -> None:
        """``env``'s number (``nxt``, the one expected) is used up by it (signature digest ``digest``)."""
        self.expected[env.originator] = nxt + 1
        self.seen_in_batch[(env.originator, env.seq)] = digest
        if self.budget is not None:
            self.budget.take(env)

    def defer(self, orig: Any, seq: Any, item_id: Any) -> None:
        """The sender's quota window is used up: this envelope is answered ``over_quota``, its
        number not used up and nothing recorded (the sender sends it again in a later window)."""
        self.receipts.append(Receipt(_claimed_text(orig), _claimed_seq(seq), _claimed_text(item_id), "rejected",
                                     OVER_QUOTA, f"{self.sender} is over its intake quota for this hour; "
                                     "send it again later", False))

    def held(self, key: tuple[str, str]) -> str | None:
        """The digest of the item (originator, id) held already — taken earlier in this batch or
        before — or None."""
        held = self.items_seen.get(key)
        if held is None:
            if key in self.held_before:
                held = self.held_before[key]
            else:
                row = self.conn.execute("SELECT digest FROM fed_received WHERE originator=? AND item_id=?",
                                        key).fetchone()
                held = row[0] if row else None
        return held

    def reject(self, orig: Any, seq: Any, item_id: Any, code: str, reason: str,
               *, consumed: bool, digest: str | None = None) -> None:
        """Record a refusal. ``orig``, ``seq`` and ``item_id`` are what the envelope claims (not
        verified when it is refused): kept only when storable (:func:`_claimed_text`,
        :func:`_claimed_seq`), and the refusal is recorded as from the authenticated sender, not
        from an originator the envelope names (that stays in the reason)."""
        if not consumed and self.budget is not None and not self.budget.has_room():
            # it writes rows (and a ledger entry) like any envelope taken: over the quota, deferred
            self.defer(orig, seq, item_id)
            return
        orig, seq, item_id, reason = _claimed_text(orig), _claimed_seq(seq), _claimed_text(item_id), _text(reason)
        self.receipts.append(Receipt(orig, seq, item_id, "rejected", code, reason, consumed))
        by = self.sender or orig
        data = {"from": by, "seq": seq, "item_id": item_id, "code": code, "reason": reason[:500]}
        self.rejection_rows.append((self.stamp, by, seq, code, reason[:500]))
        self.events.append(("item.rejected", data, self.now))
        if not consumed and self.budget is not None:  # (one that used its number up was counted then)
            self.budget.count(len(canonical_json(data)))
        if consumed:
            self.inbox_rows.append((orig, seq, item_id, digest, "rejected", reason[:500], self.stamp))

    def taken(self, key: tuple[str, str]) -> None:
        """The ledger event just added records the item ``key`` taken in this batch."""
        self.event_of[key] = len(self.events) - 1

    def index_of(self, key: tuple[str, str]) -> int | None:
        """The ledger index of the entry that records item ``key``: one this batch appends (the
        ledger's size now plus its position: nothing else appends while the batch's write
        transaction is open, which :meth:`write` checks), or the one that recorded it before."""
        pos = self.event_of.get(key)
        if pos is None:
            return self.held_index.get(key)
        if self.base is None:
            self.base = self.node.ledger.size
        return self.base + pos

    def write(self, count: int) -> None:
        """Step 5: everything decided, in the batch's transaction (one commit). The ledger events go
        first: their indices are what the receipts and ``fed_received`` rows name."""
        conn, node = self.conn, self.node
        try:
            if self.items_to_store:
                wire.store_received_items(node, self.items_to_store)
            if self.events:
                first = node.ledger.append_many(self.events)[0]
                if self.base is not None and first != self.base:  # pragma: no cover - the lock says it cannot
                    raise StoreError(f"the ledger grew under the batch's transaction ({self.base} → {first})")
            conn.executemany("INSERT INTO fed_inbox(originator, seq, item_id, digest, outcome, reason, "
                             "received) VALUES (?,?,?,?,?,?,?)", self.inbox_rows)
            conn.executemany("INSERT INTO fed_received(originator, item_id, digest, seq, received, ledger_idx) "
                             "VALUES (?,?,?,?,?,?)", self.received_rows)
            conn.executemany("INSERT INTO fed_rejections(at, sender, seq, code, reason) VALUES (?,?,?,?,?)",
                             self.rejection_rows)
            conn.executemany("INSERT OR IGNORE INTO fed_retractions(item_id, originator, reason, at) "
                             "VALUES (?,?,?,?)", self.retraction_rows)
            if self.budget is not None:
                self.budget.write(conn)
        except StoreUnavailable:  # the database away: as it is (the sender is told to retry, nothing more)
            raise
        except Exception as exc:  # sqlite I/O errors, disk full …: nothing was applied
            raise StoreError(f"{node.party} could not commit a batch of {count} envelope(s) "
                             f"from {self.sender}: {exc}") from exc

    def next_seq_for_sender(self) -> int | None:
        """The answer's ``next_seq``: where the sender resumes."""
        if self.sender is None:
            return None
        return self.expected.get(self.sender) or _last_seq(self.conn, self.sender) + 1


def _receive_one(batch: _Batch, raw: Any, env: Envelope | InputError, pre: _PreChecked | None) -> None:
    """One envelope through the steps; what it decides goes into ``batch``."""
    if batch.budget is not None and batch.budget.stopped:
        batch.defer(wire.claimed(raw, "originator"), wire.claimed(raw, "seq"), None)
        return
    if isinstance(env, InputError):
        batch.reject(wire.claimed(raw, "originator"), wire.claimed(raw, "seq"), None, "malformed", str(env),
                     consumed=False)
        return
    item_id = env.item.get("id") if isinstance(env.item.get("id"), str) else None
    if not _from_sender(batch, env, item_id):
        return
    # dedupe key: the Ed25519 signature (deterministic, RFC 8032 §5.1.6), which binds the signed
    # content; hashing it avoids canonicalising the whole envelope again
    digest = hashlib.sha256(env.signature).hexdigest()
    nxt = batch.next_seq(env.originator)
    if env.seq < nxt and _answered_before(batch, env, item_id, digest):
        return
    if env.seq == nxt and batch.budget is not None and not batch.budget.has_room():
        batch.defer(env.originator, env.seq, item_id)  # it would use up a number: over the quota
        return
    item = _authentic_in_sequence(batch, env, item_id, pre, nxt, digest)
    if item is None:
        return
    batch.consume(env, nxt, digest)  # seq == nxt: used up whatever happens next
    _take_content(batch, env, item, digest)


def _from_sender(batch: _Batch, env: Envelope, item_id: str | None) -> bool:
    """Step 2 (its first half; the recipient is checked with the signature): a node delivers
    only its own envelopes."""
    sender = batch.sender
    if sender is not None and env.originator != sender:
        batch.reject(env.originator, env.seq, item_id, "wrong_party",
                     f"envelope from {env.originator} delivered by {sender}: a node may only deliver its "
                     "own envelopes", consumed=False)
        return False
    return True


def _answered_before(batch: _Batch, env: Envelope, item_id: str | None, digest: str) -> bool:
    """Step 3, a number used up already: identical bytes to an envelope verified before are
    answered as they were then (a lost acknowledgement makes the sender send them again) and
    nothing new is recorded. False: not a resend (a replay, refused by :func:`check_sequence`)."""
    orig, seq = env.originator, env.seq
    first = _first_outcome(batch.conn, orig, seq, batch.seen_in_batch, batch.receipts)
    if first is None or first[0] != digest:
        return False
    _, outcome, code, reason = first
    if outcome == "rejected":
        batch.receipts.append(Receipt(orig, seq, item_id, "rejected", code or "rejected",
                                      f"{ALREADY_REFUSED}{reason or 'no reason recorded'}", True))
    else:
        batch.receipts.append(Receipt(orig, seq, item_id, "duplicate", None,
                                      "already received (idempotent acknowledgement)", True,
                                      batch.index_of((orig, item_id or ""))))
    return True


def _authentic_in_sequence(batch: _Batch, env: Envelope, item_id: str | None, pre: _PreChecked | None,
                           nxt: int, digest: str) -> Item | None:
    """Steps 1 and 3 under the lock: :func:`verify_envelope`'s checks in its order, from the
    pre-lock outcome when there is one (else all of them now). Returns the item, or None when
    refused (recorded). After the signature, addressing and sequence checks passed, the sender's
    stream must go on: an expired or malformed item consumes its number."""
    try:
        if pre is not None:  # verified before the lock, against these very keys
            return _verified(env, pre, nxt - 1)
        return verify_envelope(env, recipient=batch.node.party, keys=batch.keys, last_seq=nxt - 1,
                               now=batch.now, window=1, max_age=batch.max_age)
    except (VerificationError, InputError) as exc:
        code = wire.error_code(exc)
        consumed = code in ("expired", "malformed")
        if consumed:
            batch.consume(env, nxt, digest)
        batch.reject(env.originator, env.seq, item_id, code, str(exc), consumed=consumed, digest=digest)
        return None


def _take_content(batch: _Batch, env: Envelope, item: Item, digest: str) -> None:
    """Step 4: the item — held already (duplicate or conflict), a retraction, or allowed by this
    node's policy — and the rows that record it."""
    orig, seq, stamp = env.originator, env.seq, batch.stamp
    item_digest = item.digest()
    key = (orig, item.id)
    held = batch.held(key)
    if held is not None:
        if held == item_digest:
            batch.receipts.append(Receipt(orig, seq, item.id, "duplicate", None,
                                          "item already held (same originator and id)", True, batch.index_of(key)))
            batch.inbox_rows.append((orig, seq, item.id, digest, "duplicate", None, stamp))
        else:
            batch.reject(orig, seq, item.id, "conflict", f"item {item.id} is already held with different content",
                         consumed=True, digest=digest)
        return
    if item.kind == RETRACTION_KIND:
        target = item.body.get("retracts")
        if not isinstance(target, str) or not target.startswith(f"{orig}:"):
            batch.reject(orig, seq, item.id, "bad_retraction",
                         f"a retraction from {orig} must name one of {orig}'s own items", consumed=True,
                         digest=digest)
            return
        batch.retraction_rows.append((target, orig, str(item.body.get("reason", ""))[:500], stamp))
        batch.events.append(("item.retracted", {"item_id": target, "by": orig, "retraction": item.id}, batch.now))
        batch.taken(key)
    else:
        if not _allowed(batch, item, orig, seq, digest):
            return
        batch.items_to_store.append(item)
        batch.events.append(("item.received", {"item_id": item.id, "kind": item.kind, "from": orig,
                                               "seq": seq, "digest": item_digest}, batch.now))
        batch.taken(key)
    batch.items_seen[key] = item_digest
    index = batch.index_of(key)
    batch.received_rows.append((orig, item.id, item_digest, seq, stamp, index))
    batch.inbox_rows.append((orig, seq, item.id, digest, "stored", None, stamp))
    batch.receipts.append(Receipt(orig, seq, item.id, "stored", consumed=True, ledger_index=index))


def _allowed(batch: _Batch, item: Item, orig: str, seq: int, digest: str) -> bool:
    """Step 4's policy check: this node's agreements in force now allow ``item`` from ``orig``
    (refused and recorded otherwise)."""
    node = batch.node
    # decide() depends only on (originator, kind, marking) for a fixed recipient and time
    dkey = (orig, item.kind, str(item.marking))
    decision = batch.decisions.get(dkey)
    if decision is None:
        decision = batch.decisions[dkey] = node.decide(item, node.party)
    if decision.allowed:
        return True
    reasons = [str(r) for r in decision.refusals]
    batch.reject(orig, seq, item.id, "policy_denied",
                 f"policy of {node.party} refuses {item.kind} {item.id} from {orig}: " + "; ".join(reasons),
                 consumed=True, digest=digest)
    return False


@contextmanager
def _batch_transaction(node: Node, count: int, sender: str | None) -> Iterator[Any]:
    """The write transaction a batch is checked and applied in. It begins *before* the sequence
    numbers and held items are read (SQLite's write lock taken up front, the node's advisory lock on
    PostgreSQL), so when several processes serve the node and two of them receive the same
    batch, the second reads what the first committed and answers duplicates, storing nothing
    twice. A commit that fails (I/O error, disk full) raises :class:`StoreError`: nothing was
    applied and the sender retries."""
    try:
        with transaction(node.conn) as conn:
            yield conn
    except StoreError:
        raise
    except DatabaseError as exc:
        raise StoreError(f"{node.party} could not commit a batch of {count} envelope(s) from {sender}: "
                         f"{exc}") from exc


def new_refusal(receipt: Receipt) -> bool:
    """A refusal made now, not the answer repeated for an envelope refused before (sent again
    because the first answer was lost)."""
    return receipt.status == "rejected" and not (receipt.reason or "").startswith(ALREADY_REFUSED)


ALREADY_REFUSED = "already refused: "


def _count_and_log(node: Node, sender: str | None, receipts: list[Receipt]) -> None:
    """After a batch committed: count it for the metrics and log its refusals, one line per
    batch (a resent envelope refused before is not a new refusal)."""
    deferred = sum(1 for r in receipts if r.code == OVER_QUOTA and not r.consumed)
    refused = [r for r in receipts if new_refusal(r) and not (r.code == OVER_QUOTA and not r.consumed)]
    if sender is not None:
        counts = counters(node).partner(sender)
        counts.received += len(receipts) - len(refused) - deferred
        counts.refused += len(refused)
    if refused:
        first = refused[0]
        codes = sorted({r.code or "rejected" for r in refused})
        log.warning("refused %d envelope(s) from %s (%s), first #%s: %s", len(refused), sender or first.originator,
                    ", ".join(codes), first.seq, first.reason,
                    extra={"event": "envelopes.refused", "partner": sender or first.originator,
                           "count": len(refused), "codes": codes})
