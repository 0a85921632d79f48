"""Receiving envelopes: verify everything first, then apply a whole batch in one transaction.

For each envelope of a batch, in order (:func:`receive_batch`):

1. **Authenticity** — parse it strictly and verify it with the core's
   :func:`accord.core.envelopes.verify_envelope` (Ed25519 signature under the pinned key of its
   originator, addressed to this node, sequence, age). A forged, altered, unknown-key or
   wrongly addressed envelope is rejected and does *not* consume a sequence number (no one else
   can burn a partner's sequence). The parsing and the signature checks are pure, so they run
   *before* the node's write lock is taken (the node's other writers do not wait for up to
   10,000 Ed25519 verifications); under the lock the pinned keys are compared with those used
   (all verified again against the keys in force if any changed), and the stateful checks below
   run in exactly the order :func:`verify_envelope` has them.
2. **Addressing** — the originator must be the authenticated sender of the request, and the
   recipient this node (no relaying, no wrong-party envelopes).
3. **Sequence** — per (originator, this node) the next expected number ``n``: ``seq == n`` is
   applied; ``seq < n`` with the same signature as the envelope accepted then is an idempotent
   duplicate (acknowledged, nothing applied again); ``seq < n`` with a different signature is a
   replay and rejected; ``seq > n`` is a gap: rejected without consuming, and the answer's
   ``next_seq`` tells the sender where to resume. Catch-up is keyed on these numbers only.
4. **Content** — the item's originator must be the envelope's (a node never relays another
   party's items, which rules out loops A→B→C→A); the same item id from the same originator
   already held is a duplicate (same digest) or a conflict (different digest); the receiver's own
   policy (its agreements in force now) must allow the item from its originator to this node. A
   rejection here consumes the sequence number (the sender signed it; the stream goes on).

The stateful checks and the writes run in **one** write transaction of the store, begun before
the sequence numbers are read, so several processes serving the node (``node serve --workers``)
that receive the same batch apply it once: the second sees the first's commit.

Then everything — stored items, inbox rows, rejections and their ledger events (``item.received``,
``item.rejected``, ``item.retracted``) — is written in **one** transaction
(``synchronous=FULL``: on disk when the commit returns). Only after that commit does the caller
send the acknowledgement, so an acknowledged item is never lost and an interrupted batch leaves
nothing half applied. If the commit fails, nothing was applied and the sender retries.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.envelopes import Envelope, check_sequence, verify_envelope
from accord.core.identity import raw_public
from accord.core.items import Item
from accord.errors import (InputError, SignatureError, StoreError, UnknownKeyError, VerificationError,
                           WrongRecipientError)
from accord.federation import wire
from accord.federation.schema import ensure_federation_schema, write_lock
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

    def to_json(self) -> dict[str, Any]:
        return {"originator": self.originator, "seq": self.seq, "item_id": self.item_id,
                "status": self.status, "code": self.code, "reason": self.reason,
                "consumed": self.consumed}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Receipt":
        return cls(d.get("originator"), d.get("seq"), d.get("item_id"), d["status"], d.get("code"),
                   d.get("reason"), bool(d.get("consumed")))


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
    def from_json(cls, d: dict[str, Any]) -> "BatchAck":
        return cls(d["receiver"], d.get("sender"), d.get("next_seq"),
                   tuple(Receipt.from_json(r) for r in d.get("receipts", [])))


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    """The envelopes of a POSTed batch ``{"envelopes": [...]}`` (strict JSON)."""
    data = parse_json_strict(body, source="envelope batch")
    if not isinstance(data, dict) or not isinstance(data.get("envelopes"), list):
        raise InputError('an envelope batch must be {"envelopes": [...]}', source="envelope batch")
    if len(data["envelopes"]) > 10_000:
        raise InputError("an envelope batch holds at most 10000 envelopes", source="envelope batch")
    return data["envelopes"]


def _last_seq(conn: Any, originator: str) -> int:
    row = conn.execute("SELECT MAX(seq) FROM fed_inbox WHERE originator = ?", (originator,)).fetchone()
    return row[0] or 0


_schema_ready: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _ready(node: Node) -> None:
    """Create the federation tables once per node object."""
    try:
        if node in _schema_ready:
            return
    except TypeError:  # pragma: no cover - a node type without weak references
        with write_lock(node):
            ensure_federation_schema(node.conn)
        return
    # under the node's lock: ensure_schema's executescript first COMMITs any transaction open on
    # the shared connection, which could be another thread's, half done
    with write_lock(node):
        ensure_federation_schema(node.conn)
    _schema_ready.add(node)


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


_BEFORE_SEQUENCE = (UnknownKeyError, SignatureError, WrongRecipientError)
"""What :func:`verify_envelope` checks before the sequence number (its checks 1–3: key pinned,
signature, addressing); everything else it raises comes after the sequence checks."""


def _key_bytes(keys: dict[str, Any]) -> dict[str, bytes]:
    """The raw 32-byte public keys by party: what "the same pinned keys" means."""
    return {party: raw_public(key) for party, key in keys.items()}


def _pre_verify(env: Envelope, *, recipient: str, keys: dict[str, Any], now: Any,
                max_age: timedelta) -> tuple[Item | None, BaseException | None] | None:
    """Everything :func:`verify_envelope` checks that does not depend on stored state — key,
    Ed25519 signature, addressing, age, the item — run *before* the node's write lock is taken.

    It is the very call the locked part would make for an envelope whose number is the one
    expected (``last_seq = seq - 1``, window 1), so for such an envelope its outcome *is* the
    outcome; for any other number :func:`_verified` adds the sequence refusal in
    :func:`verify_envelope`'s order. Returns ``(item, None)`` or ``(None, the refusal)``; None
    when it failed otherwise (say, a RecursionError canonicalising a deeply nested item: where in
    the order of checks that falls is not known), and the envelope is verified under the lock.
    """
    try:
        return verify_envelope(env, recipient=recipient, keys=keys, last_seq=env.seq - 1, now=now,
                               window=1, max_age=max_age), None
    except (VerificationError, InputError) as exc:  # raised again, in order, under the lock (_verified)
        return None, exc
    except Exception:  # noqa: BLE001 - not a refusal: verify_envelope under the lock decides
        return None


def _verified(env: Envelope, pre: tuple[Item | None, BaseException | None], last_seq: int) -> Item:
    """The outcome of ``verify_envelope(env, last_seq=last_seq, window=1, …)`` from the pre-lock
    outcome ``pre`` (same keys, recipient, time and age): raises what it would raise, in its
    order — key/signature/addressing (1–3), then replay/gap (4), then the rest (5–6)."""
    item, exc = pre
    if isinstance(exc, _BEFORE_SEQUENCE):
        raise exc
    check_sequence(env, last_seq=last_seq, window=1)  # checks 1-3 passed: it is addressed to us
    if exc is not None:
        raise exc
    assert item is not None
    return item


def receive_batch(node: Node, envelopes: list[Any], *, sender: str | None = None,
                  max_age: timedelta = MAX_AGE) -> BatchAck:
    """Verify and apply a batch of envelopes from ``sender`` (the authenticated partner).

    Raises :class:`StoreError` if the batch could not be committed (nothing applied).
    """
    _ready(node)
    now = node.clock.now()
    stamp = to_rfc3339(now)
    # The pure work first, *outside* the node's write lock, so that the node's other writers
    # (TAXII adds, refusal records, dialogue …) do not wait for up to 10,000 Ed25519
    # verifications: parse each envelope and verify it against the partner keys pinned now.
    keys = wire.partner_keys(node)
    parsed: list[Envelope | InputError] = []
    for raw in envelopes:
        try:
            parsed.append(Envelope.from_json(raw))
        except InputError as exc:
            parsed.append(exc)
    # Only numbers not accepted yet are worth verifying here: a resent batch (its acknowledgement
    # was lost) is answered from the inbox without a signature check, as before. The numbers
    # accepted so far, read under the lock for a moment; they only grow, so an envelope skipped
    # here is one the locked loop answers as a resend or verifies itself.
    originators = {e.originator for e in parsed if isinstance(e, Envelope)
                   and (sender is None or e.originator == sender)}  # (the others are refused unverified)
    with write_lock(node):
        accepted = {orig: _last_seq(node.conn, orig) for orig in originators}
    pre: dict[int, tuple[Item | None, BaseException | None]] = {}
    for i, one in enumerate(parsed):
        if isinstance(one, Envelope) and one.originator in accepted and one.seq > accepted[one.originator]:
            checked = _pre_verify(one, recipient=node.party, keys=keys, now=now, max_age=max_age)
            if checked is not None:
                pre[i] = checked
    # the items of this batch that may be held already (ids as the envelopes claim them; an
    # envelope is verified before its id is trusted)
    claimed_ids: dict[str, set[str]] = {}
    for raw in envelopes:
        if isinstance(raw, dict) and isinstance(raw.get("item"), dict):
            orig, iid = raw.get("originator"), raw["item"].get("id")
            if isinstance(orig, str) and isinstance(iid, str):
                claimed_ids.setdefault(orig, set()).add(iid)
    with write_lock(node), _batch_transaction(node, len(envelopes), sender) as conn:
        keys_now = wire.partner_keys(node)
        if _key_bytes(keys_now) != _key_bytes(keys):
            # a key was pinned, re-pinned or dropped meanwhile: what was verified against the old
            # keys counts for nothing; verify under the lock against the keys in force
            keys, pre = keys_now, {}
        receipts: list[Receipt] = []
        expected: dict[str, int] = {}
        seen_in_batch: dict[tuple[str, int], str] = {}
        items_seen: dict[tuple[str, str], str] = {}
        inbox_rows: list[tuple] = []
        received_rows: list[tuple] = []
        rejection_rows: list[tuple] = []
        retraction_rows: list[tuple] = []
        items_to_store: list[Any] = []
        events: list[tuple[str, dict[str, Any], Any]] = []
        decisions: dict[tuple[str, str, str], Any] = {}

        def reject(orig: str | None, seq: int | None, item_id: str | None, code: str, reason: str,
                   *, consumed: bool, digest: str | None = None) -> None:
            receipts.append(Receipt(orig, seq, item_id, "rejected", code, reason, consumed))
            rejection_rows.append((stamp, orig or sender, seq, code, reason))
            events.append(("item.rejected", {"from": orig or sender, "seq": seq, "item_id": item_id,
                                             "code": code, "reason": reason[:500]}, now))
            if consumed:
                inbox_rows.append((orig, seq, item_id, digest, "rejected", reason[:500], stamp))

        # the claimed items held already: one query per originator and 500 ids
        held_before: dict[tuple[str, str], str | None] = {}
        for orig, id_set in claimed_ids.items():
            held_before.update(dict.fromkeys(((orig, i) for i in id_set), None))
            for iid, dig in select_in(conn, "SELECT item_id, digest FROM fed_received WHERE originator = ? "
                                      "AND item_id IN ({})", id_set, orig):
                held_before[(orig, iid)] = dig
        for i, (raw, env) in enumerate(zip(envelopes, parsed)):
            if isinstance(env, InputError):
                reject(wire.claimed(raw, "originator"), wire.claimed(raw, "seq"), None, "malformed", str(env),
                       consumed=False)
                continue
            orig, seq = env.originator, env.seq
            item_id = env.item.get("id") if isinstance(env.item.get("id"), str) else None
            if sender is not None and orig != sender:
                reject(orig, seq, item_id, "wrong_party",
                       f"envelope from {orig} delivered by {sender}: a node may only deliver its own "
                       "envelopes", consumed=False)
                continue
            # dedupe key: the Ed25519 signature (deterministic, RFC 8032 §5.1.6), which binds the
            # signed content; hashing it avoids canonicalising the whole envelope again
            digest = hashlib.sha256(env.signature).hexdigest()
            nxt = expected.get(orig)
            if nxt is None:  # (not setdefault: that would run the query for every envelope)
                nxt = expected[orig] = _last_seq(conn, orig) + 1
            if seq < nxt:
                # identical bytes to an envelope verified before: answer what was answered then
                # (a lost acknowledgement makes the sender send it again), record nothing new
                first = _first_outcome(conn, orig, seq, seen_in_batch, receipts)
                if first is not None and first[0] == digest:
                    _, outcome, code, reason = first
                    if outcome == "rejected":
                        receipts.append(Receipt(orig, seq, item_id, "rejected", code or "rejected",
                                                f"{ALREADY_REFUSED}{reason or 'no reason recorded'}", True))
                    else:
                        receipts.append(Receipt(orig, seq, item_id, "duplicate", None,
                                                "already received (idempotent acknowledgement)", True))
                    continue
            try:
                checked = pre.get(i)
                if checked is not None:  # verified before the lock, against these very keys
                    item = _verified(env, checked, nxt - 1)
                else:
                    item = verify_envelope(env, recipient=node.party, keys=keys, last_seq=nxt - 1, now=now,
                                           window=1, max_age=max_age)
            except (VerificationError, InputError) as exc:
                code = wire.error_code(exc)
                # after the signature, addressing and sequence checks passed, the sender's stream
                # must go on: an expired or malformed item consumes its number (recorded, reported)
                consumed = code in ("expired", "malformed")
                if consumed:
                    expected[orig] = nxt + 1
                    seen_in_batch[(orig, seq)] = digest
                reject(orig, seq, item_id, code, str(exc), consumed=consumed, digest=digest)
                continue
            # seq == nxt: this envelope consumes its sequence number whatever happens next
            expected[orig] = nxt + 1
            seen_in_batch[(orig, seq)] = digest
            item_digest = item.digest()
            key = (orig, item.id)
            held = items_seen.get(key)
            if held is None:
                if key in held_before:
                    held = held_before[key]
                else:
                    row = conn.execute("SELECT digest FROM fed_received WHERE originator=? AND item_id=?",
                                       key).fetchone()
                    held = row[0] if row else None
            if held is not None:
                if held == item_digest:
                    receipts.append(Receipt(orig, seq, item.id, "duplicate", None,
                                            "item already held (same originator and id)", True))
                    inbox_rows.append((orig, seq, item.id, digest, "duplicate", None, stamp))
                else:
                    reject(orig, seq, item.id, "conflict",
                           f"item {item.id} is already held with different content", consumed=True,
                           digest=digest)
                continue
            if item.kind == RETRACTION_KIND:
                target = item.body.get("retracts")
                if not isinstance(target, str) or not target.startswith(f"{orig}:"):
                    reject(orig, seq, item.id, "bad_retraction",
                           f"a retraction from {orig} must name one of {orig}'s own items",
                           consumed=True, digest=digest)
                    continue
                retraction_rows.append((target, orig, str(item.body.get("reason", ""))[:500], stamp))
                events.append(("item.retracted", {"item_id": target, "by": orig, "retraction": item.id}, now))
            else:
                # decide() depends only on (originator, kind, marking) for a fixed recipient and time
                dkey = (orig, item.kind, str(item.marking))
                decision = decisions.get(dkey)
                if decision is None:
                    decision = decisions[dkey] = node.decide(item, node.party)
                if not decision.allowed:
                    reasons = [str(r) for r in decision.refusals]
                    reject(orig, seq, item.id, "policy_denied",
                           f"policy of {node.party} refuses {item.kind} {item.id} from {orig}: "
                           + "; ".join(reasons), consumed=True, digest=digest)
                    continue
                items_to_store.append(item)
                events.append(("item.received", {"item_id": item.id, "kind": item.kind, "from": orig,
                                                 "seq": seq, "digest": item_digest}, now))
            items_seen[key] = item_digest
            received_rows.append((orig, item.id, item_digest, seq, stamp))
            inbox_rows.append((orig, seq, item.id, digest, "stored", None, stamp))
            receipts.append(Receipt(orig, seq, item.id, "stored", consumed=True))

        try:
            if items_to_store:
                wire.store_received_items(node, items_to_store)
            conn.executemany("INSERT INTO fed_inbox(originator, seq, item_id, digest, outcome, reason, "
                             "received) VALUES (?,?,?,?,?,?,?)", inbox_rows)
            conn.executemany("INSERT INTO fed_received(originator, item_id, digest, seq, received) "
                             "VALUES (?,?,?,?,?)", received_rows)
            conn.executemany("INSERT INTO fed_rejections(at, sender, seq, code, reason) VALUES (?,?,?,?,?)",
                             rejection_rows)
            conn.executemany("INSERT OR IGNORE INTO fed_retractions(item_id, originator, reason, at) "
                             "VALUES (?,?,?,?)", retraction_rows)
            if events:
                node.ledger.append_many(events)
        except Exception as exc:  # sqlite I/O errors, disk full …: nothing was applied
            raise StoreError(f"{node.party} could not commit a batch of {len(envelopes)} envelope(s) "
                             f"from {sender}: {exc}") from exc
        nxt_for_sender = None
        if sender is not None:
            nxt_for_sender = expected.get(sender) or _last_seq(conn, sender) + 1
        ack = BatchAck(node.party, sender, nxt_for_sender, tuple(receipts))
    # counted and logged once committed (a failed commit raised StoreError: nothing was applied)
    _count_and_log(node, sender, receipts)
    return ack


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
    refused = [r for r in receipts if new_refusal(r)]
    if sender is not None:
        counts = counters(node).partner(sender)
        counts.received += len(receipts) - len(refused)
        counts.refused += len(refused)
    if refused:
        first = refused[0]
        codes = sorted({r.code or "rejected" for r in refused})
        log.warning("refused %d envelope(s) from %s (%s), first #%s: %s", len(refused), sender or first.originator,
                    ", ".join(codes), first.seq, first.reason,
                    extra={"event": "envelopes.refused", "partner": sender or first.originator,
                           "count": len(refused), "codes": codes})


REFUSALS_PER_MINUTE = 30
REFUSALS_PER_DAY = 1000
"""At most this many refused partner requests per node are recorded one by one in a minute, and
at most :data:`REFUSALS_PER_DAY` in a day (a steady 30 a minute would still add 43,200 entries a
day); the rest are counted and the count is recorded with the next one let through, so a flood
of forged requests cannot grow the ledger without bound."""

_refusal_windows: "weakref.WeakKeyDictionary[Any, list[float]]" = weakref.WeakKeyDictionary()
_refusal_guard = threading.Lock()


def _refusal_budget(node: Node, now: float) -> tuple[bool, int]:
    """(record this refusal?, refusals suppressed since the last recorded one)."""
    with _refusal_guard:
        try:
            # [minute start, recorded this minute, suppressed, day start, recorded this day]
            window = _refusal_windows.setdefault(node, [now, 0.0, 0.0, now, 0.0])
        except TypeError:  # pragma: no cover - a node type without weak references
            return True, 0
        if now - window[0] >= 60.0:
            window[0], window[1] = now, 0.0
        if now - window[3] >= 86400.0:
            window[3], window[4] = now, 0.0
        if window[1] >= REFUSALS_PER_MINUTE or window[4] >= REFUSALS_PER_DAY:
            window[2] += 1
            return False, 0
        window[1] += 1
        window[4] += 1
        suppressed, window[2] = int(window[2]), 0.0
        return True, suppressed


def _refusal_event(sender: str | None, reason: str, suppressed: int = 0) -> dict[str, Any]:
    """The ledger data of a refused partner request (``suppressed_before``: refusals counted,
    not recorded one by one, since the last recorded)."""
    data: dict[str, Any] = {"from": sender, "seq": None, "item_id": None, "code": "unauthenticated",
                            "reason": reason[:500]}
    if suppressed:
        data["suppressed_before"] = suppressed
    return data


def flush_refusal_count(node: Node) -> int:
    """Record the refusals counted but not recorded one by one since the last recorded one (a
    server calls this when it stops, so a flood followed by silence still leaves its count in
    the ledger). Returns that count."""
    with _refusal_guard:
        try:
            window = _refusal_windows.get(node)
        except TypeError:  # pragma: no cover
            return 0
        if not window or not window[2]:
            return 0
        count, window[2] = int(window[2]), 0.0
    now = node.clock.now()
    with write_lock(node):
        try:
            with transaction(node.conn):
                node.ledger.append("item.rejected", _refusal_event(
                    None, "refusals counted, not recorded one by one", count), time=now)
        except Exception:  # noqa: BLE001 - shutting down: never fail on the record of refusals
            return 0
    return count


def record_request_rejection(node: Node, signer: str | None, reason: str) -> None:
    """Record a refused partner request (bad signature, unknown party …) in table and ledger,
    at most :data:`REFUSALS_PER_MINUTE` a minute and :data:`REFUSALS_PER_DAY` a day (the others
    are counted, see there). ``signer`` is the party whose pinned key verified the request, or
    ``None``: a forged request is recorded as from an unknown key, never under the ``keyid`` it
    claims (:class:`~accord.errors.RequestSignatureError`)."""
    _ready(node)
    counters(node).auth_failed("partner")
    record, suppressed = _refusal_budget(node, time.monotonic())
    if not record:
        return
    now = node.clock.now()
    data = {**_refusal_event(signer, reason, suppressed), "signer": signer or "unknown key"}
    # logged as recorded: at most as many lines as ledger entries, each with the count of the
    # refusals passed over since the last one. The request's headers are never logged.
    log.warning("refused a partner request from %s: %s%s", signer or "an unknown key", reason[:500],
                f" (+{suppressed} earlier refusals not logged one by one)" if suppressed else "",
                extra={"event": "auth.failed", "api": "partner", "partner": signer, "suppressed": suppressed})
    with write_lock(node):
        try:
            with transaction(node.conn):
                node.conn.execute("INSERT INTO fed_rejections(at, sender, seq, code, reason) VALUES (?,?,?,?,?)",
                                  (to_rfc3339(now), signer, None, "unauthenticated",
                                   (reason[:500] + (f" (+{suppressed} earlier refusals not recorded one by one)"
                                                    if suppressed else ""))))
                node.ledger.append("item.rejected", data, time=now)
        except Exception:  # noqa: BLE001 - recording a refusal must never turn it into a 500
            pass
