"""Running the live-feed commands as the operator does (real processes) and reading the node."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter

from accord.feeds.ingest import Ingest, IngestOptions
from accord.feeds.jetstream import ensure_stream
from accord.feeds.scans import Scan, radar_subject, scans_of
from accord.feeds.state import IngestStore
from accord.node import Node
from accord.warning.io import read_detections

MARKING = "CONFIDENTIAL//REL TO JPN, KOR, USA"
KINDS = ("warning.track", "warning.prediction", "warning.alert")


def accord(*args: str) -> list[str]:
    return [sys.executable, "-m", "accord.cli.main", *map(str, args)]


def ingest_cmd(node_dir, nats_url, names, detections, *extra) -> list[str]:
    return accord("warning", "ingest", "--dir", node_dir, "--nats", nats_url, "--sensors", detections,
                  "--stream", names.stream, "--prefix", names.prefix, "--consumer", names.consumer,
                  "--marking", MARKING, *extra)


def feed_cmd(detections, nats_url, names, speed="max") -> list[str]:
    return accord("warning", "feed", detections, "--nats", nats_url, "--party", "JPN", "--speed", speed,
                  "--stream", names.stream, "--prefix", names.prefix, "--json")


def run(cmd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def stored(node_dir) -> dict[str, list]:
    with Node.open(node_dir) as node:
        return {k: node.items(kind=k) for k in KINDS}


def uninterrupted(tmp_path, detections, keep=lambda scan: True) -> dict[str, list]:
    """The items one uninterrupted pass over the file's scans stores (no NATS, one process)."""
    header, det = read_detections(detections)
    node = Node.init(tmp_path / "reference", "JPN")
    ing = Ingest(node, header, IngestOptions(url="-", stream="REF", durable="ref", marking=MARKING))
    items = []
    for scan in scans_of(det):
        if keep(scan):
            items += ing.process(scan.t, scan.sensor, scan.plots)
    ing.store.commit(items, ing.state())
    node.close()
    return stored(tmp_path / "reference")


def assert_no_duplicates(items: dict[str, list]) -> None:
    tracks = Counter((i.body["track_id"], i.body["t"]) for i in items["warning.track"])
    preds = Counter((i.body["track_id"], i.body["t"], i.body.get("status")) for i in items["warning.prediction"])
    alerts = Counter(i.body["identifier"] for i in items["warning.alert"])
    for name, c in (("track", tracks), ("prediction", preds), ("alert", alerts)):
        twice = [k for k, n in c.items() if n > 1]
        assert not twice, f"duplicate {name} items: {twice[:3]}"


def assert_restart_stored_what_an_uninterrupted_run_does(tmp_path, node_dir, consumer: str, fed: dict,
                                                          scenario) -> None:
    """After a kill and a restart: every scan read, no alert work left, and exactly the items an
    uninterrupted run stores (0 lost, 0 extra, none twice)."""
    with Node.open(node_dir) as node:
        store = IngestStore(node, consumer)
        final, left = store.load(), store.pending_work()
    assert final is not None and final.scans == fed["scans"] and left == []
    got, want = stored(node_dir), uninterrupted(tmp_path, scenario)
    for kind in KINDS:
        assert sorted(i.id for i in got[kind]) == sorted(i.id for i in want[kind]), kind  # 0 lost, 0 extra
    assert len(want["warning.alert"]) >= 2
    assert_no_duplicates(got)


def publish(nats_url, names, scans, *, size_limit=True):
    """Publish ``scans`` (a :class:`Scan`, or (sensor, raw bytes)) on JPN's radar subjects of the
    test's own stream, made first if need be; ``size_limit`` False makes it as streams were made
    before :data:`~accord.feeds.jetstream.STREAM_MAX_MSG_BYTES` (any message up to the server's
    payload limit)."""
    import nats
    from nats.js.api import StorageType, StreamConfig

    async def go():
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        if size_limit:
            await ensure_stream(js, names.stream, names.prefix, "JPN")
        else:
            await js.add_stream(StreamConfig(name=names.stream, subjects=[f"{names.prefix}.JPN.radar.>"],
                                             storage=StorageType.FILE, duplicate_window=120.0))
        for s in scans:
            sensor, data = (s.sensor, s.payload()) if isinstance(s, Scan) else s
            await js.publish(radar_subject(names.prefix, "JPN", sensor), data)
        await nc.close()

    asyncio.run(go())
