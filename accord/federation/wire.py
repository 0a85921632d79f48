"""Glue between federation and the core/node: sealing, pinned keys, storing received items.

Envelopes are the core's (:mod:`accord.core.envelopes`, ``accord-envelope/1``); this module only
adapts them to the outbox (canonical bytes) and to the node (pinned partner keys, item store).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.core.envelopes import seal
from accord.core.identity import public_key_from_b64, public_key_from_bytes
from accord.core.items import Item, new_item
from accord.errors import (EnvelopeError, ExpiredError, NotFoundError, ReplayError, SequenceGapError,
                           SignatureError, UnknownKeyError, VerificationError, WrongRecipientError)

if TYPE_CHECKING:
    from accord.store.protocol import Node

RETRACTION_KIND = "accord.retraction"
"""Kind of the item an originator sends to withdraw one of its earlier items."""


_TIMESTAMP_MEMBER = b',"timestamp":"'


def seal_envelope(node: Node, item: Item, recipient: str, seq: int, now: datetime) -> bytes:
    """RFC 8785 canonical bytes of the sealed envelope (what the outbox stores and sends).

    Equal to ``seal(...).to_bytes()`` without canonicalising the item a second time: the signed
    bytes are the canonical object minus ``signature``, and in RFC 8785 member order (§3.2.3)
    ``signature`` sits just before ``timestamp``, the object's last member — so its last
    ``,"timestamp":"`` is the top-level one, and the signature member goes right before it.
    """
    env = seal(item, recipient, seq, node.identity, now)
    signed = env.signing_bytes()
    at = signed.rfind(_TIMESTAMP_MEMBER)
    return signed[:at] + b',"signature":"' + base64.b64encode(env.signature) + b'"' + signed[at:]


def _key_of(partner: Any) -> Ed25519PublicKey:
    for attr in ("public_key", "key"):
        value = getattr(partner, attr, None)
        if isinstance(value, Ed25519PublicKey):
            return value
    for attr in ("public_key_b64", "public_b64", "public_key", "key"):
        value = getattr(partner, attr, None)
        if isinstance(value, str):
            return public_key_from_b64(value)
        if isinstance(value, bytes) and len(value) == 32:
            return public_key_from_bytes(value)
    raise NotFoundError(f"partner record {partner!r} carries no public key")


def partner_keys(node: Node) -> dict[str, Ed25519PublicKey]:
    """Pinned partner keys by party."""
    keys_fn = getattr(node, "partner_keys", None)
    if callable(keys_fn):
        return dict(keys_fn())
    return {party: _key_of(p) for party, p in node.partners().items()}


def partner_key(node: Node, party: str) -> Ed25519PublicKey:
    keys = partner_keys(node)
    if party not in keys:
        raise NotFoundError(f"{party} is not a pinned partner of {node.party}")
    return keys[party]


def pin_of(node: Node, party: str) -> tuple[Any, ...] | None:
    """``party``'s pin as the database has it — its key in the ``partners`` mirror of
    ``node.yaml``, its pin time (``fed_partner_state.pinned_at``) and the ledger leaf of a removal
    of it under way (``fed_removals``) — or ``None`` when it is not pinned; read under the node's
    write lock. A removal is two transactions, ``partner.removed`` (with its pending mark) first,
    then the mirror's row deleted; a new pin (the same key again too) stamps a new pin time; so a
    check that reads this before its network requests and again inside its write transaction
    (under the node's write lock, on SQLite and PostgreSQL alike) sees any removal begun
    meanwhile, in this process or another, and writes nothing for a pin that is going or gone."""
    row = node.conn.execute("SELECT p.public_key, s.pinned_at, r.leaf FROM partners p "
                            "LEFT JOIN fed_partner_state s ON s.party = p.party "
                            "LEFT JOIN fed_removals r ON r.party = p.party WHERE p.party = ?", (party,)).fetchone()
    return tuple(row) if row is not None else None


def store_received_items(node: Node, items: list[Item]) -> None:
    """Store partner items inside the caller's open transaction (no ``item.created`` event:
    the caller records ``item.received``)."""
    store = getattr(node, "store_received", None)
    if callable(store):
        store(items)
        return
    for item in items:  # pragma: no cover - older Node without store_received
        node.put_item(item)


def make_retraction(node: Node, item: Item, reason: str) -> Item:
    if not isinstance(reason, str) or not reason.strip():
        from accord.errors import InputError
        raise InputError("a retraction needs a reason", field="reason")
    return new_item(RETRACTION_KIND, {"retracts": item.id, "reason": reason[:500]}, item.marking,
                    node.party, node.clock.now())


_CODES = (
    (UnknownKeyError, "unknown_key"), (SignatureError, "forged"), (WrongRecipientError, "wrong_recipient"),
    (ReplayError, "replay"), (SequenceGapError, "sequence_gap"), (ExpiredError, "expired"),
    (EnvelopeError, "malformed"),
)


def error_code(exc: Exception) -> str:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return "invalid" if isinstance(exc, VerificationError) else "malformed"


def claimed(raw: Any, field: str) -> Any:
    return raw.get(field) if isinstance(raw, dict) else None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
