"""How long the API takes to answer while the node's PostgreSQL is away, and how soon it serves
again once it is back.

A server of its own (tests/pgserver.py: initdb in a temporary directory, a free port), a
node on it, the app served by uvicorn on a loopback port, and clients over HTTP:

* up: the latency of ``GET /api/v1/items`` (bearer token) with the database there;
* down, one client: the same request, one after another, with the server stopped (``immediate``);
* down, N clients at once: what each waits when several requests meet the outage together (they
  queue for the node's lock around the token lookup);
* back: the server started again after ``--away`` seconds; the time from its being ready to the
  first 200, and the answers before that.

Each for two faults (``--fault``): ``refused``, the server stopped (``immediate``: connections
refused at once), and ``silent``, the node reaching the server through a relay
(tests/silentrelay.py) that goes silent — what it carried is reset, a new connection is accepted
and never answered, as from an unreachable host — and then relays again; ``silent`` also counts
the connection attempts the silent host was asked for; and ``frozen``, the relay going silent
without resetting what it carries (a frozen server, a network that drops packets): the
statement on the node's connection waits out the store's statement deadline (``--deadline``,
the store URL's ``accord_statement_timeout``), and the requests behind it wait for the node's lock.

    PYTHONPATH=$PWD .venv/bin/python bench/store_outage.py [--clients 4] [--away 10] [--fault silent|frozen]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "store")]

from loopback import free_port  # noqa: E402
from pgserver import OwnServer  # noqa: E402
from silentrelay import SilentRelay  # noqa: E402

from accord.api.app import create_app  # noqa: E402
from accord.federation.tokens import create_token  # noqa: E402
from accord.node import Node  # noqa: E402


def timed(client: httpx.Client, url: str) -> tuple[int, float]:
    t0 = time.monotonic()
    r = client.get(url)
    return r.status_code, time.monotonic() - t0


def figures(samples: list[tuple[int, float]]) -> str:
    times = [t for _, t in samples]
    codes = sorted({c for c, _ in samples})
    return (f"{len(samples)} answers {codes}: median {statistics.median(times):.3f} s, "
            f"min {min(times):.3f} s, max {max(times):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--away", type=float, default=10.0, help="seconds the server stays stopped")
    ap.add_argument("--requests", type=int, default=5, help="requests per client while it is away")
    ap.add_argument("--fault", choices=("refused", "silent", "frozen"), action="append",
                    help="the outage to measure (refused and silent unless given)")
    ap.add_argument("--deadline", type=float, default=None,
                    help="the store's statement deadline, seconds (its default unless given)")
    args = ap.parse_args()
    for fault in args.fault or ("refused", "silent"):
        print(f"--- {fault}")
        outage(args, fault)


def outage(args: argparse.Namespace, fault: str) -> None:
    server = OwnServer()
    server.start()
    relay = SilentRelay(server.port) if fault != "refused" else None
    tmp = Path(tempfile.mkdtemp(prefix="accord-outage-"))
    store = server.url if relay is None else server.url.replace(f":{server.port}/", f":{relay.port}/")
    if args.deadline is not None:
        store += f"?accord_statement_timeout={args.deadline:g}"
    node = Node.init(tmp / "jpn", "JPN", store=store)
    secret = create_token(node.conn, "ops", "JPN", {"items:read"})
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="error"))
    serving = threading.Thread(target=web.run, daemon=True)
    serving.start()
    while not web.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/v1/items"
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        with httpx.Client(headers=headers, timeout=60) as client:
            print("up:          ", figures([timed(client, url) for _ in range(20)]))
            if relay is None:
                server.stop("immediate")
            elif fault == "frozen":
                relay.freeze()
            else:
                relay.go_silent()
            stopped = time.monotonic()
            alone = [timed(client, url) for _ in range(args.requests)]
            print("down, 1:     ", figures(alone), "each", " ".join(f"{t:.3f}" for _, t in alone))

        results: list[tuple[int, float]] = []

        def one_client() -> None:
            with httpx.Client(headers=headers, timeout=60) as c:
                for _ in range(args.requests):
                    results.append(timed(c, url))

        t0 = time.monotonic()
        clients = [threading.Thread(target=one_client) for _ in range(args.clients)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        print(f"down, {args.clients} at once:", figures(results),
              f"({time.monotonic() - t0:.1f} s for all)")
        if relay is not None:
            print(f"connection attempts the silent host was asked for: {relay.silent_accepts} "
                  f"({args.requests * (args.clients + 1)} requests)")

        time.sleep(max(0.0, args.away - (time.monotonic() - stopped)))
        if relay is None:
            server.start()
        else:
            relay.answer_again()
        back = time.monotonic()
        before: list[tuple[int, float]] = []
        with httpx.Client(headers=headers, timeout=60) as client:
            while True:
                code, took = timed(client, url)
                if code == 200:
                    break
                before.append((code, took))
        print(f"back (away {back - stopped:.1f} s): first 200 {time.monotonic() - back:.2f} s after the server "
              f"was ready; {len(before)} answers before it {[c for c, _ in before]}")
    finally:
        web.should_exit = True
        serving.join(10)
        node.close()
        if relay is not None:
            relay.close()
        server.remove()


if __name__ == "__main__":
    main()
