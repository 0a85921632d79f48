"""Scoring a tracker against scenario truth (``docs/formats/warning-files.md``, "Scoring").

**GOSPA** (generalised optimal sub-pattern assignment; Rahmathullah, García-Fernández & Svensson,
"Generalized optimal sub-pattern assignment metric", FUSION 2017, eq. (2) with α = 2): for a truth
set X = {x_i} and an estimate set Y = {y_j},

    d_p^(c,2)(X, Y) = ( min_γ Σ_{(i,j)∈γ} d(x_i, y_j)^p + (c^p / 2)(|X| + |Y| − 2|γ|) )^(1/p)

over partial assignments γ of pairs with ``d < c``; here ``d`` is the Euclidean position distance,
``c = 5 km`` and ``p = 2``. With α = 2 the minimum is a linear assignment on the cost
``min(d, c)^p`` (a pair at ``d ≥ c`` costs exactly one miss plus one false track), solved by
:func:`scipy.optimize.linear_sum_assignment`. The three terms are the *localisation* part
``Σ d^p`` over assigned pairs, the *missed* part ``(c^p/2)·#missed`` and the *false* part
``(c^p/2)·#false``.

At every whole second the truth set is every missile in flight and inside at least one sensor's
coverage (:func:`accord.warning.sim.in_any_coverage`, the simulator's own test), the estimate set
is the tracks reported at that second. The scenario score is the mean of ``d`` over the seconds;
the parts are reported as ``sqrt(mean_t part_t)`` (so ``loc² + missed² + false²`` is the mean of
``d²``), with the mean counts of missed and false tracks.

**Identity** (track continuity): a missile's *tracks* are the distinct confirmed track ids GOSPA
assigned to it over the seconds scored; *fragmentation* is their mean number over the missiles
ever assigned a track (1.0: one identity per missile). An *identity switch* is a second at which
a missile is assigned a different track from the one it was last assigned (the mismatch count of
CLEAR MOT, Bernardin & Stiefelhagen 2008): a track lost and replaced by a new one after a gap
counts one, a track swapped onto another missile counts one for each missile it changes.

**Predictions**: each prediction is attributed to the missile its track was assigned to by GOSPA
at that second (else the track's most frequent assignment); the impact error is the great-circle
distance to the true impact (:func:`true_impacts`), binned by time since launch; the 95 % ellipse
*covers* the truth when ``(e·u/a)² + (e·w/b)² ≤ 1`` for the east/north offset ``e`` of the true
impact from the predicted one, major axis ``u`` at ``bearing_deg`` (clockwise from north).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from accord.errors import InputError
from accord.warning.frames import EARTH_RADIUS_M, ecef_to_lla, enu_basis, great_circle_m, lla_to_ecef
from accord.warning.io import (
    Event,
    Sensor,
    Truth,
    read_detections,
    read_events,
    read_predictions,
    read_tracks,
    read_truth,
    tracker_files,
)
from accord.warning.sim import in_any_coverage
from accord.warning.prediction import kepler_ground_arc
from accord.warning.types import Prediction, TrackState

GOSPA_C_M = 5000.0
GOSPA_P = 2.0
GOSPA_ALPHA = 2.0
#: Bins of time since launch (s) for the impact-point error table.
IMPACT_BINS_S = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 400.0, math.inf)
#: "Once 60 s of post-burnout track exist" (issue #5's impact target).
POST_BURNOUT_S = 60.0
#: The impact of the truth's own arc replaces ``events.jsonl``'s when the two are this close.
ARC_IMPACT_MAX_M = 500.0
#: Phases of the 95 % ellipse coverage table: seconds since burnout (issue #18: calibrated in
#: every phase, including the first 20 s).
PHASE_BINS_S = (0.0, 20.0, 60.0, math.inf)


@dataclass(frozen=True)
class Gospa:
    """GOSPA between two sets and its parts (p-th powers: ``distance**p == loc + missed + false``)."""

    distance: float
    localisation: float
    missed: float
    false: float
    n_missed: int
    n_false: int
    pairs: tuple[tuple[int, int, float], ...]  # (truth index, estimate index, distance) with d < c


def gospa(truth: np.ndarray, est: np.ndarray, c: float = GOSPA_C_M, p: float = GOSPA_P,
          alpha: float = GOSPA_ALPHA) -> Gospa:
    """GOSPA (α = 2) between point sets ``truth`` (n, k) and ``est`` (m, k)."""
    if alpha != 2.0:
        raise InputError("only α = 2 (assignment form of GOSPA) is implemented", field="alpha")
    X, Y = np.asarray(truth, dtype=float), np.asarray(est, dtype=float)
    k = X.shape[-1] if X.ndim == 2 else Y.shape[-1] if Y.ndim == 2 else 3
    X, Y = X.reshape(-1, k), Y.reshape(-1, k)
    n, m = len(X), len(Y)
    half = c**p / 2.0
    if n == 0 or m == 0:
        miss, false = half * n, half * m
        return Gospa((miss + false) ** (1 / p), 0.0, miss, false, n, m, ())
    d = np.linalg.norm(X[:, None, :] - Y[None, :, :], axis=-1)
    cost = np.minimum(d, c) ** p
    rows, cols = linear_sum_assignment(cost)
    keep = d[rows, cols] < c
    pairs = tuple((int(i), int(j), float(d[i, j])) for i, j in zip(rows[keep], cols[keep]))
    loc = float(np.sum(d[rows[keep], cols[keep]] ** p))
    k = len(pairs)
    miss, false = half * (n - k), half * (m - k)
    return Gospa((loc + miss + false) ** (1 / p), loc, miss, false, n - k, m - k, pairs)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImpactBin:
    lo_s: float
    hi_s: float
    n: int
    median_error_m: float
    p90_error_m: float
    ellipse_coverage: float


@dataclass(frozen=True)
class PhaseCoverage:
    """95 % impact-ellipse coverage of the predictions made ``lo_s``–``hi_s`` after burnout."""

    lo_s: float
    hi_s: float
    n: int
    ellipse_coverage: float


@dataclass(frozen=True)
class Score:
    """A scenario's score (see the module docstring for the definitions)."""

    n_seconds: int
    gospa_mean_m: float
    gospa_rms_m: float
    localisation_m: float
    missed_m: float
    false_m: float
    mean_missed: float
    mean_false: float
    mean_truths: float
    position_rmse_m: float
    velocity_rmse_mps: float
    n_assigned: int
    n_predictions: int
    impact_bins: tuple[ImpactBin, ...]
    impact_median_post_burnout_m: float   # predictions with ≥ 60 s of post-burnout track
    impact_coverage_post_burnout: float
    n_post_burnout: int
    launch_median_error_m: float
    tracks_per_missile: float = math.nan   # fragmentation: mean distinct tracks per tracked missile
    identity_switches: int = 0
    missile_tracks: dict = field(default_factory=dict)   # missile id → its track ids, first seen first
    phase_coverage: tuple[PhaseCoverage, ...] = ()
    n_boost: int = 0                       # boost-phase predictions (status "boost"), scored apart
    boost_coverage: float = math.nan       # … whose 95 % ellipse holds the true impact
    per_second: dict = field(default_factory=dict, repr=False)

    def to_json(self, per_second: bool = False) -> dict:
        d = asdict(self)
        if not per_second:
            d.pop("per_second")
        return _finite(d)


