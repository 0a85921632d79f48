"""Burnout-time hypotheses: the ballistic state handed to the predictions at the latch.

The IMM's ballistic model is a poor witness of the seconds right after burnout: while the
boost-mode probability falls (~0.9 → 0.1 over 3–6 s after burnout) the mixing re-seeds the
ballistic model from a boost model that has kept thrusting past the burnout, and the ballistic
model, which has no process noise, keeps the covariance that mixing made until the latch
(docs/tracking.md, "Accuracy at the bound", 6). So at the latch the tracker replaces the
ballistic (p, v) and covariance by those of a bank of burnout-time hypotheses, computed once
from what the track kept over the last ``burnout_bank_s`` seconds (:class:`.history.History`, one
track's rows of the table :class:`.history.Records` the tracker writes every scan):

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
from collections.abc import Callable

import numpy as np

from accord.warning.kernel_cache import njit
from accord.warning.tracking import kernels
from accord.warning.tracking.history import History
from accord.warning.tracking.models import BALLISTIC, DIM, N_MODELS
from accord.warning.tracking.sensors import SensorArray


def hypothesis_times(h: History, every: float) -> list[tuple[float, int]]:
    """The hypotheses' burnout times ``τ`` with the detection ``j`` whose boost posterior each
    starts from: a detection at least ``every`` after the previous hypothesis, then, where the
    next detection is more than ``every`` away, times every ``every`` across the gap (the burnout
    may fall between two detections as well as at one). :func:`_plan` computes them."""
    tk, jk = _plan(np.asarray(h.t, dtype=float), np.asarray(h.ok, dtype=np.bool_), float(every))
    return list(zip(tk.tolist(), jk.tolist()))


@njit(cache=True, nogil=True)
def _plan(ts, ok, every):  # pragma: no cover
    """:func:`hypothesis_times` as arrays ``(τ (K,), j (K,))``: one pass counts, the next fills."""
    J = ts.shape[0]
    K = 0
    tk = np.empty(0)
    jk = np.empty(0, np.int64)
    for fill in range(2):
        if fill:
            tk = np.empty(K)
            jk = np.empty(K, np.int64)
        K = 0
        last = -np.inf
        for j in range(J):
            if not ok[j]:
                continue
            tj = ts[j]
            if tj - last >= every - 1e-6:
                if fill:
                    tk[K] = tj
                    jk[K] = j
                K += 1
                last = tj
            if j + 1 < J:
                tau = last + every
                while tau < ts[j + 1] - 1e-6:
                    if fill:
                        tk[K] = tau
                        jk[K] = j
                    K += 1
                    last = tau
                    tau += every
    return tk, jk


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
    ``(n, Pi, Phi, Q)`` over ``dt``, asked once per distinct interval (the radars' revisits
    repeat a few). The hypotheses start in time order, so those running at any scan are the
    first ``na`` rows; the gap starts run in one compiled call (:func:`_gap_kernel`) and the
    scans in one compiled loop (:func:`_bank_scans`) of the tracker's own time update, gate and
    update: the Python around them is a fixed number of array operations, none per detection."""
    ts = np.asarray(h.t, dtype=float)
    tk, jk = _plan(ts, np.asarray(h.ok, dtype=np.bool_), float(every))
    if len(tk) < min_hypotheses:
        return None
    xs9 = np.asarray(h.x, dtype=float)
    P9 = np.asarray(h.P, dtype=float)
    X, P, mu, latched, Bk, n_at, n_gap, rows, first, gd, u, ij, ig = _setup(
        ts, tk, jk, np.asarray(h.ll, dtype=float), xs9, P9)
    # the time update's constants for each distinct interval (the radars' revisits repeat a few)
    cu = [consts(d) for d in u.tolist()]
    un = np.array([c[0] for c in cu], np.int64).reshape(len(u))
    uPi = np.array([c[1] for c in cu], dtype=float).reshape(len(u), 2, 2)
    uPhi = np.array([c[2] for c in cu], dtype=float).reshape(len(u), 2, 3, 3)
    uQ = np.array([c[3] for c in cu], dtype=float).reshape(len(u), 2, 9, 9)
    _gap_kernel(X, P, mu, latched, rows, first, jk, xs9, P9, gd, ig, un, uPi, uPhi, uQ, mu_g)
    L = _bank_scans(X, P, mu, latched, ts, np.asarray(h.s, dtype=np.int64), np.asarray(h.z, dtype=float),
                    sensors.site, sensors.basis, sensors.R, n_at, n_gap, ij, un, uPi, uPhi, uQ, mu_g)
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


