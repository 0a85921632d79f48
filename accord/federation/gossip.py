"""Tree-head gossip: partners compare the heads they verified of the third parties they both pin.

The tree-head check (:mod:`accord.federation.treeheads`) proves that each partner's log only grows
*as this node sees it*. A node X that shows one history to partner A and another to partner B
(a split view: to A a head ``(n, r1)``, to B ``(n, r2)``, each consistent in itself) passes both
checks; it is caught only when A and B compare what X showed them. Here they do:

* **Relay** (:func:`relayed_heads`, ``GET /federation/v1/heads``): for each third party this node
  pins, the latest signed checkpoint note of that party this node has verified
  (``fed_partner_state.head_note``), byte for byte as that party signed it — the requester checks
  the third party's own signature with its own pinned key and trusts the relaying node for
  nothing. At most :data:`MAX_HEADS` notes of at most :data:`MAX_NOTE_CHARS` characters.
* **Compare** (:func:`exchange_heads`, run by each partner's tree-head check at most every
  ``gossip_interval`` seconds): each relayed note of a party this node pins is opened with *this* node's
  pinned key for that party (notes of other parties, and notes whose signature fails, are
  skipped: the relayer may be behind a key rotation) and compared with this node's own latest
  verified head of that party. The same size with another root is an equivocation (two validly
  signed heads). Different sizes: the third party itself is asked for the consistency proof
  between the two sizes, verified against both roots; a proof that does not link them is an
  equivocation. A proof that cannot be fetched proves nothing (compared again next time), but
  is said in a throttled warning: an equivocator could hide behind refusing just these proofs.
* **Flag**: on equivocation the third party — never the relayer, who only carried what the third
  party signed — is marked exactly as :func:`accord.federation.treeheads.check_partner_head` marks
  an inconsistent partner: the sticky ``fed_partner_state.inconsistent`` flag that ``accord node
  status`` shows and ``accord node partner reset-head`` clears, and the ledger event
  ``partner.equivocated`` with both signed notes as evidence, naming the relayer and the party.

A relayed answer is hostile input: larger than :data:`MAX_ANSWER_BYTES`, not the JSON shape, or
with more than :data:`MAX_HEADS` entries, it is refused whole in one line; a bad entry is skipped
(one throttled log line per relayer says how many and the first reason). Nothing is flagged
unless both notes verify under the third party's pinned key, and that key is still the one its pin
holds (pinned again with another key meanwhile, the party is compared next time instead).
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.checkpoint import Checkpoint, Verifier, open_checkpoint, origin_for, verify_consistency
from accord.core.identity import public_key_from_b64, raw_public
from accord.errors import AccordError, CheckpointError, ConsistencyProofError, FederationError, InputError
from accord.federation import wire
from accord.federation.schema import ensure_node_schema, write_lock
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

log = logging.getLogger("accord.federation")

MAX_HEADS = 64
"""The most third-party heads one answer carries (a relayer lists fewer: it pins fewer parties)."""

MAX_NOTE_CHARS = 4096
"""The longest relayed note (an Accord checkpoint note is about 200 characters)."""

MAX_ANSWER_BYTES = 512 * 1024
"""The largest relayed answer read; past it the answer is refused whole."""

GOSSIP_INTERVAL = 60.0
"""Seconds between two gossip exchanges with one partner in a running node."""

SAY_EVERY = 600.0
"""Seconds between two log lines about one relayer's skipped or refused gossip."""


# --- the relaying side ------------------------------------------------------------------------
def relayed_heads(node: Node, requester: str) -> dict[str, Any]:
    """``{"party": this node, "heads": [{"party": P, "note": …}]}``: for each party P this node
    pins other than ``requester``, the latest checkpoint note of P this node verified, exactly as
    P signed it."""
    ensure_node_schema(node)
    pinned = node.partners()
    with write_lock(node):  # committed rows only, never another thread's open transaction
        rows = node.conn.execute("SELECT party, head_note FROM fed_partner_state WHERE head_note IS NOT NULL "
                                 "ORDER BY party").fetchall()
    heads = [{"party": p, "note": n} for p, n in rows
             if p in pinned and p != requester and isinstance(n, str) and len(n) <= MAX_NOTE_CHARS]
    return {"party": node.party, "heads": heads[:MAX_HEADS]}


# --- the comparing side -----------------------------------------------------------------------
@dataclass
class GossipResult:
    """What one exchange with ``relayer`` did: parties compared and found in agreement, parties
    flagged, entries refused (``"P: why"``: not a third party pinned here, a signature that does
    not verify …) and parties not compared this time (no head of it here yet, no proof from it)."""

    relayer: str
    agreed: list[str] = field(default_factory=list)
    equivocated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unproven: list[str] = field(default_factory=list)


