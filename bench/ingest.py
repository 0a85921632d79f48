"""Live radar feed through NATS JetStream into ``accord warning ingest``: throughput and latency.

    .venv/bin/python bench/ingest.py                       # 10 missiles, the sample radars
    .venv/bin/python bench/ingest.py --missiles 20 --clutter 20 --rate 5000 --processes 1,2

Needs NATS with JetStream (``--nats``, default nats://127.0.0.1:4222). Each run uses its own
stream, subjects and node directory, deleted afterwards.

1. **Reference**: the same detections through :func:`accord.warning.pipeline.track_detections`
   in this process (detections per CPU second of the tracking loop).
2. **Throughput**: every scan is published first (``accord warning feed --speed max``), then
   ``accord warning ingest --idle-exit`` (a real process) drains the stream: detections per second
   from its first message to its last commit, and per CPU second of the whole process (the
   machine is shared, so wall time also measures other jobs). With ``--processes 1,2`` the same
   with N ingests at once, each its own node and stream (one tracker is one sequence of scans:
   a node scales by radars per ingest, not by splitting one picture).
3. **Latency** at a steady ``--rate`` detections/s (the feed paced by scan time): from the
   publish of the scan that completes a whole second (the first scan after it) to the arrival
   of that second's ``warning.track`` items on ``<prefix>.<party>.warning.track``, which the
   ingest publishes after their commit — detection → stored track item, p50 / p99.

Each mode runs with the alert engine on and off (``--alerts on|off|both``): assessing a prediction
against the party's areas (shapely) costs milliseconds, so with many ballistic tracks the alert
engine, not the tracker, bounds the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accord.feeds.feed import publish_scans  # noqa: E402
from accord.feeds.scans import scans_of  # noqa: E402
from accord.node import Node  # noqa: E402
from accord.warning.io import write_detections  # noqa: E402
from accord.warning.pipeline import track_detections  # noqa: E402
from accord.warning.sim import random_scenario, simulate  # noqa: E402
from bench_stores import bench_stores  # noqa: E402


ALERT_PROCESS = True   # --alert-process on|off: the alert engine in its own process or on a thread
STORE: Callable[[str], str | None] = lambda party: None   # --store: the node's store URL (None: SQLite)


def ingest_cmd(node_dir: Path, det: Path, url: str, stream: str, prefix: str, alerts: bool, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accord.cli.main", "warning", "ingest", "--dir", str(node_dir), "--nats", url,
            "--sensors", str(det), "--stream", stream, "--prefix", prefix, "--consumer", "bench",
            "--marking", "CONFIDENTIAL//REL TO JPN, KOR, USA", "--alerts" if alerts else "--no-alerts",
            "--alert-process" if ALERT_PROCESS else "--no-alert-process", *extra]


async def drop_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # absent already
        pass
    await nc.close()


def throughput(work: Path, det: Path, scans: list, url: str, n_proc: int, alerts: bool) -> dict:
    """N ingests at once, each draining its own pre-filled stream."""
    runs = []
    for k in range(n_proc):
        tag = uuid.uuid4().hex[:10]
        d = work / f"tp-{tag}"
        Node.init(d, "JPN", store=STORE("JPN")).close()
        stream, prefix = f"BENCH_{tag}", f"bench{tag}"
        asyncio.run(publish_scans(url, scans, party="JPN", stream=stream, prefix=prefix, speed=0))
        runs.append((d, stream, prefix))
    procs = [subprocess.Popen(ingest_cmd(d, det, url, s, p, alerts, "--idle-exit", "2", "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for d, s, p in runs]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    cpu = sum(o["cpu_seconds"] for o in outs)   # each ingest's own (and its alert process's), first message to last commit
    for _, s, _ in runs:
        asyncio.run(drop_stream(url, s))
    total = sum(o["detections"] for o in outs)
    busy = max(o["busy_seconds"] for o in outs)
    return {"processes": n_proc, "detections": total, "busy_s": busy, "det_per_s": total / busy,
            "det_per_cpu_s": total / cpu, "items": sum(o["items"] for o in outs),
            "ingest_cpu_s": sum(o["ingest_cpu_seconds"] for o in outs),
            "alert_cpu_s": sum(o.get("alert_process_cpu_seconds") or 0.0 for o in outs),
            "modes": sorted({o.get("alert_mode", "?") for o in outs})}


async def _latency(url: str, scans: list, speed: float, stream: str, prefix: str) -> list[float]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    arrived: list[tuple[float, float]] = []   # (second w of the track item, arrival unix time)

    async def on_track(msg) -> None:
        arrived.append((float(json.loads(msg.data)["body"]["t"]), time.time()))

    await nc.subscribe(f"{prefix}.JPN.warning.track", cb=on_track)
    await nc.flush()
    for _ in range(600):   # the ingest is up once its consumer exists
        try:
            await js.consumer_info(stream, "bench")
            break
        except Exception:
            await asyncio.sleep(0.1)
    sent = np.zeros(len(scans))

    def mark(i: int, scan, unix: float) -> None:
        sent[i] = unix

    await publish_scans(url, scans, party="JPN", stream=stream, prefix=prefix, speed=speed, on_publish=mark)
    t_scan = np.array([s.t for s in scans])
    last_w = math.ceil(float(t_scan[-1])) - 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (arrived and max(w for w, _ in arrived) >= last_w):
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    await nc.close()
    lat = []
    for w, at in arrived:
        k = int(np.searchsorted(t_scan, w, side="right"))   # the first scan after second w
        if k < len(scans):
            lat.append((at - sent[k]) * 1000.0)
    return lat


def latency(work: Path, det: Path, scans: list, url: str, rate: float, alerts: bool) -> dict:
    tag = uuid.uuid4().hex[:10]
    d = work / f"lat-{tag}"
    Node.init(d, "JPN", store=STORE("JPN")).close()
    stream, prefix = f"BENCH_{tag}", f"bench{tag}"
    n_det = sum(len(s.plots) for s in scans)
    speed = rate / (n_det / (scans[-1].t - scans[0].t))
    # the stream must exist before the ingest subscribes: publish nothing, create it
    asyncio.run(publish_scans(url, [], party="JPN", stream=stream, prefix=prefix, speed=0))
    proc = subprocess.Popen(ingest_cmd(d, det, url, stream, prefix, alerts), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        lat = asyncio.run(_latency(url, scans, speed, stream, prefix))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        asyncio.run(drop_stream(url, stream))
    a = np.array(lat)
    return {"rate": rate, "speed": speed, "n": len(a), "p50_ms": float(np.percentile(a, 50)) if len(a) else math.nan,
            "p99_ms": float(np.percentile(a, 99)) if len(a) else math.nan}


print = functools.partial(print, flush=True)  # each line out at once, also into a file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--missiles", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clutter", type=float, default=None, help="clutter returns per scan (default: the sample radars' 5)")
    ap.add_argument("--rate", type=float, default=2000.0, help="detections/s of the paced feed for the latency run")
    ap.add_argument("--processes", default="1,2",
                    help="ingest processes at once for the throughput runs ('' for no throughput run)")
    ap.add_argument("--alerts", choices=("on", "off", "both"), default="both",
                    help="run the ingests with the alert engine on, off, or each mode both ways")
    ap.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="sqlite",
                    help="where each ingest's node keeps its state (postgresql: a fresh schema per node in "
                         "ACCORD_BENCH_PG's database, default postgresql://postgres@127.0.0.1:5432/test)")
    ap.add_argument("--alert-process", choices=("on", "off"), default="on",
                    help="the alert engine in a process of its own beside each ingest (on) or on a thread of it")
    args = ap.parse_args()
    global ALERT_PROCESS, STORE
    ALERT_PROCESS = args.alert_process == "on"

    work = Path(tempfile.mkdtemp(prefix="accord-bench-ingest-"))
    try:
        sim = simulate(random_scenario(args.seed, args.missiles, clutter_per_scan=args.clutter))
        det_path = work / "detections.jsonl"
        write_detections(det_path, sim.header, sim.detections)
        scans = list(scans_of(sim.detections))
        n_det = len(sim.detections.t)
        print(f"scenario: {args.missiles} missiles, seed {args.seed}, {n_det:,} detections in {len(scans):,} scans "
              f"({n_det / len(scans):.1f} a scan) over {scans[-1].t - scans[0].t:.0f} s; "
              f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        track_detections(sim.header.sensors, sim.detections)   # warm (numba cache, imports)
        c0 = time.process_time()
        ref = track_detections(sim.header.sensors, sim.detections)
        ref_cpu = time.process_time() - c0
        ref_rate = n_det / ref_cpu
        print(f"reference, offline track_detections in this process: {ref_rate:,.0f} detections per CPU second "
              f"({len(ref.tracks):,} track lines, {len(ref.predictions):,} predictions)")
        for kind in (("sqlite", "postgresql") if args.store == "both" else (args.store,)):
            if args.store != "sqlite":
                print(f"--- store: {kind} ---")
            with bench_stores(kind) as STORE:
                for alerts in {"on": [True], "off": [False], "both": [True, False]}[args.alerts]:
                    label = ("alerts on, " + ("alert engine in its own process" if ALERT_PROCESS else "alert engine on a thread")
                             if alerts else "alerts off")
                    for n in [int(x) for x in args.processes.split(",") if x]:
                        r = throughput(work, det_path, scans, args.nats, n, alerts)
                        procs = f"{n} ingest process{'es' if n > 1 else ''}"
                        if alerts and ALERT_PROCESS:
                            procs += " + its alert process" if n == 1 else " + an alert process each"
                        cpu = f"CPU {r['ingest_cpu_s']:.2f} s ingest" + (f" + {r['alert_cpu_s']:.2f} s alert process"
                                                                         if r["alert_cpu_s"] else "")
                        print(f"throughput ({label}, {procs}; mode {'/'.join(r['modes'])}): "
                              f"{r['det_per_s']:,.0f} detections/s through JetStream into the tracker "
                              f"({r['detections']:,} in {r['busy_s']:.2f} s, {r['items']:,} items stored; {cpu}); "
                              f"{r['det_per_cpu_s']:,.0f} per CPU second of the ingests = "
                              f"{r['det_per_cpu_s'] / ref_rate:.2f} × offline tracking; "
                              f"{r['det_per_s'] / 20_000:.2f} × the target 20,000/s")
                    r = latency(work, det_path, scans, args.nats, args.rate, alerts)
                    print(f"latency ({label}) at {r['rate']:,.0f} detections/s (feed at {r['speed']:.1f}× real time): "
                          f"scan completing a second → its stored track item, p50 {r['p50_ms']:.1f} ms, "
                          f"p99 {r['p99_ms']:.1f} ms over {r['n']:,} track items (p99 {r['p99_ms'] / 100:.2f} × the target 100 ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
