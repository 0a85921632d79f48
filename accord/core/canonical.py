"""RFC 8785 JSON Canonicalization Scheme (JCS) and strict JSON parsing.

Everything Accord signs is signed over ``canonical_json(value)``: RFC 8785 via the ``rfc8785``
package (``json.dumps(sort_keys=True)`` is *not* RFC 8785: it differs on numbers and on the
ordering of non-ASCII keys, which sort by UTF-16 code units in JCS).

:func:`parse_json_strict` is the only way Accord parses JSON that it will verify: duplicate
object keys are rejected (RFC 8785 §3.1 requires I-JSON, RFC 7493, which forbids them), as are
NaN and Infinity, which JSON does not have.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from accord.errors import CanonicalJSONError


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical UTF-8 bytes."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(f"value cannot be canonicalised (RFC 8785): {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in pairs:
        if key in out:
            raise CanonicalJSONError(f"duplicate key {key!r} in JSON object")
        out[key] = val
    return out


def _no_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not valid JSON")


def parse_json_strict(data: bytes | str, *, source: str | None = None) -> Any:
    """Parse JSON, rejecting duplicate keys and NaN/Infinity, with a clear error."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except CanonicalJSONError as exc:
        raise CanonicalJSONError(exc.detail, source=source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise CanonicalJSONError(f"malformed JSON: {exc.msg if hasattr(exc, 'msg') else exc}",
                                 source=source, line=line) from None
