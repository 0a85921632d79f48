"""Envelopes: what travels between nodes — a signed item with sender, recipient, sequence, time.

Wire form (a JSON object; on the wire its RFC 8785 canonical bytes)::

    {"format": "accord-envelope/1", "originator": "JPN", "recipient": "KOR", "seq": 42,
     "timestamp": "2026-06-01T00:00:00.000Z", "item": {…Item.to_json()…},
     "signature": "<base64 Ed25519 signature>"}

The signature is Ed25519 (RFC 8032) by the originator's node key over the RFC 8785 canonical
JSON of every field except ``signature`` (:meth:`Envelope.signing_bytes`); the ``format`` tag
separates it from every other thing Accord signs. ``seq`` counts envelopes per (originator,
recipient) pair from 1.

:func:`verify_envelope` checks, in this order, and raises a distinct error for each failure. The
checks come in three steps, each a function of its own, so that a caller that runs them apart
(the federation inbox checks signatures before it takes the node's write lock, sequence numbers
under it) composes the same steps in the same order:

* :func:`authenticate` —

  1. the originator's key is pinned (:class:`~accord.errors.UnknownKeyError`);
  2. the signature verifies under it (:class:`~accord.errors.SignatureError`: forged or altered);
  3. it is addressed to us (:class:`~accord.errors.WrongRecipientError`);

* :func:`check_sequence` —

  4. ``seq > last_seq`` (:class:`~accord.errors.ReplayError`) and ``seq <= last_seq + window``
     (:class:`~accord.errors.SequenceGapError`) — ``last_seq`` is the highest sequence accepted
     *in order* from this originator; the caller (federation) dedupes out-of-order arrivals
     inside the window by (originator, seq) and persists ``last_seq``;

* :func:`check_item` —

  5. ``now - max_age <= timestamp <= now + max_skew`` (:class:`~accord.errors.ExpiredError`);
  6. the item is well-formed and its originator is the envelope's originator
     (:class:`~accord.errors.EnvelopeError`);
  7. the item's ``created`` is at most ``max_lead`` ahead of ``now`` (:data:`MAX_ITEM_LEAD`;
     :class:`~accord.errors.ExpiredError`): a partner's item dated years ahead would be taken as
     the newest, above everything made after it.

The steps are pure: they touch no store; :func:`check_item` (and so :func:`verify_envelope`)
returns the verified :class:`Item`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.canonical import canonical_json, parse_json_strict
from accord.core.identity import Identity, fingerprint, verify_fast
from accord.core.items import Item, with_wire_form
from accord.core.markings import is_party
from accord.errors import (AccordError, EnvelopeError, ExpiredError, InputError, ReplayError,
                           SequenceGapError, SignatureError, UnknownKeyError, WrongRecipientError, shown)

FORMAT = "accord-envelope/1"
_FIELDS = ("format", "originator", "recipient", "seq", "timestamp", "item", "signature")
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Envelope:
    originator: str
    recipient: str
    seq: int
    timestamp: datetime
    item: dict[str, Any]
    signature: bytes
    #: internal: the signing bytes :func:`seal` already built (not a field: ``dataclasses.replace``
    #: never carries them to another envelope)
    _signed: InitVar[bytes | None] = None

    def __post_init__(self, _signed: bytes | None = None) -> None:
        object.__setattr__(self, "_given_signing", _signed)

    _given_signing: bytes | None = field(init=False, default=None, repr=False, compare=False)

    def unsigned_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "originator": self.originator, "recipient": self.recipient,
                "seq": self.seq, "timestamp": to_rfc3339(self.timestamp), "item": self.item}

    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of every field but the signature: what the originator signs."""
        return self._signing_bytes

    @cached_property
    def _signing_bytes(self) -> bytes:  # frozen: computed once (RFC 8785 in Python is the hot spot)
        if self._given_signing is not None:
            return self._given_signing
        if is_party(self.originator) and is_party(self.recipient) and type(self.seq) is int \
                and type(self.timestamp) is datetime and self.timestamp.tzinfo is not None:
            # RFC 8785 orders the members format, item, originator, recipient, seq, timestamp
            # (§3.2.3): only the item needs canonicalising; the rest is fixed text
            return _HEAD + self.item_bytes + _tail(self.originator, self.recipient, self.seq, self.timestamp)
        return canonical_json(self.unsigned_json())

    @cached_property
    def item_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of the envelope's ``item`` (the middle of the signing bytes)."""
        return canonical_json(self.item)

    def to_json(self) -> dict[str, Any]:
        return {**self.unsigned_json(), "signature": base64.b64encode(self.signature).decode()}

    def to_bytes(self) -> bytes:
        return self._bytes

    @cached_property
    def _bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`to_bytes` — for ledger events and dedupe."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_json(cls, data: object, *, source: str = "envelope") -> "Envelope":
        """Check the structure (not the signature — that is :func:`verify_envelope`'s job)."""
        def bad(msg: str, fld: str | None = None) -> EnvelopeError:
            return EnvelopeError(msg, source=source, field=fld)

        if not isinstance(data, dict):
            raise bad(f"an envelope must be a JSON object, got {type(data).__name__}")
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise bad(f"missing field(s): {', '.join(missing)}", missing[0])
        extra = sorted(set(data) - set(_FIELDS))
        if extra:
            names = [k if len(k) <= 60 else shown(k) for k in extra[:5]]
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            raise bad(f"unknown field(s): {', '.join(names)}{more}", names[0])
        if data["format"] != FORMAT:
            raise bad(f"unsupported format {shown(data['format'])} (expected {FORMAT!r})", "format")
        for fld in ("originator", "recipient"):
            if not is_party(data[fld]):
                raise bad(f"{shown(data[fld])} is not an ISO 3166-1 alpha-3 party", fld)
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**53:
            raise bad(f"seq must be an integer from 1, got {shown(seq)}", "seq")
        try:
            timestamp = parse_rfc3339(data["timestamp"], field="timestamp")
        except InputError as exc:
            raise bad(exc.detail, "timestamp") from None
        if not isinstance(data["item"], dict):
            raise bad("item must be a JSON object", "item")
        sig_text = data["signature"]
        try:
            if not isinstance(sig_text, str):
                raise ValueError
            signature = base64.b64decode(sig_text, validate=True)
        except (binascii.Error, ValueError):
            raise bad("signature is not a base64 string", "signature") from None
        if len(signature) != 64:
            raise bad(f"an Ed25519 signature is 64 bytes, got {len(signature)}", "signature")
        return cls(data["originator"], data["recipient"], seq, timestamp, data["item"], signature)

    @classmethod
    def from_bytes(cls, data: bytes | str, *, source: str = "envelope") -> "Envelope":
        """Parse strictly (duplicate keys and NaN rejected, size capped) and check the structure."""
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}", source=source)
        return cls.from_json(parse_json_strict(data, source=source), source=source)


