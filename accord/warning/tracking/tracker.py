"""The multi-radar, multi-target ballistic-missile tracker.

Kept as one module: a scan's phases in order (predict, gate, associate, update,
bookkeep, initiate, re-acquire, merge) read as one algorithm; the maths of each phase is in its own
module.

One :class:`Tracker` takes radar scans in time order (:meth:`Tracker.process_scan`: all
detections of one radar at one time) and keeps every track as rows of stacked numpy arrays, so a
scan costs a fixed number of array operations whatever the number of tracks and detections:

1. **predict** all tracks to the scan time — IMM mixing, then the ballistic and boost models
   (:mod:`.models`, :mod:`.filters`);
2. **gate and associate** — squared Mahalanobis distances in (range, azimuth, elevation) with the
   azimuth innovation wrapped; global nearest neighbour by optimal assignment, confirmed tracks
   first, then tentative ones on the detections left (:mod:`.association`);
3. **update** the assigned tracks — EKF per model with the Joseph form, mode probabilities;
4. **book-keep** — M-of-N confirmation (:mod:`.initiation`), deletion (:mod:`.deletion`), the
   burnout latch (its ballistic state from a bank of burnout-time hypotheses, :mod:`.burnout`),
   two-point initiation of tentative tracks from the detections no track gates (paired with the
   candidate detections of earlier scans by a velocity gate), and merging of confirmed
   duplicates (6-D Mahalanobis test);
5. **re-acquire** — a newly confirmed track takes over the identity of a *lost* confirmed track
   (deleted, or coasting since before the new track's first detection) whose state, predicted
   along its own arc over the gap, is consistent with the new track's (6-D Mahalanobis test
   under the sum of the covariances; :meth:`Tracker._reacquire`), so that one missile keeps one
   identity through coverage gaps and radar hand-overs (own covariances first, then the drift
   hypothesis for what is left; a track that takes over a latched identity is latched
   ``min_ballistic_s`` later).

:meth:`Tracker.confirmed_tracks` reports the confirmed tracks predicted to any time, and
:meth:`Tracker.predictions` the launch/impact predictions of the confirmed *ballistic* ones
(:mod:`accord.warning.prediction`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaincinv

from accord.errors import InputError
from accord.warning import boost, prediction
from accord.warning.frames import EARTH_RADIUS_M, MU
from accord.warning.identity import same_arc
from accord.warning.prediction import predict_launch_impact
from accord.warning.tracking import burnout, history, initiation, kernels
from accord.warning.tracking.association import assign
from accord.warning.tracking.filters import combine, ekf_update, transition_matrix
from accord.warning.tracking.models import BALLISTIC, DIM, N_MODELS, process_noise, transition_axis
from accord.warning.tracking.sensors import TWO_PI, SensorArray, wrap_angle
from accord.warning.tracking.tracks import Bookkeeping, Tracks
from accord.warning.types import Prediction, TrackState


def chi2_quantile(p: float, dof: int) -> float:
    """χ² quantile ``F⁻¹(p; k) = 2 P⁻¹(k/2, p)`` (regularised incomplete gamma inverse)."""
    return float(2.0 * gammaincinv(0.5 * dof, p))


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of the tracker (defaults tuned on the sample scenarios; see docs/tracking.md)."""

    q_ballistic: float = 1e-8
    """Ballistic model: white-acceleration density, m²/s³ — a numerical floor: the ballistic
    flight has no process noise (:mod:`.models`; docs/tracking.md, "Accuracy at the bound")."""
    q_boost: float = 2.0
    """Boost model: white-jerk density on the thrust acceleration, m²/s⁵."""
    q_boost_vel: float = 1.0
    """Boost model: extra white-acceleration density on (p, v), m²/s³."""
    tau_boost_s: float = 30.0
    """Mean time before the boost model hands over to the ballistic one (IMM Markov chain)."""
    tau_ballistic_s: float = 2000.0
    """Mean time before the ballistic model switches to boost (rare: staging, mis-initiation)."""
    mu0_boost: float = 0.9
    """Boost-model probability of a new track. The radars watch the launch areas, so tracks are
    mostly born in the boost; and when the thrust is poorly seen the tight ballistic model wins
    the likelihood while the missile still burns (with ``tau_ballistic_s`` it seldom hands back),
    so an even prior let the ballistic model lead early boost tracks: combined NEES 8–11 in the
    boost of a clean missile and east-sea-10's M007 latched 1.1 s before its burnout. At 0.9
    the boost NEES is ≈ 6.5 and the RMSE unchanged; a track born mid-course still turns
    ballistic within seconds (docs/tracking.md, "Accuracy at the bound")."""
    gate: float = chi2_quantile(0.9999, 3)
    """χ²(3) gate on the squared Mahalanobis distance of a detection to a track."""
    sigma_v_init: float = 2500.0
    """Prior σ of each velocity component of a new track, m/s."""
    sigma_a_init: float = 40.0
    """Prior σ of each thrust-acceleration component of a new track (boost model), m/s²."""
    v_max: float = 7500.0
    """Fastest plausible missile, m/s (velocity gate of two-point initiation)."""
    init_n_sigma: float = 4.0
    """Position-error allowance of the velocity gate, in σ."""
    init_min_dt_s: float = 0.05
    init_window_s: float = 3.0
    """A candidate detection pairs with one between ``min_dt`` and ``window`` seconds later."""
    confirm_m: int = 3
    confirm_n: int = 5
    """M-of-N confirmation over detection opportunities (the initiating pair counts two hits)."""
    tentative_misses: int = 2
    confirmed_misses: int = 5
    """Consecutive missed opportunities that delete a tentative / confirmed track."""
    max_coast_tentative_s: float = 4.0
    max_coast_s: float = 15.0
    """Seconds without an update after which a tentative / confirmed track is deleted."""
    max_sigma_m: float = 30_000.0
    """A track whose position σ (√trace) exceeds this is deleted."""
    min_alt_m: float = -1_000.0
    """A track below this altitude has impacted and is deleted."""
    init_min_alt_m: float = -2_000.0
    init_max_alt_m: float = 1_500_000.0
    """Altitude band of detections that may start a track (clutter rejection)."""
    merge_gate: float = chi2_quantile(0.999, 6)
    """Two confirmed tracks closer than this 6-D Mahalanobis distance are one target."""
    reacquire_gate: float = chi2_quantile(0.9999, 6)
    """A newly confirmed track continues a lost one whose predicted state lies within this 6-D
    Mahalanobis distance of its own (covariance: the sum of both)."""
    reacquire_s: float = 600.0
    """A lost confirmed track still in the boost may be re-acquired for this long after its last
    update (predicted on the boost model, it soon grows too vague to be a candidate anyway)."""
    reacquire_ballistic_s: float = 2400.0
    """A lost track latched ballistic may be re-acquired until its arc, predicted over the gap,
    reaches the ground, and at most this long after its last update (a bound on the pool; a
    2,000 km flight lasts ~1,300 s, and its mid-course gap under two partners' radars can last
    over 700 s)."""
    lost_sigma_v: float = 300.0
    """A track deleted for missed detections inside coverage had drifted off its missile (often
    burnout latched while thrust went on): before re-acquisition, white velocity uncertainty of
    this σ per axis (m/s) is added at its last update and carried to the time of deletion."""
    ballistic_prob: float = 0.95
    min_ballistic_s: float = 6.0
    """Burnout is declared (latched: ballistic model only, predictions start) once the
    ballistic-mode probability has stayed at least ``ballistic_prob`` for ``min_ballistic_s``."""
    latch_thrust_window_s: float = 9.0
    """When a track is latched ballistic, its covariance gains the effect of a thrust that may
    still have been burning, acting unmodelled for this long (:meth:`Tracker._unseen_thrust`)."""
    burning_thrust_mps2: float = 40.0
    burning_thrust_sigma_mps2: float = 10.0
    """A motor still burning at the latch pushes along the velocity with about this thrust
    acceleration (mean, σ per axis): the missile classes' thrust at burnout, 30–51 m/s²
    (:mod:`accord.warning.boost.prior`). The alternative to "burnt out" (no thrust) in
    :meth:`Tracker._unseen_thrust`."""
    burnout_bank_s: float = 30.0
    """At the latch the ballistic (p, v) and covariance come from a bank of burnout-time
    hypotheses over the track's last this many seconds (:mod:`.burnout`); 0: the IMM's own."""
    burnout_bank_every_s: float = 1.0
    """Spacing of the burnout-time hypotheses, seconds (at detections, and across the gaps between them)."""
    latch_defer_weight: float = 0.1
    """The latch is deferred (the track stays on the IMM, and the latch is tried again at each
    scan) while the burnout-time bank puts more than this weight on a burnout within the last
    ``min_ballistic_s`` — the ballistic-mode evidence the latch rests on would then be younger
    than the rule asks (a short, sparse track of a motor still burning, whose thrust the boost
    model cannot yet tell from none); 1: never deferred (:meth:`Tracker._bank_latch`)."""
    latch_defer_max_s: float = 30.0
    """The latch is deferred at most this long past the latch rule's time."""
    launch_anchor_s: float = 10.0
    """A track confirmed during the boost keeps its state this long after confirmation as the
    anchor of its launch estimate (see :func:`accord.warning.prediction.launch_from_boost`)."""
    boost_predictions: bool = True
    """Confirmed tracks still in the boost get a ``status="boost"`` prediction from the
    missile-class prior (:mod:`accord.warning.boost`) once their launch can be fitted, every
    ``boost_every_s`` seconds (each costs ~0.2 ms with its plane fit, and a launch fit when the track has a new boost state)."""
    boost_every_s: float = 2.0
    suspect_hold_s: float = 10.0
    """A prediction off the track's own arc (:func:`accord.warning.identity.same_arc`) marks the
    track *suspect* (an association error: it now follows another object); a new arc becomes the
    track's own once it has held this long."""
    report_outside_coverage: bool = False
    """Report confirmed tracks predicted outside every radar's coverage (coasting)."""
    mu: float = MU
    earth_radius_m: float = EARTH_RADIUS_M




