"""Receipt proofs: a partner's "stored" receipt checked against the partner's own signed ledger.

A receiver ledgers ``item.received`` (``item.retracted`` for a retraction) in the transaction that
stores the item, and its receipt for the envelope names that entry's index (``ledger_index``;
for a duplicate, the index of the entry that recorded the item first). The sender:

1. keeps each ``stored``/``duplicate`` receipt that named an index in ``fed_receipt_checks``
   (:func:`record`, in the acknowledgement's transaction), with the item id of *its own* outbox
   row for that sequence number — never the id the receipt claims;
2. after it has verified the partner's signed checkpoint of size ``S`` (the tree-head check,
   :func:`accord.federation.treeheads.check_partner_head`), asks for up to
   :data:`PROOFS_PER_CHECK` pending indices below ``S`` (:func:`prove`), :data:`PROOFS_PER_REQUEST`
   in each ``GET /federation/v1/receipts?index=N&index=M&…&size=S``, which answers, for each
   index, the leaf bytes there and their RFC 9162 inclusion path to the tree of size ``S`` (a
   partner older than that route is asked ``GET /federation/v1/receipt?index=N&size=S``, one
   index a request, :data:`LEGACY_PROOFS_PER_CHECK` at most);
3. verifies the path against the checkpoint's root and that the leaf is ``item.received`` of
   that item id (and that item's digest) from this node, or ``item.retracted`` of that
   retraction by this node. Proven: the row goes (``receipts_proven`` counts it). A path that
   does not verify, or a leaf about anything else, is a **false receipt**: ledgered
   ``partner.receipt_false`` with the evidence (the partner's signed checkpoint note; the leaf
   and path it served when the path verifies, else only the leaf's SHA-256 and length: a leaf
   that is no entry of its signed ledger proves nothing) and the partner is flagged in
   ``fed_partner_state.inconsistent`` exactly as ``partner.inconsistent`` flags it (sticky, shown
   by ``accord node status``, cleared by ``accord node partner reset-head``). A proof is at most
   :data:`MAX_LEAF_BYTES` of leaf and :data:`MAX_PATH` hashes of 32 bytes (:mod:`receipt_proofs`):
   larger is malformed.

A proof the partner does not give (a 404, a malformed answer) is no evidence: an honest partner
answers 404 only for an index that is not an entry of ours, which is what a false receipt names,
so a partner that lied can hide it by refusing. The row stays and is asked for again; once it has
gone unproven for :data:`UNPROVEN_AFTER` seconds a warning says so (``receipt.unproven``, one per
partner every :data:`UNPROVEN_EVERY` seconds). Receipts without an index (a partner older than
this) are counted (``receipts_unindexed``) and never checked.

The receiving side, :func:`local_receipts` (:func:`local_receipt` for one index), serves only
entries that record an item *from the caller*: anything else — another party's entry, an event of
another type, an index outside the tree — is one and the same "not found" (a 404 for one index, a
place in ``not_found`` in a batch), so the routes tell a partner nothing about the rest of the log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core import merkle
from accord.core.canonical import parse_json_strict
from accord.errors import AccordError, FederationError, InputError, LedgerError, NotFoundError, StoreUnavailable
from accord.federation.inbox import Receipt
from accord.federation.receipt_proofs import MAX_LEAF_BYTES, MAX_PATH, parse_proof, parse_proofs
from accord.federation.receipts_served import local_receipt, local_receipts, not_found_reason
from accord.federation.schema import write_lock
from accord.store.base import select_in, transaction

__all__ = ["MAX_LEAF_BYTES", "MAX_PATH", "counts", "local_receipt", "local_receipts", "not_found_reason", "parse_proof", "parse_proofs",
           "prove", "record"]

if TYPE_CHECKING:
    from accord.core.checkpoint import Checkpoint
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

PROOFS_PER_REQUEST = 64
"""The most indices in one request for proofs (the route refuses more: it bounds the partner's work)."""

PROOFS_PER_CHECK = 1024
"""The most receipt proofs asked of one partner after each verified head (every 2 s by default):
16 requests, about 500 proofs a second, against a default intake quota of about 278 envelopes a
second (:data:`accord.federation.quota.DEFAULT_MAX_ITEMS` an hour)."""

LEGACY_PROOFS_PER_CHECK = 64
"""The most proofs asked after each head of a partner without the batch route, one request each."""

ROUND_SECONDS = 60.0
"""Seconds one round of proofs may take: a request starts only within them and is given only what
is left of them as its deadline (one request's own deadline, ``transport.REQUEST_DEADLINE``)."""

UNPROVEN_AFTER = 600.0
"""Seconds a receipt may go unproven, its proof asked for and not given, before it is said."""

UNPROVEN_EVERY = 600.0
"""Seconds between two ``receipt.unproven`` warnings about one partner."""

MAX_PENDING = 200_000
"""The most receipts of one partner kept waiting for a proof; receipts past it are counted as
unchecked (``receipts_unindexed``), never stored: a partner cannot grow this node's table without
bound by acknowledging faster than it proves."""

_said: dict[tuple[int, str], float] = {}
_said_lock = threading.Lock()


# --- the sending side -------------------------------------------------------------------------
def record(conn: Any, party: str, receipts: tuple[Receipt, ...], stamp: str) -> int:
    """In the acknowledgement's transaction: keep each consumed stored/duplicate receipt that
    names a ledger index, for this node's own outbox row of its number. Returns how many such
    receipts go unchecked: those that named no index, and those past :data:`MAX_PENDING`.

    One check per envelope sent, keyed by its number: a receipt for a number already held keeps
    the index first named (an honest partner names the same entry again — a duplicate's receipt
    names the entry that recorded the item first), so a partner that has its envelopes sent again
    and names a new index each time cannot grow the table; nor past :data:`MAX_PENDING` rows,
    which it reads from the partner's count of them (``fed_partner_state.receipts_pending``, kept
    by every transaction that adds or drops rows: this one adds what it inserted; :func:`_pending`)."""
    named = {r.seq: r.ledger_index for r in receipts
             if r.consumed and r.status in ("stored", "duplicate") and r.seq is not None and r.ledger_index is not None}
    unchecked = sum(1 for r in receipts if r.consumed and r.status in ("stored", "duplicate") and r.seq is not None
                    and r.ledger_index is None)
    if named:  # one query per 500 numbers, then one multi-row insert (not a statement per row)
        held = {r[0] for r in select_in(conn, "SELECT seq FROM fed_receipt_checks WHERE party = ? AND seq IN ({})",
                                        sorted(named), party)}
        fresh = [seq for seq in sorted(named) if seq not in held]
        room = max(MAX_PENDING - _pending(conn, party), 0)
        unchecked += max(len(fresh) - room, 0)
        ours = select_in(conn, "SELECT seq, item_id FROM fed_outbox WHERE recipient = ? AND seq IN ({})",
                         fresh[:room], party) if room and fresh else []
        added = max(conn.executemany(
            "INSERT OR IGNORE INTO fed_receipt_checks(party, ledger_idx, item_id, seq, acked) VALUES (?,?,?,?,?)",
            [(party, named[seq], item_id, seq, stamp) for seq, item_id in ours]).rowcount, 0) if ours else 0
        if added:
            conn.execute("INSERT INTO fed_partner_state(party, receipts_pending) VALUES (?, ?) ON CONFLICT(party) "
                         "DO UPDATE SET receipts_pending = fed_partner_state.receipts_pending + "
                         "excluded.receipts_pending", (party, added))
    return unchecked


def _pending(conn: Any, party: str) -> int:
    """The partner's count of waiting checks, kept with its rows (not a COUNT(*) at each acknowledgement);
    one below 0, not an integer or missing would raise the cap: the rows are counted and the count set."""
    row = conn.execute("SELECT receipts_pending FROM fed_partner_state WHERE party = ?", (party,)).fetchone()
    if row is not None and type(row[0]) is int and row[0] >= 0:
        return row[0]
    held = conn.execute("SELECT COUNT(*) FROM fed_receipt_checks WHERE party = ?", (party,)).fetchone()[0]
    if row is not None or held:
        conn.execute("INSERT INTO fed_partner_state(party, receipts_pending) VALUES (?, ?) ON CONFLICT(party) "
                     "DO UPDATE SET receipts_pending = excluded.receipts_pending", (party, held))
        log.warning("partner %s: its count of waiting receipt checks was %.40r; set to the %d row(s) held", party,
                    row and row[0], held, extra={"event": "receipt.count_repaired", "partner": party, "rows": held})
    return held


_Row = tuple[int, str, int, str | None]   # ledger_idx, item_id, seq, refused_since
_Proof = tuple[bytes, list[bytes]]


def prove(node: Node, party: str, transport: Any, head: Checkpoint, note: str) -> None:
    """Ask ``party`` to prove up to :data:`PROOFS_PER_CHECK` pending receipts against ``head``,
    its checkpoint just verified (``note``: as it signed it), and record the outcomes. The round
    ends early, its outcomes so far recorded, when a request fails or is refused (not reached, a
    401, a 429: the next check asks again) or :data:`ROUND_SECONDS` have passed."""
    if getattr(transport, "get_receipts", None) is None and getattr(transport, "get_receipt", None) is None:
        return  # a transport that cannot ask (exercise simulations): nothing is checked
    with write_lock(node):
        rows = node.conn.execute("SELECT ledger_idx, item_id, seq, refused_since FROM fed_receipt_checks WHERE "
                                 "party = ? AND ledger_idx < ? ORDER BY tries, ledger_idx LIMIT ?",
                                 (party, head.size, PROOFS_PER_CHECK)).fetchall()
        # the items' digests in one query a 500 (not each item read and parsed: most of a proof's cost)
        digests = {r[0]: r[1] for r in select_in(node.conn, "SELECT id, digest FROM items WHERE id IN ({})",
                                                 sorted({r[1] for r in rows}))} if rows else {}
    proven: list[tuple[str, int, str]] = []
    refused: list[_Row] = []
    for row, proof in _answers(node, party, transport, [tuple(r) for r in rows], head.size):
        if proof is None:
            refused.append(row)
            continue
        index, item_id, seq, _ = row
        leaf, path = proof
        verified, problem = _problem(node, index, item_id, head, leaf, path, digests.get(item_id))
        if problem is None:
            proven.append((party, index, item_id))
        else:
            _false(node, party, index, item_id, seq, head, note, _evidence(leaf, path, verified), problem)
    _record(node, party, proven, refused, head.size)
    _beyond_head(node, party, head.size)


def _answers(node: Node, party: str, transport: Any, rows: list[Any], size: int) -> Iterator[tuple[_Row, _Proof | None]]:
    """Each row asked for, with the proof the partner gave for it (None: not given, or garbled —
    no evidence either way), until a request fails or :data:`ROUND_SECONDS` have passed."""
    end = time.monotonic() + ROUND_SECONDS
    many = getattr(transport, "get_receipts", None)
    if many is not None and not (yield from _batched(node, party, many, rows, size, end)):
        return
    one = getattr(transport, "get_receipt", None)
    if one is not None:
        yield from _one_by_one(node, party, one, rows[:LEGACY_PROOFS_PER_CHECK], size, end)


def _batched(node: Node, party: str, many: Any, rows: list[Any], size: int,
             end: float) -> Generator[tuple[_Row, _Proof | None], None, bool]:
    """:data:`PROOFS_PER_REQUEST` indices a request, each given what is left of the round as its
    deadline; an index named by several receipts (only a lying partner names one entry for two
    items) is asked once. Returns True if the partner has no batch route (it answered the first
    request 404)."""
    named: dict[int, list[Any]] = {}
    for row in rows:
        named.setdefault(row[0], []).append(row)
    order = list(named)
    for lo in range(0, len(order), PROOFS_PER_REQUEST):
        indices, left = order[lo:lo + PROOFS_PER_REQUEST], end - time.monotonic()
        if left <= 0:
            return False
        try:
            answer = many(node, party, indices, size, left)
        except StoreUnavailable:
            raise
        except AccordError as exc:  # not reached, or the request refused: the next check asks again
            log.debug("receipt proofs from %s not asked: %s", party, exc)
            return False
        if answer is None:
            return lo == 0
        try:
            proofs = parse_proofs(answer, party, indices, size)
        except FederationError as exc:  # garbled: no evidence either way, as proofs not given
            log.debug("%s", exc)
            proofs = {}
        for index in indices:
            for row in named[index]:
                yield row, proofs.get(index)
    return False


def _one_by_one(node: Node, party: str, one: Any, rows: list[Any], size: int,
                end: float) -> Iterator[tuple[_Row, _Proof | None]]:
    """A request a row (``GET /receipt``, what a partner without the batch route answers)."""
    for row in rows:
        if time.monotonic() >= end:
            return
        try:
            answer = one(node, party, row[0], size)
        except StoreUnavailable:
            raise
        except AccordError as exc:
            log.debug("receipt proofs from %s not asked: %s", party, exc)
            return
        proof = None
        try:
            proof = None if answer is None else parse_proof(answer, party, row[0], size)
        except FederationError as exc:
            log.debug("%s", exc)
        yield row, proof


def _record(node: Node, party: str, proven: list[tuple[str, int, str]], refused: list[_Row], size: int) -> None:
    """A round's proven and refused receipts, in one transaction (one commit, not one a proof)."""
    if not proven and not refused:
        return
    now = node.clock.now()
    stamp = to_rfc3339(now)
    with write_lock(node), transaction(node.conn):
        gone = sum(max(node.conn.execute("DELETE FROM fed_receipt_checks WHERE party = ? AND ledger_idx = ? AND "
                                         "item_id = ?", row).rowcount, 0) for row in proven)
        if gone:
            node.conn.execute("UPDATE fed_partner_state SET receipts_proven = receipts_proven + ?, "
                              "receipts_pending = receipts_pending - ? WHERE party = ?", (gone, gone, party))
        node.conn.executemany("UPDATE fed_receipt_checks SET tries = tries + 1, refused_since = "
                              "COALESCE(refused_since, ?) WHERE party = ? AND ledger_idx = ? AND item_id = ?",
                              [(stamp, party, index, item_id) for index, item_id, _, _ in refused])
    for index, item_id, seq, since in refused:
        if since is not None and (now - parse_rfc3339(since)).total_seconds() >= UNPROVEN_AFTER:
            if _first_in_a_while(node, party):
                log.warning("partner %s has not proven its receipt for %s (#%d, ledger entry %d, within its "
                            "signed head %d) since %s: it does not give the proof", party, item_id, seq, index,
                            size, since, extra={"event": "receipt.unproven", "partner": party, "item_id": item_id,
                                                "ledger_index": index, "since": since})
            break


def _beyond_head(node: Node, party: str, size: int) -> None:
    """Say (as unproven) a receipt acknowledged :data:`UNPROVEN_AFTER` ago whose index its signed
    heads have still not reached: the partner committed the entry before it answered, so every
    head it signed since holds it."""
    now = node.clock.now()
    cutoff = to_rfc3339(now - timedelta(seconds=UNPROVEN_AFTER))
    with write_lock(node):
        row = node.conn.execute("SELECT ledger_idx, item_id, seq, acked FROM fed_receipt_checks WHERE party = ? AND "
                                "ledger_idx >= ? AND acked <= ? ORDER BY acked LIMIT 1", (party, size, cutoff)).fetchone()
    if row is not None and _first_in_a_while(node, party):
        log.warning("partner %s has not proven its receipt for %s (#%d): it named ledger entry %d, beyond its signed "
                    "head %d, at %s", party, row[1], row[2], row[0], size, row[3],
                    extra={"event": "receipt.unproven", "partner": party, "item_id": row[1], "ledger_index": row[0],
                           "since": row[3]})


def _first_in_a_while(node: Node, party: str) -> bool:
    """True at most once every :data:`UNPROVEN_EVERY` seconds per partner."""
    key, mono = (id(node), party), time.monotonic()
    with _said_lock:
        if mono - _said.get(key, -UNPROVEN_EVERY) < UNPROVEN_EVERY:
            return False
        _said[key] = mono
    return True


def _problem(node: Node, index: int, item_id: str, head: Checkpoint, leaf: bytes, path: list[bytes],
             digest: str | None) -> tuple[bool, str | None]:
    """Whether the path verifies, and why the leaf and path do not prove the receipt of ``item_id``
    at ``index`` or None (``digest``: the item's as this node holds it; None when it holds it no more)."""
    try:
        merkle.verify_inclusion(index, head.size, merkle.hash_leaf(leaf), path, head.root_hash)
    except LedgerError as exc:  # InclusionProofError and the size checks
        return False, (f"the inclusion proof of entry {index} does not verify against the signed head "
                       f"{head.size}: {exc}")
    return True, _leaf_problem(node, index, item_id, leaf, digest)


def _evidence(leaf: bytes, path: list[bytes], verified: bool) -> dict[str, Any]:
    """What a false receipt's event keeps of the proof: a leaf whose path verifies is an entry of the
    partner's signed ledger (bounded by :data:`MAX_LEAF_BYTES`), kept with its path; any other is only
    the partner's words, kept as its SHA-256 and length."""
    if verified:
        return {"leaf": base64.b64encode(leaf).decode(), "path": [base64.b64encode(h).decode() for h in path]}
    return {"leaf_sha256": hashlib.sha256(leaf).hexdigest(), "leaf_bytes": len(leaf)}


def _leaf_problem(node: Node, index: int, item_id: str, leaf: bytes, digest: str | None) -> str | None:
    """Why a leaf proven at ``index`` is not the receipt of ``item_id``, or None."""
    try:
        entry = parse_json_strict(leaf, source="ledger entry")
        kind, data = entry["type"], entry["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
    except (InputError, KeyError, TypeError) as exc:
        return f"entry {index} is not a ledger event: {exc}"
    if kind == "item.received" and data.get("item_id") == item_id and data.get("from") == node.party:
        # every receiver that names an index records the item's digest with it
        if not isinstance(data.get("digest"), str):
            return f"entry {index} records {item_id} without its digest"
        if digest is None:  # not held here any more: the id is what can be compared
            return None
        if data["digest"] != digest:
            return f"entry {index} records {item_id} with digest {str(data['digest'])[:80]}, not {digest}"
        return None
    if kind == "item.retracted" and data.get("retraction") == item_id and data.get("by") == node.party:
        try:  # and of the item this retraction retracts
            target = node.get_item(item_id).body.get("retracts")
        except NotFoundError:  # not held here any more: the retraction's id is what can be compared
            return None
        if data.get("item_id") != target:
            return (f"entry {index} records the retraction {item_id} of {str(data.get('item_id'))[:200]}, "
                    f"not of {str(target)[:200]}")
        return None
    return (f"entry {index} is {str(kind)[:40]} of {str(data.get('item_id'))[:200]} from "
            f"{str(data.get('from', data.get('by')))[:40]}, not the receipt of {item_id} from {node.party}")


def _false(node: Node, party: str, index: int, item_id: str, seq: int, head: Checkpoint, note: str,
           evidence: dict[str, Any], problem: str) -> None:
    """A false receipt: ledgered with the evidence, the partner flagged (once) like an inconsistent one."""
    now = node.clock.now()
    with write_lock(node), transaction(node.conn):
        gone = node.conn.execute("DELETE FROM fed_receipt_checks WHERE party = ? AND ledger_idx = ? AND item_id = ?",
                                 (party, index, item_id)).rowcount
        if gone == 0:  # judged meanwhile (another check, a reset)
            return
        node.conn.execute("UPDATE fed_partner_state SET receipts_false = receipts_false + 1, receipts_pending = "
                          "receipts_pending - ?, inconsistent = COALESCE(inconsistent, ?) WHERE party = ?",
                          (gone, f"{to_rfc3339(now)}: false receipt for {item_id} (#{seq}): {problem}"[:1000], party))
        node.ledger.append("partner.receipt_false", {
            "party": party, "item_id": item_id, "seq": seq, "ledger_index": index, "tree_size": head.size,
            "root": head.root_hash.hex(), "note": note, **evidence, "reason": problem[:500]}, time=now)
    log.error("partner %s gave a false receipt for %s (#%d): %s; flagged until `accord node partner reset-head`",
              party, item_id, seq, problem,
              extra={"event": "receipt.false", "partner": party, "item_id": item_id, "ledger_index": index})


def counts(conn: Any) -> dict[str, int]:
    """Waiting checks per partner, their rows counted: what ``accord node status`` shows (not the count)."""
    return {r[0]: r[1] for r in conn.execute("SELECT party, COUNT(*) FROM fed_receipt_checks GROUP BY party")}

