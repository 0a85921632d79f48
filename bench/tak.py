"""TAK interop bench: CoT events/s through a real TAK server, and the delay from a track update
stored at a node to its receipt by an independent TAK client (issue #19: p99 < 200 ms at 100
tracks updating at 1 Hz).

    .venv/bin/python bench/tak.py [--tracks 100] [--seconds 30] [--burst 20000]

taky 0.10 (the test extras) runs on a free loopback port. Throughput: one connection sends
``--burst`` track events as fast as it can; a pytak client counts them out of the server
(events/s = count / time from the first write to the last receipt), beside the rate at which
Accord alone builds the same events (CPU time), so the server's share shows. Latency: a node
keeps the server as a TAK destination and ``accord node tak run`` follows it in its own process
(as deployed beside ``node serve``); this process stores ``--tracks`` track items a second, a
tenth of them every 100 ms in one transaction (staggered radar scans), each with its own altitude
as a marker, and the client (here, same clock) notes when each arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # loopback.py, which tak_world imports
sys.path.insert(0, str(ROOT / "tests" / "tak"))

from tak_world import Listener, start_taky, stop_taky  # noqa: E402  (the tests' taky launcher and client)

from accord.core.items import new_item  # noqa: E402
from accord.core.markings import Marking  # noqa: E402
from accord.node import Node  # noqa: E402
from accord.tak.client import TakConnection, TakServer  # noqa: E402
from accord.tak.destination import Destination, add_destination  # noqa: E402
from accord.tak.picture import Stamp, track_events  # noqa: E402
from accord.warning.frames import lla_to_ecef  # noqa: E402

MARK = "CONFIDENTIAL//REL TO JPN"


def _body(k: int, n: int, alt: float) -> dict:
    x, y, z = lla_to_ecef(38.0 + 0.02 * k, 130.0 + 0.01 * n, alt)
    return {"t": float(n), "track_id": f"T{k}", "x": float(x), "y": float(y), "z": float(z),
            "vx": 0.0, "vy": 2000.0, "vz": 0.0}


async def throughput(url: str, burst: int) -> tuple[float, float]:
    stamp = Stamp(datetime.now(timezone.utc), 60.0)
    t = time.process_time()
    events = [e for i in range(burst) for e in track_events(_body(i % 100, i, 1e5), party="JPN", marking=MARK,
                                                            stamp=stamp)]
    data = [e.to_xml() for e in events]
    build_rate = burst / (time.process_time() - t)
    listener = Listener(url)
    stop = asyncio.Event()
    lt = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.5)
    conn = await TakConnection.open(TakServer.parse(url))
    t0 = time.monotonic()
    for i in range(0, burst, 500):
        conn.writer.write(b"".join(data[i:i + 500]))
        await conn.writer.drain()
    deadline = time.monotonic() + 120
    while len(listener.events) < burst and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    got = len(listener.events)
    rate = got / (listener.events[-1].arrived - t0) if got else 0.0
    stop.set()
    await lt
    await conn.close()
    return rate, build_rate


async def direct_latency(url: str, tracks: int, seconds: float) -> np.ndarray:
    """The reference: the same updates written straight to the server by one connection (a
    tenth of the tracks every 100 ms), no node in between."""
    listener = Listener(url)
    stop = asyncio.Event()
    lt = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.3)
    conn = await TakConnection.open(TakServer.parse(url))
    sent: dict[tuple[str, float], float] = {}
    per_batch, i = max(1, tracks // 10), 0
    start = time.monotonic()
    for b in range(int(seconds * tracks / per_batch)):
        delay = start + b * per_batch / tracks - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        events = []
        for _ in range(per_batch):
            alt = 100_000.0 + i
            events += track_events(_body(i % tracks, i // tracks, alt), party="JPN", marking=MARK,
                                   stamp=Stamp(datetime.now(timezone.utc), 10.0))
            i += 1
        t0 = time.monotonic()
        await conn.send(events)
        for e in events:
            sent[(e.uid, round(e.hae, 1))] = t0
    await asyncio.sleep(2.0)
    stop.set()
    await lt
    await conn.close()
    return np.array([(e.arrived - sent[(e.uid, round(e.hae, 1))]) * 1000.0 for e in listener.events
                     if (e.uid, round(e.hae, 1)) in sent])


def latency(url: str, tracks: int, seconds: float, work: Path) -> tuple[np.ndarray, int]:
    node = Node.init(work / "jpn", "JPN")
    add_destination(node, Destination("own", TakServer.parse(url), "JPN", ("warning.track",), stale_s=10.0))
    node.close()
    runner = subprocess.Popen([str(Path(sys.executable).parent / "accord"), "node", "tak", "run", "--dir",
                               str(work / "jpn")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listener = Listener(url)
    stored: dict[tuple[str, float], float] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def produce() -> None:
        node = Node.open(work / "jpn")
        mk = Marking.parse(MARK)
        per_batch = max(1, tracks // 10)  # a tenth of the tracks every 100 ms: radars' scans are staggered
        n_batches = int(seconds * tracks / per_batch)
        # warm up: the follower process has started and connected once a first item comes through
        warm = dict(_body(0, 0, 1.0), track_id="WARM")
        node.put_item(new_item("warning.track", warm, mk, "JPN", node.clock.now()))
        while not any(e.uid == "accord.JPN.WARM" for e in list(listener.events)):
            time.sleep(0.05)
        start = time.monotonic() + 1.0
        i = 0
        for b in range(n_batches):
            delay = start + b * per_batch / tracks - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            batch, keys = [], []
            for _ in range(per_batch):
                k, n = i % tracks, i // tracks
                alt = 100_000.0 + i  # a marker: each update has its own altitude
                batch.append(new_item("warning.track", _body(k, n, alt), mk, "JPN", node.clock.now()))
                keys.append((f"accord.JPN.T{k}", alt))
                i += 1
            node.put_items(batch)  # one scan's updates, one transaction (as the tracker's outputs are stored)
            done = time.monotonic()
            for key in keys:
                stored[key] = done
        time.sleep(2.0)
        node.close()
        loop.call_soon_threadsafe(stop.set)

    async def main() -> None:
        lt = asyncio.create_task(listener.run(stop))
        await asyncio.sleep(0.3)
        threading.Thread(target=produce, daemon=True).start()
        await lt

    loop.run_until_complete(main())
    runner.terminate()
    runner.wait(10)
    delays = []
    for e in listener.events:
        t = stored.get((e.uid, round(e.hae, 1)))
        if t is not None:
            delays.append((e.arrived - t) * 1000.0)
    return np.array(delays), len(stored) - len(delays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--burst", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        taky = start_taky(work / "taky")
        try:
            rate, build = asyncio.run(throughput(taky.url, args.burst))
            print(f"taky 0.10 on loopback, pytak 7.6.1 client, {os.cpu_count()} CPUs (shared)")
            print(f"throughput: {rate:,.0f} CoT events/s through the server ({args.burst} track events, one "
                  f"sender, one receiver); Accord builds them at {build:,.0f} events/CPU-s "
                  f"(server share: {build / rate:.1f}× slower than building)" if rate else "throughput: nothing arrived")
        finally:
            stop_taky(taky)
        taky = start_taky(work / "taky2")
        try:
            d, lost = latency(taky.url, args.tracks, args.seconds, work)
        finally:
            stop_taky(taky)
        taky = start_taky(work / "taky3")
        try:
            ref = asyncio.run(direct_latency(taky.url, args.tracks, args.seconds))
        finally:
            stop_taky(taky)
    if len(d):
        print(f"latency, track item stored at the node → received by the TAK client, {args.tracks} tracks at 1 Hz "
              f"for {args.seconds:.0f} s: p50 {np.percentile(d, 50):.0f} ms, p99 {np.percentile(d, 99):.0f} ms "
              f"(target < 200 ms), max {d.max():.0f} ms; {len(d)} received, {lost} not received")
    else:
        print("latency: nothing received")
    if len(ref) and len(d):
        print(f"reference, the same updates written straight to the server (no node): p50 "
              f"{np.percentile(ref, 50):.0f} ms, p99 {np.percentile(ref, 99):.0f} ms; the node's path adds "
              f"{np.percentile(d, 50) - np.percentile(ref, 50):.0f} ms at p50 "
              f"(p99 ratio node/direct {np.percentile(d, 99) / np.percentile(ref, 99):.1f}×)")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
