#!/usr/bin/env python3
"""Is the boost-phase track's covariance honest? NEES of boosting tracks against the truth.

For scenarios with truth (``events.jsonl``, ``truth.jsonl``, ``detections.jsonl``) and seeded
random salvos (``accord.warning.sim``, sample radars), the tracker is run
(``accord.warning.pipeline.track_detections``) and every confirmed track's state is recorded at
each whole second (``Tracker.confirmed_tracks``' times): the IMM's combined state and 6×6
covariance — what the reports and the boost predictions get — and the boost model's own, with the
track's boost-model probability (at its last update) and whether its burnout is latched. Each
state is put to the missile whose true position (at that whole second, where the truth is
sampled) is nearest, within 20 km; only states whose missile is still in its boost
(``launch_t ≤ t < burnout_t``) and whose track is not latched count.

Per bin of fraction of the burn (``(t − launch) / (burnout − launch)``) and of seconds before
burnout: the velocity and position NEES (3 degrees of freedom: mean 3, median 2.37, 95 % inside
χ²₃ 7.81), the missiles they come from, and per axis of the missile's own frame — along the true
velocity, across it in the flight plane ("up"), across the plane — the RMS error, the RMS σ the
filter reports and the mean of (error / σ)² (1 when honest, below 1 when the σ is pessimistic).
The same for the boost model alone (``--model boost``).

``--missile ID`` adds one line per recorded state of that missile's tracks (east-sea-10's M010:
the velocity error and σ per axis from 80 s after launch). ``--set key=value`` overrides a
``TrackerConfig`` field (e.g. ``--set q_boost=0.5``). Usage::

    .venv/bin/python bench/boost_nees.py --scenario ../shared/scenarios/east-sea-10 --missile M010
    .venv/bin/python bench/boost_nees.py --scenario ../shared/scenarios/east-sea-2 --salvos 1-2
    .venv/bin/python bench/boost_nees.py --scenario ../shared/scenarios/east-sea-10 --set q_boost=0.5
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from unittest import mock

import numpy as np

from accord.warning.io import read_detections, read_events, read_truth
from accord.warning.pipeline import track_detections
from accord.warning.sim import DEFAULT_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.tracking import TrackerConfig
from accord.warning.tracking.models import BOOST
from accord.warning.tracking.tracker import Tracker

CHI2_3_95 = 7.815
FRACTION_BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))
BEFORE_BURNOUT_BINS = ((-math.inf, -30.0), (-30.0, -20.0), (-20.0, -10.0), (-10.0, -5.0), (-5.0, 0.0))
AXES = ("along v", "up (in plane)", "cross-plane")


def recorded_run(sensors, det, config: TrackerConfig) -> list[tuple]:
    """Run the tracker; rows ``(t, track id, latched, μ_boost, x_c (6), P_c (6×6), x_b (6), P_b
    (6×6))`` of every confirmed track at every whole second the tracker reports."""
    rows: list[tuple] = []
    reported = Tracker.confirmed_tracks

    def recording(self, t):
        out = reported(self, t)
        idx, X, P, x, Pc = self._confirmed_at(float(t))
        ids = self._track_ids(idx)
        for q, row in enumerate(idx.tolist()):
            rows.append((float(t), ids[q], bool(self._tracks.latched[row]), float(self._tracks.mu[row, BOOST]),
                         x[q, :6].copy(), Pc[q, :6, :6].copy(), X[q, BOOST, :6].copy(), P[q, BOOST, :6, :6].copy()))
        return out

    with mock.patch.object(Tracker, "confirmed_tracks", recording):
        track_detections(sensors, det, config)
    return rows


def _frame(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rows: unit vectors along ``v``, up in the plane of ``p`` and ``v`` (⊥ v, away from the Earth's
    centre), across that plane (along ``p × v``)."""
    a = v / np.linalg.norm(v)
    c = np.cross(p, v)
    c /= np.linalg.norm(c)
    return np.array([a, np.cross(a, c), c])


def measured(rows: list[tuple], truth, events, tag: str, model: str) -> list[dict]:
    """The boosting states of ``rows`` put to their missiles: one dict per state."""
    ev = {e.id: e for e in events}
    at = {(str(m), int(round(t))): k for k, (m, t) in enumerate(zip(truth.ids, truth.t))}
    by_t: dict[int, list[int]] = {}
    for (m, t), k in at.items():
        by_t.setdefault(t, []).append(k)
    out = []
    for t, tid, latched, mu_b, xc, Pc, xb, Pb in rows:
        if latched or abs(t - round(t)) > 1e-9:
            continue
        x, P = (xb, Pb) if model == "boost" else (xc, Pc)
        ks = by_t.get(int(round(t)), [])
        if not ks:
            continue
        d = [float(np.linalg.norm(truth.state[k, :3] - x[:3])) for k in ks]
        j = int(np.argmin(d))
        if d[j] > 20_000.0:
            continue
        k = ks[j]
        m = str(truth.ids[k])
        e = ev[m]
        if not e.launch_t <= t < e.burnout_t:
            continue
        s = truth.state[k]
        err = x - s
        F = _frame(s[:3], s[3:])
        ev_, ep = F @ err[3:], F @ err[:3]
        Cv, Cp = F @ P[3:, 3:] @ F.T, F @ P[:3, :3] @ F.T
        out.append({"src": tag, "missile": m, "track": tid, "t": t, "since": t - e.launch_t,
                    "frac": (t - e.launch_t) / (e.burnout_t - e.launch_t), "before": t - e.burnout_t,
                    "mu_b": mu_b, "nees_v": float(err[3:] @ np.linalg.solve(P[3:, 3:], err[3:])),
                    "nees_p": float(err[:3] @ np.linalg.solve(P[:3, :3], err[:3])),
                    "ev": ev_, "sv": np.sqrt(np.diag(Cv)), "ep": ep, "sp": np.sqrt(np.diag(Cp))})
    return out


