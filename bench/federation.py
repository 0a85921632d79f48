"""Federation bench: end-to-end latency and sustained throughput between two nodes on loopback.

Node A (JPN) runs in this process (library + delivery workers, HTTP transport); node B (KOR) is
a real ``accord node serve`` process. An item's latency is from its creation at A to the moment B
has stored it and ledgered ``item.received`` (B's ``fed_received.received`` timestamp, same
machine clock, millisecond precision).

0. The partner-request signature check (RFC 9421, :mod:`accord.federation.httpsig`): CPU per
   request, in this process, beside one Ed25519 verification.
1. Latency at a steady rate (20 items/s for 3 s, then the target rate, default 500 items/s for
   10 s): every 10 ms A creates and shares the items due (one transaction per tick);
   p50/p90/p99/max.
2. Sustained throughput: A creates and shares N items as fast as it can (batches of 500) while
   its worker delivers them; items/s from first creation to last stored at B.
3. Drain: N items already queued at A (B down), then B comes up: items/s to drain the outbox.
4. Receipt proofs: B's receipts still waiting at A for a proof after the drain, then how fast A
   proves them (:mod:`accord.federation.receipts`, after each tree-head check) with nothing else
   going on, for at most ``--proof-seconds``.

Every run checks that B holds exactly the items A shared, once each, in order.
Targets (issue #4): p99 < 50 ms at 500/s; >= 2,000 items/s; nothing lost.

    .venv/bin/python bench/federation.py [--rate 500] [--seconds 10] [--items 10000] [--body note|track]
                                         [--store sqlite|postgresql|both] [--workers 1|2|1,2]
                                         [--proof-seconds 20]

``--store both`` runs everything on SQLite, then on PostgreSQL, and prints the figures side by
side. ``--workers`` is the number of server processes of B (``node serve --workers N``); ``1,2``
runs the bench once with each (for each store) and adds them to the side-by-side table.

``--body note`` (default) shares small ``test.note`` items (``{"n": k, "bench": …}``);
``--body track`` shares ``warning.track`` items shaped like the tracker's (ECEF state, 6×6
covariance as 21 floats, sensors, quality: ~0.9 kB of RFC 8785 JSON, floats included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # loopback.py, which federation_harness imports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "federation"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stores import bench_stores, print_side_by_side  # noqa: E402
from federation_harness import NodeProcess, free_port, make_nodes  # noqa: E402

from accord.clock import parse_rfc3339  # noqa: E402
from accord.core.canonical import canonical_json  # noqa: E402
from accord.core.items import new_item  # noqa: E402
from accord.core.markings import Marking  # noqa: E402
from accord.federation import Federation, HttpTransport, share_many  # noqa: E402
from accord.node import Node  # noqa: E402
from accord.node.node import open_database  # noqa: E402
from accord.store.base import DatabaseError, transaction  # noqa: E402

RESULTS: dict[str, dict[str, str]] = {}  # store -> figure -> value, for the side-by-side table
STORE = "sqlite"


def _note(figure: str, value: str) -> None:
    RESULTS.setdefault(STORE, {})[figure] = value

MARK = Marking.parse("RESTRICTED//REL TO JPN, KOR")
BODY = "note"


def body(n: int, phase: str) -> tuple[str, dict]:
    """(kind, body) of the n-th bench item."""
    if BODY == "note":
        return "test.note", {"n": n, "bench": phase}
    x = 1.0e3 * n
    return "warning.track", {
        "track_id": f"JPN-T{n % 97:03d}", "bench": phase, "t": 1234.5 + 0.25 * n,
        "state": [-3.1e6 + x, 4.1e6 - 0.5 * x, 3.9e6 + 0.25 * x, 1234.5678, -2345.6789, 345.678912],
        "cov": [1.0e4 / (k + 1) + 0.125 * n for k in range(21)],
        "sensors": ["JPN-FPS5-1", "JPN-FPS5-2"], "quality": {"nis": 2.718281828, "updates": n % 50 + 3},
        "status": "confirmed"}


def _received(dir: Path) -> list[tuple[int, str, str]]:
    conn = open_database(dir)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT seq, item_id, received FROM fed_received WHERE originator='JPN' ORDER BY seq").fetchall()]
    except DatabaseError:
        return []
    finally:
        conn.close()


def _wait(dir: Path, n: int, timeout: float) -> list[tuple[int, str, str]]:
    end = time.monotonic() + timeout
    conn = open_database(dir)
    try:
        while time.monotonic() < end:
            try:
                # the highest sequence number B consumed from A (an index seek: a COUNT(*) over a
                # growing table, 50 times a second, cost the bench process noticeable CPU); the
                # check after the wait still compares every stored item with what A shared
                if (conn.execute("SELECT MAX(seq) FROM fed_inbox WHERE originator='JPN'").fetchone()[0] or 0) >= n:
                    break
            except DatabaseError:
                if conn.in_transaction:
                    conn.rollback()
            time.sleep(0.02)
    finally:
        conn.close()
    return _received(dir)


def _check(got, ids, label: str) -> None:
    got_ids = [r[1] for r in got]
    tail = got_ids[-len(ids):] if ids else []
    ok = tail == ids and len(set(got_ids)) == len(got_ids)
    print(f"  {label}: {len(ids)} shared, {len(set(got_ids) & set(ids))} stored at B, "
          f"{'exactly once, in order' if ok else 'MISMATCH'}")
    if not ok:
        raise SystemExit(1)


def latency(base: Path, a: Node, rate: int, seconds: float) -> None:
    print(f"latency at {rate} items/s for {seconds:.0f} s")
    before = len(_received(base / "KOR"))
    created: dict[str, datetime] = {}
    ids: list[str] = []
    t0 = time.monotonic()
    n = 0
    total = int(rate * seconds)
    while n < total:
        due = min(total, int((time.monotonic() - t0) * rate) + 1)
        batch = []
        now = a.clock.now()
        while n < due:
            item = new_item(*body(n, "latency"), MARK, "JPN", now)
            created[item.id] = now
            batch.append(item)
            n += 1
        if batch:
            share_many(a, batch, "KOR")
            ids.extend(i.id for i in batch)
        sleep = t0 + n / rate - time.monotonic()
        if sleep > 0:
            time.sleep(min(sleep, 0.01))
    achieved = total / (time.monotonic() - t0)
    got = _wait(base / "KOR", before + len(created), 120)
    lat = sorted((parse_rfc3339(r[2]) - created[r[1]]).total_seconds() * 1000 for r in got if r[1] in created)
    _check(got, ids, "check")
    q = statistics.quantiles(lat, n=100, method="inclusive")
    print(f"  offered {achieved:.0f} items/s; latency ms: p50 {q[49]:.1f}  p90 {q[89]:.1f}  "
          f"p99 {q[98]:.1f}  max {lat[-1]:.1f}  (target p99 < 50)")
    _note(f"latency p50 / p99 at {rate}/s", f"{q[49]:.1f} / {q[98]:.1f} ms")
    if rate >= 500:
        _note(f"p99 at {rate}/s ÷ target 50 ms", f"{q[98] / 50:.2f}×")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (a server's workers:
    ``/proc/PID/stat`` fields 14 and 15)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split() if entry.isdigit() else None
        except OSError:
            continue
        if fields and (int(entry) == pid or int(fields[1]) == pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _share_all(a: Node, count: int, phase: str) -> list[str]:
    """Create and share ``count`` items with B as fast as possible, 500 per transaction; their ids."""
    ids: list[str] = []
    for start in range(0, count, 500):
        now = a.clock.now()
        batch = [new_item(*body(k, phase), MARK, "JPN", now) for k in range(start, min(count, start + 500))]
        share_many(a, batch, "KOR")
        ids.extend(i.id for i in batch)
    return ids


def throughput(base: Path, a: Node, count: int, b: NodeProcess) -> None:
    print(f"sustained throughput, {count} items created and shared as fast as possible")
    before = len(_received(base / "KOR"))
    cpu_a, cpu_b = time.process_time(), _cpu_seconds(b.proc.pid)
    t0 = time.monotonic()
    ids = _share_all(a, count, "throughput")
    t_shared = time.monotonic() - t0
    got = _wait(base / "KOR", before + count, 300)
    elapsed = time.monotonic() - t0
    ms_a = (time.process_time() - cpu_a) * 1000 / count
    ms_b = (_cpu_seconds(b.proc.pid) - cpu_b) * 1000 / count
    _check(got, ids, "check")
    print(f"  A created+queued at {count / t_shared:.0f} items/s; end to end {count / elapsed:.0f} items/s "
          f"({elapsed:.1f} s)  (target >= 2000)")
    _note("end to end items/s", f"{count / elapsed:.0f}")
    _note("end to end ÷ target 2,000/s", f"{count / elapsed / 2000:.2f}×")
    _note("CPU per item A / B", f"{ms_a:.2f} / {ms_b:.2f} ms")
    print(f"  CPU per item: A {ms_a:.2f} ms (create, store, seal, queue, send), B {ms_b:.2f} ms (verify, "
          f"store, ledger) -> at most {1000 / max(ms_a, ms_b):.0f} items/s with an idle core per node")


def drain(base: Path, a: Node, fed: Federation, b: NodeProcess, count: int) -> NodeProcess:
    print(f"drain: {count} items queued while B is down, then B starts")
    b.stop()
    before = len(_received(base / "KOR"))
    ids = _share_all(a, count, "drain")
    b = NodeProcess(b.dir, b.port, args=b.args).start()
    t0 = time.monotonic()
    fed.notify("KOR")
    got = _wait(base / "KOR", before + count, 300)
    elapsed = time.monotonic() - t0
    _check(got, ids, "check")
    print(f"  drained at {count / elapsed:.0f} items/s ({elapsed:.1f} s, includes the first retry backoff)")
    _note("drain items/s", f"{count / elapsed:.0f}")
    return b


def _receipt_checks(dir: Path) -> tuple[int, int]:
    """(receipts proven, receipts pending) of B at A, read on a connection of its own, both in one
    transaction (a round recorded between two reads would be counted twice)."""
    conn = open_database(dir)
    try:
        with transaction(conn):
            proven = conn.execute("SELECT receipts_proven FROM fed_partner_state WHERE party='KOR'").fetchone()
            pending = conn.execute("SELECT COUNT(*) FROM fed_receipt_checks WHERE party='KOR'").fetchone()[0]
        return (proven[0] if proven else 0), pending
    finally:
        conn.close()


def proofs(base: Path, seconds: float) -> None:
    proven0, pending0 = _receipt_checks(base / "JPN")
    print(f"receipt proofs: {proven0} proven during the phases above, {pending0} pending; then at most "
          f"{seconds:g} s idle")
    t0 = time.monotonic()
    proven, pending = proven0, pending0
    while pending and time.monotonic() - t0 < seconds:
        time.sleep(0.25)
        proven, pending = _receipt_checks(base / "JPN")
    elapsed = time.monotonic() - t0
    rate = (proven - proven0) / elapsed if elapsed else 0.0
    print(f"  proven {proven - proven0} in {elapsed:.1f} s ({rate:.0f}/s); {pending} still pending")
    _note("receipts pending after drain", f"{pending0}")
    _note("receipt proofs/s (idle)", f"{rate:.0f}")


def request_signature_cost(n: int = 2000) -> None:
    """CPU per partner request to check its RFC 9421 signature and digest (B's side, in this
    process): Accord's own layout, and the same signature after a gateway's in the headers,
    beside one Ed25519 verification alone (the floor)."""
    import base64

    from accord.core.identity import Identity, verify_fast
    from accord.federation.httpsig import sign_request, verify_request

    jpn, now, batch = Identity.generate("JPN"), datetime.now(UTC), b'{"envelopes":[]}'
    own = {k.lower(): v for k, v in sign_request(jpn, "POST", "/federation/v1/envelopes", "", batch, now,
                                                 "KOR").items()}
    gateway = 'gw=("@method" "@authority" "@target-uri");created=1;keyid="gw-tokyo-1";alg="ecdsa-p256-sha256"'
    beside = {**own, "signature-input": gateway + ", " + own["signature-input"],
              "signature": "gw=:" + "A" * 86 + "==:, " + own["signature"]}
    sig = base64.b64decode(own["signature"].split(":")[1])
    keys = {"JPN": jpn.public_key}

    def cpu_us(f) -> float:
        t0 = time.process_time()
        for _ in range(n):
            f()
        return (time.process_time() - t0) / n * 1e6

    floor = cpu_us(lambda: verify_fast(jpn.public_key, sig, b"x" * 300))
    a = cpu_us(lambda: verify_request(own, "POST", "/federation/v1/envelopes", "", batch, keys, now, recipient="KOR"))
    b = cpu_us(lambda: verify_request(beside, "POST", "/federation/v1/envelopes", "", batch, keys, now,
                                      recipient="KOR"))
    print(f"partner request signature check, CPU per request: Accord's layout {a:.0f} us, after a gateway's "
          f"signature {b:.0f} us; Ed25519 verify alone {floor:.0f} us ({a / floor:.2f}x / {b / floor:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=2000, help="envelopes per delivery POST at most "
                    "(Federation's default)")
    ap.add_argument("--body", choices=("note", "track"), default="note",
                    help="small test.note items, or warning.track items with floats (~0.9 kB)")
    ap.add_argument("--proof-seconds", type=float, default=20.0,
                    help="how long the receipt-proof phase waits at most for the pending proofs")
    ap.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="sqlite",
                    help="where both nodes keep their state (postgresql: a fresh schema per node in "
                         "ACCORD_BENCH_PG's database, default postgresql://postgres@127.0.0.1:5432/test)")
    ap.add_argument("--workers", default="1", help="server processes of B (node serve --workers N); '1,2' runs "
                    "the bench with each and prints them side by side")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    global BODY
    BODY = args.body
    request_signature_cost()
    print(f"items: {BODY} ({len(canonical_json(new_item(*body(1, 'x'), MARK, 'JPN', datetime.now(UTC)).to_json()))} bytes "
          f"of RFC 8785 JSON each)")
    global STORE
    for store_name in (("sqlite", "postgresql") if args.store == "both" else (args.store,)):
        for w in workers:
            STORE = store_name if workers == [1] else f"{store_name}, {w} serve process{'es' if w > 1 else ''}"
            print(f"--- store: {store_name}; B served by {w} process{'es' if w > 1 else ''} ---")
            with bench_stores(store_name) as store:
                run(args, store, w)
    if len(RESULTS) > 1:
        print_side_by_side(RESULTS)
    print(f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {Path('/proc/loadavg').read_text().split()[0]} load average)")


def run(args: argparse.Namespace, store, workers: int = 1) -> None:
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        base = Path(tmp)
        ports = {"JPN": free_port(), "KOR": free_port()}
        nodes = make_nodes(base, ("JPN", "KOR"), ports=ports, store=store)
        nodes["KOR"].close()
        a = nodes["JPN"]
        b = NodeProcess(base / "KOR", ports["KOR"], args=["--workers", str(workers)]).start()
        fed = Federation(a, HttpTransport(), batch_size=args.batch, backoff_cap=0.5)
        fed.start()
        try:
            latency(base, a, 20, 3)   # unloaded: what one item costs end to end
            latency(base, a, args.rate, args.seconds)
            throughput(base, a, args.items, b)
            b = drain(base, a, fed, b, args.items)
            proofs(base, args.proof_seconds)
        finally:
            fed.stop()
            b.stop()
            a.close()


if __name__ == "__main__":
    main()
