"""Partner leases: each partner's outbox is drained by one delivery worker at a time.

Several processes may serve one node (``accord node serve --workers N``, ``--join``, or servers
on several machines against one PostgreSQL database). Each runs a :class:`Federation` with a
delivery thread per partner; a lease decides which of them sends to a given partner.

``partner_leases(partner, holder, expires)`` holds one row per partner: the holder's name
(``host:pid:random``, one per :class:`Leases` object) and when the lease runs out (milliseconds
since the Unix epoch, wall clock). Taking and renewing are one write transaction of the store
(SQLite's write lock taken up front, the node's advisory lock on PostgreSQL), so two workers never
both see a lease free and take it. A holder renews every ``renew`` seconds for ``ttl`` seconds
(5 s); one that dies stops renewing and another worker takes the partner over once the lease
has run out; one that stops cleanly gives its leases back at once.

A lease is an efficiency and ordering device, not what makes delivery exactly-once: a worker
stalled past its lease (a pause longer than ``ttl``) may send a batch its successor sends too,
and the receiver answers the second copy as a duplicate of the same sequence number
(:mod:`accord.federation.inbox`), storing nothing twice. The clocks of machines sharing a
PostgreSQL database must agree to well within ``ttl`` (NTP).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from accord.federation.schema import write_lock
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node

TTL = 5.0
RENEW = 1.5


def holder_name() -> str:
    """``host:pid:random``: unique to one :class:`Leases` object in one process on one machine."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _ms(t: float) -> int:
    return int(t * 1000)


class Leases:
    """The partner leases one delivery service holds (or tries to) on ``node``.

    :meth:`refresh` renews what this holder has and takes what is free or expired, in one write
    transaction; :meth:`holds` says whether a partner's lease is this holder's now (with a
    margin, so a worker stops sending before the lease could run out under it).
    """

    def __init__(self, node: Node, *, ttl: float = TTL, holder: str | None = None) -> None:
        self.node, self.ttl = node, ttl
        self.holder = holder or holder_name()
        self._until: dict[str, float] = {}  # partner -> wall time our lease runs until
        self._guard = threading.Lock()

    def holds(self, partner: str) -> bool:
        """Whether this holder has ``partner``'s lease for at least another fifth of ``ttl``."""
        with self._guard:
            return self._until.get(partner, 0.0) - self.ttl / 5 > time.time()

    def held(self) -> list[str]:
        now = time.time()
        with self._guard:
            return sorted(p for p, t in self._until.items() if t > now)

    def refresh(self, partners: Iterable[str]) -> list[str]:
        """Renew or take the lease of each of ``partners`` that is this holder's, free or expired;
        return the partners whose lease this holder has now."""
        wanted = sorted(set(partners))
        if not wanted:
            return []
        started = time.time()  # the lease runs from before the transaction: never longer than written
        until = started + self.ttl
        node = self.node
        got: list[str] = []
        with write_lock(node), transaction(node.conn):
            rows = {r[0]: (r[1], r[2]) for r in node.conn.execute(
                "SELECT partner, holder, expires FROM partner_leases")}
            for p in wanted:
                row = rows.get(p)
                if row is not None and row[0] != self.holder and row[1] > _ms(started):
                    continue  # another worker's, and live
                node.conn.execute(
                    "INSERT INTO partner_leases(partner, holder, expires) VALUES (?,?,?) ON CONFLICT(partner) "
                    "DO UPDATE SET holder = excluded.holder, expires = excluded.expires",
                    (p, self.holder, _ms(until)))
                got.append(p)
        with self._guard:
            for p in wanted:
                if p in got:
                    self._until[p] = until
                else:
                    self._until.pop(p, None)
        return got

    def release(self, partners: Iterable[str] | None = None) -> None:
        """Give back this holder's leases (all, or those of ``partners``) so that another worker
        takes them over at once."""
        with self._guard:
            names = sorted(self._until if partners is None else set(partners) & set(self._until))
            for p in names:
                self._until.pop(p, None)
        if not names:
            return
        node = self.node
        with write_lock(node), transaction(node.conn):
            node.conn.executemany("DELETE FROM partner_leases WHERE partner = ? AND holder = ?",
                                  [(p, self.holder) for p in names])


def lease_table(conn: Any) -> list[dict[str, Any]]:
    """Every partner's lease: ``{partner, holder, expires_in_s}`` (negative: expired)."""
    now = time.time()
    return [{"partner": r[0], "holder": r[1], "expires_in_s": round(r[2] / 1000 - now, 3)}
            for r in conn.execute("SELECT partner, holder, expires FROM partner_leases ORDER BY partner")]
