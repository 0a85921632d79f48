"""RFC 8785 JSON Canonicalization Scheme (JCS) and strict JSON parsing.

Everything Accord signs is signed over ``canonical_json(value)``: RFC 8785, through orjson or a
Python path where each is proved byte-identical to the ``rfc8785`` package, else through that
package (``json.dumps(sort_keys=True)`` is *not* RFC 8785: it differs on numbers and on the
ordering of non-ASCII keys, which sort by UTF-16 code units in JCS).

:func:`parse_json_strict` is the only way Accord parses JSON that it will verify: duplicate
object keys are rejected (RFC 8785 §3.1 requires I-JSON, RFC 7493, which forbids them), as are
NaN and Infinity, which JSON does not have, numbers out of a double's range (``1e400``), integers
longer than Python converts (4,300 digits), and nesting deeper than :data:`MAX_JSON_DEPTH`;
given ``max_containers`` (untrusted bodies), a text that would build more arrays and objects is
refused before it is parsed (:mod:`accord.core.json_budget`). :func:`check_json_bounds` holds
values parsed by other parsers (TAXII's orjson, FastAPI request bodies) to the same depth bound.
"""

from __future__ import annotations

import json
import json.scanner
import sys
from collections.abc import Callable
from itertools import chain
from typing import Any

import orjson
import rfc8785

from accord.core.json_budget import check_json_containers, opening_brackets
from accord.errors import CanonicalJSONError


MAX_JSON_DEPTH = 100
"""The deepest nesting of arrays and objects Accord parses. Real payloads (envelopes around
items around STIX objects or tracks) stay under 15; the bound keeps every recursive step after
parsing (canonicalisation, validation, redaction) far from Python's recursion limit, so a hostile
document gets an :class:`~accord.errors.InputError` instead of a ``RecursionError`` (a 500)."""

_MAX_SAFE = 2**53 - 1  # I-JSON / rfc8785's exact-integer domain
_INF = (float("inf"), float("-inf"))
# JSON string escaping as JCS does it (RFC 8785 §3.2.2.2): json's C encoder for str, non-ASCII raw.
_encode_str = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


class _Slow(Exception):
    """The value needs the reference implementation (edge cases, or an error to report)."""


def es_number(x: float) -> str:
    """ECMAScript ``Number::toString`` of a finite double (RFC 8785 §3.2.2.3).

    Python's ``repr`` gives the same shortest round-trip digits; only the layout differs: ES
    writes positional notation for decimal exponents in (-7, 21] and ``d.ddde±n`` otherwise.
    """
    if x == 0.0:
        return "0"  # and -0 too
    r = repr(x)
    if "e" not in r:  # positional already (1e-4 ≤ |x| < 1e16): the layouts agree
        return r[:-2] if r.endswith(".0") else r
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    if fp == "0":
        fp = ""
    raw = ip + fp
    stripped = raw.lstrip("0")
    n = len(ip) + (int(exp) if exp else 0) - (len(raw) - len(stripped))  # decimal point position
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    es = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + es


_SORT = orjson.OPT_SORT_KEYS
_orjson_dumps = orjson.dumps


def plain_json(value: Any) -> bool:
    """True if ``orjson.dumps(value, option=OPT_SORT_KEYS)`` is byte-identical to RFC 8785.

    That holds for dicts with string keys below U+D800 (so code-point order, orjson's, equals
    JCS's UTF-16 order), lists, strings, booleans, None, integers with ``|n| < 2^53`` (JCS
    prints them as ES6 does: plain decimal) and non-integral floats with ``1e-4 <= |x| < 1e16``
    (both write the shortest round-trip digits, positionally); orjson escapes strings exactly as JCS §3.2.2.2 does
    (short escapes for backspace, tab, newline, form feed and return, ``u00xx`` escapes for other
    control characters, nothing else).
    Other floats (ES6 layout differs there) and anything else take the other paths; tests check
    the result against ``rfc8785``.
    """
    t = type(value)
    if t is dict:
        pairs: Any = value.items()
    elif t is list:
        pairs = (("", v) for v in value)
    else:
        pairs = (("", value),)
    for k, v in pairs:
        if type(k) is not str or not (k.isascii() or max(k) < "\ud800"):
            return False
        tv = type(v)
        if tv is str or v is None or tv is bool:
            continue
        if tv is int:
            if not -_MAX_SAFE <= v <= _MAX_SAFE:
                return False
        elif tv is float:
            # orjson writes the shortest round-trip digits, like ES6; the layouts agree in
            # positional range without a trailing ".0" (ES writes 1.0 as 1, 1e16 in full)
            if not 1e-4 <= abs(v) < 1e16 or v.is_integer():
                return False
        elif tv is dict or tv is list:
            if not plain_json(v):
                return False
        else:
            return False
    return True


