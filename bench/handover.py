"""What each IMM model's covariance says about the impact, from before burnout to the latch.

For every confirmed track not yet latched ballistic, after every scan (and at the scan that
latches it): the impact-projected NEES of the ballistic model, the boost model and their
moment-matched mixture against the missile's true state — ``e = J (x̂ − x)``, ``S = J P Jᵀ``,
``d² = eᵀ S⁻¹ e`` with ``J`` the 2×6 Jacobian of the Kepler impact point (East, North) at the
true state (central differences). Under calibration ``d²`` is χ²₂, mean 2, whatever the
correlation between one track's successive states, so each missile's mean over a bin of time
since burnout is one draw with mean 2; the bench prints their average ± standard error per bin,
with the 3-D velocity NEES (χ²₃, mean 3) and the median boost-mode probability; and, 0–10 s
after each track's latch (the burnout-time bank's state, then the latch term), the latched state's ``d²`` and 6-D
NEES (χ²₆). It shows where the width of the 0–20 s ellipses is made: the IMM's ballistic model is
re-seeded from the boost model just after burnout, and the latch replaces it by the bank's state
(``--set burnout_bank_s=0``: the ballistic model's own; docs/tracking.md, "Accuracy at the bound", 6.).

Run: ``.venv/bin/python bench/handover.py --seeds 1-8 [--radars sample,gap] [--set key=value]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from unittest import mock

import numpy as np

from accord.warning.pipeline import track_detections
from accord.warning.prediction import kepler_ground_arc
from accord.warning.scoring import score_tracks, scenario_seconds
from accord.warning.sim import DEFAULT_SENSORS, GAP_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.tracking import TrackerConfig
from accord.warning.tracking.tracker import Tracker

RADARS = {"sample": DEFAULT_SENSORS, "gap": GAP_SENSORS}
BINS = ((-10, -5), (-5, 0), (0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 20))
LATCH_BINS = ((0, 2), (2, 5), (5, 10))


def impact_jacobian(x: np.ndarray) -> np.ndarray:
    """2×6 Jacobian of the Kepler impact point (East, North at the nominal impact) of ``x``."""
    h = np.r_[np.full(3, 10.0), np.full(3, 0.1)]
    X = np.vstack([x, x + np.diag(h), x - np.diag(h)])
    imp = kepler_ground_arc(X[:, :3], X[:, 3:])["impact"]
    up = imp[0] / np.linalg.norm(imp[0])
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    B = np.vstack([east, np.cross(up, east)])
    return ((imp[1:7] - imp[7:13]) @ B.T / (2.0 * h[:, None])).T


def truth_at(sim, m: str, t: float) -> np.ndarray:
    """The missile's true (p, v) at ``t`` from the simulator's own flight (its integration
    steps, Hermite-interpolated with their accelerations: exact in the boost too, where the
    1 s truth samples carried by the ballistic step would drop up to 0.5 s of thrust)."""
    f = next(f for f in sim.flights if f.spec.id == m)
    return f.state_at(np.array([t]))[0, :6]


def run_one(sim, cfg: TrackerConfig) -> list[dict]:
    """Rows (missile, time since burnout, boost probability, d² and velocity NEES per model)."""
    snaps: list[tuple] = []
    orig = Tracker.process_validated
    first: dict[int, float] = {}

    def hooked(self, t, s, z):
        orig(self, t, s, z)
        tr = self._tracks
        for n in np.flatnonzero(tr.confirmed & (tr.id > 0)):
            tid = int(tr.id[n])
            lt = None
            if tr.latched[n]:
                lt = first.setdefault(tid, t)
                if t - lt >= LATCH_BINS[-1][1]:
                    continue
            snaps.append((t, tid, tr.X[n].copy(), tr.P[n].copy(), tr.mu[n].copy(), lt))

    with mock.patch.object(Tracker, "process_validated", hooked):
        res = track_detections(sim.header.sensors, sim.detections, cfg)
    sc = score_tracks(sim.header.sensors, sim.truth, sim.events, res.tracks, res.predictions,
                      seconds=scenario_seconds(sim.detections.t))
    owner = {tid: m for m, tids in sc.missile_tracks.items() for tid in tids}
    burnout = {e.id: e.burnout_t for e in sim.events}
    rows = []
    for t, tid, X, P, mu, lt in snaps:
        m = owner.get(f"T{tid}")
        if m is None:
            continue
        if lt is not None:
            x = truth_at(sim, m, t)
            J = impact_jacobian(x)
            e = X[0, :6] - x
            ei = J @ e
            rows.append({"missile": m, "latched": t - lt, "since": t - burnout[m],
                         "ballistic": float(ei @ np.linalg.solve(J @ P[0, :6, :6] @ J.T, ei)),
                         "nees6": float(e @ np.linalg.solve(P[0, :6, :6], e))})
            continue
        if not BINS[0][0] <= t - burnout[m] < BINS[-1][1]:
            continue
        x = truth_at(sim, m, t)
        J = impact_jacobian(x)
        d = X[0, :6] - X[1, :6]
        models = {"ballistic": (X[0, :6], P[0, :6, :6]), "boost": (X[1, :6], P[1, :6, :6]),
                  "mixture": (mu[0] * X[0, :6] + mu[1] * X[1, :6],
                              mu[0] * P[0, :6, :6] + mu[1] * P[1, :6, :6] + mu[0] * mu[1] * np.outer(d, d))}
        row = {"missile": m, "since": t - burnout[m], "mu_boost": float(mu[1])}
        for name, (xm, Pm) in models.items():
            e = xm - x
            ei = J @ e
            row[name] = float(ei @ np.linalg.solve(J @ Pm @ J.T, ei))
            row[name + "_v"] = float(e[3:] @ np.linalg.solve(Pm[3:, 3:], e[3:]))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1-8", help="salvo seeds, first-last")
    ap.add_argument("--missiles", type=int, default=5)
    ap.add_argument("--radars", default="sample,gap")
    ap.add_argument("--set", action="append", default=[], help="TrackerConfig field=value (JSON value)")
    args = ap.parse_args(argv)
    lo, hi = (int(x) for x in args.seeds.split("-"))
    cfg = TrackerConfig(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    for kind in args.radars.split(","):
        rows = []
        for seed in range(lo, hi + 1):
            sim = simulate(ScenarioSpec(RADARS[kind], random_launches(seed, args.missiles), duration=400.0, seed=seed))
            rows += [{**r, "seed": seed} for r in run_one(sim, cfg)]
        print(f"{kind} radars, seeds {lo}–{hi}: impact-projected d² per model (χ²₂: mean 2), per-missile "
              f"means averaged ± s.e.; velocity NEES (χ²₃: mean 3)")
        for a, b in BINS:
            per: dict[tuple, list[dict]] = {}
            for r in rows:
                if "latched" not in r and a <= r["since"] < b:
                    per.setdefault((r["seed"], r["missile"]), []).append(r)
            if len(per) < 2:
                continue

            def avg(key: str) -> str:
                v = np.array([np.mean([r[key] for r in rs]) for rs in per.values()])
                return f"{v.mean():5.2f} ± {v.std(ddof=1) / np.sqrt(len(v)):.2f}"

            mub = np.median([r["mu_boost"] for rs in per.values() for r in rs])
            print(f"  {a:>4}…{b:<3} s after burnout, {len(per):3d} missiles, boost prob. {mub:.3f}: "
                  f"d² ballistic {avg('ballistic')}, boost {avg('boost')}, mixture {avg('mixture')}; "
                  f"velocity NEES ballistic {avg('ballistic_v')}, boost {avg('boost_v')}")
        for a, b in LATCH_BINS:
            per = {}
            for r in rows:
                if "latched" in r and a <= r["latched"] < b:
                    per.setdefault((r["seed"], r["missile"]), []).append(r)
            if len(per) < 2:
                continue
            v = np.array([np.mean([r["ballistic"] for r in rs]) for rs in per.values()])
            w = np.array([np.mean([r["nees6"] for r in rs]) for rs in per.values()])
            print(f"  latched {a:>2}…{b:<2} s, {len(per):3d} missiles: d² {v.mean():5.2f} ± "
                  f"{v.std(ddof=1) / np.sqrt(len(v)):.2f}, 6-D NEES (χ²₆: 6) {w.mean():5.2f} ± "
                  f"{w.std(ddof=1) / np.sqrt(len(w)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
