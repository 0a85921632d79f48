"""Signed versions: a dialogue record is a chain of versions, each signed by the party that made it.

A version's *payload* is::

    {"kind": "dialogue.commitment", "record_id": "JK-DMM-1-C3", "version": 2,
     "prev": "<sha256 hex of version 1's payload>", "series_id": "JK-DMM",
     "signer": "KOR", "signed_at": "2026-03-01T00:00:00.000Z",
     "state": {…the whole record after the change…}, "change": {…what was asked…}}

and its signature is Ed25519 (RFC 8032) over the RFC 8785 canonical JSON of the payload; the
version's digest is SHA-256 over the same bytes, and the next version names it in ``prev``, so a
record's history is a hash chain nobody can rewrite without breaking a signature.
A change is never written in place: each version is a new :class:`~accord.core.items.Item` with
id ``<signer>:<kind>:<record_id>.v<version>``.

Who may sign (:func:`verify_version`):

* version 1 and any change to a series or a meeting: any party of the series — but the parties
  of a series never change (a version that drops or adds one is refused), nor does the series
  of a meeting or a commitment;
* a commitment that is ``proposed``: any party of the series, except that only the **owner**
  may agree it (``proposed → agreed``) — nobody agrees on another party's behalf;
* a commitment that is agreed (or beyond): only its **owner**; anything else raises
  :class:`~accord.errors.NotOwnerError`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.canonical import canonical_json
from accord.core.identity import Identity, verify_signature
from accord.core.items import Item
from accord.core.markings import Marking
from accord.dialogue.model import (KIND_COMMITMENT, KIND_MEETING, KIND_SERIES, KINDS, OWNER_BOUND,
                                   TERMINAL, Commitment, Meeting, Series, Status,
                                   check_meeting_transition, check_transition, state_from_json)
from accord.errors import InputError, NotOwnerError, UnknownKeyError, VerificationError

KeyLookup = Callable[[str], Ed25519PublicKey]
MAX_VERSION = 2**31 - 1  # versions a record may reach


@dataclass(frozen=True)
class SignedVersion:
    kind: str
    record_id: str
    version: int
    prev: str | None
    series_id: str
    signer: str
    signed_at: str  # RFC 3339, millisecond, as signed
    state: dict
    change: dict | None
    signature: bytes

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "record_id": self.record_id, "version": self.version,
                "prev": self.prev, "series_id": self.series_id, "signer": self.signer,
                "signed_at": self.signed_at, "state": self.state, "change": self.change}

    @cached_property
    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of the payload: what is signed and hashed (computed once)."""
        return canonical_json(self.payload())

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the payload: what ``prev`` of the next names."""
        return hashlib.sha256(self.signing_bytes).hexdigest()

    @property
    def value(self) -> Series | Meeting | Commitment:
        return state_from_json(self.kind, self.state)

    @property
    def item_id(self) -> str:
        return f"{self.signer}:{self.kind}:{self.record_id}.v{self.version}"

    def to_body(self) -> dict[str, Any]:
        return {"payload": self.payload(), "signature": base64.b64encode(self.signature).decode()}

    def to_item(self, marking: Marking) -> Item:
        return Item(self.kind, self.item_id, self.signer, marking, parse_rfc3339(self.signed_at), self.to_body())

    @classmethod
    def from_body(cls, body: dict, *, source: str | None = None) -> SignedVersion:
        try:
            p = body["payload"]
            sig = base64.b64decode(body["signature"], validate=True)
            v = cls(p["kind"], p["record_id"], int(p["version"]), p["prev"], p["series_id"],
                    p["signer"], p["signed_at"], dict(p["state"]), p.get("change"), sig)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a signed dialogue version: {exc}", source=source, field="body") from None
        if not 1 <= v.version <= MAX_VERSION:  # an index key on both back ends (a 64-bit integer)
            raise InputError(f"version must be from 1 to {MAX_VERSION}, got {v.version}", source=source,
                             field="version")
        if v.kind not in KINDS:
            raise InputError(f"not a dialogue kind: {v.kind!r}", source=source, field="kind")
        for name in ("record_id", "series_id", "signer"):
            if not isinstance(getattr(v, name), str):
                raise InputError(f"expected a string, got {type(getattr(v, name)).__name__}", source=source,
                                 field=name)
        if not (v.prev is None or isinstance(v.prev, str)) or not (v.change is None or isinstance(v.change, dict)):
            raise InputError("prev must be a digest or null, change an object or null", source=source,
                             field="prev" if not (v.prev is None or isinstance(v.prev, str)) else "change")
        # the calendar export's DTSTAMP and the item's time are read from it: a time that does
        # not parse would be indexed and break every export of the series
        parse_rfc3339(v.signed_at, field="signed_at")
        return v

    @classmethod
    def from_item(cls, item: Item) -> SignedVersion:
        v = cls.from_body(item.body, source=item.id)
        if item.kind != v.kind or item.originator != v.signer or item.id != v.item_id:
            raise VerificationError(f"item {item.id}: envelope fields disagree with the signed payload",
                                    expected=v.item_id, actual=item.id)
        return v


def sign_version(identity: Identity, value: Series | Meeting | Commitment, *, prev: SignedVersion | None,
                 now: datetime, change: dict | None = None) -> SignedVersion:
    """Make and sign the next version of ``value`` (version 1 if ``prev`` is ``None``)."""
    kind = (KIND_SERIES if isinstance(value, Series) else KIND_MEETING if isinstance(value, Meeting)
            else KIND_COMMITMENT)
    series_id = value.id if isinstance(value, Series) else value.series_id
    unsigned = SignedVersion(kind, value.id, 1 if prev is None else prev.version + 1,
                             None if prev is None else prev.digest(), series_id, identity.party,
                             to_rfc3339(now), value.to_json(), change, b"")
    signature = identity.sign(unsigned.signing_bytes)
    fields = {k: getattr(unsigned, k) for k in unsigned.__dataclass_fields__}
    return SignedVersion(**{**fields, "signature": signature})


def verify_version(v: SignedVersion, *, prev: SignedVersion | None, series: Series | None,
                   key_for: KeyLookup) -> SignedVersion:
    """Verify ``v`` as the next version after ``prev``; return it or raise.

    Checks, in order: the chain (version number, ``prev`` digest, same record and kind), that
    the signer is a party of the series, the Ed25519 signature under the signer's pinned key,
    the record's own validity, and the rules of who may change what (module docstring).
    """
    where = f"{v.kind} {v.record_id} v{v.version}"
    if prev is None:
        if v.version != 1 or v.prev is not None:
            raise VerificationError(f"{where}: first version must be 1 with no prev",
                                    expected=(1, None), actual=(v.version, v.prev))
    else:
        if (v.record_id, v.kind) != (prev.record_id, prev.kind):
            raise VerificationError(f"{where}: not a version of {prev.kind} {prev.record_id}")
        if v.series_id != prev.series_id:  # judged by another series' parties, gone from the first's view
            raise VerificationError(f"{where}: a record stays in its series {prev.series_id}",
                                    expected=prev.series_id, actual=v.series_id)
        if v.version != prev.version + 1:
            raise VerificationError(f"{where}: version out of order", expected=prev.version + 1,
                                    actual=v.version)
        if v.prev != prev.digest():
            raise VerificationError(f"{where}: prev does not name version {prev.version}'s digest",
                                    expected=prev.digest(), actual=v.prev)
    value = v.value
    if isinstance(value, Series):
        if value.id != v.record_id:
            raise VerificationError(f"{where}: state id differs from record id", expected=v.record_id,
                                    actual=value.id)
        value.validate()
        if series is not None and set(value.parties) != set(series.parties):
            # one party could otherwise drop another (who could then neither write in the series
            # nor sign it back) or bring in a third: who is in a series is fixed when it is made
            raise VerificationError(f"{where}: the parties of a series never change",
                                    expected=list(series.parties), actual=list(value.parties))
        # a series version is signed by one of its parties — as it stood before the change
        parties = (series or value).parties
    else:
        if series is None:
            raise VerificationError(f"{where}: series {v.series_id} is not known on this node")
        if value.id != v.record_id or value.series_id != series.id:
            raise VerificationError(f"{where}: state does not match the signed record/series",
                                    expected=(v.record_id, series.id), actual=(value.id, value.series_id))
        value.validate(series)
        parties = series.parties
    if v.signer not in parties:
        raise NotOwnerError(f"{where}: signer {v.signer} is not a party of series {v.series_id}",
                            expected=list(parties), actual=v.signer)
    try:
        key = key_for(v.signer)
    except KeyError:
        raise UnknownKeyError(f"{where}: no pinned key for signer {v.signer}") from None
    verify_signature(key, v.signature, v.signing_bytes, what=where)
    if prev is not None:
        old = prev.value  # same kind as ``value`` (checked above), so the same class
        if isinstance(value, Commitment):
            check_commitment_update(cast(Commitment, old), value, signer=v.signer)
        elif isinstance(value, Meeting):
            check_meeting_transition(cast(Meeting, old).status, value.status, record=value.id)
    elif isinstance(value, Commitment) and value.status != Status.PROPOSED:
        # a commitment is born proposed, or agreed by its owner in the same act
        if value.status != Status.AGREED or v.signer != value.owner:
            raise NotOwnerError(f"{where}: a new commitment starts 'proposed' (or 'agreed' when signed "
                                f"by its owner {value.owner})", expected=value.owner, actual=v.signer)
    return v


def check_commitment_update(old: Commitment, new: Commitment, *, signer: str) -> None:
    """Who may move ``old`` to ``new``: see the module docstring. Raises, or returns ``None``."""
    check_transition(old.status, new.status, record=f"commitment {old.id}")
    if old.status in OWNER_BOUND and signer != old.owner:
        raise NotOwnerError(f"commitment {old.id} is {old.status.value}; a change needs the signature "
                            f"of its owner {old.owner}, not {signer}", expected=old.owner, actual=signer)
    if new.status == Status.AGREED and old.status == Status.PROPOSED and signer != new.owner:
        raise NotOwnerError(f"commitment {old.id}: only its owner {new.owner} can agree it, not {signer}",
                            expected=new.owner, actual=signer)
    if old.status in OWNER_BOUND and new.owner != old.owner:
        raise NotOwnerError(f"commitment {old.id}: the owner of an agreed commitment cannot change",
                            expected=old.owner, actual=new.owner)
    if old.status in TERMINAL and (new.text, new.due) != (old.text, old.due):
        raise VerificationError(f"commitment {old.id} is {old.status.value}; only evidence and links may change")
    if new.evidence[:len(old.evidence)] != old.evidence or not set(old.links) <= set(new.links):
        raise VerificationError(f"commitment {old.id}: evidence and links may be added, never removed")
