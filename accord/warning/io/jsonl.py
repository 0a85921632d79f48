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

from accord.core.canonical import check_json_bounds, json_limit_error, no_duplicate_keys
from accord.errors import CanonicalJSONError, InputError


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


#: the longest line a reader takes (a header of a hundred radars is some 60,000); a longer one is
#: refused having been read this far only
MAX_LINE_CHARS = 1 << 20


def loads_strict(text: str) -> Any:
    """Strict JSON: NaN/Infinity and duplicate keys rejected (Python's json accepts both, keeping
    the last of two keys where another reader keeps the first); nesting deeper than
    :data:`~accord.core.canonical.MAX_JSON_DEPTH` and integers longer than 4,300 digits raise a
    ``ValueError`` that says so (not a ``RecursionError`` or int()'s advice)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
        # the duplicate-key hook costs a Python call per object; a detection line is one flat
        # object, whose pairs (at most one ':' each) are then all distinct keys: no hook needed
        if type(value) is not dict or text.count(":") != len(value):
            value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=no_duplicate_keys)
        return check_json_bounds(value, text=text)
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


def open_lines(path: Path) -> IO[str]:
    """``path`` opened for :func:`bounded_lines`: bytes that are not UTF-8 are read as lone
    surrogates (``surrogateescape``), for :func:`line_problem` to name with their line."""
    return path.open("r", encoding="utf-8", errors="surrogateescape")


def bounded_lines(fh: IO[str], limit: int = MAX_LINE_CHARS) -> Iterable[str]:
    """The lines of ``fh``, each read at most ``limit`` + 2 characters far: the rest of a longer
    one is read in pieces and dropped (:func:`line_problem` refuses what is left), so one line
    of gigabytes without a newline costs no more memory than that."""
    while line := fh.readline(limit + 2):
        if not line.endswith("\n"):
            while (rest := fh.readline(limit)) and not rest.endswith("\n"):
                pass
        yield line


def line_problem(raw: str, limit: int = MAX_LINE_CHARS) -> str | None:
    """Why a line read by :func:`bounded_lines` from :func:`open_lines` cannot be parsed, or None."""
    if len(raw) > limit and len(raw.rstrip("\r\n")) > limit:
        return f"line longer than {limit} characters"
    if not raw.isascii():
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:   # a byte that was not UTF-8, read as a lone surrogate
            return "not UTF-8 text"
    return None


def jsonl_objects(path: str | Path, what: str) -> Iterable[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of the JSON Lines file at ``path`` (a
    ``what`` file, in errors); :class:`InputError` for a missing file, a line that is not a JSON
    object, is not UTF-8 or is longer than :data:`MAX_LINE_CHARS`."""
    p = Path(path)
    try:
        fh = open_lines(p)
    except FileNotFoundError:
        raise InputError(f"no such {what} file", source=str(p)) from None
    with fh:
        for lineno, raw in enumerate(bounded_lines(fh), 1):
            if not raw.strip():
                continue
            problem = line_problem(raw)
            if problem is not None:
                raise InputError(problem, source=str(p), line=lineno)
            try:
                obj = loads_strict(raw)
            except (ValueError, RecursionError) as exc:
                raise InputError(f"not valid JSON: {exc}", source=str(p), line=lineno) from None
            if not isinstance(obj, dict):
                raise InputError(f"a {what} line must be a JSON object", source=str(p), line=lineno)
            yield lineno, obj


def field_error(path: str | Path, line: int, exc: Exception) -> InputError:
    """The :class:`InputError` for a bad field of line ``line``: a missing key, or a bad value."""
    if isinstance(exc, KeyError):
        return InputError("missing required field", source=str(path), line=line, field=str(exc.args[0]))
    return InputError(f"bad value: {exc}", source=str(path), line=line)