def _dt_key(dt: float) -> float:
    """Steps are rounded to the microsecond so the per-step constants are cached and reused."""
    return round(dt, 6)


class Tracker:
    """IMM-EKF multi-target tracker with GNN association, two-point/M-of-N initiation, deletion.

    ``sensors``: the header's sensors (:class:`accord.warning.io.Sensor` objects or header
    dicts, or a :class:`SensorArray`). Scans must come in non-decreasing time.
    """

    def __init__(self, sensors: Sequence[Any] | SensorArray, config: TrackerConfig | None = None) -> None:
        self.sensors = SensorArray.from_sensors(sensors)
        self.config = config or TrackerConfig()
        c = self.config
        self._rules = Bookkeeping(c.confirm_m, c.confirm_n, c.ballistic_prob, c.min_ballistic_s, c.tentative_misses,
                                  c.confirmed_misses, c.max_coast_tentative_s, c.max_coast_s, c.max_sigma_m**2,
                                  c.min_alt_m, c.earth_radius_m)
        self.t: float | None = None
        self.n_scans = 0
        self.n_detections = 0
        self._tracks = Tracks.empty()
        """The live tracks (tentative and confirmed), one row each."""
        self._boost_due = -np.inf         # next time boost states are kept (all tracks together)
        self._took_pending = False        # some track took over a latched identity and is not latched yet
        self._pool = Tracks.empty()
        """Lost confirmed tracks (the same columns, frozen at their last scan) awaiting re-acquisition."""
        self._pool_t = np.zeros(0)        # time each pooled track's state refers to
        self.n_reacquired = 0
        self.n_latch_deferred = 0
        cap = 64  # candidate slots; doubled when full
        self._cpos = np.zeros((cap, 3))
        self._ctr = np.zeros(cap)
        self._ccov = np.zeros((cap, 3, 3))
        self._ct = np.zeros(cap)
        self._cvalid = np.zeros(cap, bool)
        self._next_id = 1
        self._lost: list[tuple[str, float]] = []
        self._last_pred: dict[str, Prediction] = {}
        self._arc: dict[str, Prediction] = {}                     # track → latest prediction on its arc
        self._suspect: dict[str, tuple[float, Prediction]] = {}   # track → (new arc since, its latest)
        self._last_merge_t = -np.inf
        self._boost_fits: dict[int, tuple[int, tuple[float, ...]]] = {}   # track id → (states used, launch fit)
        self._boost_pred_due = -np.inf
        self._at: tuple | None = None     # (t, n_scans, track table, _confirmed_at's result): a cache
        self._consts: dict[float, tuple] = {}    # :meth:`_step_consts` by interval (a cache)
        self._bank = history.Records(self.config.burnout_bank_s)   # boosting tracks' detections and boost snapshots

    # ------------------------------------------------------------------ state of the tracks
    @property
    def n_tracks(self) -> int:
        """Number of live tracks (tentative and confirmed)."""
        return int(self._tracks.X.shape[0])

    @property
    def n_confirmed(self) -> int:
        return int(np.count_nonzero(self._tracks.confirmed))

    def _keep(self, keep: np.ndarray) -> None:
        self._tracks = self._tracks.take(keep)

    def _track_ids(self, idx: np.ndarray) -> list[str]:
        return [f"T{i}" for i in self._tracks.id[idx].tolist()]

    def _step(self, X: np.ndarray, P: np.ndarray, mu: np.ndarray, latched: np.ndarray, dt: float) -> None:
        """In place: IMM mixing and model-matched prediction over ``dt`` (sub-steps ≤ 4 s)."""
        n, Pi, Phi, Q = self._step_consts(dt)
        for _ in range(n):
            kernels.imm_predict(X, P, mu, latched, dt / n, Pi, Phi, Q, self.config.mu)

    def _step_consts(self, dt: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_step`'s sub-step count over ``dt`` and its per-sub-step ``(Pi, Phi, Q)``
        (remembered per ``dt``: the radars' revisits repeat a few intervals)."""
        got = self._consts.get(dt)
        if got is None:
            if len(self._consts) >= 4096:
                self._consts.clear()
            c = self.config
            n = max(1, math.ceil(abs(dt) / 4.0))
            key = _dt_key(dt / n)
            got = self._consts[dt] = (n, transition_matrix(key, c.tau_ballistic_s, c.tau_boost_s), transition_axis(key),
                                      process_noise(key, c.q_ballistic, c.q_boost, c.q_boost_vel))
        return got

    # ------------------------------------------------------------------ time update
    def _predict_to(self, t: float) -> None:
        if self.t is None:
            self.t = t
            return
        dt = t - self.t
        if dt > 0.0:
            if self.n_tracks:
                self._step(self._tracks.X, self._tracks.P, self._tracks.mu, self._tracks.latched, dt)
            self.t = t

    def _predicted_copy(self, t: float, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(X, P, μ) and the combined (x, P) of tracks ``idx`` at ``t``, tracker unchanged."""
        X, P, mu = self._tracks.X[idx], self._tracks.P[idx], self._tracks.mu[idx]
        dt = t - (self.t if self.t is not None else t)
        if dt != 0.0 and len(idx):
            self._step(X, P, mu, self._tracks.latched[idx], dt)
        x, Pc = combine(X, P, mu)
        return X, P, x, Pc

    def _confirmed_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, X, P, x, P_c) of the confirmed tracks predicted to ``t`` (:meth:`_predicted_copy`),
        kept until the next scan: the reports and predictions at one time share one prediction."""
        got = self._at
        if got is not None and got[0] == t and got[1] == self.n_scans and got[2] is self._tracks:
            return got[3]
        idx = np.flatnonzero(self._tracks.confirmed)
        out = (idx, *self._predicted_copy(t, idx))
        self._at = (t, self.n_scans, self._tracks, out)
        return out

    def _confirmed_rows_at(self, t: float, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_predicted_copy` of confirmed rows ``sel`` (sorted), from :meth:`_confirmed_at`."""
        idx, X, P, x, Pc = self._confirmed_at(t)
        q = np.searchsorted(idx, sel)
        return X[q], P[q], x[q], Pc[q]

    # ------------------------------------------------------------------ the scan
    def process_scan(self, t: float, sensor: str | int, rae: np.ndarray) -> None:
        """Process one scan: all detections ``rae (n, 3)`` = (range m, az rad, el rad) of one
        radar (id or header index) at time ``t`` (seconds; not earlier than the previous scan)."""
        t = float(t)
        if not np.isfinite(t):
            raise InputError(f"scan time {t!r} is not finite", field="t")
        if self.t is not None and t < self.t - 1e-9:
            raise InputError(f"scan at t={t} is earlier than the previous scan at t={self.t} "
                             "(detections must come in time order)", field="t")
        s = self.sensors.index(sensor)
        z = np.array(rae, dtype=float)
        if z.size == 0:
            z = z.reshape(0, 3)
        if z.ndim != 2 or z.shape[1] != 3:
            raise InputError(f"detections must be an (n, 3) array of range, az, el; got shape {z.shape}",
                             field="rae")
        if not np.isfinite(z).all():
            raise InputError("detections contain non-finite values", field="rae")
        if (z[:, 0] <= 0).any():
            raise InputError("detection range must be > 0 m", field="range_m")
        z[:, 1] %= TWO_PI
        self.process_validated(t, s, z)

    def forget(self) -> None:
        """Drop every track, pooled track, candidate, boost record and prediction history — the
        state after a feed's silence longer than any flight, which no missile still flying is
        in — keeping the track-id counter (an id is never given twice) and the counts."""
        kept = (self._next_id, self.n_scans, self.n_detections, self.n_reacquired, self.n_latch_deferred)
        type(self).__init__(self, self.sensors, self.config)
        self._next_id, self.n_scans, self.n_detections, self.n_reacquired, self.n_latch_deferred = kept

    def process_validated(self, t: float, s: int, z: np.ndarray) -> None:
        """:meth:`process_scan` on validated input: ``z`` a C-contiguous float (n, 3) array with
        ranges > 0 and azimuths in [0, 2π), ``s`` a sensor index, ``t`` not before :attr:`t`
        (what the offline pipeline and :class:`~accord.warning.live.LiveTracker` call, having
        checked a whole feed at once)."""
        self._predict_to(t)
        self.n_scans += 1
        self.n_detections += z.shape[0]
        c = self.config
        N, m = self.n_tracks, z.shape[0]
        free = None      # every detection, unless some fall in a track's gate
        if N:
            hit = np.zeros(N, bool)
            if m:
                sa = self.sensors
                tr = self._tracks
                zhat, Hp, Sinv, d2, ll, cost = kernels.gate(tr.X, tr.P, tr.mu, z, sa.site[s], sa.basis[s], sa.R[s])
                in_gate = d2 < c.gate
                conf = self._tracks.confirmed
                n_conf = np.count_nonzero(conf)
                if n_conf == N or n_conf == 0:
                    ri, ci = assign(cost, in_gate)
                else:  # confirmed tracks choose first, tentative ones take what is left
                    ic, it = np.flatnonzero(conf), np.flatnonzero(~conf)
                    r1, c1 = assign(cost[ic], in_gate[ic])
                    left = np.ones(m, bool)
                    left[c1] = False
                    lc = np.flatnonzero(left)
                    r2, c2 = assign(cost[np.ix_(it, lc)], in_gate[np.ix_(it, lc)])
                    ri, ci = np.concatenate([ic[r1], it[r2]]), np.concatenate([c1, lc[c2]])
                free = ~in_gate.any(axis=0)   # a detection in any track's gate starts nothing
                if len(ri):
                    kernels.imm_update(tr.X, tr.P, tr.mu, tr.latched, ri, ci, z, zhat, Hp, Sinv, ll, sa.R[s])
                    hit[ri] = True
                    if c.burnout_bank_s > 0.0:   # for the burnout-time bank (:mod:`.burnout`)
                        self._bank.record(t, s, z, ri, ci, ll, tr.X, tr.P, tr.confirmed, tr.latched, tr.id, tr.took)
            was_latched = self._tracks.latched.copy()
            # the rows the bookkeeping's latch rule may latch now (its own test), and their
            # ballistic state before its collapse: what a deferred latch gives back (_bank_latch)
            tr = self._tracks
            due = ~was_latched & (tr.mu[:, BALLISTIC] >= c.ballistic_prob) & (t - np.minimum(tr.ball_since, t) >= c.min_ballistic_s)
            before = (tr.X[due, BALLISTIC].copy(), tr.P[due, BALLISTIC].copy()) if np.count_nonzero(due) else None
            newly, dead = kernels.bookkeep(self._tracks, hit, t, self.sensors.coverage(s), self._rules)
            burnt = self._tracks.latched > was_latched     # latched this scan
            if np.count_nonzero(burnt):
                if c.burnout_bank_s > 0.0:
                    self._bank_latch(burnt, t, due, before)   # may defer some: their rows leave burnt
                if c.latch_thrust_window_s > 0.0 and np.count_nonzero(burnt):
                    self._unseen_thrust(burnt)
            newly &= ~dead
            any_new = np.count_nonzero(newly) > 0
            if np.count_nonzero(dead):
                self._to_pool(t, dead & self._tracks.confirmed)
            if any_new:
                self._tracks.conf_t[newly] = t
                self._tracks.confirmed |= newly
                fresh, dead = self._reacquire(t, newly, dead)
                k = int(fresh.sum())
                self._tracks.id[fresh] = np.arange(self._next_id, self._next_id + k)
                self._next_id += k
            boosting = self._tracks.confirmed & ~self._tracks.latched
            if self._took_pending:   # tracks that took over a latched identity, not yet latched
                pending = boosting & ~np.isnan(self._tracks.took)
                due = pending & (self._tracks.took <= t - c.min_ballistic_s)
                if np.count_nonzero(due):
                    self._latch(np.flatnonzero(due), t)
                    pending &= ~due
                self._took_pending = bool(np.count_nonzero(pending))
                boosting &= ~pending & ~due
            if np.count_nonzero(boosting):
                anchor = boosting & np.isnan(self._tracks.anchor[:, 0])
                if np.count_nonzero(anchor):
                    anchor &= t - self._tracks.conf_t >= c.launch_anchor_s
                if np.count_nonzero(anchor):
                    x, _ = combine(self._tracks.X[anchor], self._tracks.P[anchor], self._tracks.mu[anchor])
                    self._tracks.anchor[anchor] = np.column_stack([np.full(len(x), t), x[:, 0:6]])
                if t >= self._boost_due:
                    self._keep_boost_states(t, boosting)
            if np.count_nonzero(dead):
                for tid in self._track_ids(np.flatnonzero(dead & self._tracks.confirmed & (self._tracks.id > 0))):
                    self._lost.append((tid, t))
                    self._bank.discard(int(tid[1:]))
                self._keep(~dead)
            if (any_new or t - self._last_merge_t >= 1.0) and self.n_confirmed > 1:
                self._merge(t)
        self._initiate(t, s, z if free is None else z[free])

    def _unseen_thrust(self, rows: np.ndarray) -> None:
        """Widen the covariance of the tracks latched ballistic this scan (``rows``, mask) by the
        thrust the ballistic model may have ignored while it led the IMM before the latch.

        The ballistic model leads for ``W`` = ``latch_thrust_window_s`` before the latch; a
        missile can still be burning then (a distant radar sees its thrust poorly: the IMM
        prefers the ballistic model although the boost model still estimates tens of m/s²).
        A thrust acceleration ``a`` unmodelled over ``W`` moves the state by ``J a``,
        ``J = [W²/2 I; W I]``, so the latched (p, v) covariance gains ``J E[a aᵀ] Jᵀ``.

        ``E[a aᵀ]`` is that of two hypotheses weighed by the boost model's own estimate
        ``â ~ N(a, P_aa)``: *burnt out*, ``a = 0``, under which ``â ~ N(0, P_aa)``; or *still
        burning*, ``a ~ N(A v̂, σ_A² I)`` (``burning_thrust_mps2``, ``burning_thrust_sigma_mps2``:
        a motor's thrust at burnout along the velocity ``v̂``), under which
        ``â ~ N(A v̂, P_aa + σ_A² I)``. With even prior odds, ``p`` = P(burning | â), and under
        *burning* the thrust's posterior ``N(m₁, C₁)`` (the prior and ``â`` combined), so
        ``E[a aᵀ] = p (m₁ m₁ᵀ + C₁)``. A clean latch (``|â|`` of a few m/s² against the 30–50
        a motor gives) gets ``p`` ≈ 0 and nothing; a latch during the burn, with tens of m/s²
        along the velocity, the thrust's whole second moment. The measurements after the latch
        then shrink the term."""
        i = np.flatnonzero(rows)
        c = self.config
        W = c.latch_thrust_window_s
        a = self._tracks.X[i, 1, 6:9]                     # the boost model is untouched by the latch
        v = self._tracks.X[i, 1, 3:6]
        Paa = self._tracks.P[i, 1, 6:9, 6:9]
        sa2 = c.burning_thrust_sigma_mps2 ** 2
        m = c.burning_thrust_mps2 * v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        C = Paa + sa2 * np.eye(3)
        Cinv = np.linalg.inv(C)
        d = a - m
        s0 = np.einsum("ni,ni->n", a, np.linalg.solve(Paa, a[:, :, None])[:, :, 0])
        s1 = np.einsum("ni,nij,nj->n", d, Cinv, d)
        llr = 0.5 * (s0 - s1) - 0.5 * (np.linalg.slogdet(C)[1] - np.linalg.slogdet(Paa)[1])
        p = 0.5 * (1.0 + np.tanh(0.5 * np.clip(llr, -60.0, 60.0)))     # logistic of the log odds
        K = sa2 * Cinv                                    # σ_A² C⁻¹
        m1 = m + np.einsum("nij,nj->ni", K, d)
        C1 = sa2 * (np.eye(3) - K)
        A = p[:, None, None] * (m1[:, :, None] * m1[:, None, :] + 0.5 * (C1 + np.swapaxes(C1, 1, 2)))
        J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])     # (6, 3)
        self._tracks.P[i, :, 0:6, 0:6] += (J @ A @ J.T)[:, None]

    def _bank_latch(self, rows: np.ndarray, t: float, due: np.ndarray, before: tuple | None) -> None:
        """The tracks latched this scan (``rows``, mask) take the burnout-time bank's (p, v) and
        covariance (:func:`.burnout.bank_state`) where it has one.

        A track whose bank puts more than ``latch_defer_weight`` on a burnout within the last
        ``min_ballistic_s`` is not latched yet (for at most ``latch_defer_max_s``): its row is
        removed from ``rows`` and its ballistic model given back the state it had before the
        bookkeeping's latch (``before``: the ballistic (X, P) of the rows ``due``, mask), so the
        IMM runs on and the latch is tried again at the next scan."""
        c = self.config
        tr = self._tracks
        for n in np.flatnonzero(rows).tolist():
            tid = int(tr.id[n])
            h = self._bank.peek(tid)
            if h is None:
                continue
            got = burnout.bank_state(h, t, self.sensors, self._step, self._step_consts, c.mu, c.burnout_bank_every_s)
            if (got is not None and before is not None and due[n]
                    and t - tr.ball_since[n] < c.min_ballistic_s + c.latch_defer_max_s
                    and float(got[2][got[3] > h.t[-1] - c.min_ballistic_s - 1e-6].sum()) > c.latch_defer_weight):
                i = int(np.count_nonzero(due[:n]))
                tr.X[n, BALLISTIC], tr.P[n, BALLISTIC] = before[0][i], before[1][i]
                tr.latched[n] = False
                rows[n] = False
                self.n_latch_deferred += 1
                continue
            self._bank.discard(tid)
            if got is None:
                continue
            x, P, _, _ = got
            self._tracks.X[n, 0, 0:6] = x
            self._tracks.P[n, 0, 0:6, 0:6] = P
            self._tracks.P[n, 0, 0:6, 6:9] = 0.0
            self._tracks.P[n, 0, 6:9, 0:6] = 0.0

    def _keep_boost_states(self, t: float, boosting: np.ndarray) -> None:
        """Keep the state of confirmed boosting tracks (ballistic mode below
        ``BOOST_STATE_MAX_BALLISTIC``, at most ``BOOST_STATES`` each) for the launch fit; called
        every ``BOOST_STATE_EVERY_S`` (one clock for all tracks, so most scans skip it)."""
        self._boost_due = t + prediction.BOOST_STATE_EVERY_S - 1e-6
        due = (boosting & (self._tracks.boost_n < prediction.BOOST_STATES)
               & (self._tracks.mu[:, BALLISTIC] < prediction.BOOST_STATE_MAX_BALLISTIC))
        if due.any():
            i = np.flatnonzero(due)
            x, P = combine(self._tracks.X[i], self._tracks.P[i], self._tracks.mu[i])
            sp = np.sqrt(np.trace(P[:, 0:3, 0:3], axis1=1, axis2=2) / 3.0)
            sv = np.sqrt(np.trace(P[:, 3:6, 3:6], axis1=1, axis2=2) / 3.0)
            self._tracks.boost[i, self._tracks.boost_n[i]] = np.column_stack([np.full(len(i), t), x[:, 0:6], sp, sv])
            self._tracks.boost_n[i] += 1

    def _initiate(self, t: float, s: int, z: np.ndarray) -> None:
        """Pair this scan's free detections with recent candidates; keep the rest as candidates."""
        c = self.config
        sa = self.sensors
        geo = (z, sa.site[s], sa.basis[s], sa.R[s], c.earth_radius_m, c.init_min_alt_m, c.init_max_alt_m)
        ok, cost, anyok, left = kernels.initiation_scan(
            *geo, self._cpos, self._ccov, self._ctr, self._ct, self._cvalid, t, c.init_window_s, c.v_max,
            c.init_n_sigma, c.init_min_dt_s)
        if not anyok and not left:   # stored already (most scans)
            return
        used = np.zeros(len(z), bool)
        if anyok:
            r, k = linear_sum_assignment(cost)
            sel = ok[r, k]
            r, k = r[sel], k[sel]
            if len(r):
                self._open(t, s, r, z[k])
                self._cvalid[r] = False
                used[k] = True
            left = kernels.store_scan(*geo, self._cpos, self._ccov, self._ctr, self._ct, self._cvalid, t, used)
        while left:
            self._grow_candidates()
            left = kernels.store_scan(*geo, self._cpos, self._ccov, self._ctr, self._ct, self._cvalid, t, used)

    def _grow_candidates(self) -> None:
        n = len(self._ct)
        self._cpos = np.concatenate([self._cpos, np.zeros((n, 3))])
        self._ccov = np.concatenate([self._ccov, np.zeros((n, 3, 3))])
        self._ctr = np.concatenate([self._ctr, np.zeros(n)])
        self._ct = np.concatenate([self._ct, np.zeros(n)])
        self._cvalid = np.concatenate([self._cvalid, np.zeros(n, bool)])

    def _open(self, t: float, s: int, rows: np.ndarray, z: np.ndarray) -> None:
        """Open tentative tracks from candidate rows and their second detections ``z``."""
        c = self.config
        X, P, mu = initiation.two_point_prior(self._cpos[rows], self._ccov[rows], t - self._ct[rows],
                                              c.sigma_v_init, c.sigma_a_init, c.mu0_boost, c.mu)
        k = len(rows)
        zhat, Hp = self.sensors.measure(X[:, :, 0:3], s)
        S = Hp @ P[:, :, 0:3, 0:3] @ np.swapaxes(Hp, -1, -2) + self.sensors.R[s]
        nu = z[:, None, :] - zhat
        nu[..., 1] = wrap_angle(nu[..., 1])
        k2 = k * N_MODELS
        X, P = ekf_update(X.reshape(k2, DIM), P.reshape(k2, DIM, DIM), nu.reshape(k2, 3),
                          Hp.reshape(k2, 3, 3), np.linalg.inv(S).reshape(k2, 3, 3), self.sensors.R[s])
        self._tracks = self._tracks.append(Tracks.opened(X.reshape(k, N_MODELS, DIM), P.reshape(k, N_MODELS, DIM, DIM),
                                                         mu, t, self._ct[rows]))

    # ------------------------------------------------------------------ re-acquisition
    def _to_pool(self, t: float, rows: np.ndarray) -> None:
        """Keep the dying confirmed tracks ``rows`` (mask) that are neither below ground nor
        diverged, as they are at ``t``, for :meth:`_reacquire`; forget those lost too long ago."""
        c = self.config
        if rows.any():
            took = np.flatnonzero(rows & ~self._tracks.latched & ~np.isnan(self._tracks.took))
            if len(took):   # its missile burnt out long ago: predicted over the gap on the arc
                self._latch(took, t)
            x, P = combine(self._tracks.X[rows], self._tracks.P[rows], self._tracks.mu[rows])
            alt = np.linalg.norm(x[:, 0:3], axis=1) - c.earth_radius_m
            ok = (alt >= c.min_alt_m) & (np.trace(P[:, 0:3, 0:3], axis1=1, axis2=2) <= c.max_sigma_m**2)
            idx = np.flatnonzero(rows)[ok]
            self._pool = self._pool.append(self._tracks.take(idx))
            self._pool_t = np.concatenate([self._pool_t, np.full(len(idx), t)])
        fresh = self._recent(t)
        if not fresh.all():
            self._pool = self._pool.take(fresh)
            self._pool_t = self._pool_t[fresh]

    def _recent(self, t: float) -> np.ndarray:
        """Mask of the pooled tracks lost recently enough at ``t`` to be re-acquired: within
        ``reacquire_s`` of their last update, or ``reacquire_ballistic_s`` once latched ballistic
        (an arc can be predicted across a long mid-course gap; the boost cannot)."""
        c = self.config
        age = t - self._pool.last
        return (age <= c.reacquire_s) | (self._pool.latched & (age <= c.reacquire_ballistic_s))

    def _drift(self, tau: float) -> np.ndarray:
        """Covariance a drifted track gains: white velocity error of ``lost_sigma_v`` per axis
        entered ``tau`` seconds ago, ``ΔP = σ² [[τ² I, τ I], [τ I, I]]`` (6×6)."""
        return self.config.lost_sigma_v**2 * np.kron([[tau * tau, tau], [tau, 1.0]], np.eye(3))

    def _pooled_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Combined ``(x, P, P_drift)`` of the pooled tracks, each predicted from its own time to
        ``t``: ``P`` its own covariance carried over the gap, ``P_drift`` the same with the
        covariance of a drift (:meth:`_drift`, entered at its last update) for a track deleted
        for missed detections (``P`` for the others)."""
        c = self.config
        n = len(self._pool_t)
        X, P, mu = self._pool.X.copy(), self._pool.P.copy(), self._pool.mu.copy()
        drifted = self._pool.misses >= c.confirmed_misses
        Pd = P.copy()
        for q in np.flatnonzero(drifted):
            Pd[q, :, 0:6, 0:6] += self._drift(float(self._pool_t[q] - self._pool.last[q]))
        for k in range(n):
            dt = t - float(self._pool_t[k])
            if dt > 0.0:
                sl = slice(k, k + 1)
                if drifted[k]:   # the means and mode probabilities do not depend on P
                    Xk, muk = X[sl].copy(), mu[sl].copy()
                    self._step(Xk, Pd[sl], muk, self._pool.latched[sl], dt)
                self._step(X[sl], P[sl], mu[sl], self._pool.latched[sl], dt)
        x, Pc = combine(X, P, mu)
        Pcd = Pc.copy()
        if drifted.any():
            Pcd[drifted] = combine(X[drifted], Pd[drifted], mu[drifted])[1]
        return x, Pc, Pcd

    def _reacquire(self, t: float, newly: np.ndarray, dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Give the newly confirmed tracks ``newly`` (mask) the identity of the lost tracks they
        continue; returns the mask of those left to take a fresh identity and ``dead`` with the
        coasting live tracks taken over added (their identity lives on: not reported lost).

        Candidates are the pooled tracks (deleted confirmed tracks, :meth:`_to_pool`, lost
        recently enough: :meth:`_recent`) and the live confirmed tracks not updated since the new
        track's first detection (coasting on a missile already picked up again). Each is
        predicted over the gap along its own motion model — the ballistic arc once burnout is
        latched, the IMM otherwise — and compared with the new track in the 6-D state space:
        ``d² = (x_n − x_l)ᵀ (P_n + P_l)⁻¹ (x_n − x_l)`` (the two estimates share no detection,
        so their errors are independent). Pairs with ``d² < reacquire_gate``, the lost track
        still above ground and its predicted position σ within ``max_sigma_m``, are assigned
        one-to-one by minimum total ``d²`` (Hungarian method), first under the candidates' own
        covariances, then, for the new tracks and candidates left over, with the drift
        covariance (:meth:`_drift`) of a candidate that missed detections (deleted for misses,
        or live and missed since its update): that hypothesis makes every nearby missile
        consistent, so it must not decide between two missiles lost together. The new track
        keeps its own state and takes the lost track's identity, confirmation time, launch
        anchor and boost-phase states (its launch fit is redone at its next prediction); one
        that took a latched identity is latched ``min_ballistic_s`` later (:meth:`_latch`). A
        coasting live candidate is dropped; a pooled arc predicted into the ground is forgotten.
        """
        c = self.config
        new = np.flatnonzero(newly)
        live = np.flatnonzero(self._tracks.confirmed & ~newly & ~dead & (self._tracks.last < self._tracks.born[new].max()))
        n_pool = len(self._pool_t)
        if n_pool + len(live) == 0:
            return newly, dead
        xn, Pn = combine(self._tracks.X[new], self._tracks.P[new], self._tracks.mu[new])
        xl, Pl = combine(self._tracks.X[live], self._tracks.P[live], self._tracks.mu[live])
        Pd = Pl.copy()
        for q in np.flatnonzero(self._tracks.misses[live] > 0):   # detections left its gate: drifted?
            Pd[q, 0:6, 0:6] += self._drift(t - float(self._tracks.last[live[q]]))
        if n_pool:
            xp, Pp, Ppd = self._pooled_at(t)
            xl, Pl, Pd = np.concatenate([xp, xl]), np.concatenate([Pp, Pl]), np.concatenate([Ppd, Pd])
        last = np.concatenate([self._pool.last, self._tracks.last[live]])
        d = xn[:, None, 0:6] - xl[None, :, 0:6]
        # a candidate predicted below ground, or so vaguely that a live track would be deleted
        # for it (position σ over max_sigma_m), would gate anything: it is never re-acquired
        above = np.linalg.norm(xl[:, 0:3], axis=1) - c.earth_radius_m >= c.min_alt_m
        above[:n_pool] &= self._recent(t)
        base = above[None, :] & (last[None, :] < self._tracks.born[new][:, None])

        def gated(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            S = Pn[:, None, 0:6, 0:6] + P[None, :, 0:6, 0:6]
            d2 = np.einsum("ijk,ijk->ij", d, np.linalg.solve(S, d[..., None])[..., 0])
            sharp = np.trace(P[:, 0:3, 0:3], axis1=1, axis2=2) <= c.max_sigma_m**2
            return d2, (d2 < c.reacquire_gate) & sharp[None, :] & base

        # first on each candidate's own arc; the drift hypothesis (a covariance that makes
        # every nearby missile consistent) only for the new tracks and candidates left over,
        # so that two missiles lost together (crossing in a radar fade) do not swap identities
        d2, ok = gated(Pl)
        r, k = assign(d2, ok)
        if (Pd != Pl).any() and len(r) < min(d2.shape):
            rest_r = np.setdiff1d(np.arange(d2.shape[0]), r)
            rest_k = np.setdiff1d(np.arange(d2.shape[1]), k)
            d2d, okd = gated(Pd)
            r2, k2 = assign(d2d[np.ix_(rest_r, rest_k)], okd[np.ix_(rest_r, rest_k)])
            r, k = np.concatenate([r, rest_r[r2]]), np.concatenate([k, rest_k[k2]])
        # a pooled ballistic arc predicted into the ground has impacted: forget it
        keep = ~(self._pool.latched & (np.linalg.norm(xl[:n_pool, 0:3], axis=1) - c.earth_radius_m < c.min_alt_m))
        fresh = newly.copy()
        from_pool, from_live = k < n_pool, k >= n_pool
        src = {name: np.concatenate([getattr(self._pool, name), getattr(self._tracks, name)[live]])[k]
               for name in ("id", "conf_t", "anchor", "boost", "boost_n", "latched", "took")}
        keep[k[from_pool]] = False
        if not keep.all():
            self._pool = self._pool.take(keep)
            self._pool_t = self._pool_t[keep]
        if len(r) == 0:
            return fresh, dead
        i = new[r]
        for name in ("id", "conf_t", "anchor", "boost", "boost_n"):
            getattr(self._tracks, name)[i] = src[name]
        for tid in src["id"].tolist():   # the lost track's detections are not the new track's
            self._bank.discard(int(tid))
        self._tracks.lfit[i] = np.nan
        took = i[src["latched"] | ~np.isnan(src["took"])]
        if len(took):
            self._tracks.took[took] = t
            self._took_pending = True    # kept out of the boost-phase bookkeeping until latched
        fresh[i] = False
        self.n_reacquired += len(r)
        if from_live.any():
            taken = live[k[from_live] - n_pool]
            self._tracks.id[taken] = -1     # its identity now belongs to the new track
            dead = dead.copy()
            dead[taken] = True
        return fresh, dead

    def _latch(self, rows: np.ndarray, t: float) -> None:
        """Latch tracks ``rows`` (indices) ballistic now: the tracks that took over the identity
        of a track already latched (a missile does not relight), once they have run
        ``min_ballistic_s`` on the IMM (a track a few detections old is not yet consistent enough
        for the ballistic model alone, which has no process noise to recover with), or when they
        are lost before. Until then they keep no boost-phase states (their descent would corrupt
        the rise fit of the launch) and make no boost-phase predictions. As the bookkeeping's
        latch does, the IMM mixture collapses onto the ballistic model by moment matching; no
        unseen-thrust term (:meth:`_unseen_thrust`): the burnout was long before."""
        X, P, mu = self._tracks.X, self._tracks.P, self._tracks.mu
        x, Pc = combine(X[rows], P[rows], mu[rows])
        X[rows, 0, 0:6] = x[:, 0:6]
        P[rows, 0, 0:6, 0:6] = Pc[:, 0:6, 0:6]
        X[rows, 1] = X[rows, 0]
        P[rows, 1] = P[rows, 0]
        mu[rows, 0], mu[rows, 1] = 1.0, 0.0
        self._tracks.latched[rows] = True
        self._tracks.ball_since[rows] = np.minimum(self._tracks.ball_since[rows], t)

    def _merge(self, t: float) -> None:
        self._last_merge_t = t
        dead = kernels.duplicates(self._tracks.X, self._tracks.P, self._tracks.mu, np.flatnonzero(self._tracks.confirmed), self._tracks.id,
                                  self.config.merge_gate)
        if dead.any():
            for tid in self._track_ids(np.flatnonzero(dead)):
                self._lost.append((tid, t))
                self._bank.discard(int(tid[1:]))
            self._keep(~dead)

    # ------------------------------------------------------------------ outputs
    def confirmed_tracks(self, t: float) -> list[TrackState]:
        """Confirmed tracks with their combined IMM state and 6×6 covariance predicted to ``t``.

        Unless ``config.report_outside_coverage``, tracks predicted outside every radar's
        coverage (coasting after leaving it) are not reported.
        """
        idx, _, _, x, P = self._confirmed_at(float(t))
        if len(idx) == 0:
            return []
        if not self.config.report_outside_coverage:
            vis = self.sensors.in_coverage(x[:, 0:3])
            idx, x, P = idx[vis], x[vis], P[vis]
        ids = self._track_ids(idx)
        covs = P[:, 0:6, 0:6].reshape(len(idx), 36).tolist()
        return [TrackState(float(t), tid, r[0], r[1], r[2], r[3], r[4], r[5], cov=tuple(cv))
                for tid, r, cv in zip(ids, x[:, 0:6].tolist(), covs)]

    def predictions(self, t: float) -> list[Prediction]:
        """Launch/impact predictions at ``t`` for the confirmed ballistic tracks, plus a
        ``status="lost"`` copy of the last prediction of each track dropped since the last call.

        A track is *ballistic* (burnout latched) once its IMM ballistic-mode probability has
        stayed at or above ``config.ballistic_prob`` for ``config.min_ballistic_s``; from then on
        it runs the ballistic model alone (a missile does not relight), and its state and
        covariance (predicted to ``t``) go through :func:`predict_launch_impact`.
        """
        c = self.config
        t = float(t)
        out: list[Prediction] = []
        for tid, tl in self._lost:
            # its arc stays: a track re-acquired under this id (:meth:`_reacquire`) is checked
            # against it, so a new track of another missile that took the id is marked suspect
            self._suspect.pop(tid, None)
            last = self._last_pred.pop(tid, None)
            if last is not None:
                out.append(replace(last, t=tl, status="lost"))
        self._lost.clear()
        if c.boost_predictions:
            out += self._boost_predictions(t)
        sel = np.flatnonzero(self._tracks.confirmed & self._tracks.latched)
        if len(sel) == 0:
            return out
        todo = sel[np.isnan(self._tracks.lfit[sel, 3])]
        if len(todo):   # once per track, at its first prediction: the boost is over
            fits = [fit or (np.nan, np.nan, np.nan, -1.0) for fit in self._launch_fits(todo)]
            # no rise fit: the launch from the single boost-phase anchor, a fixed state, once
            # (what predict_launch_impact would otherwise redo from the anchor at every call)
            q = [k for k, fit in enumerate(fits) if fit[3] < 0.0]
            if q:
                ok, at, alat, alon = prediction.launch_from_anchors(self._tracks.anchor[todo[q]], radius=c.earth_radius_m)
                for k, good, row in zip(q, ok.tolist(), zip(at.tolist(), alat.tolist(), alon.tolist())):
                    if good:
                        fits[k] = (*row, prediction.LAUNCH_ANCHOR_SIGMA_M)
            self._tracks.lfit[todo] = fits
        X, P, _, _ = self._confirmed_rows_at(t, sel)
        preds = predict_launch_impact(t, self._track_ids(sel), X[:, BALLISTIC, 0:6],
                                      P[:, BALLISTIC, 0:6, 0:6], mu=c.mu, radius=c.earth_radius_m,
                                      anchors=self._tracks.anchor[sel], launch_fit=self._tracks.lfit[sel])
        preds = self._mark_suspects(preds)
        for p in preds:
            self._last_pred[p.track_id] = p
        return out + preds

    def _boost_predictions(self, t: float) -> list[Prediction]:
        """``status="boost"`` predictions of the confirmed tracks not yet latched ballistic whose
        launch the rise fit can place (:func:`accord.warning.boost.boost_prediction`, given the
        track's boost states too: the flight plane is fitted to their positions)."""
        if t < self._boost_pred_due:
            return []
        sel = np.flatnonzero(self._tracks.confirmed & ~self._tracks.latched & (self._tracks.id > 0) & np.isnan(self._tracks.took)
                             & (self._tracks.boost_n >= prediction.BOOST_FIT_MIN_STATES))
        if len(sel) == 0:
            return []
        self._boost_pred_due = t + self.config.boost_every_s - 1e-6
        out = []
        _, _, x, P = self._confirmed_rows_at(t, sel)
        for q, (tid, fit) in enumerate(zip(self._tracks.id[sel].tolist(), self._launch_fits(sel))):
            if not fit:
                continue
            row = sel[q]
            p = boost.boost_prediction(t, f"T{tid}", x[q, 0:6], P[q, 0:6, 0:6], *fit,
                                       states=self._tracks.boost[row, : self._tracks.boost_n[row]])
            if p is not None:
                out.append(p)
        return out

    def _launch_fits(self, rows: np.ndarray) -> list[tuple[float, ...]]:
        """The rise fit (:func:`accord.warning.prediction.launch_from_boost_states`) of tracks
        ``rows``: ``(t, lat°, lon°, σ m)``, or ``()`` where it fails. A fit depends only on the
        track's boost states, so it is kept per track and number of states and redone (for all
        the tracks that need it in one call) only when a state was added."""
        ids, counts = self._tracks.id[rows].tolist(), self._tracks.boost_n[rows].tolist()
        stale = [q for q, (tid, n) in enumerate(zip(ids, counts))
                 if tid <= 0 or (got := self._boost_fits.get(tid)) is None or got[0] != n]
        fits: dict[int, tuple[float, ...]] = {}
        if stale:
            r = rows[stale]
            ok, lt, la, lo, sg = prediction.launch_from_boost_states(self._tracks.boost[r], self._tracks.boost_n[r],
                                                                    radius=self.config.earth_radius_m)
            for k, q in enumerate(stale):
                fits[q] = (float(lt[k]), float(la[k]), float(lo[k]), float(sg[k])) if ok[k] else ()
                if ids[q] > 0:
                    self._boost_fits[ids[q]] = (counts[q], fits[q])
        return [fits[q] if q in fits else self._boost_fits[tid][1] for q, tid in enumerate(ids)]

    def _mark_suspects(self, preds: list[Prediction]) -> list[Prediction]:
        """``status="suspect"`` on each prediction off its track's own arc (the arc is the
        track's latest prediction that was on it); a new arc that holds for
        ``config.suspect_hold_s`` becomes the track's arc (see :mod:`accord.warning.identity`)."""
        out = []
        for p in preds:
            tid = p.track_id
            arc = self._arc.get(tid)
            if arc is None or same_arc(arc, p):
                self._arc[tid] = p
                self._suspect.pop(tid, None)
                out.append(p)
                continue
            since, last = self._suspect.get(tid, (p.t, p))
            if not same_arc(last, p):
                since = p.t
            if p.t - since >= self.config.suspect_hold_s:
                self._arc[tid] = p
                self._suspect.pop(tid, None)
                out.append(p)
                continue
            self._suspect[tid] = (since, p)
            out.append(replace(p, status="suspect"))
        return out
