"""The alert path of ``accord warning ingest`` offline: the bench scene's predictions, made by the
live tracker scan by scan as the ingest makes them, fed to the alert engine as the ingest's
alert thread feeds them (:meth:`accord.feeds.ingest.Ingest.alert`, the engine's snapshot at
each commit). CPU seconds of the alert path, and a digest of every message and of the engine's
state, so that two versions of the engine can be compared for speed and for byte-identical
decisions:

    .venv/bin/python bench/alert_replay.py --missiles 20 --clutter 40
    .venv/bin/python bench/alert_replay.py --missiles 20 --clutter 40 --profile 25

The tracker's work (the slow part of building the input) is kept in ``--cache`` (default a file
in the system's temporary directory, per scene), so that repeated runs time only the alert path.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import json
import math
import os
import pickle
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accord.feeds.scans import scans_of  # noqa: E402
from accord.warning.alerts import AlertEngine, AlertRules, Geography  # noqa: E402
from accord.warning.alerts.engine import DEFAULT_EPOCH  # noqa: E402
from accord.warning.live import LiveTracker  # noqa: E402
from accord.warning.sim import random_scenario, simulate  # noqa: E402

#: the ingest's alert thread commits (and snapshots the engine) after this many scans' work when
#: it has a backlog, as in the throughput run (``AlertPath.COMMIT_S`` of work, ~10 scans)
COMMIT_EVERY = 10


def tracker_work(missiles: int, seed: int, clutter: float | None) -> list:
    """Each scan's alert work as :meth:`Ingest.track` hands it on: (predictions, seconds)."""
    sim = simulate(random_scenario(seed, missiles, clutter_per_scan=clutter))
    live = LiveTracker(sim.header.sensors)
    work = []
    for s in scans_of(sim.detections):
        out = live.process(s.t, s.sensor, s.plots)
        if out.seconds:
            work.append((list(out.predictions), list(out.seconds)))
    return work


@functools.lru_cache(maxsize=None)
def _geography(party: str) -> Geography:
    return Geography.load(None, parties=[party])   # loaded once, before any timing (as the ingest does)


def replay(work: list, party: str) -> tuple[float, str, int, int]:
    """Feed the work as the alert thread does; (CPU s, digest, messages, predictions)."""
    engine = AlertEngine(AlertRules(party=party), _geography(party), f"accord.{party.lower()}.example",
                         "Exercise", epoch=DEFAULT_EPOCH)
    h = hashlib.sha256()
    clock: float | None = None
    n_msg = n_pred = 0
    c0 = time.process_time()
    for i, (preds, seconds) in enumerate(work):
        out = []
        for q in sorted(preds, key=lambda p: (p.t, p.track_id)):
            if clock is None:
                clock = float(math.floor(q.t))
            while clock + 1.0 <= q.t:
                clock += 1.0
                out.extend(engine.on_time(clock))
            out.extend(engine.on_prediction(q, q.t))
        if seconds and clock is not None:
            while clock + 1.0 <= float(seconds[-1]):
                clock += 1.0
                out.extend(engine.on_time(clock))
        n_pred += len(preds)
        for m in out:
            item = m.to_item()
            h.update(m.xml)
            h.update(item.id.encode())
            n_msg += 1
        if (i + 1) % COMMIT_EVERY == 0 or i == len(work) - 1:
            snap = json.dumps(engine.snapshot(), sort_keys=True)
            h.update(snap.encode())
    cpu = time.process_time() - c0
    return cpu, h.hexdigest(), n_msg, n_pred


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--missiles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clutter", type=float, default=40.0)
    ap.add_argument("--party", default="JPN")
    ap.add_argument("--repeat", type=int, default=1, help="replay this many times (fresh engine each)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile one replay, print the top N")
    ap.add_argument("--cache", default=None, help="file keeping the tracker's work between runs")
    args = ap.parse_args()
    cache = Path(args.cache or Path(tempfile.gettempdir())
                 / f"accord-alert-replay-{args.missiles}-{args.seed}-{args.clutter}.pkl")
    if cache.exists():
        work = pickle.loads(cache.read_bytes())
    else:
        work = tracker_work(args.missiles, args.seed, args.clutter)
        cache.write_bytes(pickle.dumps(work))
    replay(work[:50], args.party)   # warm (imports, geography, PROJ)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        cpu, digest, n_msg, n_pred = replay(work, args.party)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
        print(f"profiled: CPU {cpu:.2f} s (inflated by the profiler), {n_msg} messages, digest {digest[:16]}")
        return
    for _ in range(args.repeat):
        cpu, digest, n_msg, n_pred = replay(work, args.party)
        print(f"alert path: {n_pred:,} predictions, {n_msg} messages, CPU {cpu:.2f} s = "
              f"{1e6 * cpu / max(n_pred, 1):.0f} µs a prediction; digest {digest[:16]}; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
