"""Items: what nodes share (a track, an alert, a STIX object, a commitment …).

An :class:`Item` is immutable. Its wire form (:meth:`Item.to_json`) is a JSON object::

    {"kind": "warning.track", "id": "JPN:warning.track:8f2c…", "originator": "JPN",
     "marking": {"classification": "SECRET", "rel_to": ["JPN", "KOR"]},
     "created": "2026-01-01T00:00:00.000Z", "body": {…}}

and its :meth:`Item.digest` is the SHA-256 (hex) of the RFC 8785 canonical JSON of that object,
so two nodes agree on an item's digest byte for byte. ``created`` is kept at millisecond
precision (the wire precision of :func:`accord.clock.to_rfc3339`) so the round trip is exact.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from datetime import datetime
from typing import Any

import orjson

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core.canonical import canonical_json, es_number
from accord.core.markings import Marking, check_party
from accord.errors import AccordError, InputError, shown

KINDS: tuple[str, ...] = ("warning.track", "warning.prediction", "warning.alert", "warning.radar",
                          "warning.report", "intel.stix", "dialogue.series", "dialogue.meeting",
                          "dialogue.commitment", "test.note", "accord.retraction")
"""The item kinds named in docs/architecture.md (others that match :data:`KIND_RE` are allowed;
tests/test_docs_references.py holds the two lists together)."""

KIND_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+")
_SPACE = re.compile(r"\s")
_FIELDS = ("kind", "id", "originator", "marking", "created", "body")


def _ms(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond - when.microsecond % 1000)


_SAFE_INT = 2**53
_Fragment = orjson.Fragment


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is plain JSON as :func:`_json_problem` defines it: one iterative pass
    that builds no path strings (the paths are made only for a value that fails, to say where)."""
    stack = [(value, 0)]
    pop, push, isfinite, safe = stack.pop, stack.append, math.isfinite, _SAFE_INT
    while stack:
        v, depth = pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -safe < v < safe:
                return False
        elif t is float:
            if not isfinite(v):
                return False
        elif t is dict:
            if depth >= 64 and v:
                return False
            for k, x in v.items():
                if type(k) is not str:
                    return False
                tx = type(x)
                if tx is str or tx is bool or (tx is float and isfinite(x)):
                    continue
                push((x, depth + 1))
        elif t is list:
            if depth >= 64 and v:
                return False
            for x in v:
                tx = type(x)
                if tx is str or (tx is float and isfinite(x)):
                    continue
                push((x, depth + 1))
        else:
            return False
    return True


class _NotReady(Exception):
    """The body needs the general path (:func:`_check_body_json`, then :func:`canonical_json`)."""


def _orjson_ready(value: Any, depth: int = 0) -> Any:
    """``value`` as orjson writes it in RFC 8785 bytes, or :class:`_NotReady`: one pass that
    checks the body (plain JSON, as :func:`_json_problem` asks) and copies it with every integral
    float below 2^53 as an int (ES6 writes 5.0 as 5; orjson would write 5.0). What it accepts is
    what :func:`accord.core.canonical.plain_json` proves orjson writes as RFC 8785: string keys
    below U+D800, integers within ±(2^53 − 1), non-integral floats with 1e-4 <= |x| < 1e16; any
    other finite float goes in as an ``orjson.Fragment`` of its RFC 8785 text
    (:func:`accord.core.canonical.es_number`: a covariance term of 3e-05 is ``0.00003``, which
    orjson would write ``3e-05``). Anything else (and nesting deeper than 64) takes the general
    path, which also words refusals."""
    t = type(value)
    if t is float:
        if value.is_integer():
            if -_SAFE_INT < value < _SAFE_INT:
                return int(value)
        elif 1e-4 <= abs(value) < 1e16:
            return value
        if not math.isfinite(value):
            raise _NotReady
        return _Fragment(es_number(value))   # written verbatim: RFC 8785's form (orjson's differs)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if -_SAFE_INT < value < _SAFE_INT:
            return value
        raise _NotReady
    if depth >= 64:
        raise _NotReady
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or max(k) < "\ud800"):
                raise _NotReady
            tv = type(v)
            out[k] = v if (tv is str or (tv is float and 1e-4 <= abs(v) < 1e16 and not v.is_integer())) \
                else _orjson_ready(v, depth + 1)
        return out
    if t is list:
        return [v if (type(v) is float and 1e-4 <= abs(v) < 1e16 and not v.is_integer()) else _orjson_ready(v, depth + 1)
                for v in value]
    raise _NotReady


