"""The node's write path, the bound on one node: items stored per second through `Node.put_items`,
from one and from two processes writing to the same node at once, on SQLite and PostgreSQL.

    .venv/bin/python bench/write_path.py                          # both stores, batches of 1 and 100
    .venv/bin/python bench/write_path.py --store postgresql --batches 1,10,100 --items 4000

Every write of a node — an item stored, a batch received from a partner, a share queued — takes
the node's write lock (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory lock on the node) for
the whole transaction, because the ledger is one RFC 9162 sequence: each leaf's index and the
tree's frontier are decided inside it. So two processes writing at once do not write twice as
fast; what they add is the work done outside the lock (parsing, signatures, policy). The bench
prints, per store and batch size: items/s from one process, items/s in all from two processes,
and their ratio (1.0: the lock bounds it; 2.0: it scales), side by side. Items are `test.note`
items of about 200 bytes, made before the clock starts; the figure is the commit path alone.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stores import bench_stores, print_side_by_side  # noqa: E402

from accord.core.items import new_item  # noqa: E402
from accord.core.markings import Marking  # noqa: E402
from accord.node import Node  # noqa: E402


def _items(node: Node, n: int, tag: str) -> list:
    mark = Marking.parse("RESTRICTED//REL TO JPN, KOR, USA")
    return [new_item("test.note", {"writer": tag, "i": i, "text": "x" * 120}, mark, node.party, node.clock.now())
            for i in range(n)]


def _write(directory: str, n: int, batch: int, tag: str, go: mp.Event, out: mp.Queue) -> None:
    node = Node.open(directory)
    items = _items(node, n, tag)
    go.wait()
    start = time.perf_counter()
    for i in range(0, n, batch):
        node.put_items(items[i:i + batch])
    out.put((start, time.perf_counter()))
    node.close()


def run(directory: str, n: int, batch: int, writers: int) -> float:
    """Items/s in all from ``writers`` processes, each storing ``n`` items in batches of ``batch``."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_write, args=(directory, n, batch, f"{batch}-{writers}-{k}-{time.time()}", go, out))
             for k in range(writers)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # every writer has opened the node and made its items
    go.set()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return n * writers / (max(e for _, e in spans) - min(s for s, _ in spans))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--batches", default="1,100", help="items per put_items call, comma-separated")
    ap.add_argument("--items", type=int, default=2000, help="items per writer per run")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    stores = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.items} items per writer")
    results: dict[str, dict[str, str]] = {}
    for kind in stores:
        with bench_stores(kind) as store, tempfile.TemporaryDirectory() as tmp:
            d = str(Path(tmp) / "jpn")
            Node.init(d, party="JPN", store=store("JPN")).close()
            r = results.setdefault(kind, {})
            for batch in batches:
                one = run(d, args.items, batch, 1)
                two = run(d, args.items, batch, 2)
                r[f"batch {batch}: 1 process, items/s"] = f"{one:,.0f}"
                r[f"batch {batch}: 2 processes, items/s"] = f"{two:,.0f}"
                r[f"batch {batch}: 2 ÷ 1"] = f"{two / one:.2f}"
                r[f"batch {batch}: ms per item"] = f"{1000 / one:.3f}"
    print_side_by_side(results)


if __name__ == "__main__":
    main()
