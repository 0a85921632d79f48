"""Console latency: an item stored at the node → its row drawn in the browser (issue #17).

A node (temporary directory) serves its app under uvicorn on loopback; Debian's Chromium opens the
console's overview page (which lists every new item live) through Playwright; items are stored
at a steady rate (``--rates``, items/s) for ``--seconds`` each, each stamped with the wall clock
just before ``put_item``. A MutationObserver in the page (installed through the DevTools
protocol, which the page's Content-Security-Policy does not govern) notes ``Date.now()`` when each
row appears; browser and bench read the same system clock, so the difference is the latency.
Prints p50/p99 per rate and how many rows arrived.

Then (issue #17, "Measured"):

* First load of each page with ``--items`` items (10,000 track updates: 40 tracks updated every
  10 s over the last 42 minutes, :func:`track_history`) and ``--stix`` STIX objects (5,000)
  stored: server time for the page's HTML, GET sent → body read, through httpx with a logged-in
  session (median of 3; the first, cold, also shown), against the 1 s target. Static files and the
  browser's rendering are not included.
* Federation throughput with 5 consoles connected vs none: two nodes as in
  ``bench/federation.py`` (its functions), A shares ``--fed-items`` items with B over HTTP; items/s
  end to end with 0 and then with 5 open ``/console/events`` streams at B (httpx streaming
  clients, one logged-in session each, in a process of their own as browsers would be), against
  "within 10 %".

    .venv/bin/python bench/console.py [--rates 50 200] [--seconds 10] [--items 10000] [--stix 5000]
                                      [--fed-items 10000] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # loopback.py, which console_world imports
sys.path.insert(0, str(ROOT / "tests" / "console"))
sys.path.insert(0, str(ROOT / "bench"))

import federation as fedbench  # noqa: E402  (bench/federation.py: two nodes over HTTP)
import httpx  # noqa: E402

from console_world import Served  # noqa: E402  (the tests' loopback server)

from accord.api.app import create_app  # noqa: E402
from accord.core.items import new_item  # noqa: E402
from accord.core.markings import Marking  # noqa: E402
from accord.federation.schema import write_lock  # noqa: E402
from accord.federation import Federation, HttpTransport  # noqa: E402
from accord.federation.tokens import TOKENS_DDL, create_token  # noqa: E402
from accord.intel.node_store import store_for  # noqa: E402
from accord.node import Node  # noqa: E402
from accord.store.sqlite import ensure_schema  # noqa: E402

OBSERVER = """() => {
  window.__seen = {};
  new MutationObserver(ms => { const now = Date.now();
    for (const m of ms) for (const n of m.addedNodes)
      if (n.dataset && n.dataset.id && !(n.dataset.id in window.__seen)) window.__seen[n.dataset.id] = now;
  }).observe(document.querySelector('tbody[data-live="*"]'), {childList: true});
}"""


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


PAGES = {"overview": "/console/", "picture": "/console/picture", "alerts": "/console/alerts",
         "intelligence": "/console/intel", "federation": "/console/federation", "dialogue": "/console/dialogue"}


def log_in(base_url: str, token: str) -> httpx.Client:
    """An httpx client holding a console session (the login form's CSRF nonce, then the token)."""
    c = httpx.Client(base_url=base_url, timeout=60)
    form = c.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = c.post("/console/login", data={"token": token, "csrf": nonce})
    assert r.status_code == 303, r.status_code
    return c


def indicator(k: int) -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z",
            "name": f"Bad domain {k}", "labels": ["malicious-activity"],
            "pattern": f"[domain-name:value = 'evil{k}.example']", "pattern_type": "stix",
            "valid_from": "2026-02-01T00:00:00Z"}


TRACKS, UPDATE_SECONDS = 40, 10.0


