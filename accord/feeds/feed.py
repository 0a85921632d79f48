"""``accord warning feed``: publish a detections file as a live radar feed on JetStream.

Each scan goes to ``<prefix>.<party>.radar.<sensor>`` (:mod:`accord.feeds.scans`) at wall time
``start + (t − t_first) / speed`` (``speed = 0``: as fast as JetStream acknowledges). Publishes
are pipelined (up to ``window`` awaiting their acknowledgement) and every acknowledgement is
checked, so the function returns only once JetStream has stored every scan; a duplicate (the
same scan published again within the stream's duplicate window) is counted, not stored twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accord.errors import ConfigError, InputError
from accord.feeds.jetstream import ensure_stream
from accord.feeds.nats_connect import connect, explained
from accord.feeds.scans import MAX_SCAN_PLOTS, Scan, check_prefix, check_token, msg_id, radar_subject


@dataclass(frozen=True)
class FeedResult:
    scans: int
    detections: int
    duplicates: int
    seconds: float


async def publish_scans(url: str, scans: list[Scan], *, party: str, stream: str, prefix: str = "accord",
                        speed: float = 1.0, window: int = 2000,
                        on_publish: Callable[[int, Scan, float], None] | None = None) -> FeedResult:
    """Publish ``scans`` in order; ``on_publish(i, scan, unix_time)`` is called as each one goes."""
    check_prefix(prefix)
    check_token(party, "party")
    for s in scans:
        check_token(s.sensor, "sensor")
        if len(s.plots) > MAX_SCAN_PLOTS:   # the ingest would refuse it: say so before publishing anything
            raise InputError(f"the scan at t={s.t} from {s.sensor} has {len(s.plots)} plots; a scan message "
                             f"holds at most {MAX_SCAN_PLOTS} (accord.feeds.scans.MAX_SCAN_PLOTS)", field="plots")
    refused: list[str] = []
    nc = await connect(url, party=party, role="feed", refused=refused)
    try:
        with explained(url, "feed", refused):   # a timeout the server's refusal explains
            js = nc.jetstream(publish_async_max_pending=window)
            await ensure_stream(js, stream, prefix, party)
            futures: list[Any] = []
            t0 = time.perf_counter()
            first = scans[0].t if scans else 0.0
            n_det = 0
            for i, scan in enumerate(scans):
                if speed > 0:
                    due = t0 + (scan.t - first) / speed
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                data = scan.payload()
                if on_publish is not None:
                    on_publish(i, scan, time.time())
                futures.append(await js.publish_async(radar_subject(prefix, party, scan.sensor), data,
                                                      headers={"Nats-Msg-Id": msg_id(data)}))
                n_det += len(scan.plots)
            acks = await asyncio.gather(*futures, return_exceptions=True)
            failed = [a for a in acks if isinstance(a, BaseException)]
            if failed:
                raise ConfigError(f"JetStream did not store {len(failed)} of {len(scans)} scans "
                                  f"(first error: {failed[0] or type(failed[0]).__name__})")
            dups = sum(1 for a in acks if getattr(a, "duplicate", False))
            return FeedResult(len(scans), n_det, dups, time.perf_counter() - t0)
    finally:
        await nc.close()
