"""Signed warning events: what signing costs ``accord warning ingest`` per item it publishes, and
what checking costs ``accord warning watch`` per item it shows (:mod:`accord.feeds.signed`).

A one-missile scenario (the live-feed tests' Japan shot, 230 s) goes through the ingest's own
tracker and alert engine offline (``Ingest.process``, no NATS) for real track, prediction and
alert items; then, per kind, the bench times

* sign: ``signature_headers`` over the item's canonical bytes (cached on the item, as at publish);
* verify: ``verified`` (signature, time, item parse and checks) — beside the unsigned watch's
  path before it, the item parse alone (``Item.from_json(parse_json_strict(data))``);

each the median of ``--repeat`` passes over every item of the kind, in µs per item.

    .venv/bin/python bench/warning_events.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from accord.core.canonical import parse_json_strict
from accord.core.items import Item
from accord.feeds.ingest import Ingest, IngestOptions
from accord.feeds.scans import scans_of, warning_subject
from accord.feeds.signed import signature_headers, verified
from accord.node import Node
from accord.warning.sim import DEFAULT_SENSORS, LaunchSpec, ScenarioSpec, simulate


def items_of_a_shot(tmp: Path) -> tuple[Node, list[Item]]:
    spec = ScenarioSpec(sensors=DEFAULT_SENSORS, seed=11, duration=230.0, launches=(
        LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.6, launch_lon_deg=127.3,
                   aim_lat_deg=40.6, aim_lon_deg=140.4, trajectory="minimum-energy"),))
    result = simulate(spec)
    node = Node.init(tmp / "jpn", "JPN")
    ing = Ingest(node, result.header, IngestOptions(url="nats://unused", stream="BENCH", durable="bench"))
    items: list[Item] = []
    for scan in scans_of(result.detections):
        items += ing.process(scan.t, scan.sensor, scan.plots)
    return node, items


def per_item_us(fn, args: list, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for a in args:
            fn(*a)
        runs.append((time.perf_counter() - t0) / len(args) * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node, items = items_of_a_shot(Path(tmp))
        try:
            identity, key, now = node.identity, node.identity.public_key, datetime.now(UTC)
            print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {len(items)} items")
            print(f"{'kind':<20} {'items':>6} {'bytes':>6} {'sign µs':>8} {'verify µs':>10} {'parse µs':>9} "
                  f"{'verify − parse':>15}")
            for kind in ("warning.track", "warning.prediction", "warning.alert"):
                mine = [i for i in items if i.kind == kind]
                if not mine:
                    continue
                msgs = []
                for it in mine:
                    subject = warning_subject("accord", "JPN", kind)
                    msgs.append((subject, it.canonical(), signature_headers(identity, subject, it.canonical(), now)))
                sign = per_item_us(lambda s, d, _h: signature_headers(identity, s, d, now), msgs, args.repeat)
                check = per_item_us(lambda s, d, h: verified(s, d, h, prefix="accord", party="JPN", key=key, now=now),
                                    msgs, args.repeat)
                parse = per_item_us(lambda s, d, _h: Item.from_json(parse_json_strict(d), source=s), msgs, args.repeat)
                size = statistics.median(len(d) for _, d, _ in msgs)
                print(f"{kind:<20} {len(mine):>6} {size:>6.0f} {sign:>8.1f} {check:>10.1f} {parse:>9.1f} "
                      f"{check - parse:>15.1f}")
        finally:
            node.close()


if __name__ == "__main__":
    main()