def _finite(v):
    """JSON-safe copy: non-finite floats (no data, open-ended bins) become ``None``."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _tracks_by_second(tracks: Sequence[TrackState]) -> dict[int, tuple[list[str], np.ndarray]]:
    by: dict[int, list[TrackState]] = defaultdict(list)
    for tr in tracks:
        s = round(tr.t)
        if abs(tr.t - s) < 1e-6:
            by[s].append(tr)
    return {s: ([t.track_id for t in rows], np.array([[t.x, t.y, t.z, t.vx, t.vy, t.vz] for t in rows]))
            for s, rows in by.items()}


def _inside_ellipse(pred: Prediction, true_lat: float, true_lon: float) -> bool:
    centre = lla_to_ecef(pred.impact_lat_deg, pred.impact_lon_deg, 0.0)
    off = lla_to_ecef(true_lat, true_lon, 0.0) - centre
    e, n, _ = enu_basis(pred.impact_lat_deg, pred.impact_lon_deg) @ off
    el = pred.impact_ellipse_95
    if el.semi_major_m <= 0 or el.semi_minor_m <= 0:
        return False
    b = math.radians(el.bearing_deg)
    u = e * math.sin(b) + n * math.cos(b)
    w = e * math.cos(b) - n * math.sin(b)
    return (u / el.semi_major_m) ** 2 + (w / el.semi_minor_m) ** 2 <= 1.0


def true_impacts(truth: Truth, events: Sequence[Event]) -> dict[str, tuple[float, float]]:
    """Each missile's true impact (lat°, lon°): where the Kepler arc of its first ballistic truth
    state meets the sphere (:func:`accord.warning.prediction.kepler_ground_arc`), when that lies
    within :data:`ARC_IMPACT_MAX_M` of ``events.jsonl``'s impact; else the event's own point.

    After burnout the formats' flight is exactly Keplerian, so the arc gives the impact to
    millimetres. An events file can record it more coarsely — the sample scenarios
    ``east-sea-*`` put it 13–103 m from their own truth arcs (the impact time about 0.04 s late),
    more than a late 95 % ellipse is wide, so scoring against it called calibrated ellipses
    narrow. Accord's simulator writes the exact point (the two agree to 0.0 m). A truth that is
    not Keplerian (drag, a rotating Earth) misses by more than the threshold and keeps its event.
    """
    out = {e.id: (e.impact_lat_deg, e.impact_lon_deg) for e in events}
    ids = np.asarray(truth.ids)
    for e in events:
        k = np.flatnonzero((ids == e.id) & (truth.phase == "ballistic") & (truth.t > e.burnout_t))
        if len(k) == 0:
            continue
        x = truth.state[k[0]]
        arc = kepler_ground_arc(x[0:3], x[3:6])
        if not bool(arc["valid"]):
            continue
        lat, lon, _ = ecef_to_lla(arc["impact"], EARTH_RADIUS_M)
        if float(great_circle_m(float(lat), float(lon), e.impact_lat_deg, e.impact_lon_deg)) <= ARC_IMPACT_MAX_M:
            out[e.id] = (float(lat), float(lon))
    return out


def score_tracks(sensors: Sequence[Sensor], truth: Truth, events: Sequence[Event],
                 tracks: Sequence[TrackState], predictions: Sequence[Prediction],
                 seconds: np.ndarray | None = None, c: float = GOSPA_C_M, p: float = GOSPA_P) -> Score:
    """Score tracks and predictions against truth over whole ``seconds``.

    ``seconds`` defaults to every whole second from the first truth or track time to the last.
    """
    by_sec = _tracks_by_second(tracks)
    if seconds is None:
        ts = [*truth.t.tolist(), *by_sec]
        seconds = np.arange(math.ceil(min(ts)), math.floor(max(ts)) + 1) if ts else np.zeros(0)
    seconds = np.asarray(seconds, dtype=float)
    pos = truth.state[:, :3]
    covered = in_any_coverage(sensors, pos) if len(truth) else np.zeros(0, dtype=bool)
    truth_sec = np.round(truth.t).astype(np.int64)
    order = np.argsort(truth_sec, kind="stable")
    starts = np.searchsorted(truth_sec[order], seconds.astype(np.int64), side="left")
    ends = np.searchsorted(truth_sec[order], seconds.astype(np.int64), side="right")

    d_t, loc_t, mis_t, fal_t, nm_t, nf_t, nt_t = ([] for _ in range(7))
    sq_pos, sq_vel = [], []
    assigned: dict[tuple[str, int], str] = {}          # (track_id, second) → missile id
    first_assigned: dict[tuple[str, str], int] = {}    # (track_id, missile) → first second
    counts: dict[str, Counter] = defaultdict(Counter)
    per_missile: dict[str, list[str]] = defaultdict(list)   # assigned track per second, in order
    for s, a, b in zip(seconds.astype(np.int64).tolist(), starts.tolist(), ends.tolist()):
        idx = order[a:b]
        idx = idx[covered[idx]]
        X = truth.state[idx]
        ids, Y = by_sec.get(s, ([], np.zeros((0, 6))))
        g = gospa(X[:, :3], Y[:, :3] if len(Y) else np.zeros((0, 3)), c=c, p=p)
        d_t.append(g.distance); loc_t.append(g.localisation); mis_t.append(g.missed)
        fal_t.append(g.false); nm_t.append(g.n_missed); nf_t.append(g.n_false); nt_t.append(len(X))
        for i, j, dist in g.pairs:
            sq_pos.append(dist * dist)
            sq_vel.append(float(np.sum((X[i, 3:] - Y[j, 3:]) ** 2)))
            mid = str(truth.ids[idx[i]])
            assigned[(ids[j], s)] = mid
            per_missile[mid].append(ids[j])
            first_assigned.setdefault((ids[j], mid), s)
            counts[ids[j]][mid] += 1

    n = max(len(d_t), 1)
    ev = {e.id: e for e in events}
    impact = true_impacts(truth, events)
    errors, covers, since, post_err, post_cov, launch_err, after_bo = [], [], [], [], [], [], []
    boost_cov: list[bool] = []
    for pr in predictions:
        match = assigned.get((pr.track_id, round(pr.t)))
        if match is None and counts.get(pr.track_id):
            match = counts[pr.track_id].most_common(1)[0][0]
        if match is None or match not in ev:
            continue  # a prediction from a false track: counted by GOSPA's false part already
        mid = match
        e = ev[mid]
        ilat, ilon = impact[mid]
        if pr.status == "boost":   # before burnout, from the class prior: not the ballistic figures
            boost_cov.append(_inside_ellipse(pr, ilat, ilon))
            continue
        err = float(great_circle_m(pr.impact_lat_deg, pr.impact_lon_deg, ilat, ilon))
        inside = _inside_ellipse(pr, ilat, ilon)
        errors.append(err); covers.append(inside); since.append(pr.t - e.launch_t)
        after_bo.append(pr.t - e.burnout_t)
        launch_err.append(float(great_circle_m(pr.launch_lat_deg, pr.launch_lon_deg,
                                               e.launch_lat_deg, e.launch_lon_deg)))
        first = first_assigned.get((pr.track_id, mid), round(pr.t))
        if pr.t - max(e.burnout_t, first) >= POST_BURNOUT_S:
            post_err.append(err); post_cov.append(inside)
    errors_a, covers_a, since_a = np.asarray(errors), np.asarray(covers, dtype=bool), np.asarray(since)
    bins = []
    for lo, hi in zip(IMPACT_BINS_S[:-1], IMPACT_BINS_S[1:]):
        m = (since_a >= lo) & (since_a < hi)
        k = int(m.sum())
        bins.append(ImpactBin(lo, hi, k, float(np.median(errors_a[m])) if k else math.nan,
                              float(np.percentile(errors_a[m], 90)) if k else math.nan,
                              float(covers_a[m].mean()) if k else math.nan))
    after_a = np.asarray(after_bo)
    phases = []
    for lo, hi in zip(PHASE_BINS_S[:-1], PHASE_BINS_S[1:]):
        m = (after_a >= lo) & (after_a < hi)
        k = int(m.sum())
        phases.append(PhaseCoverage(lo, hi, k, float(covers_a[m].mean()) if k else math.nan))
    missile_tracks = {mid: tuple(dict.fromkeys(seq)) for mid, seq in sorted(per_missile.items())}
    switches = sum(sum(a != b for a, b in zip(seq, seq[1:])) for seq in per_missile.values())
    return Score(
        tracks_per_missile=(float(np.mean([len(v) for v in missile_tracks.values()]))
                            if missile_tracks else math.nan),
        identity_switches=int(switches), missile_tracks=missile_tracks, phase_coverage=tuple(phases),
        n_boost=len(boost_cov), boost_coverage=float(np.mean(boost_cov)) if boost_cov else math.nan,
        n_seconds=len(d_t),
        gospa_mean_m=float(np.mean(d_t)) if d_t else 0.0,
        gospa_rms_m=float(np.sqrt(np.mean(np.square(d_t)))) if d_t else 0.0,
        localisation_m=math.sqrt(sum(loc_t) / n), missed_m=math.sqrt(sum(mis_t) / n),
        false_m=math.sqrt(sum(fal_t) / n), mean_missed=sum(nm_t) / n, mean_false=sum(nf_t) / n,
        mean_truths=sum(nt_t) / n,
        position_rmse_m=math.sqrt(np.mean(sq_pos)) if sq_pos else math.nan,
        velocity_rmse_mps=math.sqrt(np.mean(sq_vel)) if sq_vel else math.nan,
        n_assigned=len(sq_pos), n_predictions=len(errors), impact_bins=tuple(bins),
        impact_median_post_burnout_m=float(np.median(post_err)) if post_err else math.nan,
        impact_coverage_post_burnout=float(np.mean(post_cov)) if post_cov else math.nan,
        n_post_burnout=len(post_err),
        launch_median_error_m=float(np.median(launch_err)) if launch_err else math.nan,
        per_second={"t": seconds.tolist(), "gospa_m": d_t, "n_truth": nt_t, "n_missed": nm_t,
                    "n_false": nf_t},
    )


def score_dirs(scenario_dir: str | Path, out_dir: str | Path) -> Score:
    """Score ``OUT_DIR/{tracks,predictions}.jsonl`` against ``SCENARIO_DIR``'s truth.

    The seconds scored are every whole second from the first detection to the last.
    """
    sc, out = Path(scenario_dir), Path(out_dir)
    if sc.is_file():
        raise InputError(f"a file; give the scenario directory that holds detections.jsonl and truth.jsonl "
                         f"({sc.parent})", source=str(sc))
    if out.is_file():
        raise InputError(f"a file; give the directory that holds tracks.jsonl ({out.parent})", source=str(out))
    header, det = read_detections(sc / "detections.jsonl", lenient=True)
    truth = read_truth(sc / "truth.jsonl")
    events = read_events(sc / "events.jsonl")
    files = tracker_files(out)  # the pair one run wrote, never new tracks beside old predictions
    tracks = read_tracks(files["tracks.jsonl"])
    preds = read_predictions(files["predictions.jsonl"]) if files["predictions.jsonl"].exists() else []
    seconds = scenario_seconds(det.t)
    return score_tracks(header.sensors, truth, events, tracks, preds, seconds=seconds)


def scenario_seconds(t: np.ndarray) -> np.ndarray:
    """Whole seconds from the first detection time to the last (the tracks.jsonl span)."""
    if len(t) == 0:
        return np.zeros(0)
    return np.arange(math.ceil(float(np.min(t))), math.floor(float(np.max(t))) + 1, dtype=float)