@njit(cache=True, nogil=True)
def _setup(ts, tk, jk, ll, xs, Ps):  # pragma: no cover
    """:func:`bank_state`'s set-up of the ``K`` hypotheses ``(tk, jk)`` (:func:`_plan`) on the
    history's ``J`` detections ``ts`` (boost log-likelihoods ``ll``, snapshots ``xs``, ``Ps``):
    the rows ``X, P, mu, latched`` with the starts at a detection written (the ballistic model
    from the snapshot's (p, v), no thrust), ``Bk`` (the boost model's log-likelihoods up to each
    start), ``n_at``/``n_gap`` (hypotheses joining after / before detection ``j``), the gap
    hypotheses ``rows`` with ``first`` (the first of their gap) and ``gd (G, 2)`` (the boost leg
    from the detection or the previous gap time, the ballistic step to the next detection); the
    distinct intervals ``u`` the time updates span, and where each is: ``ij[j]`` for the step
    to detection ``j`` (-1: none), ``ig[g]`` for gap row ``g``'s two legs."""
    J = ts.shape[0]
    K = tk.shape[0]
    X = np.zeros((K, N_MODELS, DIM))
    P = np.zeros((K, N_MODELS, DIM, DIM))
    mu = np.zeros((K, N_MODELS))
    latched = np.ones(K, np.bool_)
    B = np.cumsum(ll)
    Bk = np.empty(K)
    n_at = np.zeros(J, np.int64)
    n_gap = np.zeros(J, np.int64)
    G = 0
    for k in range(K):
        if tk[k] != ts[jk[k]]:
            G += 1
    rows = np.empty(G, np.int64)
    first = np.empty(G, np.bool_)
    gd = np.empty((G, 2))
    g = 0
    for k in range(K):
        j = jk[k]
        Bk[k] = B[j]
        mu[k, BALLISTIC] = 1.0
        for m in range(N_MODELS):
            for a in range(6, 9):
                P[k, m, a, a] = 1e-6
        if tk[k] == ts[j]:                      # the hypothesis at this detection
            for m in range(N_MODELS):
                X[k, m, 0:6] = xs[j, 0:6]
                P[k, m, 0:6, 0:6] = Ps[j, 0:6, 0:6]
            n_at[j] = 1
            continue
        rows[g] = k                             # one inside the gap after detection j
        first[g] = g == 0 or jk[rows[g - 1]] != j
        gd[g, 0] = tk[k] - (ts[j] if first[g] else tk[k - 1])
        gd[g, 1] = ts[j + 1] - tk[k]
        n_gap[j + 1] += 1
        g += 1
    d = np.empty(J + 2 * G)
    M = 0
    for j in range(1, J):
        if ts[j] > ts[j - 1]:
            d[M] = ts[j] - ts[j - 1]
            M += 1
    for g in range(G):
        d[M] = gd[g, 0]
        d[M + 1] = gd[g, 1]
        M += 2
    u = np.unique(d[:M])
    ij = np.full(J, -1, np.int64)
    for j in range(1, J):
        if ts[j] > ts[j - 1]:
            ij[j] = np.searchsorted(u, ts[j] - ts[j - 1])
    ig = np.empty((G, 2), np.int64)
    for g in range(G):
        for i in range(2):
            ig[g, i] = np.searchsorted(u, gd[g, i])
    return X, P, mu, latched, Bk, n_at, n_gap, rows, first, gd, u, ij, ig


