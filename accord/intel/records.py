"""The values the intel store takes in and hands out — :class:`Collection`, :class:`Filters`,
:class:`Page`, :class:`Stored`, :class:`AddResult` — and how stored values are written: an
object's JSON text (:func:`encode_json`) and ``date_added`` as µs since the epoch and as RFC 3339
(:func:`to_us`, :func:`us_to_rfc3339`, :func:`parse_timestamp_us`).

Plain data with no database: :mod:`accord.intel.store` (and through it the TAXII routes, the
console and sharing) uses these; :mod:`accord.intel.store` re-exports every name.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from accord.core.markings import Marking
from accord.errors import InputError, shown
from accord.intel.validate import TS_RE

# the releasability code of an object every party may see (marking and extension definitions
# with no marking of their own)
ALL = "|*|"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MEDIA_STIX21 = "application/stix+json;version=2.1"


def encode_json(value: Any, *, plain: bool = False) -> str:
    """Compact JSON text of ``value`` (what is stored and served).

    ``plain=True`` promises ``value`` holds only what :func:`orjson.loads` produces (str keys,
    64-bit ints, finite floats, valid Unicode): orjson then writes the same JSON text as
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` (floats in their shortest
    round-trip form, which parse to the same value), about 20× faster. Anything else goes
    through that :func:`json.dumps` (orjson would silently turn NaN into ``null``)."""
    if plain:
        return orjson.dumps(value).decode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_us(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def us_to_rfc3339(us: int) -> str:
    """µs since the epoch → RFC 3339 with a 6-digit fraction (date_added on the wire)."""
    seconds, fraction = divmod(us, 1_000_000)
    return _second_rfc3339(seconds) + f"{fraction:06d}Z"


@functools.lru_cache(maxsize=1024)  # consecutive date_added values mostly share their second
def _second_rfc3339(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_timestamp_us(text: str, *, field: str) -> int:
    """RFC 3339 UTC timestamp (any fraction length) → µs since the epoch (fraction truncated)."""
    if not isinstance(text, str) or not TS_RE.match(text):
        raise InputError(f"{shown(text)} is not an RFC 3339 UTC timestamp", field=field)
    base, _, frac = text[:-1].partition(".")
    try:
        when = datetime.fromisoformat(base).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{shown(text)} is not a valid date", field=field) from None
    return to_us(when) + int((frac + "000000")[:6])


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str | None
    alias: str | None
    shared: bool
    rel_to: frozenset[str]
    strict: bool
    created: str
    received_from: str | None = None  # the partner whose received items it holds (None: the node's own)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description,
                "alias": self.alias, "shared": self.shared, "rel_to": sorted(self.rel_to),
                "strict": self.strict, "created": self.created, "received_from": self.received_from}


@dataclass(frozen=True)
class Filters:
    """TAXII 2.1 §3.5 filters. ``versions`` holds ``first``/``last``/``all``/timestamps."""

    added_after: int | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()


@dataclass
class Page:
    """One page of a paged TAXII listing."""

    items: list[Any]
    more: bool
    next: str | None
    first_added: int | None
    last_added: int | None
    # the originator of each item (objects only): its marking is read with that party's
    # marking definitions (:meth:`accord.intel.store.IntelStore.marking_of`)
    originators: list[str] = field(default_factory=list)


@dataclass
class Stored:
    """An object version this request stored (handed to sharing hooks)."""

    collection: str
    object: dict[str, Any]
    version: str
    marking: Marking
    known: bool
    originator: str
    rel: str = "|"
    plan: list[list[Any]] | None = None
    shared: bool | None = None  # the collection's flag when stored (None: look it up)


@dataclass
class AddResult:
    status: dict[str, Any]
    stored: list[Stored] = field(default_factory=list)
