"""Receipt proofs, the receiving side: the entries of this node's ledger that record an item
received from the partner asking, with their RFC 9162 inclusion paths — what ``GET
/federation/v1/receipts`` and ``GET /federation/v1/receipt`` answer
(:mod:`accord.federation.receipts` is the sending side, and re-exports these). Anything that is not
the caller's — another party's entry, an event of another type, an index outside the tree — is
one and the same "not found", so the routes tell a partner nothing about the rest of the log.

An answer is read from a connection of its own (:meth:`accord.store.base.Store.reader`, in a
read-only snapshot), not under the node's write lock: a partner working off a backlog of
proofs does not hold up the deliveries that take it. At most :data:`SNAPSHOT_READERS` such
connections are open at once in a process (on PostgreSQL each is a connection beyond the pool's
own places); an answer asked for while they are all in use is read under the write lock."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from accord.core.canonical import parse_json_strict
from accord.errors import InputError
from accord.federation.schema import write_lock
from accord.store.base import begin_read

if TYPE_CHECKING:
    from accord.store.protocol import Node

SNAPSHOT_READERS = 1
"""The most answers read on connections of their own at once in a process. Without a bound each
request a partner has in progress (``accord.api.partner.MAX_IN_FLIGHT``, per partner and serving
process) was a PostgreSQL connection more, past what the deployment's ``max_connections`` is
sized for."""

_snapshots = threading.BoundedSemaphore(SNAPSHOT_READERS)


def not_found_reason(party: str, index: int, size: int) -> str:
    """The one answer to every request for an entry that is not ``party``'s to see."""
    return f"no entry recording an item from {party} at index {index} of a tree of size {size}"


def _records_from(leaf: bytes, party: str) -> bool:
    """Whether a ledger entry records an item received from ``party``."""
    try:
        entry = parse_json_strict(leaf, source="ledger entry")
        data = entry["data"]
        return bool((entry["type"] == "item.received" and data.get("from") == party)
                    or (entry["type"] == "item.retracted" and data.get("by") == party))
    except (InputError, KeyError, TypeError, AttributeError):
        return False


def local_receipts(node: Node, party: str, indices: list[int], size: int) -> dict[str, Any]:
    """``{"size", "proofs", "not_found"}``: for each of ``indices`` (in their order) whose entry of
    this node's ledger records an item received from ``party`` (``item.received`` from it, or
    ``item.retracted`` by it), ``{"index", "size", "leaf", "path"}`` with ``PATH(index, D[size])``;
    every other index, whatever the reason, in ``not_found``. The leaves in one query, every path's
    hashes in one more per table (:meth:`accord.store.ledger.Ledger.inclusion_proofs`)."""
    with _committed(node) as ledger:
        leaves = ledger.leaves(i for i in indices if 0 <= i < size) if size <= ledger.size else {}
        ours = [i for i in indices if i in leaves and _records_from(leaves[i], party)]
        paths = dict(zip(ours, ledger.inclusion_proofs(ours, size))) if ours else {}
    return {"size": size, "not_found": [i for i in indices if i not in paths],
            "proofs": [{"index": i, "size": size, "leaf": base64.b64encode(leaves[i]).decode(),
                        "path": [base64.b64encode(h).decode() for h in paths[i]]} for i in ours]}


def local_receipt(node: Node, party: str, index: int, size: int) -> dict[str, Any] | None:
    """Entry ``index`` and its path, as one of :func:`local_receipts`; None for anything else."""
    proofs = local_receipts(node, party, [index], size)["proofs"]
    return proofs[0] if proofs else None


@contextmanager
def _committed(node: Node) -> Iterator[Any]:
    """The node's ledger read in a snapshot of committed rows, without the node's write lock: on
    a reader of the node's store (SQLite: a connection of its own, which in WAL mode sees only
    committed transactions; PostgreSQL: a connection of the pool), closed after. A node without
    a store to open one from (a double, a database in memory), or an answer asked for while
    :data:`SNAPSHOT_READERS` are open: its own connection, under its write lock, so never another
    thread's open transaction."""
    store = getattr(node, "store", None)
    if store is None or getattr(store, "location", "") == ":memory:" or not _snapshots.acquire(blocking=False):
        with write_lock(node):
            yield node.ledger
        return
    try:
        conn = store.reader()
        try:
            begin_read(conn)   # the size and every leaf and hash read from one state of the ledger
            ledger = copy.copy(node.ledger)   # its reading methods, on this connection
            ledger.conn = conn
            yield ledger
            conn.rollback()   # nothing was written
        finally:
            conn.close()
    finally:
        _snapshots.release()
