"""What the layers below :mod:`accord.node` need of a node, as a :class:`typing.Protocol`.

The federation and the pillars (intel, dialogue, the alert engine's store) take a node as a
parameter but sit below :mod:`accord.node` in the import layers (docs/architecture.md), so they
cannot name :class:`accord.node.Node` itself. They name :class:`Node` here instead: the members
they use, checked by mypy against the real class (``accord.node.node`` asserts that it conforms).
Layers above :mod:`accord.node` (api, console, feeds, tak, exercise, cli) name the concrete class.

:class:`Partner` (a pinned partner) lives here too, since :meth:`Node.partners` returns it; it is
re-exported by :mod:`accord.node`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import Clock
from accord.core.agreements import Agreement
from accord.core.identity import Identity, fingerprint, public_key_from_b64
from accord.core.items import Item
from accord.core.policy import Decision
from accord.store.base import Store
from accord.store.ledger import Ledger


QUOTA_OPTIONS = ("max_items_per_hour", "max_bytes_per_hour")
"""A partner entry's intake-quota settings (``node.yaml``, ``accord node partner add``)."""


def quota_problem(value: Any) -> str | None:
    """Why ``value`` is not an intake-quota setting (a whole number, 0 meaning unlimited), or None."""
    if type(value) is not int or not 0 <= value < 2 ** 63:
        return f"must be a whole number of at least 0 (0: unlimited), not {value!r}"
    return None


@dataclass(frozen=True)
class Partner:
    """A pinned partner: its party, Ed25519 public key (base64) and optional base URL.

    ``insecure``: the operator accepted a plain-HTTP URL to a non-loopback host (``--insecure``,
    ledgered as ``insecure.http``); without it such a URL is refused (:mod:`accord.core.plain_http`).
    ``max_items_per_hour`` / ``max_bytes_per_hour``: the partner's intake quota on this node
    (:mod:`accord.federation.quota`); None: the node's default, 0: unlimited.
    """

    party: str
    public_key_b64: str
    url: str | None = None
    insecure: bool = False
    max_items_per_hour: int | None = None
    max_bytes_per_hour: int | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return public_key_from_b64(self.public_key_b64, field=f"partners.{self.party}.key")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_json(self) -> dict[str, Any]:
        return {"party": self.party, "key": self.public_key_b64, "fingerprint": self.fingerprint, "url": self.url,
                "insecure": self.insecure, "max_items_per_hour": self.max_items_per_hour,
                "max_bytes_per_hour": self.max_bytes_per_hour}


class WriteLock(Protocol):
    """The node's write lock (re-entrant; :class:`accord.node.bus.CommitLock` or an ``RLock``)."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> bool: ...

    def __exit__(self, *exc: Any) -> None: ...


class Node(Protocol):
    """A party's node as the federation and the pillars use it (see the module docstring and
    docs/architecture.md, "Node"). Attributes are read-only here: nothing below the node sets them."""

    @property
    def party(self) -> str: ...

    @property
    def dir(self) -> Path: ...

    @property
    def identity(self) -> Identity: ...

    @property
    def store(self) -> Store: ...

    @property
    def conn(self) -> Any: ...  # the store's shared connection (sqlite3 or PgConnection)

    @property
    def clock(self) -> Clock: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def origin(self) -> str: ...

    @property
    def write_lock(self) -> WriteLock: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def verifier_key(self) -> str: ...

    # --- partners and agreements ------------------------------------------------------------
    def partners(self) -> dict[str, Partner]: ...

    def pinned_partner(self, party: str) -> Partner: ...

    def remove_partner(self, party: str) -> Partner: ...

    def partner_keys(self) -> dict[str, Ed25519PublicKey]: ...

    def pinned_keys(self) -> dict[str, Ed25519PublicKey]: ...

    def record_plain_http(self, detail: dict[str, Any]) -> int: ...

    def add_agreement(self, agreement: Agreement) -> str: ...

    def agreements(self) -> list[Agreement]: ...

    def agreements_in_force(self, now: datetime | None = None) -> list[Agreement]: ...

    def decide(self, item: Item, recipient: str) -> Decision: ...

    # --- items ------------------------------------------------------------------------------
    def put_item(self, item: Item) -> Item: ...

    def put_items(self, items: list[Item]) -> list[Item]: ...

    def store_received(self, items: list[Item]) -> None: ...

    def get_item(self, item_id: str) -> Item: ...

    def get_items(self, ids: list[str]) -> dict[str, Item]: ...

    def items(self, kind: str | None = None, *, originator: str | None = None, since: datetime | None = None,
              until: datetime | None = None, newest: int | None = None) -> list[Item]: ...

    def count_items(self) -> dict[str, int]: ...
