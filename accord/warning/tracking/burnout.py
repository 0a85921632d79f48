"""Burnout-time hypotheses: the ballistic state handed to the predictions at the latch.

The IMM's ballistic model is a poor witness of the seconds right after burnout: while the
boost-mode probability falls (~0.9 → 0.1 over 3–6 s after burnout) the mixing re-seeds the
ballistic model from a boost model that has kept thrusting past the burnout, and the ballistic
model, which has no process noise, keeps the covariance that mixing made until the latch
(docs/tracking.md, "Accuracy at the bound", 6). So at the latch the tracker replaces the
ballistic (p, v) and covariance by those of a bank of burnout-time hypotheses, computed once
from what the track kept over the last ``burnout_bank_s`` seconds (:class:`History`):

* each detection it was updated with (time, radar, range/azimuth/elevation), the boost
  model's predictive log-likelihood of it, ``log N(ν; 0, S)`` from the gate, and the boost
  model's 9-D state and covariance after that update.

Hypothesis ``k`` — *the motor burnt out at* ``τ_k`` — runs the boost model up to ``τ_k`` (the
IMM's own boost model: its log-likelihoods ``B_k`` of the detections up to ``τ_k``) and a
ballistic EKF from its (p, v, P) at ``τ_k`` over the detections after it (``L_k``). The times
``τ_k`` are every ``burnout_bank_every_s``: at a detection when one is due, and across a gap
between two detections (a missed scan, a radar hand-over) from the last detection's boost
posterior carried on by the boost model, still thrusting, to ``τ_k`` — a burnout inside a gap
is as likely as one at a detection, and a hypothesis only at each end of a 4–6 s gap sits
seconds of thrust (100–250 m/s) from it. Every hypothesis explains
the same detections, so ``log p(z | k) = B_k + L_k`` (chain rule: the start of k is the boost
model's posterior given the detections up to τ_k). With a prior uniform in burnout time (each
hypothesis stands for the time until the next), the posterior weights ``w_k`` give the
moment-matched mixture ``x = Σ w_k x_k``, ``P = Σ w_k (P_k + (x_k − x)(x_k − x)ᵀ)``: the spread
over burnout times, not the mixing's re-seeding, is what the covariance then carries. When the
best hypothesis is the earliest one (the burnout lies before the window) the IMM's own latched
state is kept.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

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
    snap: deque = field(default_factory=deque)    # the boost model's ((9,) x, (9, 9) P) after this update

    def add(self, t: float, s: int, z: np.ndarray, ll: float, x: np.ndarray, P: np.ndarray, keep_s: float) -> None:
        self.t.append(t)
        self.s.append(s)
        self.z.append(z)
        self.ll.append(ll)
        self.snap.append((x, P))
        while self.t and self.t[0] < t - keep_s:
            for q in (self.t, self.s, self.z, self.ll, self.snap):
                q.popleft()

    def to_json(self) -> dict:
        """The history as JSON values (floats round-trip exactly); :meth:`from_json` reads it."""
        return {"t": list(self.t), "s": list(self.s), "z": [z.tolist() for z in self.z], "ll": list(self.ll),
                "snap": [None if sn is None else [sn[0].tolist(), sn[1].tolist()] for sn in self.snap]}

    @classmethod
    def from_json(cls, v: dict) -> "History":
        snap = [None if sn is None else _full(np.array(sn[0], dtype=float), np.array(sn[1], dtype=float))
                for sn in v["snap"]]
        return cls(deque(float(t) for t in v["t"]), deque(int(s) for s in v["s"]),
                   deque(np.array(z, dtype=float) for z in v["z"]), deque(float(x) for x in v["ll"]),
                   deque(snap))


def _full(x: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A snapshot as 9-D (a (p, v) one written before the thrust was kept gets no thrust)."""
    if len(x) == DIM:
        return x, P
    xf = np.zeros(DIM)
    Pf = np.zeros((DIM, DIM))
    xf[: len(x)] = x
    Pf[: len(x), : len(x)] = P
    return xf, Pf