def _json_problem(value: Any, path: str, depth: int = 0) -> str | None:
    """Why ``value`` is not plain JSON (I-JSON, RFC 7493) for RFC 8785, or None. Cheaper than
    canonicalising, which is left to the moment the item is hashed or signed."""
    if depth == 0 and _plain_json(value):
        return None
    if depth > 64:
        return f"{path} is nested more than 64 levels deep"
    t = type(value)
    if value is None or t is bool or t is str:
        return None
    if t is int:
        return None if -(2**53) < value < 2**53 else f"{path} = {value} is outside ±2^53 (RFC 8785 §3.2.2.3)"
    if t is float:
        return None if math.isfinite(value) else f"{path} = {value} is not a finite number"
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return f"{path} has a non-string key {shown(k)}"
            problem = _json_problem(v, f"{path}.{k}", depth + 1)
            if problem:
                return problem
        return None
    if t is list:
        for i, v in enumerate(value):
            problem = _json_problem(v, f"{path}[{i}]", depth + 1)
            if problem:
                return problem
        return None
    return f"{path} has a {t.__name__}, which is not JSON"


def _check_kind_and_originator(kind: Any, originator: Any) -> None:
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise InputError(f"item kind {shown(kind)} is not a dotted lower-case kind such as "
                         "'warning.track'", field="kind")
    try:
        check_party(originator, what="originator")
    except AccordError as exc:
        raise InputError(str(exc), field="originator") from None


def _check_marking_created_body(marking: Any, created: Any, body: Any) -> None:
    if not isinstance(marking, Marking):
        raise InputError("marking must be a Marking", field="marking")
    if not isinstance(created, datetime) or created.tzinfo is None:
        raise InputError("created must be a timezone-aware datetime", field="created")
    if not isinstance(body, dict):
        raise InputError(f"body must be a JSON object, got {type(body).__name__}", field="body")


def json_problem(value: Any, path: str) -> str | None:
    """Why ``value`` cannot be an item's body or part of one (not I-JSON for RFC 8785: an integer
    beyond ±2^53, a non-finite number, nesting past 64 levels …), naming ``path``; None if it can."""
    return _json_problem(value, path)


def _check_body_json(body: dict) -> None:
    problem = _json_problem(body, "body")
    if problem:
        raise InputError(f"body is not JSON-serialisable: {problem}", field="body")


