"""Signed warning events: what ``accord warning ingest`` publishes on
``<prefix>.<party>.warning.<track|prediction|alert>``, and what ``accord warning watch`` checks
before it shows anything.

A message's data is the item's RFC 8785 canonical JSON, as the node stores it; two headers carry
a detached Ed25519 signature (RFC 8032) by the node's key:

* ``Accord-Signed-At`` — when the ingest signed it (RFC 3339, milliseconds, UTC, the publishing
  host's clock);
* ``Accord-Signature`` — base64 of the signature over
  ``accord-warning-event/1`` LF ``<subject>`` LF ``<Accord-Signed-At>`` LF ``<data>``
  (:func:`signing_bytes`).

The leading tag keeps these bytes apart from everything else the node signs (an envelope's
signing bytes start ``{"format":``, a signed note with its origin ``accord.node/…``, an RFC 9421
signature base with ``"@``). The subject binds the item to its party and kind: a signed track
published again on another subject or under another prefix does not verify. The time lets a
watch refuse a recorded message played back later (:data:`MAX_AGE`); within that age a repeat
is dropped by its item id (:class:`accord.feeds.watch.RecentIds`).

:func:`verified` checks, in this order, and raises :class:`EventRefused` with one line for the
first failure: the headers are there; the signature verifies under the node's key; the signing
time is no more than :data:`MAX_AGE` old and no more than :data:`MAX_SKEW` ahead; the data is an
Accord item of the watched party whose kind is the subject's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.identity import Identity, fingerprint, verify_fast
from accord.core.items import Item
from accord.errors import AccordError, InputError
from accord.feeds.scans import KINDS, warning_subject

SIGNATURE = "Accord-Signature"
SIGNED_AT = "Accord-Signed-At"
TAG = b"accord-warning-event/1\n"

MAX_AGE = timedelta(minutes=10)
"""How long after it was signed a watch still shows an event. The ingest signs each message when
it publishes it (a re-publication after a restart is signed afresh), so a live event is
milliseconds old; an older one is a recording played back, or the two hosts' clocks disagree."""

MAX_SKEW = timedelta(seconds=30)
"""How far ahead of the watch's clock a signing time may be (two hosts' clocks disagree a little)."""


class EventRefused(ValueError):
    """A message on the warning subjects that :func:`verified` does not pass (one line, why)."""


class NotAnItem(EventRefused):
    """A signed message whose data is not an Accord item of the watched party and subject."""


def signing_bytes(subject: str, signed_at: str, data: bytes) -> bytes:
    """What the node signs for a message of ``data`` on ``subject`` signed at ``signed_at``."""
    return TAG + subject.encode() + b"\n" + signed_at.encode() + b"\n" + data


def signature_headers(identity: Identity, subject: str, data: bytes, now: datetime | str) -> dict[str, str]:
    """The two headers that sign ``data`` on ``subject`` by ``identity`` at ``now`` (or its
    :func:`~accord.clock.to_rfc3339` text)."""
    at = now if isinstance(now, str) else to_rfc3339(now)
    return {SIGNED_AT: at, SIGNATURE: base64.b64encode(identity.sign(signing_bytes(subject, at, data))).decode()}


def signed_message(identity: Identity, subject: str, item: Item, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The data and headers of ``item`` published on ``subject``, signed by ``identity`` at ``now``."""
    data = item.canonical()
    return data, {"Nats-Msg-Id": item.id, **signature_headers(identity, subject, data, now)}


async def publish_items(nc: Any, identity: Identity, prefix: str, items: list[Item]) -> None:
    """Publish ``items`` of ``identity``'s party on their warning subjects, each signed now."""
    at = to_rfc3339(datetime.now(UTC))   # one signing time for the call's items (a commit's, published together)
    for it in items:
        subject = warning_subject(prefix, identity.party, it.kind)
        data = it.canonical()
        await nc.publish(subject, data, headers={"Nats-Msg-Id": it.id, **signature_headers(identity, subject, data, at)})


def verified(subject: str, data: bytes, headers: Mapping[str, str] | None, *, prefix: str, party: str,
             key: Ed25519PublicKey | None, now: datetime, max_age: timedelta = MAX_AGE,
             max_skew: timedelta = MAX_SKEW) -> Item:
    """The item of a message on ``subject`` that ``party``'s node (public ``key``) signed, or
    :class:`EventRefused` saying why not (the order of checks: the module docstring)."""
    headers = headers or {}
    sig_text, at = headers.get(SIGNATURE), headers.get(SIGNED_AT)
    if sig_text is None or at is None:
        raise EventRefused(f"not signed (no {SIGNATURE if sig_text is None else SIGNED_AT} header): "
                           f"only {party}'s ingest signs its warning events")
    if key is None:
        raise EventRefused(f"no key of {party}'s node to verify it against (the watch was given none)")
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64 or not verify_fast(key, signature, signing_bytes(subject, at, data)):
        raise EventRefused(f"signature does not verify under {party}'s key {fingerprint(key)[:23]}… "
                           "(forged, altered, or signed by another key)")
    try:
        when = parse_rfc3339(at, field=SIGNED_AT)
    except InputError:
        raise EventRefused(f"{SIGNED_AT} is not an RFC 3339 time") from None
    if when < now - max_age:
        raise EventRefused(f"signed at {at}, {(now - when).total_seconds():.0f} s before this watch's clock, "
                           f"more than {max_age.total_seconds():.0f} s: a recorded message played again, "
                           "or a clock off")
    if when > now + max_skew:
        raise EventRefused(f"signed at {at}, {(when - now).total_seconds():.0f} s ahead of this watch's clock, "
                           f"more than {max_skew.total_seconds():.0f} s: a clock off")
    try:
        item = Item.from_json(parse_json_strict(data), source=subject)
    except (AccordError, KeyError, TypeError, ValueError) as exc:
        raise NotAnItem(f"not an Accord item: {exc}") from None
    if item.originator != party:
        raise NotAnItem(f"item {item.id} is {item.originator}'s, not {party}'s")
    if item.kind not in KINDS or warning_subject(prefix, party, item.kind) != subject:
        raise NotAnItem(f"item {item.id} of kind {item.kind} does not belong on this subject")
    return item
