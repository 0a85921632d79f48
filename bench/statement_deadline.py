"""What the PostgreSQL store's statement deadline costs, and what it bounds.

* per statement: registering and unregistering one with the store's watchdog (the pair every
  statement pays), timed alone; and ``SELECT 1`` through the node's connection with the deadline
  and without it, in alternating blocks (the difference is within the round trip's noise);
* frozen: the node's connection reaching the server through a relay (tests/silentrelay.py) that
  stops relaying without resetting anything (a frozen server; its kernel still acknowledges, so
  no TCP timeout sees it) — the time the next statement takes to fail, with ``--deadline``.

    PYTHONPATH=$PWD .venv/bin/python bench/statement_deadline.py [--url postgresql://…] [--deadline 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests")]

from silentrelay import SilentRelay  # noqa: E402

from accord.errors import StoreUnavailable  # noqa: E402
from accord.store.postgres import PostgresStore  # noqa: E402


def pair_us(store: PostgresStore, n: int = 200_000) -> float:
    watch, conn = store.watch, object()
    t = time.perf_counter()
    for _ in range(n):
        watch.end(watch.start(conn))
    return (time.perf_counter() - t) / n * 1e6


def select_us(store: PostgresStore, deadline: float | None, n: int = 2000) -> float:
    store.watch.deadline = deadline
    conn = store.conn
    t = time.perf_counter()
    for _ in range(n):
        conn.execute("SELECT 1").fetchone()
    return (time.perf_counter() - t) / n * 1e6


def frozen_s(url: str, port: int, deadline: float) -> tuple[float, str]:
    relay = SilentRelay(port)
    store = PostgresStore(f"{url.replace(f':{port}/', f':{relay.port}/')}{'&' if '?' in url else '?'}"
                          f"accord_statement_timeout={deadline:g}")
    try:
        store.conn.execute("SELECT 1").fetchone()
        relay.freeze()
        t = time.monotonic()
        try:
            store.conn.execute("SELECT 1").fetchone()
            return time.monotonic() - t, "answered"
        except StoreUnavailable as exc:
            return time.monotonic() - t, str(exc)
    finally:
        relay.close()
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--deadline", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    store = PostgresStore(args.url)
    try:
        pairs = [pair_us(store) for _ in range(args.rounds)]
        print(f"register + unregister: {statistics.median(pairs):.2f} µs per statement "
              f"(median of {args.rounds}; {min(pairs):.2f}–{max(pairs):.2f})")
        on, off = [], []
        for _ in range(args.rounds):
            on.append(select_us(store, 30.0))
            off.append(select_us(store, None))
        print(f"SELECT 1: {statistics.median(on):.1f} µs with the deadline, {statistics.median(off):.1f} µs "
              f"without (medians of {args.rounds} blocks of 2000)")
    finally:
        store.close()
    port = int(args.url.split("@")[-1].split("/")[0].rsplit(":", 1)[1])
    took, what = frozen_s(args.url, port, args.deadline)
    print(f"frozen server, deadline {args.deadline:g} s: the statement failed after {took:.2f} s: {what}")


if __name__ == "__main__":
    main()