@dataclass(frozen=True)
class Item:
    kind: str            # "warning.track" …
    id: str              # unique for its originator, e.g. "JPN:warning.track:8f2c…"
    originator: str      # party
    marking: Marking
    created: datetime
    body: dict           # JSON-serialisable payload
    _checked: InitVar[bool] = False  # internal: new_item() has validated every field already
    #: internal: (created text, canonical bytes) already built by new_item() or verified in an
    #: envelope; not a field, so ``dataclasses.replace`` never carries them to another item
    _wire: InitVar[tuple[str, bytes] | None] = None

    def __post_init__(self, _checked: bool = False, _wire: tuple[str, bytes] | None = None) -> None:
        object.__setattr__(self, "_given", _wire)
        if not _checked:
            _check_kind_and_originator(self.kind, self.originator)
            if not isinstance(self.id, str) or not self.id.startswith(f"{self.originator}:") \
                    or len(self.id) > 256 or _SPACE.search(self.id):
                raise InputError(f"item id {shown(self.id)} must start with its originator "
                                 f"'{self.originator}:' and contain no spaces (≤ 256 chars)", field="id")
            _check_marking_created_body(self.marking, self.created, self.body)
        object.__setattr__(self, "created", _ms(self.created))
        if not _checked:
            _check_body_json(self.body)

    # computed once (an item is immutable: its body must not be mutated after construction),
    # or taken from what new_item() and envelope verification already hold (``_wire``)
    _given: tuple[str, bytes] | None = field(init=False, default=None, repr=False, compare=False)

    @cached_property
    def _created_text(self) -> str:
        return self._given[0] if self._given is not None else to_rfc3339(self.created)

    @cached_property
    def _canonical(self) -> bytes:
        return self._given[1] if self._given is not None else canonical_json(self.to_json())

    @cached_property
    def _digest(self) -> str:
        return hashlib.sha256(self._canonical).hexdigest()

    def created_text(self) -> str:
        """``created`` in its wire form (RFC 3339, milliseconds), computed once."""
        return self._created_text

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "originator": self.originator,
                "marking": self.marking.to_json(), "created": self.created_text(),
                "body": self.body}

    @classmethod
    def from_json(cls, data: object, *, source: str | None = None) -> "Item":
        """Build an item from its wire form; errors name the field (and ``source``) at fault."""
        if not isinstance(data, dict):
            raise InputError(f"an item must be a JSON object, got {type(data).__name__}", source=source)
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise InputError(f"item is missing field(s): {', '.join(missing)}", source=source,
                             field=missing[0])
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise InputError(f"item has unknown field(s): {', '.join(unknown)}", source=source,
                             field=unknown[0])
        try:
            marking = Marking.from_json(data["marking"])
            created = parse_rfc3339(data["created"], field="created")
            return cls(data["kind"], data["id"], data["originator"], marking, created, data["body"])
        except InputError as exc:
            if source is None:
                raise
            raise type(exc)(exc.detail, source=source, field=exc.field) from None

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of :meth:`to_json`, computed once per item (a shared item is
        hashed and signed several times on its way)."""
        return self._canonical

    def digest(self) -> str:
        """SHA-256 (hex) of the RFC 8785 canonical JSON of :meth:`to_json`."""
        return self._digest


def with_wire_form(item: Item, created_text: str, canonical: bytes) -> Item:
    """``item`` holding its wire form already built: ``created_text`` and the RFC 8785 bytes of
    :meth:`Item.to_json`, which the caller has shown to be exactly those (envelope verification
    has them from the signed bytes: :func:`accord.core.envelopes.check_item`). Nothing is checked
    again and the bytes are trusted: ``item`` itself must be a checked :class:`Item`."""
    return Item(item.kind, item.id, item.originator, item.marking, item.created, item.body, _checked=True,
                _wire=(created_text, canonical))


def new_item(kind: str, body: dict, marking: Marking, originator: str, now: datetime) -> Item:
    """A new item whose id is derived from its content: ``<originator>:<kind>:<32 hex>``.

    The id is the first 128 bits of SHA-256 over the canonical JSON of (kind, originator,
    marking, created, body): deterministic (the core has no hidden randomness), so making the
    same item twice gives the same id and storing it twice is a no-op.

    The body is canonicalised once: the id's material and the item's own canonical bytes are
    both assembled from it (RFC 8785 §3.2.3 orders the members body, created, [id,] kind,
    marking, originator; tests check the result against ``canonical_json(item.to_json())``).
    Kept for a measured reason: a track item made and canonicalised costs 1.5× as much when
    the item is canonicalised again instead (``bench/canonical.py``).
    """
    _check_kind_and_originator(kind, originator)
    _check_marking_created_body(marking, now, body)
    try:  # the common case: one checking pass, then orjson (tests hold it to rfc8785 byte for byte)
        body_bytes = orjson.dumps(_orjson_ready(body), option=orjson.OPT_SORT_KEYS)
    except (_NotReady, TypeError):  # (TypeError: a lone surrogate, which orjson refuses)
        _check_body_json(body)
        try:
            body_bytes = canonical_json(body)
        except AccordError as exc:
            raise InputError(f"body is not JSON-serialisable: {exc}", field="body") from None
    created = _ms(now)
    created_text = to_rfc3339(created)
    # kind (KIND_RE), originator (ISO alpha-3) and the timestamp need no JSON escaping
    head = b'{"body":' + body_bytes + b',"created":"' + created_text.encode() + b'"'
    tail = (b',"kind":"' + kind.encode() + b'","marking":' + marking.canonical()
            + b',"originator":"' + originator.encode() + b'"}')
    digest = hashlib.sha256(head + tail).hexdigest()[:32]
    item_id = f"{originator}:{kind}:{digest}"
    if len(item_id) > 256:
        raise InputError(f"item id {shown(item_id)} would be longer than 256 characters (kind too long)",
                         field="kind")
    return Item(kind, item_id, originator, marking, created, body, _checked=True,
                _wire=(created_text, head + b',"id":"' + item_id.encode() + b'"' + tail))


def stored_item(raw: bytes, *, source: str | None = None) -> Item:
    """An item read back from a node's own database, which stores only items checked on the way
    in (:class:`Item`'s checks, or an envelope's verification) as their canonical JSON bytes.

    The body is not walked again and the bytes are parsed with orjson (a read of 10,000 stored
    tracks for the console's picture took seconds through :meth:`Item.from_json`); the fields,
    kind, originator, marking and time are still checked, so a row that is not an item at all is
    an :class:`InputError` naming ``source``. ``raw`` is kept as the item's canonical bytes."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"stored item is not JSON: {exc}", source=source) from None
    if type(data) is not dict or set(data) != set(_FIELDS) or type(data["id"]) is not str \
            or type(data["body"]) is not dict:
        return Item.from_json(data, source=source)  # the slow path names what is wrong
    try:
        _check_kind_and_originator(data["kind"], data["originator"])
        marking = Marking.from_json(data["marking"])
        created = parse_rfc3339(data["created"], field="created")
    except InputError as exc:
        raise type(exc)(exc.detail, source=source, field=exc.field) from None
    # the stored bytes are the item's canonical JSON, so its "created" is already the wire text
    return Item(data["kind"], data["id"], data["originator"], marking, created, data["body"],
                _checked=True, _wire=(data["created"], bytes(raw)))
