"""What every early-warning file reader and writer shares: strict JSON (:func:`loads_strict`),
numbers beyond a double as infinities (:func:`to_float`), a file written all or nothing
(:func:`write_lines`), a JSON Lines file read object by object with its line numbers
(:func:`jsonl_objects`), and a bad field as an :class:`~accord.errors.InputError` naming the file
and line (:func:`field_error`).

Used by :mod:`~accord.warning.io.header`, :mod:`~accord.warning.io.detections`,
:mod:`~accord.warning.io.tracks` and :mod:`~accord.warning.io.truth`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from accord.core.canonical import check_json_bounds, json_limit_error
from accord.errors import CanonicalJSONError, InputError


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


def loads_strict(text: str) -> Any:
    """Strict JSON: NaN/Infinity rejected (Python's json accepts them by default); nesting deeper
    than :data:`~accord.core.canonical.MAX_JSON_DEPTH` and integers longer than 4,300 digits
    raise a ``ValueError`` that says so (not a ``RecursionError`` or int()'s advice)."""
    try:
        return check_json_bounds(json.loads(text, parse_constant=_reject_constant), text=text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError, CanonicalJSONError) as exc:  # ours, or json.loads past its limits
        detail = exc.detail if isinstance(exc, CanonicalJSONError) else json_limit_error(exc).detail
        raise ValueError(detail) from None


def to_float(v: int | float) -> float:
    """``float(v)``, with integers beyond a double (``10**400``, which JSON reads as an int) as
    infinity (then refused as not finite) instead of an ``OverflowError``."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def write_lines(path: str | Path, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path``, each followed by a newline, through a temporary file renamed
    over it at the end (and removed if the write fails or is interrupted)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line)
                fh.write("\n")
        tmp.replace(p)  # all or nothing: a reader never sees half a file
    except BaseException:  # an error or Ctrl-C midway: the old file stays, no half-written temporary
        tmp.unlink(missing_ok=True)
        raise


def jsonl_objects(path: str | Path, what: str) -> Iterable[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of the JSON Lines file at ``path`` (a
    ``what`` file, in errors); :class:`InputError` for a missing file, a line that is not a JSON
    object, or text that is not UTF-8."""
    p = Path(path)
    try:
        fh: IO[str] = p.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such {what} file", source=str(p)) from None
    with fh:
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    obj = loads_strict(raw)
                except (ValueError, RecursionError) as exc:
                    raise InputError(f"not valid JSON: {exc}", source=str(p), line=lineno) from None
                if not isinstance(obj, dict):
                    raise InputError(f"a {what} line must be a JSON object", source=str(p), line=lineno)
                yield lineno, obj
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc.reason}", source=str(p), line=lineno + 1) from None


def field_error(path: str | Path, line: int, exc: Exception) -> InputError:
    """The :class:`InputError` for a bad field of line ``line``: a missing key, or a bad value."""
    if isinstance(exc, KeyError):
        return InputError("missing required field", source=str(path), line=line, field=str(exc.args[0]))
    return InputError(f"bad value: {exc}", source=str(path), line=line)

