"""Tree-head exchange: fetch each partner's signed checkpoint and check it extends the last one.

For partner P with pinned key K (RFC 9162 §2.1.4, C2SP tlog-checkpoint / signed-note):

1. fetch P's latest checkpoint note and open it with the verifier ``origin_for(P, K)`` (a head
   not signed by P's pinned key is refused);
2. compare with the last head of P this node verified ``(m, r_m)``: the new size ``n`` must be
   ``>= m``, ``n == m`` needs the same root, and ``n > m`` needs a consistency proof
   ``PROOF(m, D[n])`` fetched from P that links ``r_m`` to ``r_n``
   (:func:`accord.core.checkpoint.verify_consistency`);
3. on success the new head is stored; on failure the partner is flagged **at once**: ledger event
   ``partner.inconsistent`` (old and new size and root, the reason) and a sticky flag in
   ``fed_partner_state.inconsistent`` that ``accord node status`` shows. The old head is kept, so
   every later head is still checked against the last trusted one — until an operator who has
   looked into it resets the head (:func:`reset_partner_head`, ``accord node partner
   reset-head``), itself a ledger event.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.checkpoint import Checkpoint, Verifier, open_checkpoint, origin_for, verify_consistency
from accord.core.identity import public_key_from_b64
from accord.errors import CheckpointError, ConsistencyProofError, InputError, LedgerError
from accord.federation import receipts, wire
from accord.federation.schema import ensure_node_schema
from accord.federation.schema import write_lock
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")


def local_checkpoint(node: Node) -> str:
    """This node's latest signed checkpoint (a C2SP signed note)."""
    with write_lock(node):
        return node.ledger.checkpoint()


def local_consistency(node: Node, first: int, second: int) -> list[str]:
    """``PROOF(first, D[second])`` of this node's ledger, base64 hashes."""
    with write_lock(node):
        return [base64.b64encode(h).decode() for h in node.ledger.consistency_proof(first, second)]


@dataclass(frozen=True)
class HeadCheck:
    """What one tree-head check found. ``pin_changed``: the partner was removed (or removed and
    pinned again) while the check was on its way, so it recorded nothing and speaks for no
    current pin — not even for the partner having been reached."""

    party: str
    size: int
    root: str
    consistent: bool
    reason: str | None = None
    pin_changed: bool = False


