"""The alert engine's open incidents, kept in the node's database.

A node that crashes while one of its alerts is open must not come back without it: the public
would stay in shelter with no Update and no Cancel ever following. So the engine's state
(:meth:`AlertEngine.snapshot`: open incidents, the references of the messages they issued, the
warned areas, the reference predictions and timers, the identifier counters) is written to the
``alert_engine`` table **in the same transaction** as the messages it issued (stored as
``warning.alert`` items and ledgered as ``item.created``): after a crash the stored state and
the stored messages agree, whatever the moment of the crash. :meth:`AlertStore.engine` rebuilds
the engine from it, and the engine ends each resumed incident when its threat ends.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.items import Item
from accord.store.base import transaction
from accord.store.migrations import migrate
from accord.warning.alerts.engine import DEFAULT_EPOCH, AlertEngine
from accord.warning.alerts.geography import Geography
from accord.warning.alerts.rules import AlertRules

if TYPE_CHECKING:
    from accord.store.protocol import Node

DDL = """
CREATE TABLE IF NOT EXISTS alert_engine (
    party    TEXT PRIMARY KEY,   -- the party the engine warns
    state    BLOB NOT NULL,      -- AlertEngine.snapshot() as JSON
    updated  TEXT NOT NULL       -- RFC 3339, node clock
);
"""


class AlertStore:
    """Durable alert-engine state on one node (its connection, write lock and item store)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        with node.write_lock:
            migrate(node.conn, "alerts", [DDL], lock=node.write_lock)
        self._saved: dict[str, bytes] = {}

    def load(self, party: str) -> dict[str, Any] | None:
        """The last saved snapshot of ``party``'s engine, or None."""
        with self.node.write_lock:
            row = self.node.conn.execute("SELECT state FROM alert_engine WHERE party = ?", (party,)).fetchone()
        if row is None:
            return None
        self._saved[party] = bytes(row[0])
        return parse_json_strict(bytes(row[0]))

    def engine(self, rules: AlertRules, geography: Geography, sender: str, status: str, *,
               epoch: datetime = DEFAULT_EPOCH) -> AlertEngine:
        """The party's engine: restored from the saved state when there is one, else new."""
        state = self.load(rules.party)
        if state is None:
            return AlertEngine(rules, geography, sender, status, epoch=epoch)
        return AlertEngine.restore(state, rules, geography, sender, status, epoch=epoch)

    def save(self, engine: AlertEngine, items: list[Item]) -> list[Item]:
        """Store ``items`` (the engine's new messages) and its state in one transaction; returns
        the items newly stored. Nothing is written when neither changed."""
        party = engine.rules.party
        state = json.dumps(engine.snapshot(), sort_keys=True, separators=(",", ":")).encode()
        if not items and self._saved.get(party) == state:
            return []
        node, conn = self.node, self.node.conn
        with node.write_lock, transaction(conn):
            new = node.put_items(items) if items else []
            conn.execute("INSERT INTO alert_engine(party, state, updated) VALUES (?,?,?) "
                         "ON CONFLICT(party) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                         (party, state, to_rfc3339(node.clock.now())))
        self._saved[party] = state
        return new