def track_history(node: Node, n_items: int, marking: Marking) -> list:
    """``n_items`` ``warning.track`` items as a watch floor accumulates them: :data:`TRACKS`
    tracks, each updated every :data:`UPDATE_SECONDS` s up to now (40 tracks × 250 updates span
    the last 42 minutes, so about 70 % fall in the picture's 30-minute window), each position
    moving east-north-east from a launch point over the Sea of Japan."""
    from datetime import timedelta

    from accord.warning.frames import lla_to_ecef

    now = node.clock.now()
    per = -(-n_items // TRACKS)
    out = []
    for k in range(n_items):
        track, step = k % TRACKS, k // TRACKS
        lat = 38.0 + 0.05 * track + 0.004 * step
        lon = 128.0 + 0.1 * track + 0.01 * step
        x, y, z = (float(v) for v in lla_to_ecef(lat, lon, 50_000.0 + 100.0 * step))
        body = {"t": step * UPDATE_SECONDS, "track_id": f"T-{track}", "phase": "ballistic",
                "x": x, "y": y, "z": z, "vx": 1000.0, "vy": 0.0, "vz": 0.0}
        created = now - timedelta(seconds=(per - 1 - step) * UPDATE_SECONDS)
        out.append(new_item("warning.track", body, marking, "JPN", created))
    return out


def page_loads(n_items: int, n_stix: int) -> None:
    print(f"first load of each page, {n_items} items and {n_stix} STIX objects stored "
          "(server time for the HTML via httpx; target <= 1 s)")
    tmp = Path(tempfile.mkdtemp(prefix="accord-console-pages-"))
    node = Node.init(tmp / "jpn", "JPN")
    try:
        ensure_schema(node.conn, TOKENS_DDL)
        token = create_token(node.conn, "bench", "JPN", {"admin"})
        marking = Marking.parse("SECRET//REL TO JPN, KOR")
        t0 = time.perf_counter()
        with write_lock(node):
            node.put_items(track_history(node, n_items, marking))
        intel = store_for(node)
        intel.add_collection("Cyber indicators", alias="cyber", rel_to=frozenset({"KOR"}))
        for start in range(0, n_stix, 500):
            intel.add_objects("cyber", [indicator(k) for k in range(start, min(n_stix, start + 500))])
        print(f"  (stored in {time.perf_counter() - t0:.1f} s; {intel.count('cyber')} STIX objects)")
        with Served(create_app(node)) as served, closing(log_in(served.url, token)) as c:
            for name, path in PAGES.items():
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    r = c.get(path)
                    times.append(time.perf_counter() - t)
                    r.raise_for_status()
                print(f"  {name:13s} {path:20s} first {times[0] * 1000:6.0f} ms, median of 3 "
                      f"{statistics.median(times) * 1000:6.0f} ms, {len(r.content) / 1024:.0f} kB "
                      f"(first load {'within' if times[0] <= 1 else 'OVER'} 1 s)")
    finally:
        node.close()
        shutil.rmtree(tmp, ignore_errors=True)


def listen_all(url: str, token: str, consoles: int, ready: Any, stop: Any, events: Any) -> None:
    """In a process of its own: ``consoles`` logged-in sessions, each reading ``/console/events``
    in a thread and counting its data lines into ``events``; ``ready`` once all are open."""
    opened = threading.Barrier(consoles + 1)

    def listen(k: int) -> None:
        with closing(log_in(url, token)) as c, c.stream("GET", "/console/events", timeout=None) as r:
            opened.wait()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events[k] += 1
                if stop.is_set():
                    return

    for k in range(consoles):
        threading.Thread(target=listen, args=(k,), daemon=True).start()
    opened.wait()
    ready.set()
    stop.wait()


def federation_with_consoles(count: int, consoles: int = 5) -> None:
    print(f"federation throughput, {count} items A → B over HTTP, with 0 and {consoles} console event streams at B")
    with tempfile.TemporaryDirectory(prefix="accord-console-fed-") as tmp:
        base = Path(tmp)
        ports = {"JPN": fedbench.free_port(), "KOR": fedbench.free_port()}
        nodes = fedbench.make_nodes(base, ("JPN", "KOR"), ports=ports)
        ensure_schema(nodes["KOR"].conn, TOKENS_DDL)
        token = create_token(nodes["KOR"].conn, "watch", "KOR", {"admin"})
        nodes["KOR"].close()
        a = nodes["JPN"]
        b = fedbench.NodeProcess(base / "KOR", ports["KOR"]).start()
        fed = Federation(a, HttpTransport(), backoff_cap=0.5)
        fed.start()
        listener = None
        def run(label: str) -> float:
            before = len(fedbench._received(base / "KOR"))
            t0 = time.monotonic()
            ids = fedbench._share_all(a, count, label)
            got = fedbench._wait(base / "KOR", before + count, 300)
            elapsed = time.monotonic() - t0
            fedbench._check(got, ids, label)
            return count / elapsed

        try:
            run("warm-up")
            none = run("none")
            print(f"  0 consoles: {none:.0f} items/s end to end")
            # the consoles run in a process of their own, as browsers do on other machines: reading
            # their streams must not take this process's GIL from node A's delivery worker
            ctx = multiprocessing.get_context("spawn")
            ready, stop = ctx.Event(), ctx.Event()
            events = ctx.Array("l", consoles)
            listener = ctx.Process(target=listen_all, args=(b.url, token, consoles, ready, stop, events), daemon=True)
            listener.start()
            if not ready.wait(60):
                raise SystemExit("the console streams did not open")
            time.sleep(1)
            with_consoles = run("consoles")
            print(f"  {consoles} consoles: {with_consoles:.0f} items/s end to end "
                  f"(SSE data lines read by the consoles by then: {sum(events[:])})")
            print(f"  ratio {with_consoles / none:.2f} ({'within' if with_consoles >= 0.9 * none else 'NOT within'}"
                  " 10 % of none)")
        finally:
            if listener is not None:
                stop.set()
                listener.join(10)
                if listener.is_alive():
                    listener.terminate()
            fed.stop()
            b.stop()
            a.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--items", type=int, default=10_000, help="items stored for the page loads")
    ap.add_argument("--stix", type=int, default=5_000, help="STIX objects stored for the page loads")
    ap.add_argument("--fed-items", type=int, default=10_000, help="items shared per federation run")
    ap.add_argument("--quick", action="store_true", help="3 s per rate and 3,000 items per federation run "
                    "(the page loads keep their 10,000 items and 5,000 STIX objects)")
    ap.add_argument("--only", choices=("latency", "pages", "federation"))
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.fed_items = 3.0, 3000
    if args.only in (None, "pages"):
        page_loads(args.items, args.stix)
    if args.only in (None, "federation"):
        federation_with_consoles(args.fed_items)
    if args.only in (None, "latency"):
        latency(args)


def latency(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="accord-console-bench-"))
    node = Node.init(tmp / "jpn", "JPN")
    ensure_schema(node.conn, TOKENS_DDL)
    token = create_token(node.conn, "bench", "JPN", {"items:read"})
    marking = Marking.parse("SECRET//REL TO JPN, KOR")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        with Served(create_app(node)) as served, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"{served.url}/console/login")
            page.fill("#token", token)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{served.url}/console/")
            page.wait_for_selector("#live.on", state="attached")  # not wait_for_function: the CSP forbids eval
            page.evaluate(OBSERVER)
            n = 0
            for rate in args.rates:
                stored: dict[str, float] = {}
                start = time.perf_counter()
                for k in range(int(rate * args.seconds)):
                    due = start + k / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    n += 1
                    item = new_item("warning.track", {"track_id": f"T-{n}", "phase": "ballistic"}, marking, "JPN",
                                    node.clock.now())
                    t0 = time.time() * 1000
                    with write_lock(node):
                        node.put_item(item)
                    stored[item.id] = t0
                deadline = time.time() + 10
                while time.time() < deadline:
                    seen = page.evaluate("() => window.__seen")
                    if all(i in seen for i in stored):
                        break
                    time.sleep(0.2)
                lat = [seen[i] - t0 for i, t0 in stored.items() if i in seen]
                print(f"{rate:4d} items/s for {args.seconds:g} s: {len(lat)}/{len(stored)} drawn; "
                      f"store → drawn p50 {percentile(lat, 0.5):.0f} ms, p99 {percentile(lat, 0.99):.0f} ms"
                      if lat else f"{rate} items/s: nothing drawn")
            browser.close()
    finally:
        node.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
