"""Burnout-time hypotheses: the ballistic state handed to the predictions at the latch.

The IMM's ballistic model is a poor witness of the seconds right after burnout: while the
boost-mode probability falls (~0.9 → 0.1 over 3–6 s after burnout) the mixing re-seeds the
ballistic model from a boost model that has kept thrusting past the burnout, and the ballistic
model, which has no process noise, keeps the covariance that mixing made until the latch
(docs/tracking.md, "Accuracy at the bound", 6). So at the latch the tracker replaces the
ballistic (p, v) and covariance by those of a bank of burnout-time hypotheses, computed once
from what the track kept over the last ``burnout_bank_s`` seconds (:class:`History`):

* each detection it was updated with (time, radar, range/azimuth/elevation) and the boost
  model's predictive log-likelihood of it, ``log N(ν; 0, S)`` from the gate;
* every ``burnout_bank_every_s`` a snapshot of the boost model's (p, v) and covariance, after
  that scan's update.

Hypothesis ``k`` — *the motor burnt out at snapshot ``k``* — runs the boost model up to the
snapshot (the IMM's own boost model: its log-likelihoods ``B_k``) and a ballistic EKF started
from the snapshot's (p, v, P) over the detections after it (``L_k``). Every hypothesis explains
the same detections, so ``log p(z | k) = B_k + L_k`` (chain rule: the snapshot is the boost
model's posterior given the detections up to it). With a prior uniform in burnout time (each
snapshot stands for the time until the next), the posterior weights ``w_k`` give the
moment-matched mixture ``x = Σ w_k x_k``, ``P = Σ w_k (P_k + (x_k − x)(x_k − x)ᵀ)``: the spread
over burnout times, not the mixing's re-seeding, is what the covariance then carries. When the
best hypothesis is the earliest one (the burnout lies before the window) the IMM's own latched
state is kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from accord.warning.tracking import kernels
from accord.warning.tracking.models import BALLISTIC, DIM, N_MODELS
from accord.warning.tracking.sensors import SensorArray


@dataclass
class History:
    """One boosting track's recent detections and boost-model snapshots (see the module)."""

    t: deque = field(default_factory=deque)       # detection times
    s: deque = field(default_factory=deque)       # radar index
    z: deque = field(default_factory=deque)       # (3,) range, az, el
    ll: deque = field(default_factory=deque)      # boost model's predictive log-likelihood
    snap: deque = field(default_factory=deque)    # None, or ((6,) x, (6, 6) P) after this update
    last_snap: float = -np.inf

    def add(self, t: float, s: int, z: np.ndarray, ll: float, x: np.ndarray | None, P: np.ndarray | None,
            keep_s: float) -> None:
        self.t.append(t)
        self.s.append(s)
        self.z.append(z)
        self.ll.append(ll)
        self.snap.append(None if x is None else (x, P))
        if x is not None:
            self.last_snap = t
        while self.t and self.t[0] < t - keep_s:
            for q in (self.t, self.s, self.z, self.ll, self.snap):
                q.popleft()

    def to_json(self) -> dict:
        """The history as JSON values (floats round-trip exactly); :meth:`from_json` reads it."""
        return {"t": list(self.t), "s": list(self.s), "z": [z.tolist() for z in self.z], "ll": list(self.ll),
                "snap": [None if sn is None else [sn[0].tolist(), sn[1].tolist()] for sn in self.snap],
                "last_snap": self.last_snap}

    @classmethod
    def from_json(cls, v: dict) -> "History":
        snap = [None if sn is None else (np.array(sn[0], dtype=float), np.array(sn[1], dtype=float))
                for sn in v["snap"]]
        return cls(deque(float(t) for t in v["t"]), deque(int(s) for s in v["s"]),
                   deque(np.array(z, dtype=float) for z in v["z"]), deque(float(x) for x in v["ll"]),
                   deque(snap), float(v["last_snap"]))


def bank_state(h: History, t: float, sensors: SensorArray, step: Callable[..., None], mu_g: float,
               min_hypotheses: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The burnout-time bank's ``(x (6,), P (6, 6), weights, snapshot times)`` at ``t`` (not
    before the history's last detection), or ``None`` when it has fewer than ``min_hypotheses``
    snapshots or its best hypothesis is the earliest (the burnout before the window).

    ``step(X, P, mu, latched, dt)`` is the tracker's time update (in place; latched rows run the
    ballistic model alone). The hypotheses start in time order, so those running at any scan
    are the first ``na`` rows, and each scan is the tracker's own compiled gate and update on
    them."""
    starts = [j for j, sn in enumerate(h.snap) if sn is not None]
    K = len(starts)
    if K < min_hypotheses:
        return None
    ts = np.asarray(h.t, dtype=float)
    B = np.cumsum(np.asarray(h.ll, dtype=float))
    X = np.zeros((K, N_MODELS, DIM))
    P = np.zeros((K, N_MODELS, DIM, DIM))
    P[:, :, 6:9, 6:9] = np.eye(3) * 1e-6
    mu = np.zeros((K, N_MODELS))
    mu[:, BALLISTIC] = 1.0
    latched = np.ones(K, bool)
    L = np.zeros(K)
    na = 0
    t_prev = ts[0]
    for j in range(len(ts)):
        if na:
            if ts[j] > t_prev:
                step(X[:na], P[:na], mu[:na], latched[:na], ts[j] - t_prev)
            s = h.s[j]
            z = h.z[j][None, :]
            zhat, Hp, Sinv, _, ll, _ = kernels.gate(X[:na], P[:na], mu[:na], z, sensors.site[s], sensors.basis[s],
                                                    sensors.R[s])
            L[:na] += ll[:, BALLISTIC, 0]
            kernels.imm_update(X[:na], P[:na], mu[:na], latched[:na], np.arange(na), np.zeros(na, np.int64), z,
                               zhat, Hp, Sinv, ll, sensors.R[s])
        t_prev = ts[j]
        if h.snap[j] is not None:
            x, Px = h.snap[j]
            X[na, :, 0:6] = x
            P[na, :, 0:6, 0:6] = Px
            na += 1
    if t > t_prev:
        step(X, P, mu, latched, t - t_prev)
    tk = ts[starts]
    span = np.diff(np.r_[tk, ts[-1]])
    score = B[starts] + L + np.log(np.maximum(span, 1e-3))
    if int(np.argmax(score)) == 0:
        return None
    w = np.exp(score - score.max())
    w /= w.sum()
    xs = X[:, BALLISTIC, 0:6]
    x = w @ xs
    d = xs - x
    Pm = np.einsum("k,kij->ij", w, P[:, BALLISTIC, 0:6, 0:6]) + np.einsum("k,ki,kj->ij", w, d, d)
    return x, 0.5 * (Pm + Pm.T), w, tk
