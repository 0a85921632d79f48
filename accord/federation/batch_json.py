"""Reading a partner's batch ``{"envelopes": [...]}``: its envelopes counted as they are parsed.

A batch holds at most :data:`MAX_BATCH_ENVELOPES` envelopes, and that is checked before the
envelopes past it are parsed: a 3-byte ``{}`` parses to a 64-byte dict, so a body of tiny
elements parsed whole would cost some twenty times its size (and seconds of a worker) before its
count could be checked. :func:`read_batch` is the reader :func:`~accord.core.canonical.parse_json_strict`
runs: the top-level object's members, and the elements of its ``envelopes`` array (or of a
top-level array), are parsed one by one by the strict decoder, and the text is refused at the
first element past the cap. Everything else — errors, hooks, bounds — is the strict parser's,
the budget of arrays and objects a batch builds among them (:func:`~accord.federation.inbox.parse_batch`
passes :data:`~accord.core.json_budget.MAX_JSON_CONTAINERS`): checked on the text before this
reader runs, it bounds what one envelope builds, which the envelope count cannot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json import JSONDecodeError
from typing import Any

from accord.core.canonical import no_duplicate_keys
from accord.errors import InputError

MAX_BATCH_ENVELOPES = 10_000
"""The most envelopes one batch holds (a sender's batches are smaller)."""

_SPACE = re.compile(r"[ \t\n\r]*")

Scan = Callable[[str, int], tuple[Any, int]]


def _skip(text: str, at: int) -> int:
    """The index of the first character from ``at`` on that is not JSON whitespace."""
    space = _SPACE.match(text, at)
    return space.end() if space else at


def _value(scan: Scan, text: str, at: int) -> tuple[Any, int]:
    try:
        return scan(text, at)
    except StopIteration as stop:
        raise JSONDecodeError("Expecting value", text, stop.value) from None


def _capped_array(scan: Scan, text: str, at: int) -> tuple[list[Any], int]:
    """The array opening at ``text[at]``, refused (:class:`InputError`) at its element
    :data:`MAX_BATCH_ENVELOPES` + 1, before that element is parsed."""
    out: list[Any] = []
    at = _skip(text, at + 1)
    if text.startswith("]", at):
        return out, at + 1
    while True:
        if len(out) == MAX_BATCH_ENVELOPES:
            raise InputError(f"an envelope batch holds at most {MAX_BATCH_ENVELOPES} envelopes",
                             source="envelope batch")
        value, at = _value(scan, text, at)
        out.append(value)
        at = _skip(text, at)
        if text.startswith("]", at):
            return out, at + 1
        if not text.startswith(",", at):
            raise JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


def _object(scan: Scan, text: str, at: int) -> tuple[dict[str, Any], int]:
    """The object opening at ``text[at]``, its ``envelopes`` array read by :func:`_capped_array`."""
    pairs: list[tuple[str, Any]] = []
    at = _skip(text, at + 1)
    if text.startswith("}", at):
        return {}, at + 1
    while True:
        if not text.startswith('"', at):
            raise JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
        key, at = _value(scan, text, at)  # a string: the decoder's own string parse
        at = _skip(text, at)
        if not text.startswith(":", at):
            raise JSONDecodeError("Expecting ':' delimiter", text, at)
        at = _skip(text, at + 1)
        if key == "envelopes" and text.startswith("[", at):
            value, at = _capped_array(scan, text, at)
        else:
            value, at = _value(scan, text, at)
        pairs.append((key, value))
        at = _skip(text, at)
        if text.startswith("}", at):
            return no_duplicate_keys(pairs), at + 1
        if not text.startswith(",", at):
            raise JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip(text, at + 1)


def read_batch(text: str, scan: Scan) -> Any:
    """The JSON value of ``text`` (a :func:`~accord.core.canonical.parse_json_strict` reader),
    an ``envelopes`` array of the top-level object, or a top-level array, read element by
    element up to :data:`MAX_BATCH_ENVELOPES`."""
    at = _skip(text, 0)
    value: Any
    if text.startswith("{", at):
        value, at = _object(scan, text, at)
    elif text.startswith("[", at):
        value, at = _capped_array(scan, text, at)
    else:
        value, at = _value(scan, text, at)
    at = _skip(text, at)
    if at != len(text):
        raise JSONDecodeError("Extra data", text, at)
    return value
