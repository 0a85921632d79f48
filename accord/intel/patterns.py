"""Bounds on STIX patterns (§9), checked before any pattern parser sees one: the parser (ANTLR,
through ``stix2.parse`` and ``stix2-validator``) recurses once per level of brackets and once
per operator of a chain, so a hostile pattern would end in a ``RecursionError`` after seconds
of parsing. Both bounds are counted by regex and C-level iteration (a 10 MB pattern costs
milliseconds), outside the pattern's quoted literals."""

from __future__ import annotations

import re
from itertools import accumulate

from accord.errors import InputError

MAX_PATTERN_DEPTH = 64
"""The deepest nesting of parentheses and brackets accepted in a STIX pattern (§9). The pattern
parser (ANTLR) recurses per level: 5,000 levels were a ``RecursionError``; real indicators nest
a handful deep."""

MAX_PATTERN_OPERATORS = 256
"""The most ``AND`` / ``OR`` / ``FOLLOWEDBY`` operators accepted in a STIX pattern: the parser's
tree nests one level per operator of a chain, so ~1,000 chained ``OR`` were a ``RecursionError``
inside ``stix2.parse`` after seconds of parsing, brackets or not. With the bracket bound the
tree stays a few hundred levels deep."""

_PATTERN_OPERATOR = re.compile(r"\b(?:AND|OR|FOLLOWEDBY)\b")

_PATTERN_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")  # a quoted literal ('…', b'…', h'…', t'…')
_NOT_BRACKET = re.compile(r"[^()\[\]]+")
_PATTERN_STEP = str.maketrans({"(": "\x01", "[": "\x01", ")": "\xff", "]": "\xff"})


def pattern_depth(pattern: str) -> int:
    """How deep ``(`` and ``[`` nest in a STIX pattern, outside its quoted literals (regex and
    C-level iteration: a 10 MB pattern costs milliseconds)."""
    brackets = _NOT_BRACKET.sub("", _PATTERN_STRING.sub("", pattern))
    steps = brackets.translate(_PATTERN_STEP).encode("latin-1")  # +1 / -1 as signed bytes
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def check_pattern(pattern: str, where: str | None = None) -> None:
    """Raise :class:`InputError` (``where``: its source) if ``pattern`` nests deeper than
    :data:`MAX_PATTERN_DEPTH` or chains more than :data:`MAX_PATTERN_OPERATORS` operators."""
    if pattern.count("(") + pattern.count("[") > MAX_PATTERN_DEPTH and pattern_depth(pattern) > MAX_PATTERN_DEPTH:
        raise InputError(f"pattern nested deeper than {MAX_PATTERN_DEPTH} levels", source=where, field="pattern")
    # the plain counts are an upper bound (a literal or a longer word may hold the letters)
    if (pattern.count("AND") + pattern.count("OR") + pattern.count("FOLLOWEDBY") > MAX_PATTERN_OPERATORS
            and len(_PATTERN_OPERATOR.findall(_PATTERN_STRING.sub("''", pattern))) > MAX_PATTERN_OPERATORS):
        raise InputError(f"pattern chains more than {MAX_PATTERN_OPERATORS} AND/OR/FOLLOWEDBY operators",
                         source=where, field="pattern")
