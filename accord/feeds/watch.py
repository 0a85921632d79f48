"""Consume a node's live warning events: ``<prefix>.<party>.warning.>`` (tracks, predictions,
alerts as the ingest stores them), for consoles and other processes. Each is shown only once its
signature by the node's key verifies (:mod:`accord.feeds.signed`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.core.identity import public_key_from_b64
from accord.core.items import Item
from accord.feeds.nats_connect import connect, refusal
from accord.feeds.signed import MAX_AGE, EventRefused, NotAnItem, verified
from accord.feeds.scans import check_prefix, check_token


RECENT_IDS = 100_000
"""How many item ids :func:`watch` remembers to pass a repeat on once. A repeat is an ingest's
last commit published again after a restart, so the most recent ids suffice; remembering every
id would grow without bound on a watch that runs for days."""


class RecentIds:
    """The last ``capacity`` ids seen: :meth:`first` says whether an id is new to them."""

    def __init__(self, capacity: int = RECENT_IDS) -> None:
        self.capacity = capacity
        self.ids: OrderedDict[str, None] = OrderedDict()

    def first(self, item_id: str) -> bool:
        if item_id in self.ids:
            self.ids.move_to_end(item_id)
            return False
        self.ids[item_id] = None
        if len(self.ids) > self.capacity:
            self.ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self.ids)


async def watch(url: str, party: str, on_item: Callable[[Item], None], *, key: Ed25519PublicKey | str | None = None,
                prefix: str = "accord", stop: asyncio.Event | None = None, limit: int | None = None,
                on_error: Callable[[str], None] | None = None, seen: RecentIds | None = None,
                max_age: timedelta = MAX_AGE, clock: Callable[[], datetime] | None = None) -> int:
    """Call ``on_item`` for each warning item published for ``party`` and signed by its node's
    ``key`` (an Ed25519 public key, or its base64 as ``accord node show`` prints it) until
    ``stop`` is set or ``limit`` items have arrived; returns the number passed on.

    A message not signed, whose signature does not verify under ``key`` (forged, altered, another
    key's), signed more than ``max_age`` before ``clock()`` (default: the wall clock), or not an
    item of ``party`` on its subject (:func:`accord.feeds.signed.verified`) is refused: one line
    to ``on_error``, nothing to ``on_item``. Without ``key`` every message is refused. An event
    repeated (same item id, e.g. re-published by an ingest after a restart) is passed on once if
    it is among the last :data:`RECENT_IDS` (``seen``); one ``on_item`` raises on (it is not
    counted) goes to ``on_error`` as one line."""
    check_prefix(prefix)
    check_token(party, "party")
    pub = public_key_from_b64(key, field="key") if isinstance(key, str) else key
    now = clock or (lambda: datetime.now(UTC))
    refused: list[str] = []
    nc = await connect(url, party=party, role="watch", refused=refused)
    done = stop or asyncio.Event()
    recent = seen if seen is not None else RecentIds()
    count = 0

    async def handle(msg: Any) -> None:
        nonlocal count
        if done.is_set():
            return
        try:
            item = verified(msg.subject, msg.data, msg.headers, prefix=prefix, party=party, key=pub, now=now(),
                            max_age=max_age)
        except EventRefused as exc:
            if on_error is not None:
                on_error(f"{msg.subject}: {exc}" if isinstance(exc, NotAnItem) else f"{msg.subject}: refused: {exc}")
            return
        if not recent.first(item.id):
            return
        try:
            on_item(item)
        except Exception as exc:  # noqa: BLE001 - nats-py swallows a callback's error: say it, go on
            if on_error is not None:
                on_error(f"{msg.subject}: item {item.id} not passed on: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
            return
        count += 1
        if limit is not None and count >= limit:
            done.set()

    try:
        await nc.subscribe(f"{prefix}.{party}.warning.>", cb=handle)
        await nc.flush()
        while not done.is_set():
            why = refusal(url, "watch", refused)   # the server refused the subscription (it may say so
            if why is not None:                     # after answering the flush): rather than wait for
                raise why                           # ever on a subscription that gets nothing
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), 0.5)
    finally:
        await nc.close()
    return count
