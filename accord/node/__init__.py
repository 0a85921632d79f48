"""A node: a party's directory (key, config, database) wiring store, ledger, agreements and policy.

See :class:`accord.node.node.Node` and docs/architecture.md (the Node contract).
"""

from accord.node.node import CONFIG_FILE, DB_FILE, KEY_FILE, Node, Partner

__all__ = ["CONFIG_FILE", "DB_FILE", "KEY_FILE", "Node", "Partner"]