@njit(cache=True, nogil=True)
def _gap_kernel(X, P, mu, latched, rows, first, jk, xs, Ps, gd, ig, un, uPi, uPhi, uQ, mu_g):  # pragma: no cover
    """The gap hypotheses' starts (:func:`bank_state`, rows ``rows``): the boost model alone
    carried from detection ``jk``'s snapshot (rows with ``first``) or the previous gap time, then
    each row's ballistic step to the next detection; ``gd``, ``ig`` the legs and their
    constants' index in ``un, uPi, uPhi, uQ`` (:func:`_setup`)."""
    Xb = np.zeros((1, 2, 9))
    Pb = np.zeros((1, 2, 9, 9))
    mub = np.zeros((1, 2))
    free = np.zeros(1, np.bool_)
    for g in range(rows.shape[0]):
        k = rows[g]
        if first[g]:
            for m in range(2):
                Xb[0, m] = xs[jk[k]]
                Pb[0, m] = Ps[jk[k]]
        mub[0, 0] = 0.0
        mub[0, 1] = 0.0
        mub[0, 1 - BALLISTIC] = 1.0
        q = ig[g, 0]
        n = un[q]
        for _ in range(n):
            kernels.imm_predict(Xb, Pb, mub, free, gd[g, 0] / n, uPi[q], uPhi[q], uQ[q], mu_g)
        Xb[0, BALLISTIC] = Xb[0, 1 - BALLISTIC]
        Pb[0, BALLISTIC] = Pb[0, 1 - BALLISTIC]
        for m in range(2):
            X[k, m, 0:6] = Xb[0, 1 - BALLISTIC, 0:6]
            P[k, m, 0:6, 0:6] = Pb[0, 1 - BALLISTIC, 0:6, 0:6]
        q = ig[g, 1]
        n = un[q]
        for _ in range(n):
            kernels.imm_predict(X[k:k + 1], P[k:k + 1], mu[k:k + 1], latched[k:k + 1], gd[g, 1] / n, uPi[q],
                                uPhi[q], uQ[q], mu_g)


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
def _bank_scans(X, P, mu, latched, ts, s, Z, site, basis, R, n_at, n_gap, ij, un, uPi, uPhi, uQ, mu_g):  # pragma: no cover
    """The bank's scans (:func:`bank_state`) in one compiled loop, in place on the hypotheses'
    rows (each already holding its start): at detection ``j`` the running rows are carried from
    the previous detection (sub-steps of :func:`.kernels.imm_predict`, constants ``ij[j]`` of
    ``un, uPi, uPhi, uQ``: :func:`_setup`), the
    ``n_gap[j]`` gap hypotheses join, all are gated and updated with it (their ballistic model: :func:`_gate_update`), then ``n_at[j]`` join.
    Returns each hypothesis's summed ballistic log-likelihood ``L``."""
    K = X.shape[0]
    L = np.zeros(K)
    na = 0
    for j in range(ts.shape[0]):
        if na > 0 and j > 0 and ts[j] > ts[j - 1]:
            q = ij[j]
            dt = (ts[j] - ts[j - 1]) / un[q]
            for _ in range(un[q]):
                kernels.imm_predict(X[:na], P[:na], mu[:na], latched[:na], dt, uPi[q], uPhi[q], uQ[q], mu_g)
        na += n_gap[j]
        if na > 0:
            q = s[j]
            for n in range(na):
                L[n] += _gate_update(X[n, BALLISTIC], P[n, BALLISTIC], Z[j], site[q], basis[q], R[q])
        na += n_at[j]
    return L


def warm_up(sensors: SensorArray, mu_g: float) -> None:
    """Load (or compile) the bank's kernels with the types :func:`bank_state` passes, on a
    bank of three hypotheses over two detections 2 s apart (see
    :func:`accord.warning.tracking.warm_up`)."""
    h = History(np.array([0.0, 2.0]), np.zeros(2, np.int64), np.array([[1e6, 1.0, 0.3]] * 2), np.zeros(2),
                np.zeros((2, DIM)), np.tile(np.eye(DIM), (2, 1, 1)), np.ones(2, bool))
    h.x[:, 0] = 6.4e6
    h.x[:, 3] = 1e3

    def consts(dt: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        return 1, np.full((2, 2), 0.5), np.tile(np.eye(3), (2, 1, 1)), np.zeros((2, 9, 9))
    bank_state(h, 2.0, sensors, lambda *a: None, consts, mu_g, 1.0, 3)