def _utf16_key(k: str) -> bytes:
    return k.encode("utf-16-be", "surrogatepass")


def _fast(value: Any, out: list[str]) -> None:
    t = type(value)
    if t is str:
        out.append(_encode_str(value))
    elif t is dict:
        keys = list(value)
        for k in keys:
            if type(k) is not str:
                raise _Slow
        if all(k.isascii() or max(k) < "\ud800" for k in keys):
            keys.sort()
        else:
            keys.sort(key=_utf16_key)
        out.append("{")
        first = True
        for k in keys:
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(k))
            out.append(":")
            _fast(value[k], out)
        out.append("}")
    elif (t is list or t is tuple) and value and all(type(v) is float for v in value):
        # vectors and covariances: the common case, one pass
        for v in value:
            if v != v or v in _INF or (abs(v) > _MAX_SAFE and v == int(v)):
                raise _Slow
        out.append("[" + ",".join([es_number(v) for v in value]) + "]")
    elif t is list or t is tuple:
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _fast(v, out)
        out.append("]")
    elif value is None:
        out.append("null")
    elif t is bool:
        out.append("true" if value else "false")
    elif t is int:
        if not -_MAX_SAFE <= value <= _MAX_SAFE:
            raise _Slow
        out.append(str(value))
    elif t is float:
        if value != value or value in _INF or (
                abs(value) > _MAX_SAFE and value == int(value)):
            raise _Slow
        out.append(es_number(value))
    else:
        raise _Slow


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical UTF-8 bytes.

    Two fast paths, each held byte-for-byte to the ``rfc8785`` package by property tests
    (hypothesis, over all JSON values and arbitrary doubles), and each kept for a measured reason
    (``bench/canonical.py``, ratios from one run on the loaded 2-core machine):

    * orjson, where :func:`plain_json` proves its output identical (values without floats, or
      with positional floats): a note item canonicalises 2.2× faster than through the Python path;
    * the Python ES6 path (``_fast``) for everything else ordinary, floats included (a tracker's
      track, 21 covariance floats): 2.3× faster than ``rfc8785``.

    Anything unusual (huge integers, non-finite numbers, lone surrogates, other types) goes to
    ``rfc8785`` itself, so errors are its errors.
    """
    if plain_json(value):
        try:
            return _orjson_dumps(value, option=_SORT)
        except TypeError:  # a lone surrogate (or nesting orjson refuses): the paths below decide
            pass
    out: list[str] = []
    try:
        _fast(value, out)
        return "".join(out).encode("utf-8")
    except (_Slow, UnicodeEncodeError):
        pass
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(f"value cannot be canonicalised (RFC 8785): {exc}") from None


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """:func:`json.loads`'s ``object_pairs_hook`` refusing a key given twice (the strict parsers'
    one check: :func:`parse_json_strict`, :func:`accord.warning.io.jsonl.loads_strict`)."""
    out = dict(pairs)  # in C; a duplicate shows as a shorter dict (this hook runs per JSON object)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJSONError(f"duplicate key {key[:40]!r} in JSON object")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not valid JSON")


def parse_json_strict(data: bytes | str, *, source: str | None = None,
                      reader: Callable[[str, Callable[[str, int], tuple[Any, int]]], Any] | None = None,
                      max_containers: int | None = None) -> Any:
    """Parse JSON, rejecting duplicate keys, NaN/Infinity, out-of-range numbers and nesting
    deeper than :data:`MAX_JSON_DEPTH`, with a clear one-line error; given ``max_containers``
    (:data:`~accord.core.json_budget.MAX_JSON_CONTAINERS` for an untrusted body), also a text
    that would build more arrays and objects, before any is built.

    ``reader``, if given, reads the text instead of :func:`json.loads`, value by value: it is
    called with the decoded text and the strict decoder's ``scan_once(text, index) -> (value,
    end)`` (``StopIteration`` where no value starts) and returns the whole value, raising
    :class:`json.JSONDecodeError` as the parser would (:mod:`accord.federation.batch_json`)."""
    opens = opening_brackets(data)  # one count for both bounds: an honest text is read once
    if max_containers is not None:
        check_json_containers(data, limit=max_containers, source=source, opens=opens)
    walk = opens > MAX_JSON_DEPTH
    # a text the bounds walk will visit is checked for infinities there, at C speed; a
    # parse_float hook is a Python call per number (a third of a batch of tracks' parse)
    hooks: dict[str, Any] = {"object_pairs_hook": no_duplicate_keys, "parse_constant": _no_constant,
                             "parse_float": None if walk else finite_float}
    try:
        if reader is None:
            value = json.loads(data, **hooks)
        else:
            text = data if isinstance(data, str) else bytes(data).decode(json.detect_encoding(data), "surrogatepass")
            scan = json.scanner.make_scanner(json.JSONDecoder(**hooks))  # type: ignore[arg-type]  # (its stub's own type)
            value = reader(text, scan)
    except CanonicalJSONError as exc:
        raise CanonicalJSONError(exc.detail, source=source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise CanonicalJSONError(f"malformed JSON: {exc.msg if hasattr(exc, 'msg') else exc}",
                                 source=source, line=line) from None
    except (RecursionError, ValueError) as exc:
        raise CanonicalJSONError(json_limit_error(exc).detail, source=source) from None
    _no_lone_surrogates(value, data, source)
    return check_json_bounds(value, source=source) if walk else value


def _no_lone_surrogates(value: Any, text: bytes | str, source: str | None) -> None:
    """Refuse a value holding a string with a lone surrogate (:class:`CanonicalJSONError`): only
    a ``\\uD800``–``\\uDFFF`` escape in the text can make one (UTF-8 bytes cannot encode it, and
    an escaped pair decodes to one character), so a text without ``\\ud`` in either case is not
    walked. Such a string is not Unicode text (RFC 8259 §8.2; I-JSON refuses it) and fails every
    later encoding — the store's, canonical JSON's, the answer's."""
    if isinstance(text, str):
        if "\\ud" not in text and "\\uD" not in text:
            return
    elif b"\\ud" not in text and b"\\uD" not in text:
        return
    strings: list[str] = []
    level = [value]
    while level:
        children: list[Any] = []
        for node in level:
            if type(node) is dict:
                strings.extend(node)
                children.extend(node.values())
            elif type(node) is list:
                children.extend(node)
            elif type(node) is str:
                strings.append(node)
        level = [c for c in children if type(c) in (dict, list, str)]
    try:
        "".join(strings).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = "".join(strings)[exc.start]
        raise CanonicalJSONError(f"a string holds a lone surrogate (\\u{ord(bad):04x}): JSON text must be "
                                 "Unicode", source=source) from None


