"""Consume a node's live warning events: ``<prefix>.<party>.warning.>`` (tracks, predictions,
alerts as the ingest stores them), for consoles and other processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from accord.core.canonical import parse_json_strict
from accord.core.items import Item
from accord.errors import AccordError
from accord.feeds.jetstream import connect
from accord.feeds.scans import check_prefix, check_token


async def watch(url: str, party: str, on_item: Callable[[Item], None], *, prefix: str = "accord",
                stop: asyncio.Event | None = None, limit: int | None = None,
                on_error: Callable[[str], None] | None = None) -> int:
    """Call ``on_item`` for each warning item published for ``party`` until ``stop`` is set or
    ``limit`` items have arrived; returns the number passed on. An event repeated (same item id,
    e.g. re-published by an ingest after a restart) is passed on once; an undecodable one goes to
    ``on_error`` as one line."""
    check_prefix(prefix)
    check_token(party, "party")
    nc = await connect(url)
    done = stop or asyncio.Event()
    seen: set[str] = set()
    count = 0

    async def handle(msg: Any) -> None:
        nonlocal count
        if done.is_set():
            return
        try:
            item = Item.from_json(parse_json_strict(msg.data), source=msg.subject)
        except (AccordError, KeyError, TypeError, ValueError) as exc:
            if on_error is not None:
                on_error(f"{msg.subject}: not an Accord item: {exc}")
            return
        if item.id in seen:
            return
        seen.add(item.id)
        count += 1
        on_item(item)
        if limit is not None and count >= limit:
            done.set()

    try:
        await nc.subscribe(f"{prefix}.{party}.warning.>", cb=handle)
        await nc.flush()
        await done.wait()
    finally:
        await nc.close()
    return count
