"""Impact-ellipse calibration per phase after burnout on seeded random salvos.

For every ballistic prediction of a track assigned to a missile: the 2-D Mahalanobis² ``d²`` of
the missile's true impact under the prediction's East-North covariance (χ²₂ under calibration:
median 1.39, mean 2), by phase after burnout (0–20, 20–60, ≥ 60 s), with the ellipse coverage
and the mean over missiles of each missile's mean ``d²`` with its standard error (one track's
predictions are correlated; their mean still has expectation 2). Then the NEES of the reported
state against the truth by time since burnout (6-D, and 3-D velocity and position: χ²₃ median
2.37, mean 3). ``--mc F`` also carries a fraction ``F`` of the 0–60 s states through the Kepler
map by 2,000 Monte-Carlo draws, to compare with the unscented transform on the same
predictions. ``--set key=value`` overrides a ``TrackerConfig`` field. ``--noise-draws N`` flies
each seed's salvo ``N`` times: the seed's own scenario, then ``N − 1`` fresh draws of the
simulator's randomness (measurement noise, missed detections, clutter; simulation seed
``1,000,000 d + seed``) on the same launches — one draw of a handful of missiles is a noisy
judge of calibration (docs/tracking.md, "Accuracy at the bound", 5).

Run: ``.venv/bin/python bench/calibration.py --seeds 1-8 [--radars sample,gap] [--mc 0.5] [--noise-draws 4]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from accord.warning.frames import EARTH_RADIUS_M, ecef_to_lla, enu_basis, lla_to_ecef
from accord.warning.pipeline import track_detections
from accord.warning.prediction import CHI2_2DOF_95, kepler_ground_arc
from accord.warning.scoring import score_tracks, scenario_seconds, true_impacts
from accord.warning.sim import DEFAULT_SENSORS, GAP_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.tracking import TrackerConfig

RADARS = {"sample": DEFAULT_SENSORS, "gap": GAP_SENSORS}
PHASES = ((0.0, 20.0), (20.0, 60.0), (60.0, math.inf))
NEES_BINS = ((-10, 0), (0, 5), (5, 10), (10, 15), (15, 20), (20, 40), (40, 60))


def _en(lat: float, lon: float, tlat: float, tlon: float) -> np.ndarray:
    return (enu_basis(lat, lon) @ (lla_to_ecef(tlat, tlon, 0.0) - lla_to_ecef(lat, lon, 0.0)))[:2]


def run_one(sim, cfg: TrackerConfig, mc: float, rng: np.random.Generator):
    """Rows ``(missile, phase s, d², MC d² or NaN)`` of the predictions and ``(since burnout,
    NEES₆, NEES velocity, NEES position)`` of the reported states, for one simulated salvo."""
    res = track_detections(sim.header.sensors, sim.detections, cfg)
    sc = score_tracks(sim.header.sensors, sim.truth, sim.events, res.tracks, res.predictions,
                      seconds=scenario_seconds(sim.detections.t))
    owner = {t: m for m, tids in sc.missile_tracks.items() for t in tids}
    bo = {e.id: e.burnout_t for e in sim.events}
    imp = true_impacts(sim.truth, sim.events)
    tix = {(m, int(round(t))): k for k, (m, t) in enumerate(zip(sim.truth.ids, sim.truth.t))}
    states = {(tr.track_id, int(round(tr.t))): tr for tr in res.tracks}
    preds, nees = [], []
    for pr in res.predictions:
        m = owner.get(pr.track_id)
        if m is None or pr.status == "boost" or pr.impact_cov_en_m2 is None:
            continue
        ph = pr.t - bo[m]
        off = _en(pr.impact_lat_deg, pr.impact_lon_deg, *imp[m])
        C = np.array(pr.impact_cov_en_m2).reshape(2, 2)
        d2mc = math.nan
        tr = states.get((pr.track_id, int(round(pr.t))))
        if mc and ph < 60.0 and tr is not None and rng.random() < mc:
            x = np.array([tr.x, tr.y, tr.z, tr.vx, tr.vy, tr.vz])
            X = x + rng.standard_normal((2000, 6)) @ np.linalg.cholesky(np.array(tr.cov).reshape(6, 6)).T
            arc = kepler_ground_arc(X[:, :3], X[:, 3:])
            ok = arc["valid"]
            la, lo, _ = ecef_to_lla(arc["impact"][ok], EARTH_RADIUS_M)
            E = ((lla_to_ecef(la, lo, 0.0) - lla_to_ecef(pr.impact_lat_deg, pr.impact_lon_deg, 0.0))
                 @ enu_basis(pr.impact_lat_deg, pr.impact_lon_deg).T)[:, :2]
            o = off - E.mean(0)
            d2mc = float(o @ np.linalg.solve(np.cov(E.T), o))
        preds.append((m, ph, float(off @ np.linalg.solve(C, off)), d2mc))
    for tr in res.tracks:
        m = owner.get(tr.track_id)
        k = tix.get((m, int(round(tr.t))))
        if m is None or k is None or tr.cov is None or not -10.0 <= tr.t - bo[m] < 60.0:
            continue
        e = np.array([tr.x, tr.y, tr.z, tr.vx, tr.vy, tr.vz]) - sim.truth.state[k]
        P = np.array(tr.cov).reshape(6, 6)
        nees.append((tr.t - bo[m], float(e @ np.linalg.solve(P, e)),
                     float(e[3:] @ np.linalg.solve(P[3:, 3:], e[3:])), float(e[:3] @ np.linalg.solve(P[:3, :3], e[:3]))))
    return preds, nees


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1-8", help="salvo seeds, first-last")
    ap.add_argument("--missiles", type=int, default=5)
    ap.add_argument("--radars", default="sample,gap")
    ap.add_argument("--mc", type=float, default=0.0, help="fraction of 0–60 s predictions checked by Monte Carlo")
    ap.add_argument("--noise-draws", type=int, default=1, help="draws of the simulator's noise per salvo (1: its own)")
    ap.add_argument("--set", action="append", default=[], help="TrackerConfig field=value (JSON value)")
    args = ap.parse_args(argv)
    lo, hi = (int(x) for x in args.seeds.split("-"))
    cfg = TrackerConfig(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    rng = np.random.default_rng(0)
    for kind in args.radars.split(","):
        preds: list[tuple] = []
        nees: list[tuple] = []
        for seed in range(lo, hi + 1):
            launches = random_launches(seed, args.missiles)
            for d in range(args.noise_draws):
                sim = simulate(ScenarioSpec(RADARS[kind], launches, seed=seed + 1_000_000 * d))
                p, n = run_one(sim, cfg, args.mc, rng)
                preds += [((seed, d),) + r for r in p]
                nees += n
        draws = f", {args.noise_draws} noise draws each" if args.noise_draws > 1 else ""
        print(f"{kind} radars, seeds {lo}–{hi}{draws}:")
        for a, b in PHASES:
            rows = [r for r in preds if a <= r[2] < b]
            if not rows:
                continue
            d2 = np.array([r[3] for r in rows])
            per: dict[tuple, list[float]] = {}
            for r in rows:
                per.setdefault((r[0], r[1]), []).append(r[3])
            pm = np.array([np.mean(v) for v in per.values()])
            se = pm.std(ddof=1) / math.sqrt(len(pm)) if len(pm) > 1 else math.nan
            line = (f"  {a:g}–{b:g} s: {len(d2)} predictions, coverage {np.mean(d2 <= CHI2_2DOF_95):.1%}, "
                    f"d² median {np.median(d2):.2f} mean {d2.mean():.2f}; per-missile mean d² {pm.mean():.2f} "
                    f"± {se:.2f} over {len(pm)} missiles (z {(pm.mean() - 2.0) / se:+.1f})")
            if args.noise_draws > 1:
                line += "; coverage per draw " + " / ".join(
                    f"{np.mean([r[3] <= CHI2_2DOF_95 for r in rows if r[0][1] == d]):.1%}" for d in range(args.noise_draws))
            mc = np.array([(r[3], r[4]) for r in rows if np.isfinite(r[4])])
            if len(mc):
                line += (f"; same {len(mc)} predictions, unscented d² median {np.median(mc[:, 0]):.2f} "
                         f"(coverage {np.mean(mc[:, 0] <= CHI2_2DOF_95):.1%}), Monte Carlo {np.median(mc[:, 1]):.2f} "
                         f"({np.mean(mc[:, 1] <= CHI2_2DOF_95):.1%})")
            print(line)
        ne = np.array(nees)
        for a, b in NEES_BINS:
            m = (ne[:, 0] >= a) & (ne[:, 0] < b)
            if m.any():
                print(f"  NEES {a:>3}…{b:<3} s after burnout ({m.sum():5d} states): 6-D median {np.median(ne[m, 1]):.2f} "
                      f"mean {ne[m, 1].mean():.2f}; velocity median {np.median(ne[m, 2]):.2f} mean {ne[m, 2].mean():.2f}; "
                      f"position median {np.median(ne[m, 3]):.2f} mean {ne[m, 3].mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
