"""The node's audit ledger: an append-only RFC 9162 Merkle log persisted in the node's database.

Every event (item created, shared, received, rejected; agreement added or changed; partner
pinned, removed or inconsistent …; docs/architecture.md lists them) is one leaf. The leaf bytes are the RFC 8785 canonical JSON of
``{"type": event_type, "time": RFC 3339, "data": {...}}`` and the leaf hash is
``SHA-256(0x00 || leaf)`` (RFC 9162 §2.1.1).

Storage (tables created with :func:`accord.store.base.ensure_schema`):

* ``ledger_leaves(idx, type, time, hash, leaf)`` — the entries in order, with their leaf hashes
  (the level-0 nodes of the tree);
* ``ledger_nodes(id, hash)`` — the hash of every *complete* subtree ``(level, index)`` above the
  leaves, keyed ``id = level << 48 | index``. An append writes the leaf and the ≤ log2(n) nodes
  it completes (one on average), so appends are O(1) amortised, and the root or any
  inclusion/consistency proof is O(log n) reads in two indexed queries, never a scan.

The right frontier of the tree (its compact range) is cached in memory only as a speed-up: each
write transaction first checks it against the last stored leaf, so a rolled-back caller
transaction or another connection appending cannot make it lie. Writes happen in one
transaction (all or nothing); if the caller already holds a transaction the ledger joins it, so
an item and its ``item.created`` event commit together.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.clock import parse_rfc3339, to_rfc3339
from accord.core import merkle
from accord.core.canonical import canonical_json, parse_json_strict
from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.identity import Identity
from accord.errors import InputError, LedgerError, NotFoundError
from accord.store.base import select_in, transaction
from accord.store.migrations import migrate

_LEVEL_SHIFT = 48  # node id = level << 48 | index: room for 2^48 leaves
_MAX_INDEX = 2**63 - 1  # the largest integer a BIGINT (SQLite's INTEGER) holds

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_leaves (
    idx  INTEGER PRIMARY KEY,      -- leaf index, 0 …
    type TEXT NOT NULL,            -- event type, e.g. item.created
    time TEXT NOT NULL,            -- RFC 3339
    hash BLOB NOT NULL,            -- SHA-256(0x00 || leaf)
    leaf BLOB NOT NULL             -- RFC 8785 canonical JSON of {type, time, data}
);
CREATE TABLE IF NOT EXISTS ledger_nodes (
    id   INTEGER PRIMARY KEY,      -- level << 48 | index of a complete subtree, level >= 1
    hash BLOB NOT NULL             -- MTH of leaves [index·2^level, (index+1)·2^level)
);
"""


