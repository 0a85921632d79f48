"""Accord's tracker and Stone Soup 1.9.1 on the same scenario, scored by Accord's scoring code.

Stone Soup is a bench-only dependency (never an Accord dependency)::

    .venv/bin/pip install stonesoup==1.9.1        # or: pip install -e '.[bench]'
    .venv/bin/python bench/tracking.py                          # east-sea-2, tuned defaults
    .venv/bin/python bench/tracking.py --scenario ../shared/scenarios/east-sea-10 --max-time 300
    .venv/bin/python bench/tracking.py --sweep --max-time 200   # sweep Stone Soup's settings

The Stone Soup side is tuned as issue #5 asks: an extended Kalman filter on a 9-state
constant-acceleration model in ECEF (x, ẋ, ẍ per axis; ``ConstantAcceleration`` with noise
diffusion coefficient ``q``), each radar a ``CartesianToElevationBearingRange`` model translated
to the site and rotated from ECEF to the site's East-North-Up frame (rotation offset
``[π/2 − lat, 0, π/2 + lon]``, checked equal to :func:`accord.warning.frames.enu_basis`);
measurements converted from the file's azimuth (clockwise from north) to Stone Soup's bearing
(counter-clockwise from east/x): ``bearing = π/2 − az``. Mahalanobis gating
(``DistanceHypothesiser(missed_distance=gate)``), ``GNNWith2DAssignment``,
``MultiMeasurementInitiator(min_points=points)`` and ``UpdateTimeDeleter(deletion s)`` for
confirmed tracks; the initiator's tentative tracks are dropped after ``--hold`` s (default 3 s:
every radar revisits within 2 s) so that clutter does not pile up tentative tracks.
Defaults are the best settings the issue reports (east-sea-2: 3 points, gate 4, 12 s;
east-sea-10: 5 points, gate 5, 4 s, q 3).

Both trackers report, at every whole second, the confirmed tracks predicted to that second after
every scan at or before it (causal output). Throughput is detections per CPU second of the
tracking loop only (file reading and Stone Soup's per-detection object construction excluded);
CPU time rather than wall time because the bench machine is shared (wall figures printed too);
Accord's run (~0.1 s on east-sea-10 to 200 s) is timed ``--repeat`` times (5), the median kept, as a
single short run reads a few ms of whatever else the machine does (Stone Soup's run lasts minutes).
``--max-time T`` truncates both runs identically to detections with ``t ≤ T`` and scores the same
seconds.

Beside GOSPA each run prints track continuity — confirmed tracks per missile (fragmentation) and
identity switches (``accord.warning.scoring``) — and the 95 % impact-ellipse coverage per phase
since burnout. Then Accord alone on seeded random salvos (``--salvos N`` seeds of
``--salvo-missiles`` missiles) under the sample radars and under :data:`accord.warning.sim.GAP_SENSORS`
(a mid-course coverage gap and a hand-over from the Korean to the Japanese radars), and its
position RMSE against the posterior Cramér–Rao bound (``bench/crlb.py``, ``--crlb-runs`` Monte-Carlo
runs). ``--quick`` is the reduced mode for a shared machine: east-sea-2 up to 200 s, 2 salvos of
each kind, 3 Monte-Carlo runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from accord.warning.io import Detections, DetectionsHeader, read_detections, read_events, read_truth
from accord.warning.scoring import Score, scenario_seconds, score_tracks
from accord.warning.sim import DEFAULT_SENSORS, GAP_SENSORS, ScenarioSpec, random_launches, simulate
from accord.warning.types import TrackState

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO.parent / "shared" / "scenarios"
EPOCH = datetime(2026, 1, 1)

#: Stone Soup settings the issue reports as its best per scenario (points, gate, deletion s, q).
BEST = {"east-sea-2": (3, 4.0, 12.0, 1.0), "east-sea-10": (5, 5.0, 4.0, 3.0)}
DEFAULT_SETTINGS = (3, 4.0, 12.0, 1.0)
#: Prior standard deviations for a new track's unmeasured velocity and acceleration.
PRIOR_VEL_SD = 1500.0
PRIOR_ACC_SD = 30.0


@dataclass(frozen=True)
class Run:
    name: str
    settings: str
    seconds: float       # CPU seconds of the tracking loop (process time)
    wall: float          # wall-clock seconds of the same
    n_detections: int
    score: Score

    @property
    def det_per_s(self) -> float:
        """Detections per CPU second (robust to other load on a shared machine)."""
        return self.n_detections / self.seconds if self.seconds > 0 else math.inf

    @property
    def det_per_wall_s(self) -> float:
        return self.n_detections / self.wall if self.wall > 0 else math.inf


class Timer:
    """CPU (process) time and wall time of a block."""

    def __enter__(self) -> "Timer":
        self.c0, self.w0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu = time.process_time() - self.c0
        self.wall = time.perf_counter() - self.w0


# --------------------------------------------------------------------------------------------
def run_accord(header: DetectionsHeader, det: Detections, repeat: int = 1) -> tuple[list[TrackState], list, Timer]:
    """Accord's tracks and predictions of ``det`` and the run's time: with ``repeat`` > 1 the
    median CPU and wall time of that many identical runs (a run of ~0.1 s is timed apart from
    whatever else the machine does for a few ms; the long Stone Soup run averages that out)."""
    from accord.warning.pipeline import track_detections

    if len(det):  # warm-up (imports, caches) outside the timing, as Stone Soup's imports are
        from accord.warning.tracking import warm_up

        warm_up()   # numba kernels and the boost-phase hypothesis banks (built once per process)
        track_detections(header.sensors, det.until(float(det.t[0]) + 30.0))
    times = []
    for _ in range(max(1, repeat)):
        with Timer() as tm:
            res = track_detections(header.sensors, det)
        times.append(tm)
    tm.cpu = statistics.median(x.cpu for x in times)
    tm.wall = statistics.median(x.wall for x in times)
    if repeat > 1:
        cpus = sorted(x.cpu for x in times)
        print(f"accord      {repeat} identical runs: CPU median {tm.cpu * 1e3:.1f} ms "
              f"(min {cpus[0] * 1e3:.1f}, max {cpus[-1] * 1e3:.1f})", flush=True)
    return res.tracks, res.predictions, tm


def stonesoup_components(header: DetectionsHeader, points: int, gate: float, deletion_s: float, q: float,
                         hold_s: float):
    """The tuned Stone Soup pieces: (measurement models per sensor, tracker factory, predictor)."""
    from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
    from stonesoup.deleter.time import UpdateTimeDeleter
    from stonesoup.hypothesiser.distance import DistanceHypothesiser
    from stonesoup.initiator.simple import MultiMeasurementInitiator
    from stonesoup.measures import Mahalanobis
    from stonesoup.models.measurement.nonlinear import CartesianToElevationBearingRange
    from stonesoup.models.transition.linear import (
        CombinedLinearGaussianTransitionModel,
        ConstantAcceleration,
    )
    from stonesoup.predictor.kalman import ExtendedKalmanPredictor
    from stonesoup.types.array import CovarianceMatrix, StateVector
    from stonesoup.types.state import GaussianState
    from stonesoup.updater.kalman import ExtendedKalmanUpdater

    models = []
    for s in header.sensors:
        models.append(CartesianToElevationBearingRange(
            ndim_state=9, mapping=(0, 3, 6),
            noise_covar=CovarianceMatrix(np.diag([s.sigma_el_rad**2, s.sigma_az_rad**2, s.sigma_range_m**2])),
            translation_offset=StateVector(np.asarray(s.ecef_m, dtype=float).reshape(3, 1)),
            rotation_offset=StateVector([[math.pi / 2 - math.radians(s.lat_deg)], [0.0],
                                         [math.pi / 2 + math.radians(s.lon_deg)]])))
    transition = CombinedLinearGaussianTransitionModel([ConstantAcceleration(q)] * 3)
    predictor = ExtendedKalmanPredictor(transition)
    updater = ExtendedKalmanUpdater(measurement_model=None)
    hyp = DistanceHypothesiser(predictor, updater, measure=Mahalanobis(), missed_distance=gate)
    prior = GaussianState(StateVector(np.zeros((9, 1))),
                          CovarianceMatrix(np.diag([0.0, PRIOR_VEL_SD**2, PRIOR_ACC_SD**2] * 3)))

    def make_tracker(detector):
        from stonesoup.tracker.simple import MultiTargetTracker

        deleter = UpdateTimeDeleter(time_since_update=timedelta(seconds=deletion_s))
        initiator = MultiMeasurementInitiator(
            prior_state=prior, deleter=UpdateTimeDeleter(time_since_update=timedelta(seconds=hold_s)),
            data_associator=GNNWith2DAssignment(hyp), updater=updater, min_points=points)
        return MultiTargetTracker(initiator=initiator, deleter=deleter, detector=detector,
                                  data_associator=GNNWith2DAssignment(hyp), updater=updater)

    return models, make_tracker, predictor


def run_stonesoup(header: DetectionsHeader, det: Detections, points: int, gate: float,
                  deletion_s: float, q: float, hold_s: float = 3.0,
                  progress: bool = False) -> tuple[list[TrackState], Timer]:
    from stonesoup.types.angle import Bearing, Elevation
    from stonesoup.types.array import StateVector
    from stonesoup.types.detection import Detection

    models, make_tracker, predictor = stonesoup_components(header, points, gate, deletion_s, q, hold_s)
    # one scan = a run of detections with the same time and radar
    n = len(det)
    starts = np.flatnonzero(np.r_[True, (np.diff(det.t) != 0) | (np.diff(det.sensor_idx) != 0)]) if n else []
    ends = np.r_[starts[1:], n] if n else []
    scans = []
    for a, b in zip(starts, ends):
        ts = EPOCH + timedelta(seconds=float(det.t[a]))
        model = models[int(det.sensor_idx[a])]
        dets = {Detection(StateVector([[Elevation(float(det.el_rad[i]))],
                                       [Bearing(math.pi / 2 - float(det.az_rad[i]))],
                                       [float(det.range_m[i])]]),
                          timestamp=ts, measurement_model=model) for i in range(a, b)}
        scans.append((ts, dets))
    scan_t = [float(det.t[a]) for a in starts]
    tracker = make_tracker(iter(scans))
    out: list[TrackState] = []
    idx6 = [0, 3, 6, 1, 4, 7]

    def emit(w: int) -> None:
        wt = EPOCH + timedelta(seconds=w)
        for trk in tracker.tracks:
            st = predictor.predict(trk.state, timestamp=wt)
            x = np.asarray(st.state_vector, dtype=float).reshape(-1)[idx6]
            P = np.asarray(st.covar, dtype=float)[np.ix_(idx6, idx6)]
            out.append(TrackState(float(w), f"S{id(trk) % 10**8}", *x.tolist(), cov=tuple(P.reshape(-1).tolist())))

    t0 = time.perf_counter()
    next_w = math.ceil(scan_t[0]) if scan_t else 0
    tm = Timer().__enter__()
    for k, (_t, _tracks) in enumerate(tracker):
        nxt = scan_t[k + 1] if k + 1 < len(scan_t) else scan_t[-1] + 1e-9
        while next_w < nxt and next_w <= scan_t[-1]:
            emit(next_w)
            next_w += 1
        if progress and k % 200 == 0:
            el = time.perf_counter() - t0
            print(f"  stone soup: t={scan_t[k]:.0f} s, {int(ends[k])} detections, {el:.0f} s",
                  file=sys.stderr, flush=True)
    tm.__exit__()
    return out, tm


# --------------------------------------------------------------------------------------------
def load(scenario: Path, max_time: float | None):
    header, det = read_detections(scenario / "detections.jsonl")
    if max_time is not None:
        det = det.until(max_time)
    return header, det, read_truth(scenario / "truth.jsonl"), read_events(scenario / "events.jsonl")


def score(header, det, truth, events, tracks, preds) -> Score:
    return score_tracks(header.sensors, truth, events, tracks, preds, seconds=scenario_seconds(det.t))


def fmt_row(r: Run) -> str:
    s = r.score
    return (f"{r.name:<11} {r.settings:<28} GOSPA {s.gospa_mean_m:8.0f} m  (loc {s.localisation_m:6.0f}, "
            f"missed {s.missed_m:6.0f}, false {s.false_m:6.0f})  RMSE {s.position_rmse_m:7.0f} m  "
            f"{r.det_per_s:9.0f} det/CPU-s ({r.det_per_wall_s:.0f} det/wall-s)")


def _phases(phases) -> str:
    """``0–20 s 74% of 31, …`` from (lo, hi, n, coverage) rows."""
    out = []
    for lo, hi, n, cov in phases:
        span = f"≥{lo:.0f} s" if hi == math.inf else f"{lo:.0f}–{hi:.0f} s"
        out.append(f"{span} {cov:.0%} of {n}" if n else f"{span} —")
    return ", ".join(out)


def identity_row(name: str, s: Score) -> str:
    """Track continuity and ellipse coverage per phase of one run."""
    most = max((len(v) for v in s.missile_tracks.values()), default=0)
    row = (f"{name:<11} tracks per missile {s.tracks_per_missile:.2f} (max {most}, "
           f"{len(s.missile_tracks)} missiles tracked), identity switches {s.identity_switches}")
    if any(p.n for p in s.phase_coverage):
        row += "; 95 % ellipse holds truth " + _phases(
            (p.lo_s, p.hi_s, p.n, p.ellipse_coverage) for p in s.phase_coverage) + " after burnout"
    if s.n_boost:
        row += f"; boost-phase predictions' 95 % ellipse holds truth in {s.boost_coverage:.0%} of {s.n_boost}"
    return row


SALVO_RADARS = {"sample radars": DEFAULT_SENSORS, "coverage gap + hand-over": GAP_SENSORS}


def run_salvos(n: int, missiles: int, first_seed: int) -> list[dict]:
    """Accord on ``n`` seeded random salvos under each radar set of :data:`SALVO_RADARS`."""
    from accord.warning.pipeline import track_detections

    rows = []
    for kind, sensors in SALVO_RADARS.items():
        scores, n_det, cpu = [], 0, 0.0
        for seed in range(first_seed, first_seed + n):
            sim = simulate(ScenarioSpec(sensors, random_launches(seed, missiles), seed=seed))
            with Timer() as tm:
                res = track_detections(sim.header.sensors, sim.detections)
            sc = score_tracks(sim.header.sensors, sim.truth, sim.events, res.tracks, res.predictions,
                              seconds=scenario_seconds(sim.detections.t))
            ids = len({tr.track_id for tr in res.tracks})
            print(f"  {kind:<24} seed {seed:>3}: {len(sim.detections):>6} detections, {missiles} missiles → "
                  f"{ids} confirmed identities; tracks per missile {sc.tracks_per_missile:.2f}, "
                  f"identity switches {sc.identity_switches}, GOSPA {sc.gospa_mean_m:,.0f} m, "
                  f"launch-point median error {sc.launch_median_error_m / 1e3:,.1f} km, "
                  f"{len(sim.detections) / tm.cpu:,.0f} det/CPU-s", flush=True)
            scores.append(sc)
            n_det += len(sim.detections)
            cpu += tm.cpu
            rows.append({"radars": kind, "seed": seed, "identities": ids, "missiles": missiles,
                         "det_per_s": len(sim.detections) / tm.cpu, **sc.to_json()})
        pooled = []
        for k, p in enumerate(scores[0].phase_coverage):
            m = sum(s.phase_coverage[k].n for s in scores)
            c = sum(s.phase_coverage[k].n * s.phase_coverage[k].ellipse_coverage
                    for s in scores if s.phase_coverage[k].n)
            pooled.append((p.lo_s, p.hi_s, m, c / m if m else math.nan))
        tracked = sum(len(s.missile_tracks) for s in scores)
        frag = sum(s.tracks_per_missile * len(s.missile_tracks) for s in scores) / max(tracked, 1)
        print(f"salvos, {kind}: {n} × {missiles} missiles: tracks per missile {frag:.2f}, "
              f"identity switches {sum(s.identity_switches for s in scores)}, "
              f"95 % ellipse holds truth {_phases(pooled)} after burnout, {n_det / cpu:,.0f} det/CPU-s",
              flush=True)
        lerr = [s.launch_median_error_m for s in scores if math.isfinite(s.launch_median_error_m)]
        if lerr:
            print(f"salvos, {kind}: launch-point median error per salvo "
                  f"{', '.join(f'{x / 1e3:.1f}' for x in lerr)} km; median {float(np.median(lerr)) / 1e3:.1f} km "
                  "(issue #18 target < 10 km)", flush=True)
    return rows


def crlb_rows(runs: int) -> list[dict]:
    """Accord's position RMSE / PCRLB per phase (``bench/crlb.py``, ``runs`` Monte-Carlo runs)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from crlb import monte_carlo

    mc = monte_carlo(runs)
    out = []
    for name, r, b, k in mc.phases():
        print(f"RMSE / PCRLB, {name}: {r:.1f} m / {b:.1f} m = {r / b:.2f} ({runs} Monte-Carlo runs, {k} s; "
              "issue #18 target ≤ 1.15)", flush=True)
        out.append({"phase": name, "rmse_m": r, "bound_m": b, "ratio": r / b, "seconds": k})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, action="append",
                    help="scenario directory (repeatable); default ../shared/scenarios/east-sea-2")
    ap.add_argument("--max-time", type=float, default=None, help="only detections with t ≤ this")
    ap.add_argument("--points", type=int, help="Stone Soup: points to confirm")
    ap.add_argument("--gate", type=float, help="Stone Soup: Mahalanobis gate")
    ap.add_argument("--deletion", type=float, help="Stone Soup: delete after this many s without update")
    ap.add_argument("--q", type=float, help="Stone Soup: CA process noise diffusion coefficient")
    ap.add_argument("--hold", type=float, default=3.0,
                    help="Stone Soup: drop a tentative (initiator) track after this many s without update")
    ap.add_argument("--sweep", action="store_true", help="sweep Stone Soup's settings (slow: use --max-time)")
    ap.add_argument("--sweep-points", default="3,4,5,6")
    ap.add_argument("--sweep-gate", default="3,4,5,6")
    ap.add_argument("--sweep-deletion", default="3,6,12")
    ap.add_argument("--sweep-q", default="0.2,1,3,5")
    ap.add_argument("--no-stonesoup", action="store_true", help="run Accord only")
    ap.add_argument("--repeat", type=int, default=5,
                    help="time Accord's run this many times, the median kept (Stone Soup's long run once)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--salvos", type=int, default=4, help="random salvos per radar set (0: none)")
    ap.add_argument("--salvo-missiles", type=int, default=5)
    ap.add_argument("--salvo-seed", type=int, default=1, help="first salvo seed")
    ap.add_argument("--crlb-runs", type=int, default=10, help="Monte-Carlo runs of RMSE / PCRLB (0: none)")
    ap.add_argument("--quick", action="store_true",
                    help="reduced mode: east-sea-2 up to 200 s, 2 salvos per radar set, 3 Monte-Carlo runs")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.max_time = args.max_time if args.max_time is not None else 200.0
        args.salvos, args.crlb_runs = min(args.salvos, 2), min(args.crlb_runs, 3)
    scenarios = args.scenario or [SCENARIOS / "east-sea-2"]
    results = []
    for sc in scenarios:
        if not (sc / "detections.jsonl").exists():
            print(f"no scenario at {sc}", file=sys.stderr)
            return 2
        header, det, truth, events = load(sc, args.max_time)
        tag = f"{sc.name}" + (f" (t ≤ {args.max_time:g} s)" if args.max_time is not None else "")
        print(f"== {tag}: {len(det)} detections, {len(events)} missiles", flush=True)
        tracks, preds, tm = run_accord(header, det, args.repeat)
        acc = Run("accord", "default", tm.cpu, tm.wall, len(det), score(header, det, truth, events, tracks, preds))
        print(fmt_row(acc), flush=True)
        print(identity_row("accord", acc.score), flush=True)
        entry = {"scenario": sc.name, "max_time": args.max_time, "n_detections": len(det),
                 "accord": {"cpu_s": tm.cpu, "wall_s": tm.wall, "det_per_s": acc.det_per_s,
                            **acc.score.to_json()}}
        if not args.no_stonesoup:
            try:
                import stonesoup  # noqa: F401
            except ImportError:
                print("Stone Soup is not installed: pip install stonesoup==1.9.1", file=sys.stderr)
                return 2
            base = BEST.get(sc.name, DEFAULT_SETTINGS)
            settings = (args.points or base[0], args.gate or base[1], args.deletion or base[2], args.q or base[3])
            grid = [settings]
            if args.sweep:
                grid = list(itertools.product(*[[float(v) for v in a.split(",")] for a in
                                                (args.sweep_points, args.sweep_gate, args.sweep_deletion, args.sweep_q)]))
            best = None
            sweep_rows = []
            for pts, gate, dele, q in grid:
                label = f"points {int(pts)}, gate {gate:g}, del {dele:g} s, q {q:g}"
                ss_tracks, ss_tm = run_stonesoup(header, det, int(pts), gate, dele, q, args.hold,
                                                 args.progress)
                run = Run("stone soup", label, ss_tm.cpu, ss_tm.wall, len(det),
                          score(header, det, truth, events, ss_tracks, []))
                print(fmt_row(run), flush=True)
                print(identity_row("stone soup", run.score), flush=True)
                sweep_rows.append({"settings": label, "gospa_mean_m": run.score.gospa_mean_m,
                                   "det_per_s": run.det_per_s})
                if best is None or run.score.gospa_mean_m < best.score.gospa_mean_m:
                    best = run
            assert best is not None
            ratio_speed = acc.det_per_s / best.det_per_s
            ratio_gospa = acc.score.gospa_mean_m / best.score.gospa_mean_m if best.score.gospa_mean_m else math.inf
            print(f"ratios vs Stone Soup ({best.settings}): throughput {ratio_speed:,.0f}× "
                  f"(target ≥ 300×), mean GOSPA {ratio_gospa:.2f}× (target ≤ 0.5×), "
                  f"RMSE {acc.score.position_rmse_m / best.score.position_rmse_m:.2f}×", flush=True)
            entry["stonesoup"] = {"settings": best.settings, "cpu_s": best.seconds, "wall_s": best.wall,
                                  "det_per_s": best.det_per_s, **best.score.to_json()}
            entry["sweep"] = sweep_rows
            entry["ratios"] = {"throughput": ratio_speed, "gospa": ratio_gospa}
        s = acc.score
        print(f"accord impact error: median {s.impact_median_post_burnout_m:,.0f} m once ≥60 s post-burnout "
              f"(target < 5 km), 95 % ellipse holds truth in {s.impact_coverage_post_burnout:.0%} "
              f"of {s.n_post_burnout} (target ≥ 90 %)", flush=True)
        results.append(entry)
    out: dict = {"scenarios": results}
    if args.salvos > 0:
        print(f"== random salvos (Accord only; seeds {args.salvo_seed}–{args.salvo_seed + args.salvos - 1})",
              flush=True)
        out["salvos"] = run_salvos(args.salvos, args.salvo_missiles, args.salvo_seed)
    if args.crlb_runs > 0:
        print("== RMSE against the posterior Cramér–Rao bound (bench/crlb.py)", flush=True)
        out["crlb"] = crlb_rows(args.crlb_runs)
    if args.json:
        print(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