def finite_float(text: str) -> float:
    """``parse_float`` for :func:`json.loads`: a JSON number, refused beyond a double's range."""
    value = float(text)
    if value in _INF:
        raise CanonicalJSONError(f"number {_clip(text)} is out of range (beyond a 64-bit double)")
    return value


def _clip(text: str, width: int = 24) -> str:
    return text if len(text) <= width else f"{text[:width]}… ({len(text)} characters)"


def _too_deep(limit: int) -> CanonicalJSONError:
    return CanonicalJSONError(f"JSON nested deeper than {limit} levels")


def json_limit_error(exc: RecursionError | ValueError) -> CanonicalJSONError:
    """The one-line error for what :func:`json.loads` raises past its limits: ``RecursionError``
    (the C scanner's stack bound, far past :data:`MAX_JSON_DEPTH`: the same answer) or the
    ``ValueError`` of an integer longer than ``sys.get_int_max_str_digits()`` (4,300)."""
    if isinstance(exc, RecursionError):
        return _too_deep(MAX_JSON_DEPTH)
    if "digits" in str(exc):
        return CanonicalJSONError(f"integer longer than {sys.get_int_max_str_digits()} digits")
    return CanonicalJSONError(f"malformed JSON: {str(exc)[:200]}")


def check_json_bounds(value: Any, *, text: bytes | str | None = None, limit: int = MAX_JSON_DEPTH,
                      source: str | None = None, opens: int | None = None) -> Any:
    """Return ``value`` if its arrays and objects nest at most ``limit`` deep and it holds no
    infinite number (what ``1e400`` parses to), else raise :class:`CanonicalJSONError`.

    Level by level (a deep value cannot exhaust the stack here), each level's children gathered
    and searched for infinities by C loops, so a batch of envelopes costs a few per cent of its
    parse. Given the ``text`` it was parsed from, a text with at most ``limit`` opening brackets
    is not walked: its depth is bounded, and its parser's ``parse_float`` checks its numbers
    (``opens``: the text's :func:`~accord.core.json_budget.opening_brackets`, if already counted)."""
    if text is not None:
        _no_lone_surrogates(value, text, source)
        if (opening_brackets(text) if opens is None else opens) <= limit:
            return value
    if type(value) is float and value in _INF:  # a bare top-level number: no level holds it
        raise CanonicalJSONError("number out of range (beyond a 64-bit double)", source=source)
    level, depth = ([value] if type(value) in _CONTAINERS else []), 0
    while level:
        depth += 1
        children = [*chain.from_iterable(n.values() if type(n) is dict else n for n in level)]
        if _INF[0] in children or _INF[1] in children:
            raise CanonicalJSONError("number out of range (beyond a 64-bit double)", source=source)
        level = [c for c in children if type(c) in _CONTAINERS]
        if level and depth >= limit:
            raise CanonicalJSONError(_too_deep(limit).detail, source=source)
    return value


_CONTAINERS = frozenset({dict, list})