def summary(rs: list[dict], label: str) -> str:
    """One line: NEES of velocity and position, and velocity per axis, over states ``rs``."""
    if not rs:
        return f"  {label:<16} no states"
    nv, npos = np.array([r["nees_v"] for r in rs]), np.array([r["nees_p"] for r in rs])
    ev, sv = np.array([r["ev"] for r in rs]), np.array([r["sv"] for r in rs])
    axes = "; ".join(f"{AXES[i]} {math.sqrt(np.mean(ev[:, i] ** 2)):.1f}/{math.sqrt(np.mean(sv[:, i] ** 2)):.1f} "
                     f"({np.mean((ev[:, i] / sv[:, i]) ** 2):.2f})" for i in range(3))
    return (f"  {label:<16} {len(rs):5d} states {len({(r['src'], r['missile']) for r in rs}):3d} missiles | "
            f"v NEES mean {nv.mean():5.2f} med {np.median(nv):5.2f} in95 {100 * np.mean(nv <= CHI2_3_95):3.0f} % | "
            f"p NEES mean {npos.mean():5.2f} med {np.median(npos):5.2f} | v m/s RMS err/σ ((e/σ)²): {axes}")


def report(rs: list[dict], title: str) -> None:
    print(f"{title}: NEES 3 dof (mean 3, median 2.37, 95 % inside 7.81)")
    print(summary(rs, "all boost"))
    for a, b in FRACTION_BINS:
        print(summary([r for r in rs if a <= r["frac"] < b], f"burn {a:.1f}–{b:.1f}"))
    for a, b in BEFORE_BURNOUT_BINS:
        print(summary([r for r in rs if a <= r["before"] < b], f"{a:g}…{b:g} s"))
    per = {}
    for r in rs:
        if r["frac"] >= 0.8:
            per.setdefault((r["src"], r["missile"]), []).append(r["nees_v"])
    if per:
        pm = np.array([np.mean(v) for v in per.values()])
        print(f"  last 20 % of the burn, per-missile mean velocity NEES: median {np.median(pm):.2f}, "
              f"range {pm.min():.2f}–{pm.max():.2f} over {len(pm)} missiles; "
              f"below 3: {int(np.sum(pm < 3))}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, action="append", default=[], help="scenario directory (repeatable)")
    ap.add_argument("--salvos", default="", help="seeded random salvos on the sample radars, first-last (e.g. 1-2)")
    ap.add_argument("--salvo-missiles", type=int, default=5)
    ap.add_argument("--missile", default="", help="print this missile's states from --from-s after launch")
    ap.add_argument("--from-s", type=float, default=80.0)
    ap.add_argument("--model", choices=("combined", "boost", "both"), default="both",
                    help="the IMM's combined state (what boost predictions get), the boost model's, or both")
    ap.add_argument("--set", action="append", default=[], help="TrackerConfig field=value (JSON value)")
    a = ap.parse_args(argv)
    cfg = TrackerConfig(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)})
    runs = []
    for sc in a.scenario:
        header, det = read_detections(sc / "detections.jsonl")
        runs.append((sc.name, recorded_run(header.sensors, det, cfg), read_truth(sc / "truth.jsonl"),
                     read_events(sc / "events.jsonl")))
    if a.salvos:
        lo, hi = (int(x) for x in a.salvos.split("-"))
        for seed in range(lo, hi + 1):
            sim = simulate(ScenarioSpec(DEFAULT_SENSORS, random_launches(seed, a.salvo_missiles), seed=seed))
            runs.append((f"salvo{seed}", recorded_run(sim.header.sensors, sim.detections, cfg), sim.truth, sim.events))
    models = ("combined", "boost") if a.model == "both" else (a.model,)
    print(f"config overrides: {', '.join(a.set) or 'none'}")
    for model in models:
        every: list[dict] = []
        for tag, rows, truth, events in runs:
            rs = measured(rows, truth, events, tag, model)
            report(rs, f"{tag}, {model} state")
            every += rs
        if len(runs) > 1:
            report(every, f"all runs, {model} state")
        if a.missile:
            print(f"{a.missile}, {model} state, from {a.from_s:g} s after launch: "
                  "t since launch, track, μ_boost, v NEES, v error / σ per axis (m/s: along v, up, cross)")
            for r in every:
                if r["missile"] == a.missile and r["since"] >= a.from_s and r["src"] == runs[0][0]:
                    axes = " ".join(f"{e:+6.1f}/{s:5.1f}" for e, s in zip(r["ev"], r["sv"]))
                    print(f"  +{r['since']:6.2f} s {r['track']:>5} μ_b {r['mu_b']:.3f} v NEES {r['nees_v']:6.2f} "
                          f"p NEES {r['nees_p']:6.2f} | {axes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
