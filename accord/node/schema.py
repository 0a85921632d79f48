"""``accord node migrate``: every part's versioned schema steps on a node's database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from accord.store.migrations import versions

if TYPE_CHECKING:
    from accord.node.node import Node


def migrate_node(node: Node, extra: Iterable[Callable[[Node], object]] = ()) -> dict[str, Any]:
    """Run every part's migrations on ``node`` (opening it already ran the node's and the
    ledger's), then ``extra``'s (the parts above the node: the console's sessions); return the
    store's location and each part's ``(version before, version now)``."""
    before = node.schema_at_open
    from accord.dialogue.store import DialogueStore
    from accord.federation.schema import ensure_federation_schema
    from accord.federation.tokens import ensure_tokens
    from accord.intel.node_store import store_for
    from accord.warning.alerts.store import AlertStore

    with node.write_lock:
        ensure_federation_schema(node.conn)
        ensure_tokens(node.conn)
    store_for(node)
    DialogueStore(node)
    AlertStore(node)
    for ensure in extra:
        ensure(node)
    after = versions(node.conn)
    return {"store": node.store.location,
            "parts": {part: (before.get(part, 0), now) for part, now in after.items()}}