def parse_heads(body: bytes, relayer: str) -> list[tuple[Any, Any]]:
    """The ``(party, note)`` entries of a relayed answer; :class:`FederationError` (one line)
    for an answer too large, not JSON, or not ``{"heads": [...]}`` of at most :data:`MAX_HEADS`."""
    if len(body) > MAX_ANSWER_BYTES:
        raise FederationError(f"{relayer}'s tree heads answer is over {MAX_ANSWER_BYTES} bytes: refused")
    try:
        data = parse_json_strict(body, source=f"tree heads from {relayer}")
    except InputError as exc:
        raise FederationError(f"{relayer}'s tree heads answer is not JSON: {exc}") from None
    heads = data.get("heads") if isinstance(data, dict) else None
    if not isinstance(heads, list):
        raise FederationError(f"{relayer}'s tree heads answer has no \"heads\" list: refused")
    if len(heads) > MAX_HEADS:
        raise FederationError(f"{relayer}'s tree heads answer lists {len(heads)} heads, more than {MAX_HEADS}: "
                              "refused")
    return [(h.get("party"), h.get("note")) if isinstance(h, dict) else (None, None) for h in heads]


def exchange_heads(node: Node, relayer: str, transport: Any) -> GossipResult:
    """Fetch ``relayer``'s view of the third parties and compare it with this node's (see the
    module docstring). A failure to get or read the answer raises :class:`FederationError`
    (nothing recorded); an equivocation is recorded and listed in the result."""
    ensure_node_schema(node)
    result = GossipResult(relayer)
    get = getattr(transport, "get_heads", None)
    if get is None:  # a transport that cannot relay (a test double): nothing to compare
        return result
    body = get(node, relayer)  # not reached: the caller's concern (the head check reports outages)
    try:
        entries = parse_heads(body, relayer)
    except FederationError as exc:  # refused: said once in a while
        _say(node, relayer, str(exc))
        raise
    pinned = wire.partner_keys(node)
    seen: set[str] = set()
    for party, note in entries:
        if not isinstance(party, str) or not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
            result.skipped.append(f"{str(party)[:40]}: not a party code and a note of at most "
                                  f"{MAX_NOTE_CHARS} characters")
            continue
        if party in (relayer, node.party) or party not in pinned:
            result.skipped.append(f"{party[:40]}: not a third party this node pins")
            continue
        if party in seen:  # one verified note of a party per answer
            result.skipped.append(f"{party}: listed twice")
            continue
        if _compare(node, relayer, party, note, pinned[party], transport, result):
            seen.add(party)
    if result.skipped:
        _say(node, relayer, f"gossip from {relayer}: {len(result.skipped)} head(s) skipped, first: "
                            f"{result.skipped[0]}")
    return result


def _compare(node: Node, relayer: str, party: str, note: str, key: Any, transport: Any,
             result: GossipResult) -> bool:
    """Compare one relayed note of ``party`` with this node's head; False if it does not verify."""
    origin = origin_for(party, key)
    verifier = Verifier.from_key(origin, key)
    try:
        theirs, _ = open_checkpoint(note, [verifier], origin=origin)
    except CheckpointError as exc:  # not signed by the key we pin (a rotation, or a forgery)
        result.skipped.append(f"{party}: relayed note does not verify under the pinned key: {exc}"[:300])
        return False
    with write_lock(node):  # committed rows only, never another thread's open transaction
        pin = wire.pin_of(node, party)
        row = node.conn.execute("SELECT head_size, head_root, head_note, inconsistent FROM fed_partner_state "
                                "WHERE party=?", (party,)).fetchone()
    if not _pins_key(pin, key):
        # pinned again with another key (or removed) since ``key`` was read: the notes verified
        # under the old key say nothing about the party as pinned now, so nothing is flagged
        result.unproven.append(f"{party}: pinned again or removed during the comparison")
        return True
    if not row or row[0] is None or not row[2]:
        result.unproven.append(f"{party}: no verified head of it here yet")
        return True
    try:
        ours, _ = open_checkpoint(row[2], [verifier], origin=origin)
    except CheckpointError as exc:  # our head is from an older pin of the party
        result.unproven.append(f"{party}: this node's own head does not verify under the pinned key: {exc}"[:300])
        return True
    reason = _disagreement(node, relayer, party, ours, theirs, transport, result)
    if reason is not None and _flag(node, relayer, party, (pin, tuple(row)), (ours, row[2]), (theirs, note), reason):
        result.equivocated.append(party)
    return True