def hypothesis_times(h: History, every: float) -> list[tuple[float, int]]:
    """The hypotheses' burnout times ``τ`` with the detection ``j`` whose boost posterior each
    starts from: a detection at least ``every`` after the previous hypothesis, then, where the
    next detection is more than ``every`` away, times every ``every`` across the gap (the burnout
    may fall between two detections as well as at one)."""
    ts = list(h.t)
    out: list[tuple[float, int]] = []
    last = -np.inf
    for j, tj in enumerate(ts):
        if h.snap[j] is None:
            continue
        if tj - last >= every - 1e-6:
            out.append((tj, j))
            last = tj
        if j + 1 < len(ts):
            tau = last + every
            while tau < ts[j + 1] - 1e-6:
                out.append((tau, j))
                last = tau
                tau += every
    return out


def bank_state(h: History, t: float, sensors: SensorArray, step: Callable[..., None],
               consts: Callable[[float], tuple[int, np.ndarray, np.ndarray, np.ndarray]], mu_g: float,
               every: float = 1.0, min_hypotheses: int = 3
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The burnout-time bank's ``(x (6,), P (6, 6), weights, burnout times)`` at ``t`` (not
    before the history's last detection), or ``None`` when it has fewer than ``min_hypotheses``
    hypotheses or its best hypothesis is the earliest (the burnout before the window).

    The hypotheses are :func:`hypothesis_times`: one at a detection starts from the boost
    model's posterior there; one inside a gap between detections from that posterior carried
    by the boost model (still thrusting) to its time, then by the ballistic model to the next
    detection. ``step(X, P, mu, latched, dt)`` is the tracker's time update (in place; latched
    rows run the ballistic model alone) and ``consts(dt)`` its sub-step count and constants
    ``(n, Pi, Phi, Q)`` over ``dt``. The hypotheses start in time order, so those running at
    any scan are the first ``na`` rows; the scans run in one compiled loop (:func:`_bank_scans`)
    of the tracker's own time update, gate and update."""
    hyp = hypothesis_times(h, every)
    K = len(hyp)
    if K < min_hypotheses:
        return None
    consts = _memo(consts)                          # the radars' revisits repeat the same intervals
    ts = np.asarray(h.t, dtype=float)
    J = len(ts)
    B = np.cumsum(np.asarray(h.ll, dtype=float))
    X = np.zeros((K, N_MODELS, DIM))
    P = np.zeros((K, N_MODELS, DIM, DIM))
    P[:, :, 6:9, 6:9] = np.eye(3) * 1e-6
    mu = np.zeros((K, N_MODELS))
    mu[:, BALLISTIC] = 1.0
    latched = np.ones(K, bool)
    tk = np.array([tau for tau, _ in hyp])
    Bk = np.array([B[j] for _, j in hyp])
    at: dict[int, list[int]] = {}                  # detection → its hypotheses
    for k, (_, j) in enumerate(hyp):
        at.setdefault(j, []).append(k)
    n_at = np.zeros(J, np.int64)                    # hypotheses joining after detection j's update
    n_gap = np.zeros(J, np.int64)                   # gap hypotheses joining before detection j's gate
    gap: list[tuple] = []                           # (row, first of its gap, snapshot x, P, boost dt, ballistic dt)
    for j, ks in at.items():                        # each hypothesis's start, in its row
        x9, P9 = h.snap[j]
        if tk[ks[0]] == ts[j]:                      # the hypothesis at this detection
            X[ks[0], :, 0:6] = x9[0:6]
            P[ks[0], :, 0:6, 0:6] = P9[0:6, 0:6]
            n_at[j] = 1
            ks = ks[1:]
        if ks:                                      # those inside the gap after it
            tp = ts[j]
            for q, k in enumerate(ks):
                gap.append((k, q == 0, x9, P9, tk[k] - tp, ts[j + 1] - tk[k]))
                tp = tk[k]
            n_gap[j + 1] = len(ks)
    if gap:
        _gap_starts(X, P, mu, latched, gap, consts, mu_g)
    nsub = np.ones(J, np.int64)
    Pis = np.zeros((J, 2, 2))
    Phis = np.zeros((J, 2, 3, 3))
    Qs = np.zeros((J, 2, 9, 9))
    for j in range(1, J):
        if ts[j] > ts[j - 1]:
            nsub[j], Pis[j], Phis[j], Qs[j] = consts(ts[j] - ts[j - 1])
    s = np.asarray(h.s, dtype=np.int64)
    Z = np.array(h.z, dtype=float).reshape(J, 3)
    L = _bank_scans(X, P, mu, latched, ts, s, Z, sensors.site, sensors.basis, sensors.R, n_at, n_gap,
                    nsub, Pis, Phis, Qs, mu_g)
    if t > ts[-1]:
        step(X, P, mu, latched, t - ts[-1])
    span = np.diff(np.r_[tk, ts[-1]])
    score = Bk + L + np.log(np.maximum(span, 1e-3))
    if int(np.argmax(score)) == 0:
        return None
    w = np.exp(score - score.max())
    w /= w.sum()
    xs = X[:, BALLISTIC, 0:6]
    x = w @ xs
    d = xs - x
    Pm = np.einsum("k,kij->ij", w, P[:, BALLISTIC, 0:6, 0:6]) + np.einsum("k,ki,kj->ij", w, d, d)
    return x, 0.5 * (Pm + Pm.T), w, tk


