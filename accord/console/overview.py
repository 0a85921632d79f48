"""The console's overview (``GET /console/``), made at most once every :data:`OVERVIEW_SECONDS`
for each party.

The overview counts the items its viewer may see by kind and lists the newest 20. For a
partner's token that means reading, decoding and checking against the policy the node's newest
5,000 items (``PARTNER_SCAN``, :mod:`accord.console.routes.items`): ~0.1 s of CPU a page
whatever the node's size, and a logged-in partner (or whoever holds its session cookie) could
ask for it again and again, from as many requests at once as the server has threads. What a
viewer sees depends on its party only (:class:`~accord.console.view.Viewer`: a node-party token
sees everything, a partner's what the policy releases to that party), so :class:`Overviews`
keeps each party's last overview and serves it again for :data:`OVERVIEW_SECONDS`; requests
that come while one is being made wait for it rather than make their own. One session, or many,
reloading the page in a loop cost the node one overview per party every 5 s.

An overview served again is not a stale page: it notes the ledger's last index before it read
the store, and the page's live stream starts there (``/console/events?after=…``), so what was
stored since arrives as live rows at once. It is made afresh when the ledger has grown by more
than :data:`REPLAY_MARGIN` entries since (the stream would replay no further back, and the page
would reload), or when the node's agreements or partners have changed (what a partner may see).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.console.events import REPLAY

if TYPE_CHECKING:
    from accord.node import Node

OVERVIEW_SECONDS = 5.0
"""How long a party's overview is served again (its live rows arrive through the stream)."""

REPLAY_MARGIN = REPLAY // 2
"""An overview older than this many ledger entries is made afresh (a stream replays :data:`REPLAY`)."""


@dataclass(frozen=True)
class Overview:
    ledger_last: int  # the ledger's last index before the store was read: the page's stream starts after it
    policy: tuple[Any, ...]  # the agreements and partners it was made under (:func:`policy_state`)
    counts: list[tuple[str, int]]
    recent: list[Any]  # the newest 20 items the party may see, newest first
    scanned: int | None  # how many of the newest items were counted, when that is not all of them
    made: float = field(default_factory=time.monotonic)


def policy_state(node: Node) -> tuple[Any, ...]:
    """What decides which items a partner may see besides the items: the stored agreements and the
    pinned partners (the caller holds the node's lock)."""
    return (tuple(node.conn.execute("SELECT id, digest FROM agreements ORDER BY id").fetchall()),
            tuple(node.conn.execute("SELECT party, fingerprint FROM partners ORDER BY party").fetchall()))


class Overviews:
    """The last overview of each party (one console router's)."""

    def __init__(self) -> None:
        self.made: dict[str, Overview] = {}
        self.making: dict[str, threading.Lock] = {}  # one overview made at a time per party
        self.guard = threading.Lock()

    def of(self, party: str, ledger_last: int, policy: tuple[Any, ...], make: Callable[[], Overview]) -> Overview:
        """``party``'s overview: the last one if it is recent enough for a page whose ledger ends at
        ``ledger_last`` under ``policy``, else ``make()``'s (one at a time per party)."""
        with self.guard:
            making = self.making.setdefault(party, threading.Lock())
        with making:
            last = self.made.get(party)
            if last is not None and time.monotonic() - last.made < OVERVIEW_SECONDS \
                    and 0 <= ledger_last - last.ledger_last <= REPLAY_MARGIN and last.policy == policy:
                return last
            self.made[party] = made = make()
            return made
