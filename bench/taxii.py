"""TAXII 2.1 side by side: medallion 3.0.0 (OASIS reference server, memory backend) vs an Accord
node (SQLite, synchronous=FULL), same client (taxii2-client over requests), same objects,
loopback only.

For each collection size N in (100, 1000, 10000) the collection is filled to N with envelopes of
100 objects (add throughput, 100 per envelope), then at size N:

* add throughput, 1 object per envelope (``--singles`` envelopes);
* paged read throughput: the first ``--read`` objects in pages of 100 (taxii2-client ``as_pages``);
* single-object round trip: add one object, then get it by id; p50 / p99 over ``--trips``.

Both servers run as their own process with their shipped defaults (medallion: Flask's threaded
server; Accord: one uvicorn worker). Needs ``pip install medallion==3.0.0`` (bench only).

    .venv/bin/python bench/taxii.py [--sizes 100,1000,10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from taxii2client.v21 import Collection, as_pages

NS = uuid.UUID("0f3b3c52-6b8e-4d0e-9a57-3b1a0c3f2e44")
COLLECTION_ID = "8d5e7c1e-3f7a-4b8e-9a1f-2c6d4e5f7a80"


def stix_indicator(i: int) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid5(NS, str(i))}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": f"C2 address {i}", "description": "Command-and-control address seen in exercise traffic",
            "indicator_types": ["malicious-activity"],
            "pattern": f"[ipv4-addr:value = '198.51.{(i // 250) % 250}.{i % 250}']",
            "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, auth: Any, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            r = requests.get(url, auth=auth, headers={"Accept": "application/taxii+json;version=2.1"}, timeout=2)
            if r.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# --- servers --------------------------------------------------------------------------------
def start_medallion(work: Path, preload: int = 0) -> tuple[subprocess.Popen, str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {"title": "medallion bench", "description": "", "contact": "",
                       "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {"information": {"title": "api1", "description": "",
                                 "versions": ["application/taxii+json;version=2.1"],
                                 "max_content_length": 100_000_000},
                 "status": [],
                 "collections": [{"id": COLLECTION_ID, "title": "bench", "description": "",
                                  "can_read": True, "can_write": True,
                                  "media_types": ["application/stix+json;version=2.1"],
                                  "objects": [stix_indicator(i) for i in range(preload)],
                                  "manifest": [{"id": stix_indicator(i)["id"],
                                                "date_added": "2026-01-01T00:00:00.%06dZ" % i,
                                                "version": "2026-01-01T00:00:00.000Z",
                                                "media_type": "application/stix+json;version=2.1"}
                                               for i in range(preload)]}]},
    }
    (work / "medallion-data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(work / "medallion-data.json")},
              "users": {"bench": "bench-password"}, "taxii": {"max_page_size": 100}}
    (work / "medallion.json").write_text(json.dumps(config))
    exe = Path(sys.executable).with_name("medallion")
    proc = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port), "--log-level", "ERROR",
                             str(work / "medallion.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = ("bench", "bench-password")
    wait_up(f"{base}/taxii2/", auth, proc)
    return proc, f"{base}/api1/collections/{COLLECTION_ID}/", auth


def start_accord(work: Path, preload: int = 0) -> tuple[subprocess.Popen, str, Any]:
    from accord.federation.tokens import create_token
    from accord.intel.node_store import store_for
    from accord.node import Node

    node = Node.init(work / "node", party="JPN")
    store = store_for(node)
    store.add_collection("bench", id=COLLECTION_ID)
    for lo in range(0, preload, 1000):
        store.add_objects(COLLECTION_ID, [stix_indicator(i) for i in range(lo, min(lo + 1000, preload))])
    secret = create_token(node.conn, "bench", "JPN", ["taxii:read", "taxii:write"])
    node.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-accord", str(work / "node"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = ("bench", secret)  # HTTP Basic with the API token as password: the same client code
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/taxii2/", auth, proc)
    return proc, f"{base}/taxii2/intel/collections/{COLLECTION_ID}/", auth


def serve_accord(directory: str, port: int) -> None:
    import uvicorn

    from accord.api.app import create_app
    from accord.node import Node

    app = create_app(Node.open(directory))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- measurements ---------------------------------------------------------------------------
def fill(coll: Collection, start: int, stop: int) -> float:
    """Add objects start..stop-1 in envelopes of 100; objects/s."""
    t0 = time.perf_counter()
    for lo in range(start, stop, 100):
        status = coll.add_objects({"objects": [stix_indicator(i) for i in range(lo, min(lo + 100, stop))]},
                                  poll_interval=0.05)
        assert status.success_count == min(100, stop - lo), status.__dict__
    return (stop - start) / (time.perf_counter() - t0)


BUDGET = 60.0  # seconds per measured phase: a slow server does fewer requests, never hangs the bench


def add_singles(coll: Collection, start: int, count: int) -> float:
    t0 = time.perf_counter()
    done = 0
    for i in range(start, start + count):
        coll.add_objects({"objects": [stix_indicator(i)]}, poll_interval=0.05)
        done += 1
        if time.perf_counter() - t0 > BUDGET:
            break
    return done / (time.perf_counter() - t0)


def paged_read(coll: Collection, count: int) -> float:
    t0 = time.perf_counter()
    got = 0
    for envelope in as_pages(coll.get_objects, per_request=100):
        got += len(envelope.get("objects", []))
        if got >= count or time.perf_counter() - t0 > BUDGET:
            break
    return got / (time.perf_counter() - t0)


def round_trips(coll: Collection, start: int, count: int) -> list[float]:
    out = []
    for i in range(start, start + count):
        obj = stix_indicator(i)
        t0 = time.perf_counter()
        coll.add_objects({"objects": [obj]}, poll_interval=0.05)
        got = coll.get_object(obj["id"])
        out.append(time.perf_counter() - t0)
        assert got["objects"][0]["id"] == obj["id"]
        if sum(out) > BUDGET:
            break
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def measure(name: str, coll: Collection, have: int, n: int, extra: int, singles: int, read: int,
            trips: int) -> dict[str, float]:
    fill_rate = fill(coll, have, n) if n > have else float("nan")  # nan: preloaded, not measured
    add1 = add_singles(coll, extra, singles)
    read_rate = paged_read(coll, min(read, n))
    rt = round_trips(coll, extra + singles, trips)
    r = {"add100_obj_s": fill_rate, "add1_obj_s": add1, "read_obj_s": read_rate,
         "rt_p50_ms": 1000 * pct(rt, 0.5), "rt_p99_ms": 1000 * pct(rt, 0.99)}
    print(f"  {name:9s} N={n:>6}: add×100 {r['add100_obj_s']:8.0f} obj/s | add×1 {r['add1_obj_s']:7.0f} obj/s"
          f" | read {r['read_obj_s']:8.0f} obj/s | round trip p50 {r['rt_p50_ms']:7.2f} ms"
          f" p99 {r['rt_p99_ms']:7.2f} ms  ({len(rt)} trips)", flush=True)
    return r


def fsync_ms(work: Path) -> float:
    """The cost of one durable SQLite commit here now (what bounds Accord's add ×1)."""
    from accord.store.sqlite import connect

    conn = connect(work / "fsync.db")
    conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
    t0 = time.perf_counter()
    for i in range(50):
        with conn:
            conn.execute("INSERT INTO t VALUES (?)", (i,))
    conn.close()
    return (time.perf_counter() - t0) / 50 * 1000


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-accord":
        serve_accord(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--singles", type=int, default=50, help="single-object envelopes per size")
    ap.add_argument("--read", type=int, default=1000, help="objects read by paging per size")
    ap.add_argument("--trips", type=int, default=50, help="round trips per size")
    ap.add_argument("--preload", type=int, default=0,
                    help="start both servers with this many objects already stored (skips the slow fill)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per measured phase at most")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    global BUDGET
    BUDGET = args.budget
    work = Path(tempfile.mkdtemp(prefix="accord-bench-taxii-"))
    procs = []
    try:
        print(f"TAXII 2.1 bench, loopback, sizes {sizes}; same taxii2-client code for both servers;"
              f" the two servers are measured alternately at each size")
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; one durable SQLite commit "
              f"{fsync_ms(work):.2f} ms")
        colls = {}
        for name, start in (("accord", start_accord), ("medallion", start_medallion)):
            proc, url, auth = start(work / name, args.preload)
            procs.append(proc)
            colls[name] = Collection(url, user=auth[0], password=auth[1])
        for coll in colls.values():  # warm up both servers (imports, caches, connections): one object
            warm = stix_indicator(99_999_999)
            coll.add_objects({"objects": [warm]}, poll_interval=0.05)
            coll.get_object(warm["id"])
            coll.get_objects()
        out: dict[str, dict[int, dict[str, float]]] = {"accord": {}, "medallion": {}}
        have, extra = args.preload, 10_000_000  # objects added outside the fill get ids far above the fill range
        for n in sizes:
            for name in ("accord", "medallion"):
                out[name][n] = measure(name, colls[name], have, n, extra, args.singles, args.read, args.trips)
            have, extra = n, extra + args.singles + args.trips
        print("\nratios (Accord / medallion; round trip: medallion time / Accord time):")
        for n in sizes:
            a, m = out["accord"][n], out["medallion"][n]
            print(f"  N={n:>6}: add×100 {a['add100_obj_s'] / m['add100_obj_s']:6.1f}×  "
                  f"add×1 {a['add1_obj_s'] / m['add1_obj_s']:6.1f}×  read {a['read_obj_s'] / m['read_obj_s']:6.1f}×  "
                  f"round trip p50 {m['rt_p50_ms'] / a['rt_p50_ms']:6.1f}×  p99 {m['rt_p99_ms'] / a['rt_p99_ms']:6.1f}×")
        a0, a1 = out["accord"][sizes[0]], out["accord"][sizes[-1]]
        print(f"\nAccord flatness N={sizes[0]}→{sizes[-1]}: round trip p50 {a0['rt_p50_ms']:.2f}→{a1['rt_p50_ms']:.2f} ms,"
              f" add×1 {1000 / a0['add1_obj_s']:.2f}→{1000 / a1['add1_obj_s']:.2f} ms/request,"
              f" read page {100_000 / a0['read_obj_s']:.2f}→{100_000 / a1['read_obj_s']:.2f} ms/page")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    # a terminated bench still stops the servers it started (the finally block in main)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