def _memo(f: Callable[[float], tuple]) -> Callable[[float], tuple]:
    """``f`` remembering its values by argument (for one bank)."""
    seen: dict[float, tuple] = {}

    def g(dt: float) -> tuple:
        got = seen.get(dt)
        if got is None:
            got = seen[dt] = f(dt)
        return got
    return g


def _gap_starts(X: np.ndarray, P: np.ndarray, mu: np.ndarray, latched: np.ndarray, gap: list[tuple],
                consts: Callable[[float], tuple[int, np.ndarray, np.ndarray, np.ndarray]], mu_g: float) -> None:
    """The gap hypotheses' starts (the boost model alone, still thrusting, from the snapshot to
    each gap time, then the ballistic step to the next detection) written to their rows, in one call of :func:`_gap_kernel`."""
    G = len(gap)
    rows = np.array([g[0] for g in gap], np.int64)
    first = np.array([g[1] for g in gap], bool)
    gx = np.zeros((G, DIM))
    gP = np.zeros((G, DIM, DIM))
    dts = np.zeros((G, 2))
    ns = np.zeros((G, 2), np.int64)
    Pis = np.zeros((G, 2, 2, 2))
    Phis = np.zeros((G, 2, 2, 3, 3))
    Qs = np.zeros((G, 2, 2, 9, 9))
    for g, (_, f, x9, P9, db, dl) in enumerate(gap):
        if f:
            gx[g] = x9
            gP[g] = P9
        for i, d in enumerate((db, dl)):
            dts[g, i] = d
            ns[g, i], Pis[g, i], Phis[g, i], Qs[g, i] = consts(d)
    _gap_kernel(X, P, mu, latched, rows, first, gx, gP, dts, ns, Pis, Phis, Qs, mu_g)


@njit(cache=True, nogil=True)
def _gap_kernel(X, P, mu, latched, rows, first, gx, gP, dts, ns, Pis, Phis, Qs, mu_g):  # pragma: no cover
    """:func:`_gap_starts`' loop: the boost model alone carried from the snapshot (rows with
    ``first``) or the previous gap time, then each row's ballistic step to the next detection."""
    Xb = np.zeros((1, 2, 9))
    Pb = np.zeros((1, 2, 9, 9))
    mub = np.zeros((1, 2))
    free = np.zeros(1, np.bool_)
    for g in range(rows.shape[0]):
        if first[g]:
            for m in range(2):
                Xb[0, m] = gx[g]
                Pb[0, m] = gP[g]
        mub[0, 0] = 0.0
        mub[0, 1] = 0.0
        mub[0, 1 - BALLISTIC] = 1.0
        n = ns[g, 0]
        for _ in range(n):
            kernels.imm_predict(Xb, Pb, mub, free, dts[g, 0] / n, Pis[g, 0], Phis[g, 0], Qs[g, 0], mu_g)
        Xb[0, BALLISTIC] = Xb[0, 1 - BALLISTIC]
        Pb[0, BALLISTIC] = Pb[0, 1 - BALLISTIC]
        k = rows[g]
        for m in range(2):
            X[k, m, 0:6] = Xb[0, 1 - BALLISTIC, 0:6]
            P[k, m, 0:6, 0:6] = Pb[0, 1 - BALLISTIC, 0:6, 0:6]
        n = ns[g, 1]
        for _ in range(n):
            kernels.imm_predict(X[k:k + 1], P[k:k + 1], mu[k:k + 1], latched[k:k + 1], dts[g, 1] / n, Pis[g, 1],
                                Phis[g, 1], Qs[g, 1], mu_g)