def check_partner_head(node: Node, party: str, transport: Any) -> HeadCheck:
    """Fetch, verify and record partner ``party``'s tree head (see module docstring).

    Network failures propagate as :class:`~accord.errors.FederationError`; a bad signature raises
    :class:`CheckpointError` (nothing recorded: it proves nothing about the partner); an
    inconsistent history is recorded and returned with ``consistent=False``. A partner removed
    (or removed and pinned again) while the check was on its way has nothing recorded: the write
    is made only if the pin read before the fetch is still the pin in the write's transaction.
    """
    ensure_node_schema(node)
    key = wire.partner_key(node, party)  # NotFoundError for a party not pinned; node.yaml's pins mirrored
    with write_lock(node):
        pin = wire.pin_of(node, party)  # the pin this check is made under, compared again before its write
    if pin is not None:  # its key, read with it (a re-pin since the lookup above is not missed)
        key = public_key_from_b64(pin[0])
    origin = origin_for(party, key)  # (no pin any more: nothing is recorded, under whichever key)
    note = transport.get_checkpoint(node, party)
    new, _ = open_checkpoint(note, [Verifier.from_key(origin, key)], origin=origin)
    with write_lock(node):  # committed rows only, never another thread's open transaction
        row = node.conn.execute("SELECT head_size, head_root, inconsistent FROM fed_partner_state WHERE party=?",
                                (party,)).fetchone()
    old_size = row[0] if row and row[0] is not None else None
    reason = None
    if old_size is not None:
        old = Checkpoint(origin, old_size, bytes.fromhex(row[1]))
        try:
            proof = []
            if 0 < old.size < new.size:
                proof = [base64.b64decode(p) for p in transport.get_consistency(node, party, old.size, new.size)]
            verify_consistency(old, new, proof)
        except (ConsistencyProofError, LedgerError, CheckpointError, ValueError) as exc:
            reason = str(exc)
    now = node.clock.now()
    with write_lock(node):
        with transaction(node.conn):
            if pin is None or wire.pin_of(node, party) != pin:
                # removed (or removed and pinned again) while its head was fetched: this check
                # speaks for a pin that is gone, so it writes nothing back — no head, no flag,
                # no ledger event after the partner's removal
                log.debug("tree head of %s not recorded: its pin changed during the check", party)
                return HeadCheck(party, new.size, new.root_hash.hex(), reason is None, reason, pin_changed=True)
            again = node.conn.execute("SELECT head_size, head_root, inconsistent FROM fed_partner_state "
                                      "WHERE party=?", (party,)).fetchone()
            if (tuple(again) if again else None) != (tuple(row) if row else None):
                # the state changed while the proof was fetched (an operator's reset, another
                # check): this result was judged against a stale head, so it records nothing
                return HeadCheck(party, new.size, new.root_hash.hex(), reason is None, reason)
            if reason is None:
                node.conn.execute(
                    "INSERT INTO fed_partner_state(party, head_size, head_root, head_note, head_checked, last_contact) "
                    "VALUES (?,?,?,?,?,?) ON CONFLICT(party) DO UPDATE SET head_size=excluded.head_size, "
                    "head_root=excluded.head_root, head_note=excluded.head_note, "
                    "head_checked=excluded.head_checked, last_contact=excluded.last_contact"
                    + (", inconsistent=NULL" if old_size is None else ""),  # a new baseline
                    (party, new.size, new.root_hash.hex(), note, to_rfc3339(now), to_rfc3339(now)))
            else:
                node.conn.execute("UPDATE fed_partner_state SET inconsistent=?, head_checked=? WHERE party=?",
                                  (f"{to_rfc3339(now)}: {reason}"[:1000], to_rfc3339(now), party))
                if not (row and row[2]):  # flag once; later heads stay refused until cleared
                    node.ledger.append("partner.inconsistent", {
                        "party": party, "old_size": old_size, "old_root": row[1], "new_size": new.size,
                        "new_root": new.root_hash.hex(), "reason": reason[:500]}, time=now)
                    log.error("ledger of partner %s is inconsistent: head %d does not extend the verified head %d "
                              "(%s); flagged until `accord node partner reset-head`", party, new.size, old_size,
                              reason, extra={"event": "ledger.inconsistent", "partner": party,
                                             "old_size": old_size, "new_size": new.size})
    if reason is None:  # the partner's receipts, checked against the head just verified
        receipts.prove(node, party, transport, new, note)
    return HeadCheck(party, new.size, new.root_hash.hex(), reason is None, reason)


def reset_partner_head(node: Node, party: str, reason: str) -> dict[str, Any]:
    """Forget the last verified head of ``party`` and clear its inconsistent flag.

    For the operator who has investigated a flagged partner (a history rewritten, a node restored
    from an old backup) and decided to trust its ledger again from now on: the next head fetched
    becomes the new baseline, as at first contact. Nothing is deleted from this node's own ledger:
    the reset is itself recorded (``partner.head_reset``, with the old head, the flag and
    ``reason``), next to the ``partner.inconsistent`` event it answers. The receipts of ``party``
    still waiting for a proof (:mod:`accord.federation.receipts`) are dropped with it, and counted
    in the event. Returns what was reset.
    """
    ensure_node_schema(node)
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("a head reset needs a reason (it is recorded in the ledger)", field="reason")
    wire.partner_key(node, party)  # NotFoundError for a party that is not pinned
    now = node.clock.now()
    with write_lock(node):
        with transaction(node.conn):
            row = node.conn.execute("SELECT head_size, head_root, inconsistent FROM fed_partner_state WHERE party=?",
                                    (party,)).fetchone()
            old = {"party": party, "old_size": row[0] if row else None, "old_root": row[1] if row else None,
                   "was_inconsistent": row[2] if row else None, "reason": reason.strip()[:500]}
            node.conn.execute("UPDATE fed_partner_state SET head_size=NULL, head_root=NULL, head_note=NULL, "
                              "inconsistent=NULL, head_checked=? WHERE party=?", (to_rfc3339(now), party))
            # the receipts still to prove were given by the ledger now distrusted: not held against the new one
            old["receipt_checks_dropped"] = node.conn.execute("DELETE FROM fed_receipt_checks WHERE party=?",
                                                              (party,)).rowcount
            node.conn.execute("UPDATE fed_partner_state SET receipts_pending = 0 WHERE party=?", (party,))
            node.ledger.append("partner.head_reset", old, time=now)
    return old
