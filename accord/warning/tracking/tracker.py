"""The multi-radar, multi-target ballistic-missile tracker.

One :class:`Tracker` takes radar scans in time order (:meth:`Tracker.process_scan`: all
detections of one radar at one time) and keeps every track as rows of stacked numpy arrays, so a
scan costs a fixed number of array operations whatever the number of tracks and detections:

1. **predict** all tracks to the scan time — IMM mixing, then the ballistic and boost models
   (:mod:`.models`, :mod:`.filters`);
2. **gate and associate** — squared Mahalanobis distances in (range, azimuth, elevation) with the
   azimuth innovation wrapped; global nearest neighbour by optimal assignment, confirmed tracks
   first, then tentative ones on the detections left (:mod:`.association`);
3. **update** the assigned tracks — EKF per model with the Joseph form, mode probabilities;
4. **book-keep** — M-of-N confirmation (:mod:`.initiation`), deletion (:mod:`.deletion`), new
   tentative tracks from the plausible detections that no confirmed track gates, and merging of
   confirmed duplicates (6-D Mahalanobis test).

:meth:`Tracker.confirmed_tracks` reports the confirmed tracks predicted to any time, and
:meth:`Tracker.predictions` the launch/impact predictions of the confirmed *ballistic* ones
(:mod:`accord.warning.prediction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.stats import chi2

from accord.errors import InputError
from accord.warning.frames import EARTH_RADIUS_M, MU
from accord.warning.prediction import predict_launch_impact
from accord.warning.tracking import deletion, initiation
from accord.warning.tracking.association import assign, gate_and_cost
from accord.warning.tracking.filters import combine, ekf_update, mix, transition_matrix
from accord.warning.tracking.models import BALLISTIC, DIM, N_MODELS, predict, process_noise
from accord.warning.tracking.sensors import TWO_PI, SensorArray, wrap_angle
from accord.warning.types import Prediction, TrackState


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of the tracker (defaults tuned on the sample scenarios; see docs/tracking.md)."""

    q_ballistic: float = 0.05
    """Ballistic model: white-acceleration density, m²/s³ (model and round-off error only)."""
    q_boost: float = 2.0
    """Boost model: white-jerk density on the thrust acceleration, m²/s⁵."""
    q_boost_vel: float = 1.0
    """Boost model: extra white-acceleration density on (p, v), m²/s³."""
    tau_boost_s: float = 30.0
    """Mean time before the boost model hands over to the ballistic one (IMM Markov chain)."""
    tau_ballistic_s: float = 2000.0
    """Mean time before the ballistic model switches to boost (rare: staging, mis-initiation)."""
    mu0_boost: float = 0.5
    """Boost-model probability of a new track."""
    gate: float = float(chi2.ppf(0.9999, 3))
    """χ²(3) gate on the squared Mahalanobis distance of a detection to a track."""
    sigma_v_init: float = 2500.0
    """Prior σ of each velocity component of a new track, m/s."""
    sigma_a_init: float = 40.0
    """Prior σ of each thrust-acceleration component of a new track (boost model), m/s²."""
    confirm_m: int = 3
    confirm_n: int = 5
    """M-of-N confirmation over detection opportunities."""
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
    merge_gate: float = float(chi2.ppf(0.999, 6))
    """Two confirmed tracks closer than this 6-D Mahalanobis distance are one target."""
    ballistic_prob: float = 0.95
    """Predictions are made for confirmed tracks whose ballistic-mode probability is at least this."""
    min_ballistic_s: float = 4.0
    """… and has been so for this many seconds."""
    report_outside_coverage: bool = False
    """Report confirmed tracks predicted outside every radar's coverage (coasting)."""
    mu: float = MU
    earth_radius_m: float = EARTH_RADIUS_M


_INT = np.int64