@njit(cache=True, nogil=True)
def _gate_update(x, Pm, z, site, B, R):  # pragma: no cover
    """One model's :func:`.kernels.gate` and :func:`.kernels.imm_update` with one detection
    ``z``, the same arithmetic: updates ``x (9,)``, ``Pm (9, 9)`` in place and returns
    ``log N(ν; 0, S)`` (the bank's rows are latched: their boost model is never read)."""
    zh = np.empty(3)
    H = np.empty((3, 3))
    kernels.measure(x, site, B, zh, H, np.empty((3, 3)))
    Si = np.empty((3, 3))
    logdet = math.log(kernels.innovation_inverse(H, Pm, R, Si, np.empty((3, 3)), np.empty((3, 3))))
    nu = np.empty(3)
    kernels.innovation(z, zh, nu)
    ll = -0.5 * (kernels.mahalanobis(nu, Si) + logdet + 3.0 * kernels.LOG_2PI)
    K = np.empty((9, 3))
    kernels.gain_update(x, Pm, H, Si, nu, K, np.empty((9, 3)))
    kernels.joseph_update(Pm, K, H, R, np.empty((9, 9)), np.empty((9, 9)), np.empty((9, 3)))
    return ll


@njit(cache=True, nogil=True)
def _bank_scans(X, P, mu, latched, ts, s, Z, site, basis, R, n_at, n_gap, nsub, Pis, Phis, Qs, mu_g):  # pragma: no cover
    """The bank's scans (:func:`bank_state`) in one compiled loop, in place on the hypotheses'
    rows (each already holding its start): at detection ``j`` the running rows are carried from
    the previous detection (``nsub[j]`` sub-steps of :func:`.kernels.imm_predict`), the
    ``n_gap[j]`` gap hypotheses join, all are gated and updated with it (their ballistic model: :func:`_gate_update`), then ``n_at[j]`` join.
    Returns each hypothesis's summed ballistic log-likelihood ``L``."""
    K = X.shape[0]
    L = np.zeros(K)
    na = 0
    for j in range(ts.shape[0]):
        if na > 0 and j > 0 and ts[j] > ts[j - 1]:
            dt = (ts[j] - ts[j - 1]) / nsub[j]
            for _ in range(nsub[j]):
                kernels.imm_predict(X[:na], P[:na], mu[:na], latched[:na], dt, Pis[j], Phis[j], Qs[j], mu_g)
        na += n_gap[j]
        if na > 0:
            q = s[j]
            for n in range(na):
                L[n] += _gate_update(X[n, BALLISTIC], P[n, BALLISTIC], Z[j], site[q], basis[q], R[q])
        na += n_at[j]
    return L


def warm_up(sensors: SensorArray, mu_g: float) -> None:
    """Load (or compile) :func:`_bank_scans` with the types :func:`bank_state` passes, on an
    empty bank (see :func:`accord.warning.tracking.warm_up`)."""
    i1 = np.zeros(1, np.int64)
    _gap_kernel(np.zeros((1, N_MODELS, DIM)), np.zeros((1, N_MODELS, DIM, DIM)), np.zeros((1, N_MODELS)),
                np.ones(1, bool), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, DIM)),
                np.zeros((0, DIM, DIM)), np.zeros((0, 2)), np.zeros((0, 2), np.int64), np.zeros((0, 2, 2, 2)),
                np.zeros((0, 2, 2, 3, 3)), np.zeros((0, 2, 2, 9, 9)), mu_g)
    _bank_scans(np.zeros((1, N_MODELS, DIM)), np.zeros((1, N_MODELS, DIM, DIM)), np.zeros((1, N_MODELS)),
                np.ones(1, bool), np.zeros(1), i1, np.zeros((1, 3)), sensors.site, sensors.basis, sensors.R,
                i1, i1, np.ones(1, np.int64), np.zeros((1, 2, 2)), np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 9, 9)),
                mu_g)