_HEAD = b'{"format":' + canonical_json(FORMAT) + b',"item":'


def _tail(originator: str, recipient: str, seq: int, timestamp: datetime) -> bytes:
    """The signing bytes after the item (RFC 8785: originator, recipient, seq, timestamp).

    Parties are ISO alpha-3 codes, ``seq`` a safe integer and the timestamp RFC 3339 text, all
    checked before this is called, so none needs JSON escaping or number formatting.
    """
    return (f',"originator":"{originator}","recipient":"{recipient}","seq":{seq},'
            f'"timestamp":"{to_rfc3339(timestamp)}"}}').encode()


def seal(item: Item, recipient: str, seq: int, identity: Identity, now: datetime) -> Envelope:
    """Sign ``item`` for ``recipient`` as envelope number ``seq`` of ``identity.party`` → ``recipient``.

    The signing bytes are the item's cached canonical bytes spliced between fixed text
    (:data:`_HEAD`, :func:`_tail`), not the envelope canonicalised again: for a track item,
    sealing costs 1.4× as much the other way (``bench/canonical.py``, one run on a loaded
    machine; for a small note the two were within noise). A property test holds the splice to
    ``canonical_json(envelope.unsigned_json())``.
    """
    if item.originator != identity.party:
        raise EnvelopeError(f"item {item.id} was originated by {item.originator}, not by this node "
                            f"({identity.party}); a node seals only its own items", field="item.originator")
    if not is_party(recipient) or recipient == identity.party:
        raise EnvelopeError(f"recipient {recipient!r} must be a partner party", field="recipient")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise EnvelopeError(f"seq must be an integer from 1, got {seq!r}", field="seq")
    now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)  # wire precision
    unsigned = Envelope(identity.party, recipient, seq, now, item.to_json(), b"")
    # RFC 8785 orders the members format, item, originator, recipient, seq, timestamp (§3.2.3):
    # splice in the item's cached canonical bytes instead of canonicalising it again.
    signing = _HEAD + item.canonical() + _tail(identity.party, recipient, seq, unsigned.timestamp)
    return Envelope(identity.party, recipient, seq, unsigned.timestamp, unsigned.item, identity.sign(signing),
                    _signed=signing)


MAX_SKEW = timedelta(seconds=30)
"""How far ahead of ``now`` an envelope's timestamp may be (two nodes' clocks disagree a little)."""

MAX_ITEM_LEAD = MAX_SKEW + timedelta(seconds=300)
"""How far ahead of ``now`` the item an envelope carries may say it was ``created``: the clocks'
skew (:data:`MAX_SKEW`) plus the lead a radar feed's scans may have on their node's clock by
default (``accord.feeds.scans.CLOCK_AHEAD_S``, 300 s), by which that node dates its tracks and
predictions. An item dated further ahead would be taken as newer than everything made after it."""


def verify_envelope(env: Envelope, *, recipient: str, keys: Mapping[str, Ed25519PublicKey], last_seq: int,
                    now: datetime, window: int = 64, max_age: timedelta = timedelta(minutes=10),
                    max_skew: timedelta = MAX_SKEW, max_lead: timedelta = MAX_ITEM_LEAD) -> Item:
    """Verify ``env`` (see the module docstring for the order of checks) and return its item."""
    authenticate(env, recipient=recipient, keys=keys)
    check_sequence(env, last_seq=last_seq, window=window)
    return check_item(env, now=now, max_age=max_age, max_skew=max_skew, max_lead=max_lead)