def _pins_key(pin: tuple[Any, ...] | None, key: Any) -> bool:
    """Whether ``pin`` (:func:`accord.federation.wire.pin_of`) is of the key ``key``."""
    if pin is None or not isinstance(pin[0], str):
        return False
    try:
        return raw_public(public_key_from_b64(pin[0])) == raw_public(key)
    except (AccordError, ValueError, TypeError):
        return False


def _disagreement(node: Node, relayer: str, party: str, ours: Checkpoint, theirs: Checkpoint, transport: Any,
                  result: GossipResult) -> str | None:
    """Why the two heads cannot both be the party's honest log, or None (agreed, or unproven).

    A proof not given proves nothing, but it is said (one throttled line per party): the party
    signed both sizes, so its ledger can prove them unless it is away — and a node that shows
    partners different histories escapes the comparison by refusing just these proofs."""
    if ours.size == theirs.size:
        if ours.root_hash == theirs.root_hash:
            result.agreed.append(party)
            return None
        return (f"two signed heads of size {ours.size} with different roots "
                f"({ours.root_hash.hex()} and {theirs.root_hash.hex()})")
    small, large = sorted((ours, theirs), key=lambda c: c.size)
    if small.size == 0:
        result.agreed.append(party)
        return None
    try:
        proof = transport.get_consistency(node, party, small.size, large.size)
    except AccordError as exc:  # unreachable, or it would not say: proves nothing
        result.unproven.append(f"{party}: no consistency proof {small.size}→{large.size} from it: {exc}"[:300])
        _say(node, party, f"{party} gave no consistency proof between its heads of sizes {ours.size} (verified "
                          f"here) and {theirs.size} (relayed by {relayer}), which it signed both: "
                          f"{str(exc)[:300]}; compared again at the next gossip — unless {party} is away, "
                          "a node that shows partners different histories escapes the comparison so",
             event="gossip.unproven")
        return None
    try:
        verify_consistency(small, large, [base64.b64decode(p, validate=True) for p in proof])
    except (ConsistencyProofError, CheckpointError, binascii.Error, ValueError, TypeError) as exc:
        return f"its heads {small.size} and {large.size} are not one history: {exc}"
    result.agreed.append(party)
    return None


def _evidence(cp: Checkpoint, note: str) -> dict[str, Any]:
    return {"size": cp.size, "root": cp.root_hash.hex(), "note": note}


def _flag(node: Node, relayer: str, party: str, seen: tuple[Any, tuple[Any, ...]], ours: tuple[Checkpoint, str],
          theirs: tuple[Checkpoint, str], reason: str) -> bool:
    """Mark ``party`` inconsistent and ledger ``partner.equivocated`` (once: a party flagged
    already keeps its flag and first reason). False when this node's head of the party, or its
    pin, changed meanwhile (``seen``: both as read before the proof was fetched): a party removed
    meanwhile is not flagged after its removal; one still pinned is compared again next time."""
    pin, row = seen
    now = node.clock.now()
    with write_lock(node):
        with transaction(node.conn):
            again = node.conn.execute("SELECT head_size, head_root, head_note, inconsistent FROM fed_partner_state "
                                      "WHERE party=?", (party,)).fetchone()
            if again is None or tuple(again)[:3] != row[:3] or pin is None or wire.pin_of(node, party) != pin:
                return False
            if again[3]:
                return True
            said = f"equivocated: {reason} (the other head relayed by {relayer})"
            node.conn.execute("UPDATE fed_partner_state SET inconsistent=? WHERE party=?",
                              (f"{to_rfc3339(now)}: {said}"[:1000], party))
            node.ledger.append("partner.equivocated", {
                "party": party, "relayer": relayer, "reason": reason[:500],
                "ours": _evidence(*ours), "relayed": _evidence(*theirs)}, time=now)
    log.error("partner %s equivocated: %s (the other head relayed by %s); flagged until "
              "`accord node partner reset-head`", party, reason, relayer,
              extra={"event": "ledger.equivocated", "partner": party, "relayer": relayer})
    return True


_said: dict[tuple[int, str, str], float] = {}
_said_lock = threading.Lock()


def _say(node: Node, partner: str, line: str, *, event: str = "gossip.skipped") -> None:
    """One WARNING line of ``event`` about ``partner`` (the relayer, or for ``gossip.unproven`` the
    third party) per :data:`SAY_EVERY` seconds."""
    now = time.monotonic()
    with _said_lock:
        last = _said.get((id(node), partner, event))
        if last is not None and now - last < SAY_EVERY:
            return
        _said[(id(node), partner, event)] = now
    log.warning(line, extra={"event": event, "partner": partner})