class Tracker:
    """IMM-EKF multi-target tracker with GNN association, M-of-N initiation and deletion.

    ``sensors``: the header's sensors (:class:`accord.warning.io.Sensor` objects or header
    dicts, or a :class:`SensorArray`). Detections must come in non-decreasing time.
    """

    def __init__(self, sensors: Sequence[Any] | SensorArray, config: TrackerConfig | None = None) -> None:
        self.sensors = SensorArray.from_sensors(sensors)
        self.config = config or TrackerConfig()
        c = self.config
        self._tau = np.array([c.tau_ballistic_s, c.tau_boost_s])
        self.t: float | None = None
        self.n_scans = 0
        self.n_detections = 0
        self._X = np.zeros((0, N_MODELS, DIM))
        self._P = np.zeros((0, N_MODELS, DIM, DIM))
        self._mu = np.zeros((0, N_MODELS))
        self._hist = np.zeros(0, _INT)
        self._misses = np.zeros(0, _INT)
        self._last = np.zeros(0)
        self._ball_since = np.zeros(0)
        self._confirmed = np.zeros(0, bool)
        self._id = np.zeros(0, _INT)
        self._next_id = 1
        self._lost: list[tuple[str, float]] = []
        self._last_pred: dict[str, Prediction] = {}
        self._last_merge_t = -np.inf

    # ------------------------------------------------------------------ state of the tracks
    @property
    def n_tracks(self) -> int:
        """Number of live tracks (tentative and confirmed)."""
        return int(self._X.shape[0])

    @property
    def n_confirmed(self) -> int:
        return int(self._confirmed.sum())

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("_X", "_P", "_mu", "_hist", "_misses", "_last", "_ball_since", "_confirmed", "_id"):
            setattr(self, name, getattr(self, name)[keep])

    def _track_ids(self, idx: np.ndarray) -> list[str]:
        return [f"T{i}" for i in self._id[idx].tolist()]

    # ------------------------------------------------------------------ time update
    def _predict_to(self, t: float) -> None:
        if self.t is None:
            self.t = t
            return
        dt = t - self.t
        if dt > 0.0 and self.n_tracks:
            c = self.config
            X0, P0, cbar = mix(self._X, self._P, self._mu, transition_matrix(dt, self._tau))
            Q = process_noise(dt, c.q_ballistic, c.q_boost, c.q_boost_vel)
            self._X, self._P = predict(X0, P0, dt, Q, mu=c.mu)
            self._mu = cbar
        if dt > 0.0:
            self.t = t

    def _predicted_copy(self, t: float, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Combined (x 9, P 9×9) of tracks ``idx`` predicted to ``t`` without changing the tracker."""
        c = self.config
        X, P, mu = self._X[idx], self._P[idx], self._mu[idx]
        dt = t - (self.t if self.t is not None else t)
        if dt != 0.0 and len(idx):
            X0, P0, cbar = mix(X, P, mu, transition_matrix(dt, self._tau))
            X, P = predict(X0, P0, dt, process_noise(dt, c.q_ballistic, c.q_boost, c.q_boost_vel), mu=c.mu)
            mu = cbar
        return combine(X, P, mu)

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
        z = np.array(rae, dtype=float, copy=True)
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
        self._predict_to(t)
        self.n_scans += 1
        self.n_detections += z.shape[0]
        c = self.config
        N, m = self.n_tracks, z.shape[0]
        hit = np.zeros(N, bool)
        free = np.ones(m, bool)
        near_confirmed = np.zeros(m, bool)
        if N:
            zhat, Hp = self.sensors.measure(self._X[:, :, 0:3], s)             # (N,2,3), (N,2,3,3)
            HpT = np.swapaxes(Hp, -1, -2)
            S = Hp @ self._P[:, :, 0:3, 0:3] @ HpT + self.sensors.R[s]
            if m:
                d2, cost = gate_and_cost(z, zhat, S, np.log(np.maximum(self._mu, 1e-300)))
                in_gate = d2 < c.gate
                conf = np.flatnonzero(self._confirmed)
                r1, c1 = assign(cost[conf], in_gate[conf])
                rows, cols = [conf[r1]], [c1]
                free[c1] = False
                tent = np.flatnonzero(~self._confirmed)
                left = np.flatnonzero(free)
                if len(tent) and len(left):
                    r2, c2 = assign(cost[np.ix_(tent, left)], in_gate[np.ix_(tent, left)])
                    rows.append(tent[r2])
                    cols.append(left[c2])
                    free[left[c2]] = False
                ri = np.concatenate(rows)
                ci = np.concatenate(cols)
                near_confirmed = in_gate[conf].any(axis=0)
                if len(ri):
                    self._update(ri, z[ci], zhat[ri], Hp[ri], s)
                    hit[ri] = True
            # detection opportunities: the predicted position is in this radar's coverage
            x_pos = np.einsum("nj,nji->ni", self._mu, self._X[:, :, 0:3])
            opp = self.sensors.in_coverage(x_pos, s) | hit
            self._hist[opp] = ((self._hist[opp] << 1) | hit[opp]) & 0xFFFF
            self._misses[opp & ~hit] += 1
            self._misses[hit] = 0
            self._last[hit] = t
            newly = ~self._confirmed & (initiation.popcount(self._hist, c.confirm_n) >= c.confirm_m)
            if newly.any():
                k = int(newly.sum())
                self._id[newly] = np.arange(self._next_id, self._next_id + k)
                self._next_id += k
                self._confirmed |= newly
            ball = self._mu[:, BALLISTIC] >= c.ballistic_prob
            self._ball_since = np.where(ball, np.minimum(self._ball_since, t), np.inf)
            self._delete(t)
            if (newly.any() or t - self._last_merge_t >= 1.0) and self.n_confirmed > 1:
                self._merge(t)
        # new tentative tracks
        new = free & ~near_confirmed
        if new.any():
            zn = z[new]
            pos = self.sensors.to_ecef(zn, s)
            alt = np.linalg.norm(pos, axis=1) - c.earth_radius_m
            ok = initiation.plausible(alt, c.init_min_alt_m, c.init_max_alt_m)
            if ok.any():
                self._spawn(t, pos[ok], self.sensors.position_cov(zn[ok], s))

    def _update(self, ri: np.ndarray, zk: np.ndarray, zhat: np.ndarray, Hp: np.ndarray, s: int) -> None:
        K = len(ri)
        nu = zk[:, None, :] - zhat                                            # (K, 2, 3)
        nu[..., 1] = wrap_angle(nu[..., 1])
        Xn, Pn, ll = ekf_update(self._X[ri].reshape(K * N_MODELS, DIM),
                                self._P[ri].reshape(K * N_MODELS, DIM, DIM),
                                nu.reshape(K * N_MODELS, 3), Hp.reshape(K * N_MODELS, 3, 3),
                                self.sensors.R[s])
        self._X[ri] = Xn.reshape(K, N_MODELS, DIM)
        self._P[ri] = Pn.reshape(K, N_MODELS, DIM, DIM)
        ll = ll.reshape(K, N_MODELS)
        w = self._mu[ri] * np.exp(ll - ll.max(axis=1, keepdims=True))
        w = np.maximum(w / w.sum(axis=1, keepdims=True), 1e-12)
        self._mu[ri] = w / w.sum(axis=1, keepdims=True)

    def _spawn(self, t: float, pos: np.ndarray, pos_cov: np.ndarray) -> None:
        c = self.config
        X, P, mu = initiation.initial_states(pos, pos_cov, c.sigma_v_init, c.sigma_a_init, c.mu0_boost)
        k = pos.shape[0]
        self._X = np.concatenate([self._X, X])
        self._P = np.concatenate([self._P, P])
        self._mu = np.concatenate([self._mu, mu])
        self._hist = np.concatenate([self._hist, np.ones(k, _INT)])
        self._misses = np.concatenate([self._misses, np.zeros(k, _INT)])
        self._last = np.concatenate([self._last, np.full(k, t)])
        self._ball_since = np.concatenate([self._ball_since, np.full(k, np.inf)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(k, bool)])
        self._id = np.concatenate([self._id, np.full(k, -1, _INT)])

    def _delete(self, t: float) -> None:
        c = self.config
        pos = np.einsum("nj,nji->ni", self._mu, self._X[:, :, 0:3])
        alt = np.linalg.norm(pos, axis=1) - c.earth_radius_m
        pvar = np.einsum("nj,njii->n", self._mu, self._P[:, :, 0:3, 0:3])
        dead = deletion.to_delete(t, self._confirmed, self._misses, self._last, alt, pvar,
                                  tentative_misses=c.tentative_misses, confirmed_misses=c.confirmed_misses,
                                  max_coast_tentative_s=c.max_coast_tentative_s, max_coast_s=c.max_coast_s,
                                  max_sigma_m=c.max_sigma_m, min_alt_m=c.min_alt_m)
        if dead.any():
            for tid in self._track_ids(np.flatnonzero(dead & self._confirmed)):
                self._lost.append((tid, t))
            self._keep(~dead)

    def _merge(self, t: float) -> None:
        self._last_merge_t = t
        idx = np.flatnonzero(self._confirmed)
        x, P = combine(self._X[idx], self._P[idx], self._mu[idx])
        x, P = x[:, 0:6], P[:, 0:6, 0:6]
        i, j = np.triu_indices(len(idx), 1)
        d = x[i] - x[j]
        d2 = np.einsum("ki,kij,kj->k", d, np.linalg.inv(P[i] + P[j]), d)
        close = d2 < self.config.merge_gate
        if close.any():
            # keep the older track (smaller id) of each close pair
            drop = np.where(self._id[idx[i]] > self._id[idx[j]], idx[i], idx[j])[close]
            dead = np.zeros(self.n_tracks, bool)
            dead[drop] = True
            for tid in self._track_ids(np.flatnonzero(dead)):
                self._lost.append((tid, t))
            self._keep(~dead)

    # ------------------------------------------------------------------ outputs
    def confirmed_tracks(self, t: float) -> list[TrackState]:
        """Confirmed tracks with their combined IMM state and 6×6 covariance predicted to ``t``.

        Unless ``config.report_outside_coverage``, tracks predicted outside every radar's
        coverage (coasting after leaving it) are not reported.
        """
        idx = np.flatnonzero(self._confirmed)
        if len(idx) == 0:
            return []
        x, P = self._predicted_copy(float(t), idx)
        if not self.config.report_outside_coverage:
            vis = self.sensors.in_coverage(x[:, 0:3])
            idx, x, P = idx[vis], x[vis], P[vis]
        ids = self._track_ids(idx)
        covs = P[:, 0:6, 0:6].reshape(len(idx), 36).tolist()
        return [TrackState(float(t), tid, *row, cov=tuple(cv))
                for tid, row, cv in zip(ids, x[:, 0:6].tolist(), covs)]

    def predictions(self, t: float) -> list[Prediction]:
        """Launch/impact predictions at ``t`` for the confirmed ballistic tracks, plus a
        ``status="lost"`` copy of the last prediction of each track dropped since the last call."""
        c = self.config
        t = float(t)
        out: list[Prediction] = []
        for tid, tl in self._lost:
            last = self._last_pred.pop(tid, None)
            if last is not None:
                out.append(replace(last, t=tl, status="lost"))
        self._lost.clear()
        sel = np.flatnonzero(self._confirmed & (self._mu[:, BALLISTIC] >= c.ballistic_prob)
                             & (t - self._ball_since >= c.min_ballistic_s))
        if len(sel) == 0:
            return out
        X, P = self._X[sel, BALLISTIC], self._P[sel, BALLISTIC]
        dt = t - (self.t if self.t is not None else t)
        if dt != 0.0:
            Xs, Ps = predict(self._X[sel], self._P[sel], dt,
                             process_noise(dt, c.q_ballistic, c.q_boost, c.q_boost_vel), mu=c.mu)
            X, P = Xs[:, BALLISTIC], Ps[:, BALLISTIC]
        preds = predict_launch_impact(t, self._track_ids(sel), X[:, 0:6], P[:, 0:6, 0:6],
                                      mu=c.mu, radius=c.earth_radius_m)
        for p in preds:
            self._last_pred[p.track_id] = p
        return out + preds