def _node_id(level: int, index: int) -> int:
    return level << _LEVEL_SHIFT | index


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger event as stored: its leaf index, decoded fields, leaf bytes and leaf hash."""

    index: int
    type: str
    time: datetime
    data: dict[str, Any]
    leaf: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.hash_leaf(self.leaf)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "type": self.type, "time": to_rfc3339(self.time), "data": self.data,
                "leaf_hash": base64.b64encode(self.leaf_hash).decode()}


@dataclass(frozen=True)
class InclusionProof:
    """``PATH(index, D[size])`` with what a verifier needs beside it."""

    index: int
    size: int
    leaf_hash: bytes
    root: bytes
    path: tuple[bytes, ...]

    def verify(self) -> None:
        merkle.verify_inclusion(self.index, self.size, self.leaf_hash, self.path, self.root)

    def to_json(self) -> dict[str, Any]:
        """Hashes in base64, as in C2SP checkpoints."""
        return {"index": self.index, "tree_size": self.size, "leaf_hash": base64.b64encode(self.leaf_hash).decode(),
                "root_hash": base64.b64encode(self.root).decode(),
                "path": [base64.b64encode(p).decode() for p in self.path]}


_EVENT_TYPE = re.compile(r"[^\s]+")


def leaf_bytes(event_type: str, data: dict[str, Any], time: datetime | str) -> bytes:
    """The leaf bytes of an event: RFC 8785 canonical JSON of ``{"type","time","data"}``."""
    if type(event_type) is not str or not _EVENT_TYPE.fullmatch(event_type):
        raise InputError(f"ledger event type must be a non-empty string without spaces: {event_type!r}",
                         field="type")
    if not isinstance(data, dict):
        raise InputError(f"ledger event data must be a JSON object, got {type(data).__name__}", field="data")
    when = time if isinstance(time, str) else to_rfc3339(time)
    return canonical_json({"type": event_type, "time": when, "data": data})


def _leaf_hashes(conn: Any) -> None:
    """Migration 2: databases made before leaf hashes moved beside the leaves (early 0.1
    development): add the column, fill it, drop the level-0 rows from ``ledger_nodes``."""
    cols = [r[1] for r in conn.execute("PRAGMA table_info(ledger_leaves)")]
    if "hash" in cols:
        return
    conn.execute("ALTER TABLE ledger_leaves ADD COLUMN hash BLOB")
    rows = conn.execute("SELECT idx, leaf FROM ledger_leaves").fetchall()
    conn.executemany("UPDATE ledger_leaves SET hash = ? WHERE idx = ?",
                     [(merkle.hash_leaf(bytes(leaf)), idx) for idx, leaf in rows])
    conn.execute("DELETE FROM ledger_nodes WHERE id < ?", (1 << _LEVEL_SHIFT,))


class Ledger:
    """An append-only Merkle log of events on a node's database connection.

    ``origin`` names the log in its checkpoints (see :func:`accord.core.checkpoint.origin_for`) and
    is the signed-note key name the node signs them with.
    """

    def __init__(self, conn: Any, identity: Identity, origin: str, *,
                 on_append: Callable[[int, int], None] | None = None) -> None:
        self.conn = conn
        self.on_append = on_append  # (first index, count) after each append (the node's event bus)
        self.identity = identity
        self.origin = origin
        self._frontier: merkle.CompactRange | None = None
        self._last_hash: bytes | None = None
        self._lock = threading.RLock()  # the frontier cache and the transaction, per Ledger
        migrate(conn, "ledger", [SCHEMA, _leaf_hashes], lock=self._lock)

    # --- state ------------------------------------------------------------------------------
    def _stored_tail(self) -> tuple[int, bytes | None]:
        row = self.conn.execute("SELECT idx, hash FROM ledger_leaves ORDER BY idx DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (row[0] + 1, bytes(row[1]))

    def _current(self) -> merkle.CompactRange:
        """The compact range of the stored tree, reloaded if the cache no longer matches the db."""
        with self._lock:
            return self._current_locked()

    def _current_locked(self) -> merkle.CompactRange:
        size, last = self._stored_tail()
        cr = self._frontier
        if cr is None or cr.size != size or self._last_hash != last:
            ids = [_node_id(lv, ix) for lv, ix in merkle.subtree_nodes(0, size)]
            hashes = self._node_hashes(ids)
            cr = merkle.CompactRange(size, [hashes[i] for i in ids])
            self._frontier, self._last_hash = cr, last
        return cr

    def _node_hashes(self, ids: list[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        leaves = [i for i in ids if i < 1 << _LEVEL_SHIFT]  # level 0: the leaf hashes
        nodes = [i for i in ids if i >= 1 << _LEVEL_SHIFT]
        for table, key, wanted in (("ledger_leaves", "idx", leaves), ("ledger_nodes", "id", nodes)):
            for chunk in range(0, len(wanted), 500):
                part = wanted[chunk:chunk + 500]
                q = f"SELECT {key}, hash FROM {table} WHERE {key} IN ({','.join('?' * len(part))})"
                found.update((r[0], bytes(r[1])) for r in self.conn.execute(q, part))
        missing = [i for i in ids if i not in found]
        if missing:
            lv, ix = missing[0] >> _LEVEL_SHIFT, missing[0] & ((1 << _LEVEL_SHIFT) - 1)
            raise LedgerError(f"ledger is missing the hash of subtree (level {lv}, index {ix}); "
                              "the database was altered")
        return found

    @property
    def size(self) -> int:
        """Number of leaves (events) in the log."""
        return self._stored_tail()[0]

    # --- appending --------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            try:
                with transaction(self.conn, join=True):
                    yield
            except BaseException:
                self._frontier = None
                raise

    def append(self, event_type: str, data: dict[str, Any], *, time: datetime) -> int:
        """Append one event; return its leaf index."""
        return self.append_many([(event_type, data, time)])[0]

    def append_many(self, events: Iterable[tuple[str, dict[str, Any], datetime]]) -> list[int]:
        """Append ``(event_type, data, time)`` events in one transaction; return their leaf indices."""
        rows = []
        last_time: Any = None
        when = ""
        for n, (event_type, data, time) in enumerate(events):
            try:
                if time is not last_time:  # a batch's events usually share one time: format it once
                    when = to_rfc3339(time)
                    last_time = time
                rows.append((event_type, when, leaf_bytes(event_type, data, when)))
            except InputError as exc:
                raise type(exc)(f"ledger event #{n}: {exc.detail}", field=exc.field) from None
        if not rows:
            return []
        with self._write():
            cr = self._current()
            first = cr.size
            leaf_rows, node_rows = [], []
            last = self._last_hash
            try:
                for i, (event_type, when, leaf) in enumerate(rows):
                    last = merkle.hash_leaf(leaf)
                    leaf_rows.append((first + i, event_type, when, last, leaf))
                    made = cr.append(last)
                    for level, index, h in made[1:]:
                        node_rows.append((level << _LEVEL_SHIFT | index, h))
                self.conn.executemany("INSERT INTO ledger_leaves (idx, type, time, hash, leaf) VALUES (?,?,?,?,?)",
                                      leaf_rows)
                self.conn.executemany("INSERT INTO ledger_nodes (id, hash) VALUES (?,?)", node_rows)
            except BaseException:
                self._frontier = None
                raise
            self._last_hash = last
        if self.on_append is not None:  # after the commit when the transaction was the ledger's own
            self.on_append(first, len(rows))
        return list(range(first, first + len(rows)))

    # --- reading ----------------------------------------------------------------------------
    def _hashes_for(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """``MTH(D[a:b])`` for each aligned range, folded from its stored complete subtrees
        (all fetched in one query per table)."""
        plan = [[lv << _LEVEL_SHIFT | ix for lv, ix in merkle.subtree_nodes(a, b)] for a, b in ranges]
        cache = self._node_hashes(list(dict.fromkeys(i for ids in plan for i in ids)))
        return [merkle.fold_right([cache[i] for i in ids]) for ids in plan]

    def _check_size(self, size: int | None, what: str = "size") -> int:
        current = self.size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise NotFoundError(f"ledger has {current} entries; no tree of {what} {size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """``MTH(D[size])`` (default: the current size), from O(log n) stored subtree hashes."""
        if size is None:
            with self._lock:
                return self._current().root()
        size = self._check_size(size)
        return self._hashes_for([(0, size)])[0] if size else merkle.EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        """The leaf bytes of entry ``index``."""
        found = self.leaves([index])
        if index not in found:
            raise NotFoundError(f"ledger has no entry {index} (size {self.size})")
        return found[index]

    def leaves(self, indices: Iterable[int]) -> dict[int, bytes]:
        """The leaf bytes of each of ``indices`` that is an entry, in one query (per 500)."""
        rows = select_in(self.conn, "SELECT idx, leaf FROM ledger_leaves WHERE idx IN ({})",
                         [i for i in indices if 0 <= i <= _MAX_INDEX])  # past a BIGINT: none (nor OverflowError)
        return {r[0]: bytes(r[1]) for r in rows}

    def entry(self, index: int) -> LedgerEntry:
        return self._decode(index, self.leaf(index))

    def entries(self, start: int = 0, end: int | None = None) -> list[LedgerEntry]:
        """Entries ``[start, end)`` in order (``end`` defaults to the current size)."""
        end = self.size if end is None else min(end, _MAX_INDEX)
        start = max(start, 0)
        if start >= end:  # also any start past a BIGINT, which the driver cannot send
            return []
        rows = self.conn.execute("SELECT idx, leaf FROM ledger_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                                 (start, end)).fetchall()
        return [self._decode(r[0], bytes(r[1])) for r in rows]

    @staticmethod
    def _decode(index: int, leaf: bytes) -> LedgerEntry:
        d = parse_json_strict(leaf, source=f"ledger entry {index}")
        return LedgerEntry(index, d["type"], parse_rfc3339(d["time"]), d["data"], leaf)

    # --- proofs -----------------------------------------------------------------------------
    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1), bottom first; O(log n) reads."""
        return self.inclusion_proofs([index], size)[0]

    def inclusion_proofs(self, indices: list[int], size: int | None = None) -> list[list[bytes]]:
        """``PATH(i, D[size])`` for each of ``indices``, every hash read in one query per table (per 500)."""
        size = self._check_size(size)
        for index in (i for i in indices if not 0 <= i < size):
            raise NotFoundError(f"no leaf {index} in a tree of size {size}")
        plans = [merkle.path_ranges(index, 0, size) for index in indices]
        hashes = iter(self._hashes_for([r for plan in plans for r in plan]))
        return [[next(hashes) for _ in plan] for plan in plans]

    def prove_inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """An :class:`InclusionProof` bundle for entry ``index`` at ``size`` (default current)."""
        size = self._check_size(size)
        path = self.inclusion_proof(index, size)
        return InclusionProof(index, size, merkle.hash_leaf(self.leaf(index)), self.root(size), tuple(path))

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """``PROOF(old, D[new])`` (RFC 9162 §2.1.4.1); ``0 < old <= new``."""
        new = self._check_size(new, "new size")
        if not 0 < old <= new:
            raise LedgerError(f"no consistency proof from size {old} to size {new} (need 0 < old <= new)")
        return self._hashes_for(merkle.subproof_ranges(old, new))

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint_body(self) -> Checkpoint:
        """The current tree head (origin, size, root), unsigned."""
        with self._lock:
            cr = self._current()
            return Checkpoint(self.origin, cr.size, cr.root())

    def checkpoint(self) -> str:
        """The latest tree head as a C2SP tlog-checkpoint, signed as a C2SP signed note by this node."""
        return sign_checkpoint(self.checkpoint_body(), self.identity, self.origin)

    # --- audit ------------------------------------------------------------------------------
    def verify(self, *, progress: Any = None) -> Checkpoint:
        """Recompute every leaf hash and every stored subtree hash from the leaf bytes.

        Level 0: ``hash_leaf(leaf_i)`` must equal the stored leaf hash, for ``i = 0 … n-1`` with no
        gap; level ``L > 0``: node ``i`` must equal ``H(0x01 || node_{L-1}[2i] || node_{L-1}[2i+1])``
        and there must be exactly ``n >> L`` of them. Streams the tables level by level (O(n) time,
        O(1) memory) and raises :class:`LedgerError` naming the first entry or node at fault (an
        entry edited, deleted or inserted; a node hash changed). ``progress(done, total)`` is called
        as the work proceeds (units: entries plus interior nodes checked). Returns the verified tree
        head (origin, size, root).
        """
        total = self.size
        levels = dict(self.conn.execute(f"SELECT id >> {_LEVEL_SHIFT}, count(*) FROM ledger_nodes GROUP BY 1"))
        for level, count in sorted(levels.items()):
            if level < 1 or count != total >> level:
                raise LedgerError(f"ledger has {count} stored subtree hashes at level {level} for "
                                  f"{total} entries", expected=total >> level, actual=count)
        work = total + sum(total >> lv for lv in range(1, total.bit_length()))
        count = self.conn.execute("SELECT count(*) FROM ledger_leaves").fetchone()[0]
        if count != total:
            raise LedgerError(f"ledger has {count} entries but its last index is {total - 1}: "
                              "entries were deleted", expected=total, actual=count)
        for n, (idx, h, leaf) in enumerate(self.conn.execute("SELECT idx, hash, leaf FROM ledger_leaves ORDER BY idx")):
            if idx != n:
                raise LedgerError(f"ledger entry {n} is missing (next stored index is {idx})")
            if not isinstance(leaf, bytes) or not isinstance(h, bytes):
                raise LedgerError(f"ledger entry {idx} is not stored as bytes (the database was edited)")
            try:
                self._decode(idx, leaf)
            except (InputError, KeyError, TypeError) as exc:
                raise LedgerError(f"ledger entry {idx} is not a valid event: {exc}") from None
            if merkle.hash_leaf(leaf) != h:
                raise LedgerError(f"ledger entry {idx} does not match its stored leaf hash (entry altered)",
                                  expected=bytes(h).hex(), actual=merkle.hash_leaf(leaf).hex())
            if progress is not None and n % 16384 == 16383:
                progress(n + 1, work)
        done = total
        level = 1
        while total >> level:
            if level == 1:
                lower = self.conn.execute("SELECT hash FROM ledger_leaves ORDER BY idx")
            else:
                lower = self.conn.execute("SELECT hash FROM ledger_nodes WHERE id >= ? AND id < ? ORDER BY id",
                                          (_node_id(level - 1, 0), _node_id(level, 0)))
            upper = self.conn.execute("SELECT id, hash FROM ledger_nodes WHERE id >= ? AND id < ? ORDER BY id",
                                      (_node_id(level, 0), _node_id(level + 1, 0)))
            for i, (nid, h) in enumerate(upper):
                left, right = lower.fetchone()[0], lower.fetchone()[0]
                want = merkle.hash_children(bytes(left), bytes(right))
                if nid != _node_id(level, i) or bytes(h) != want:
                    first = i << level
                    raise LedgerError(f"ledger subtree (level {level}, index {i}) over entries "
                                      f"[{first}, {first + (1 << level)}) does not match its children",
                                      expected=want.hex(), actual=bytes(h).hex())
            done += total >> level
            if progress is not None:
                progress(done, work)
            level += 1
        if progress is not None:
            progress(work, work)
        self._frontier = None
        return Checkpoint(self.origin, total, self.root())