def authenticate(env: Envelope, *, recipient: str, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """:func:`verify_envelope`'s checks 1–3: the originator's key is pinned
    (:class:`~accord.errors.UnknownKeyError`), the Ed25519 signature verifies under it
    (:class:`~accord.errors.SignatureError`), and the envelope is addressed to ``recipient``
    (:class:`~accord.errors.WrongRecipientError`)."""
    key = keys.get(env.originator)
    if key is None:
        raise UnknownKeyError(f"envelope from {env.originator}: no pinned key for {env.originator} "
                              f"(pinned: {', '.join(sorted(keys)) or 'none'})")
    try:
        ok = verify_fast(key, env.signature, env.signing_bytes())
    except AccordError:
        ok = False
    if not ok:
        raise SignatureError(f"envelope {env.originator}→{env.recipient} #{env.seq}: signature does not "
                             f"verify under {env.originator}'s pinned key {fingerprint(key)} "
                             "(forged or altered in transit)") from None
    if env.recipient != recipient:
        raise WrongRecipientError(f"envelope {env.originator} #{env.seq} is addressed to another party",
                                  expected=recipient, actual=env.recipient)


def check_sequence(env: Envelope, *, last_seq: int, window: int) -> None:
    """:func:`verify_envelope`'s check 4: raise :class:`~accord.errors.ReplayError` if ``env.seq``
    was accepted already (``<= last_seq``), :class:`~accord.errors.SequenceGapError` if it lies
    beyond the window."""
    if env.seq <= last_seq:
        raise ReplayError(f"envelope {env.originator}→{env.recipient} #{env.seq} replayed: sequence already "
                          f"accepted up to {last_seq}", expected=f"> {last_seq}", actual=env.seq)
    if env.seq > last_seq + window:
        raise SequenceGapError(f"envelope {env.originator}→{env.recipient} #{env.seq} is beyond the "
                               f"out-of-order window of {window} after #{last_seq}",
                               expected=f"<= {last_seq + window}", actual=env.seq)


def check_item(env: Envelope, *, now: datetime, max_age: timedelta, max_skew: timedelta = MAX_SKEW,
               max_lead: timedelta = MAX_ITEM_LEAD) -> Item:
    """:func:`verify_envelope`'s checks 5–7 on an envelope :func:`authenticate` passed: its age
    (:class:`~accord.errors.ExpiredError`), then its item — well-formed and from the envelope's
    originator (:class:`~accord.errors.EnvelopeError`), created at most ``max_lead`` ahead of
    ``now`` (:class:`~accord.errors.ExpiredError`). Returns the item."""
    if env.timestamp < now - max_age:
        raise ExpiredError(f"envelope {env.originator}→{env.recipient} #{env.seq} is too old: sent "
                           f"{to_rfc3339(env.timestamp)}, now {to_rfc3339(now)}, max age {max_age}")
    if env.timestamp > now + max_skew:
        raise ExpiredError(f"envelope {env.originator}→{env.recipient} #{env.seq} is from the future: sent "
                           f"{to_rfc3339(env.timestamp)}, now {to_rfc3339(now)}, allowed skew {max_skew}")
    item = Item.from_json(env.item, source=f"envelope {env.originator} #{env.seq} item")
    if item.originator != env.originator:
        raise EnvelopeError(f"item {item.id} claims originator {item.originator} but the envelope is "
                            f"from {env.originator}", source=f"envelope {env.originator} #{env.seq}",
                            field="item.originator")
    if item.created > now + max_lead:
        raise ExpiredError(f"envelope {env.originator}→{env.recipient} #{env.seq} carries item {item.id} dated "
                           f"from the future: created {item.created_text()}, now {to_rfc3339(now)}, allowed "
                           f"lead {max_lead}")
    return _with_item_bytes(env, item)


def _with_item_bytes(env: Envelope, item: Item) -> Item:
    """``item`` holding its canonical bytes from the envelope's verified signing bytes.

    The signing bytes are RFC 8785 JSON of {format, item, originator, recipient, seq, timestamp}
    in that member order (§3.2.3), built around :attr:`Envelope.item_bytes`. Those equal
    ``canonical_json(item.to_json())`` only when the item's wire form was already normal
    (``to_json() == env.item``); otherwise ``item`` is returned as it is and canonicalises itself
    when asked.
    """
    w = env.item
    if len(w) == 6 and w.get("id") == item.id and w.get("kind") == item.kind \
            and w.get("originator") == item.originator and w.get("created") == item.created_text() \
            and (w.get("body") is item.body or w.get("body") == item.body) \
            and w.get("marking") == item.marking.json_view():  # i.e. item.to_json() == env.item
        return with_wire_form(item, w["created"], env.item_bytes)
    return item
