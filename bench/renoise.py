"""Ellipse coverage over fresh draws of a scenario's measurement noise.

A scenario file holds one draw of the radar noise. With no process noise in the ballistic model
(docs/tracking.md, "Accuracy at the bound") a missile's late impact error is nearly one draw for
its whole arc — hundreds of predictions, all inside or all outside their ellipses together — so
one file's coverage ≥ 60 s after burnout says little about calibration when it holds two
missiles. This bench keeps everything of the scenario (detection times, sensors, missed
detections, clutter) but replaces the noise of each detection that comes from a missile (within
6 σ per coordinate of the truth there: truth Hermite-interpolated from its 1 s samples, exactly
propagated on the Kepler arc after burnout) by a fresh Gaussian draw, ``--draws`` times, and
reports the 95 % ellipse coverage per phase pooled over the draws and per missile ≥ 60 s after
burnout (with the median Mahalanobis² of the true impact; χ²₂'s median is 1.39).
``--ballistic-only`` re-draws only the detections after burnout, so the boost-phase draw — the
error the track carries through the latch — stays the file's.

Run: ``.venv/bin/python bench/renoise.py --scenario ../shared/scenarios/east-sea-2 --draws 16``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from accord.warning.frames import ecef_to_rae, enu_basis, lla_to_ecef
from accord.warning.io import Detections, read_detections, read_events, read_truth
from accord.warning.pipeline import track_detections
from accord.warning.scoring import PHASE_BINS_S, score_tracks, scenario_seconds, true_impacts
from accord.warning.tracking.models import propagate_mean


def _truth_position(T: np.ndarray, S: np.ndarray, ballistic: np.ndarray, t: float) -> np.ndarray | None:
    """One missile's true position at ``t`` from its samples ``(T, S)``: the Kepler step from the
    sample before on the ballistic arc, a cubic Hermite between samples in the boost."""
    i = int(np.searchsorted(T, t)) - 1
    if i < 0 or i + 1 >= len(T):
        return None
    if ballistic[i]:
        X = np.zeros((1, 2, 9))
        X[0, :, :6] = S[i]
        for _ in range(10):
            X = propagate_mean(X, (t - T[i]) / 10)
        return X[0, 1, :3]
    h = T[i + 1] - T[i]
    u = (t - T[i]) / h
    return ((2 * u**3 - 3 * u**2 + 1) * S[i, :3] + (u**3 - 2 * u**2 + u) * h * S[i, 3:]
            + (-2 * u**3 + 3 * u**2) * S[i + 1, :3] + (u**3 - u**2) * h * S[i + 1, 3:])


def missile_detections(header, det: Detections, truth, ballistic_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(owned, z_true)``: which detections come from a missile and their noise-free values."""
    sig = np.array([[s.sigma_range_m, s.sigma_az_rad, s.sigma_el_rad] for s in header.sensors])
    ids = np.asarray(truth.ids)
    owned = np.zeros(len(det), bool)
    z_true = np.zeros((len(det), 3))
    rae = det.rae
    for mid in sorted(set(truth.ids)):
        k = np.flatnonzero(ids == mid)
        T, S, ball = truth.t[k], truth.state[k], truth.phase[k] == "ballistic"
        for j in np.flatnonzero((det.t >= T[0]) & (det.t <= T[-1]) & ~owned):
            i = int(np.searchsorted(T, det.t[j])) - 1
            if ballistic_only and (i < 0 or not ball[i]):
                continue
            p = _truth_position(T, S, ball, float(det.t[j]))
            if p is None:
                continue
            s = header.sensors[det.sensor_idx[j]]
            z = ecef_to_rae(p, s.ecef, s.basis)
            d = rae[j] - z
            d[1] = (d[1] + np.pi) % (2 * np.pi) - np.pi
            if np.all(np.abs(d / sig[det.sensor_idx[j]]) < 6.0):
                owned[j] = True
                z_true[j] = z
    return owned, z_true


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, required=True)
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="first noise seed")
    ap.add_argument("--max-time", type=float, default=600.0)
    ap.add_argument("--ballistic-only", action="store_true", help="keep the file's boost-phase noise")
    args = ap.parse_args(argv)
    header, det = read_detections(args.scenario / "detections.jsonl")
    det = det.until(args.max_time)
    truth = read_truth(args.scenario / "truth.jsonl")
    events = read_events(args.scenario / "events.jsonl")
    ev = {e.id: e for e in events}
    impact = true_impacts(truth, events)
    sig = np.array([[s.sigma_range_m, s.sigma_az_rad, s.sigma_el_rad] for s in header.sensors])
    owned, z_true = missile_detections(header, det, truth, args.ballistic_only)
    print(f"{args.scenario.name} (t ≤ {args.max_time:g} s): {owned.sum()} of {len(det)} detections re-drawn "
          f"({'after burnout only' if args.ballistic_only else 'all missile detections'}), {args.draws} draws")
    n_ph = np.zeros(len(PHASE_BINS_S) - 1)
    in_ph = np.zeros(len(PHASE_BINS_S) - 1)
    late: dict[str, list[np.ndarray]] = {m: [] for m in sorted(ev)}
    for k in range(args.draws):
        rng = np.random.default_rng(args.seed + k)
        rae = det.rae.copy()
        rae[owned] = z_true[owned] + rng.standard_normal((int(owned.sum()), 3)) * sig[det.sensor_idx[owned]]
        rae[owned, 1] %= 2 * np.pi
        d = Detections.from_arrays(det.t, det.sensor_idx, rae, det.sensor_ids)
        res = track_detections(header.sensors, d)
        s = score_tracks(header.sensors, truth, events, res.tracks, res.predictions, seconds=scenario_seconds(d.t))
        for i, p in enumerate(s.phase_coverage):
            if p.n:
                n_ph[i] += p.n
                in_ph[i] += p.n * p.ellipse_coverage
        owner = {t: m for m, tids in s.missile_tracks.items() for t in tids}
        row = []
        for m in late:
            ilat, ilon = impact[m]
            d2 = []
            for pr in res.predictions:
                if owner.get(pr.track_id) != m or pr.status == "boost" or pr.impact_cov_en_m2 is None:
                    continue
                if pr.t - ev[m].burnout_t < PHASE_BINS_S[-2]:
                    continue
                off = enu_basis(pr.impact_lat_deg, pr.impact_lon_deg) @ (
                    lla_to_ecef(ilat, ilon, 0.0) - lla_to_ecef(pr.impact_lat_deg, pr.impact_lon_deg, 0.0))
                C = np.array(pr.impact_cov_en_m2).reshape(2, 2)
                d2.append(float(off[:2] @ np.linalg.solve(C, off[:2])))
            a = np.array(d2)
            late[m].append(a)
            if len(a):
                row.append(f"{m} {np.mean(a <= 5.991):.0%} (median d² {np.median(a):.2f})")
        cov = ", ".join(f"{p.ellipse_coverage:.0%} of {p.n}" for p in s.phase_coverage)
        print(f"  draw {args.seed + k}: coverage per phase {cov}; tracks per missile {s.tracks_per_missile:.2f}, "
              f"switches {s.identity_switches}; ≥ {PHASE_BINS_S[-2]:g} s: {', '.join(row)}", flush=True)
    lo = PHASE_BINS_S[:-1]
    print("pooled 95 % ellipse coverage per phase after burnout: " + ", ".join(
        f"≥ {lo[i]:g} s {in_ph[i] / n_ph[i]:.1%} of {n_ph[i]:.0f}" if i == len(lo) - 1 else
        f"{lo[i]:g}–{PHASE_BINS_S[i + 1]:g} s {in_ph[i] / n_ph[i]:.1%} of {n_ph[i]:.0f}"
        for i in range(len(lo)) if n_ph[i]))
    for m, rows in late.items():
        per = [float(np.mean(r <= 5.991)) for r in rows if len(r)]
        a = np.concatenate(rows) if rows else np.zeros(0)
        if len(a):
            print(f"  {m} ≥ {lo[-1]:g} s: {np.mean(a <= 5.991):.1%} of {len(a)}, median d² {np.median(a):.2f}; "
                  f"per draw {min(per):.0%}–{max(per):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
