"""Ledger benchmark: persisted appends/s and inclusion-proof verifications/s at 10^4, 10^5, 10^6 leaves.

    .venv/bin/python bench/ledger.py                 # 10^4, 10^5, 10^6 (about a minute or two)
    .venv/bin/python bench/ledger.py --sizes 10000   # quicker

For each size a fresh node database (SQLite, WAL, ``synchronous=FULL`` as nodes use it) is made
on disk in a temporary directory, and the ledger is filled with realistic ``item.created``
events through ``Ledger.append_many`` in batches (one transaction, one fsync per batch). Then:

* **appends/s** — leaves persisted per second while filling the whole tree (batches of 1,000);
* **single appends/s** — ``Ledger.append`` one event per transaction (an fsync each), the rate
  of a node ledgering events one by one;
* **proofs/s** — inclusion proofs generated from the store (O(log n) node reads, one query);
* **verifications/s** — RFC 9162 §2.1.3.2 verifications of those proofs (pure hashing);
* **proof size** — hashes per proof (mean and max) and bytes; it must grow as log2(n).

Targets (issue #3, 2-core machine): ≥ 20,000 appends/s, ≥ 5,000 verifications/s, proof size
and time growing as log n.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from accord.core import merkle
from accord.core.checkpoint import origin_for
from accord.core.identity import Identity
from accord.store.ledger import Ledger
from accord.store.sqlite import connect

BATCH = 1000
PROOFS = 2000
SINGLE = 300
VERIFY_ROUNDS = 10  # each proof verified 10 times: 20,000 verifications per size


def _events(start: int, count: int, t0: datetime):
    for i in range(start, start + count):
        yield ("item.created", {"item_id": f"JPN:warning.track:{i:012x}", "kind": "warning.track",
                                "originator": "JPN", "digest": f"{i:064x}", "classification": "SECRET"},
               t0 + timedelta(milliseconds=i))


def run(n: int, workdir: Path, progress: Progress) -> dict:
    ident = Identity.generate("JPN")
    conn = connect(workdir / f"ledger-{n}.db")
    ledger = Ledger(conn, ident, origin_for("JPN", ident.public_key))
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    task = progress.add_task(f"appending {n:,}", total=n)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, n, BATCH):
        ledger.append_many(list(_events(i, min(BATCH, n - i), t0)))
        progress.update(task, advance=min(BATCH, n - i))
    append_s, append_cpu = time.perf_counter() - start, time.process_time() - cpu
    progress.remove_task(task)
    assert ledger.size == n

    start = time.perf_counter()
    for e in _events(n, SINGLE, t0):
        ledger.append(e[0], e[1], time=e[2])
    single_s = time.perf_counter() - start
    size = ledger.size

    rng = random.Random(n)
    indices = [rng.randrange(size) for _ in range(PROOFS)]
    leaf_hashes = [merkle.hash_leaf(ledger.leaf(i)) for i in indices]
    root = ledger.root()
    start = time.perf_counter()
    proofs = [ledger.inclusion_proof(i, size) for i in indices]
    prove_s = time.perf_counter() - start

    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(VERIFY_ROUNDS):
        for i, h, p in zip(indices, leaf_hashes, proofs, strict=True):
            merkle.verify_inclusion(i, size, h, p, root)
    verify_s, verify_cpu = time.perf_counter() - start, time.process_time() - cpu
    verified = PROOFS * VERIFY_ROUNDS

    lengths = [len(p) for p in proofs]
    db_bytes = sum(f.stat().st_size for f in workdir.glob(f"ledger-{n}.db*"))
    conn.close()
    return {"n": n, "appends_per_s": n / append_s, "appends_cpu": n / append_cpu, "single_per_s": SINGLE / single_s,
            "verify_cpu": verified / verify_cpu,
            "proofs_per_s": PROOFS / prove_s, "verify_per_s": verified / verify_s,
            "verify_us": verify_cpu / verified * 1e6, "proof_mean": sum(lengths) / len(lengths),
            "proof_max": max(lengths), "log2n": math.log2(size), "db_mb": db_bytes / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    args = parser.parse_args(argv)
    console = Console(width=170)
    rows = []
    with tempfile.TemporaryDirectory(prefix="accord-bench-ledger-") as tmp, \
            Progress(console=console, transient=True) as progress:
        for n in args.sizes:
            rows.append(run(n, Path(tmp), progress))
    table = Table(title="Accord ledger: RFC 9162 Merkle log in SQLite (WAL, synchronous=FULL), "
                        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for col in ("leaves", "appends/s", "appends/s per CPU-s", "1 per txn/s", "proofs/s (db)",
                "verifs/s", "verifs/s per CPU-s", "CPU µs/verif", "hashes/proof", "log2 n", "db MB"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['n']:,}", f"{r['appends_per_s']:,.0f}", f"{r['appends_cpu']:,.0f}",
                      f"{r['single_per_s']:,.0f}", f"{r['proofs_per_s']:,.0f}", f"{r['verify_per_s']:,.0f}",
                      f"{r['verify_cpu']:,.0f}", f"{r['verify_us']:.1f}",
                      f"{r['proof_mean']:.1f} (max {r['proof_max']}, {r['proof_max'] * merkle.HASH_SIZE} B)",
                      f"{r['log2n']:.1f}", f"{r['db_mb']:.0f}")
    console.print(table)
    first, last = rows[0], rows[-1]
    if len(rows) > 1:
        console.print(f"from {first['n']:,} to {last['n']:,} leaves (×{last['n'] / first['n']:,.0f}): "
                      f"proof length ×{last['proof_mean'] / first['proof_mean']:.2f}, "
                      f"verify time ×{last['verify_us'] / first['verify_us']:.2f}, "
                      f"log2 n ×{last['log2n'] / first['log2n']:.2f}")
    ok = all(r["appends_per_s"] >= 20_000 and r["verify_per_s"] >= 5_000 for r in rows)
    ok_cpu = all(r["appends_cpu"] >= 20_000 and r["verify_cpu"] >= 5_000 for r in rows)
    console.print("targets (≥ 20,000 appends/s, ≥ 5,000 verifications/s): wall clock "
                  + ("met" if ok else "NOT met") + "; per CPU-second " + ("met" if ok_cpu else "NOT met")
                  + " (wall-clock rates fall when other processes share the cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
