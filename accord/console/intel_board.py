"""The intel board's objects (``/console/intel``): one page at a time, newest ``date_added``
first across the collections shown, read from the intel store a bounded number of rows at a time
(:func:`accord.intel.listing.newest`) — never the collections' whole history.

What a viewer may see and how it reads it is the store's answer for the viewer's party, as over
TAXII: the rows releasable to it (and its own shadowed versions), each redacted by its granular
markings for that party. The board's own filters (label, classification, date, free text) are
applied to the objects as they are read, so a page is filled from the objects that pass them;
a page decodes at most :data:`SCAN` objects and makes a bounded number of queries of each
collection (:func:`_stream`), and then ends early with a link to go on from where it stopped.

A page's position is ``before=DATE_ADDED.SEQ``: the objects older than that one (a total order
over every collection: ``seq`` is unique). Walking ``older`` links from the first page lists every
object once, in order.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from accord.core.markings import Marking
from accord.errors import InputError
from accord.intel.listing import count_visible, newest
from accord.intel.records import Collection, Filters

PAGE = 50  # objects a page shows
SCAN = 1000  # objects a page reads at most (its filters may pass few), and positions per collection
WINDOW = 500  # positions of a collection one query looks through
COUNT_CAP = 10_000  # a total beyond this is shown as "more than"
_POSITION = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")
INT64_MAX = 2**63 - 1


def parse_before(text: str) -> tuple[int, int] | None:
    """The ``before`` parameter (``DATE_ADDED.SEQ``, as :func:`position` writes it) or None if
    empty; :class:`InputError` otherwise."""
    if not text:
        return None
    m = _POSITION.fullmatch(text)
    # each part is a 64-bit column of the store: a larger one (19 digits reach past it) is no
    # position the 'older' link gives, and SQLite's driver raised OverflowError on it (a 500)
    if m is None or max(int(m.group(1)), int(m.group(2))) > INT64_MAX:
        raise InputError(f"before: a position as the 'older' link gives it (digits.digits, each at most "
                         f"{INT64_MAX}), not {text[:40]!r}", field="before")
    return int(m.group(1)), int(m.group(2))


def position(at: tuple[int, int]) -> str:
    return f"{at[0]}.{at[1]}"


class Row(NamedTuple):
    at: tuple[int, int]  # (date_added, seq)
    coll: Collection
    text: str
    originator: str


class _Stop(NamedTuple):
    """A collection's read stopped (its positions budget spent) at ``at``: nothing older may be shown."""

    at: tuple[int, int]


@dataclass
class Board:
    rows: list[tuple[Collection, dict[str, Any], Marking]] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    older: str | None = None  # the next page's ``before``; None at the end
    cut_short: bool = False  # the page stopped at its read bound before it was full
    total: int | None = None  # the objects matching, when the store can count them
    total_capped: bool = False


def suggested_types(board: Board) -> list[str]:
    """The type filter's suggestions: every object type STIX 2.1 defines (the stix2 library's
    registry, less ``bundle``, which is never stored) and any other type on the page (a custom
    ``x-…`` one, say) — not only the page's: a type none of the newest objects has is still one a
    viewer may look for."""
    from stix2.registry import STIX2_OBJ_MAPS

    known = STIX2_OBJ_MAPS["2.1"]
    return sorted((set(known["objects"]) | set(known["observables"]) | board.types) - {"bundle", ""})


def _stream(store: Any, coll: Collection, party: str, f: Filters, before: tuple[int, int] | None,
            batch: int) -> Iterator[Row | _Stop]:
    """``coll``'s objects ``party`` may see, newest first, older than ``before``; a :class:`_Stop`
    once :data:`SCAN` were counted: each window looked through to its end counts its positions,
    a batch that filled before its window's end counts its rows (so each query reads at most
    :data:`WINDOW` positions, and a stream makes at most ``SCAN / batch + SCAN / WINDOW`` queries)."""
    spent = 0
    while True:
        window = min(WINDOW, SCAN - spent)
        if window <= 0:
            if before is not None:
                yield _Stop(before)
            return
        listed, resume = newest(store, coll.id, party, f, before=before, limit=batch, window=window)
        spent += window if len(listed) < batch else len(listed)  # a full batch: read on after it
        for r in listed:
            yield Row((r.date_added, r.seq), coll, r.text, r.originator)
        if resume is None:
            return
        before = resume


def _merged(store: Any, colls: Sequence[Collection], party: str, f: Filters,
            before: tuple[int, int] | None, batch: int) -> Iterator[Row | _Stop]:
    """Every collection's stream merged, newest first (each is; positions never tie)."""
    return heapq.merge(*(_stream(store, c, party, f, before, batch) for c in colls),
                       key=lambda r: r.at, reverse=True)


def read_page(store: Any, colls: Sequence[Collection], party: str, f: Filters,
              keep: Callable[[str, dict[str, Any], Marking], bool], before: tuple[int, int] | None,
              size: int | None = None) -> Board:
    """One page: up to ``size`` (default :data:`PAGE`) objects of ``colls`` that ``party`` may
    see, ``f`` selects and ``keep(text, object, marking)`` passes, newest first, older than ``before``."""
    size = size or PAGE
    board, read, last = Board(), 0, before
    for r in _merged(store, colls, party, f, before, size + 1):
        if isinstance(r, _Stop) or len(board.rows) == size or read == SCAN:
            board.older = position(r.at if isinstance(r, _Stop) or last is None else last)
            board.cut_short = len(board.rows) < size
            return board
        read, last = read + 1, r.at
        obj = json.loads(r.text)
        board.types.add(str(obj.get("type", "")))
        m = store.marking_of(obj, r.coll.rel_to, origin=r.originator)[0]  # its originator's definitions
        if keep(r.text, obj, m):
            board.rows.append((r.coll, obj, m))
    return board


def count(store: Any, colls: Sequence[Collection], party: str, f: Filters) -> tuple[int, bool]:
    """How many objects of ``colls`` ``party`` may see and ``f`` selects, up to :data:`COUNT_CAP`
    (one bounded query per collection); and whether there are more."""
    total = 0
    for c in colls:
        total += count_visible(store, c.id, party, f, cap=COUNT_CAP + 1 - total)
        if total > COUNT_CAP:
            return COUNT_CAP, True
    return total, False
