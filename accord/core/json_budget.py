"""How many arrays and objects an untrusted JSON text may build: :data:`MAX_JSON_CONTAINERS`,
checked on the text before it is parsed (:func:`check_json_containers`).

An empty ``[]`` or ``{}`` is 2 bytes of text and 56–64 bytes once parsed (a one-key ``{"a":0}``,
7 bytes and ~220), so a body made of them cost some thirty times its size and seconds of a
worker — more than any other JSON: short strings cost ~13 times, numbers 5–9, honest batches of
envelopes 4–7. The text's ``[`` and ``{`` are counted at C speed (:func:`opening_brackets`: the
count :func:`~accord.core.canonical.parse_json_strict` makes anyway for its depth bound); only
a text with more than the limit is counted again outside its strings
(:func:`structural_brackets`), where a bracket is text, not an array, so a string full of
brackets is never refused and an honest body pays nothing.
"""

from __future__ import annotations

import json

from accord.errors import CanonicalJSONError

MAX_JSON_CONTAINERS = 1_000_000
"""The most arrays and objects a parse of an untrusted body builds: partner batches (in however
few envelopes), user and dialogue API bodies, TAXII adds (a partner's answers are bounded by
their size alone, 8 MiB). Honest envelopes
hold few — a missile prediction, the densest, 50 in 2.4 KB, a track 6, an alert 7 — so a batch
of 10,000 predictions (the envelope cap) holds 500,000; a 64 MiB body of ``[]`` would build
22 million."""

_ESCAPED_BACKSLASH, _ESCAPED_QUOTE = b"\\\\", b'\\"'
_CHUNK = 1 << 20


def opening_brackets(data: bytes | str) -> int:
    """The text's ``[`` and ``{``, its strings' among them: at least the arrays and objects it
    parses to (a C-speed count)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    raw = bytes(data)
    return raw.count(b"[") + raw.count(b"{")


def structural_brackets(data: bytes | str) -> int:
    """The text's ``[`` and ``{`` outside its strings: the arrays and objects it parses to.

    Escapes go first (``\\\\``, then ``\\"``, left to right as a parser reads them: neither ends
    a string); then each quote toggles "in a string", and brackets are counted where it is off,
    a megabyte at a time (numpy: a 64 MiB text in about half a second, memory flat). Exact for
    JSON; for a text that is not, exact over its valid beginning — all a parser builds before it
    fails. The bytes of ``"`` and ``\\`` are never part of another UTF-8 character, so UTF-8 is
    read as bytes; UTF-16 or -32 bytes (which :mod:`json` reads) are made UTF-8 first."""
    import numpy as np

    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
        encoding = json.detect_encoding(raw)
        if encoding not in ("utf-8", "utf-8-sig"):
            raw = raw.decode(encoding, "replace").encode("utf-8", "surrogatepass")
    text = np.frombuffer(
        raw.replace(_ESCAPED_BACKSLASH, b"").replace(_ESCAPED_QUOTE, b""),
        dtype=np.uint8,
    )
    count, inside = 0, 0
    for start in range(0, len(text), _CHUNK):
        chunk = text[start : start + _CHUNK]
        # quotes so far, mod 2 (a uint8 sum wraps at 256; its parity holds)
        in_string = (np.cumsum(chunk == ord('"'), dtype=np.uint8) + inside) & 1
        count += int(
            np.count_nonzero(
                ((chunk == ord("[")) | (chunk == ord("{"))) & (in_string == 0)
            )
        )
        inside = int(in_string[-1])
    return count


def check_json_containers(
    data: bytes | str,
    *,
    limit: int = MAX_JSON_CONTAINERS,
    source: str | None = None,
    opens: int | None = None,
) -> None:
    """Refuse (:class:`CanonicalJSONError`, one line) a JSON text that would parse to more than
    ``limit`` arrays and objects, before it is parsed. ``opens``: its
    :func:`opening_brackets`, if already counted."""
    if (opening_brackets(data) if opens is None else opens) <= limit:
        return
    if structural_brackets(data) > limit:
        raise CanonicalJSONError(
            f"JSON holds more than {limit:,} arrays and objects", source=source
        )
