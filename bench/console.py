"""Console latency: an item stored at the node → its row drawn in the browser (issue #17).

A node (temporary directory) serves its app under uvicorn on loopback; Debian's Chromium opens the
console's overview page (which lists every new item live) through Playwright; items are stored
at a steady rate (``--rates``, items/s) for ``--seconds`` each, each stamped with the wall clock
just before ``put_item``. A MutationObserver in the page (installed through the DevTools
protocol, which the page's Content-Security-Policy does not govern) notes ``Date.now()`` when each
row appears; browser and bench read the same system clock, so the difference is the latency.
Prints p50/p99 per rate and how many rows arrived.

    .venv/bin/python bench/console.py [--rates 50 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "console"))

from console_world import Served  # noqa: E402  (the tests' loopback server)

from accord.api.app import create_app  # noqa: E402
from accord.core.items import new_item  # noqa: E402
from accord.core.markings import Marking  # noqa: E402
from accord.federation.schema import write_lock  # noqa: E402
from accord.federation.tokens import TOKENS_DDL, create_token  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
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
            page.wait_for_function("document.getElementById('live').classList.contains('on')")
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
