"""Draw what an independent TAK client receives from Accord (docs/tak-picture.png).

    .venv/bin/python tools/tak_picture.py [--out docs/tak-picture.png]

Runs the small test drill (tests/exercise/data/small-drill.yaml), keeps a taky server on loopback
as the JPN node's TAK destination for USA, connects a pytak client, and plots the events that
client received — positions, types and UIDs exactly as they came off the server — with
matplotlib: missile tracks (suspect air, a red diamond as 2525 draws suspect), launch points,
impact ellipses and alerted areas. The plot is the client's view, not Accord's own map.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tak"))

from conftest import Listener, start_taky, stop_taky, wait_until  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "tak-picture.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, Polygon

    from accord.exercise.runner import run_exercise
    from accord.exercise.scenario import load_scenario
    from accord.node import Node
    from accord.tak.client import TakServer
    from accord.tak.destination import Destination, add_destination
    from accord.tak.follower import Follower

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_exercise(load_scenario(ROOT / "tests" / "exercise" / "data" / "small-drill.yaml"), work / "drill",
                     progress=False)
        taky = start_taky(work / "taky")
        try:
            node = Node.open(work / "drill" / "nodes" / "jpn")
            add_destination(node, Destination("usa", TakServer.parse(taky.url), "USA", ("warning.*",)),
                            from_start=True)
            listener, follower = Listener(taky.url), Follower(node, "usa")

            async def run() -> None:
                stop = asyncio.Event()
                lt = asyncio.create_task(listener.run(stop))
                await asyncio.sleep(0.3)
                ft = asyncio.create_task(follower.run())
                await wait_until(lambda: follower.dest.cursor >= node.ledger.size - 1 and listener.events)
                await asyncio.sleep(1.0)
                follower.stop()
                stop.set()
                await asyncio.gather(ft, lt)

            asyncio.run(run())
            node.close()
        finally:
            stop_taky(taky)
    got = listener.latest()

    def below(e) -> int:  # KOR's labels under the symbol, JPN's above: both track the one missile
        return -14 if ".KOR." in e.uid else 6

    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=110)
    for e in got.values():
        if e.type == "u-d-f":
            pts = [tuple(map(float, lk.get("point").split(","))) for lk in e.xml.findall("detail/link")]
            ax.add_patch(Polygon([(lon, lat) for lat, lon in pts], closed=True, fc=(1, 0.5, 0, 0.25),
                                 ec="darkorange", lw=1.5))
        elif e.type == "u-d-c-e":
            el = e.xml.find("detail/shape/ellipse")
            k = 1 / 111_195
            ax.add_patch(Ellipse((e.lon, e.lat), 2 * float(el.get("minor")) * k / math.cos(math.radians(e.lat)),
                                 2 * float(el.get("major")) * k, angle=-float(el.get("angle")), fc="none",
                                 ec="red", lw=1.5))
            ax.plot(e.lon, e.lat, "r+", ms=10)
            ax.annotate(e.xml.find("detail/contact").get("callsign"), (e.lon, e.lat), fontsize=8,
                        xytext=(8, below(e)), textcoords="offset points")
        elif e.type == "a-s-A-W-M-S-S":
            ax.plot(e.lon, e.lat, "D", mfc=(1, 0.5, 0.5), mec="red", ms=11)
            ax.annotate(f"{e.uid}  {e.hae / 1000:.0f} km", (e.lon, e.lat), fontsize=8, xytext=(10, below(e)),
                        textcoords="offset points")
        elif e.type == "a-s-G-E-W-M":
            ax.plot(e.lon, e.lat, "^", mfc=(1, 0.5, 0.5), mec="red", ms=11)
            ax.annotate(e.xml.find("detail/contact").get("callsign"), (e.lon, e.lat), fontsize=8,
                        xytext=(10, below(e)), textcoords="offset points")
    marks = sorted({e.marking for e in got.values() if e.marking})
    ax.set_title(f"What a TAK client received through taky: {len(got)} symbols\n" + "; ".join(marks), fontsize=10)
    ax.set_xlabel("longitude °E")
    ax.set_ylabel("latitude °N")
    ax.grid(alpha=0.3)
    ax.autoscale_view()
    ax.margins(0.15, 0.6)
    ax.set_aspect(1 / math.cos(math.radians(40)))
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}: {len(got)} symbols ({', '.join(sorted({e.type for e in got.values()}))})")


if __name__ == "__main__":
    main()
