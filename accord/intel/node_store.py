"""The intel store of a :class:`accord.node.Node` (one per node object, sharing its lock)."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from accord.intel.store import IntelStore

if TYPE_CHECKING:
    from accord.store.protocol import Node

_stores: "weakref.WeakKeyDictionary[Any, IntelStore]" = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _write_lock(node: Node) -> Any:
    try:  # the federation's per-connection lock, so intel writes never interleave with its own
        from accord.federation.schema import write_lock
    except ImportError:  # pragma: no cover - federation not installed in this checkout
        return getattr(node, "write_lock", None) or threading.RLock()
    return write_lock(node)


def store_for(node: Node) -> IntelStore:
    """The :class:`IntelStore` over ``node.conn`` (created once per node object)."""
    with _guard:
        store = _stores.get(node)
        if store is None:
            store = IntelStore(node.conn, party=node.party, clock=getattr(node, "clock", None),
                               lock=_write_lock(node))
            if hasattr(node, "partners"):  # a real node: share on add, apply what partners sent
                from accord.intel import sharing

                sharing.install(node, store)
                store.syncer = sharing.Syncer(node, store)
            _stores[node] = store
        return store
