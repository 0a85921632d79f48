"""At the latch the ballistic state comes from a bank of burnout-time hypotheses."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import pytest

from accord.warning.tracking import Tracker, TrackerConfig, burnout, kernels
from accord.warning.tracking.models import BALLISTIC, DIM, N_MODELS
from accord.warning.tracking.filters import ekf_update
from accord.warning.tracking.models import predict, process_noise, propagate_mean
from accord.warning.tracking.sensors import wrap_angle
from tracking_scans import scans, to_first_latch


@pytest.fixture
def bank_calls(monkeypatch) -> list:
    """``(history, t, result)`` of each :func:`burnout.bank_state` call the tracker makes (the
    history copied as it was handed over), in order."""
    seen = []
    orig = burnout.bank_state

    def spy(h, t, *a, **k):
        got = orig(h, t, *a, **k)
        seen.append((copy.deepcopy(h), t, got))
        return got

    monkeypatch.setattr(burnout, "bank_state", spy)
    return seen


def _run_to_the_latch(sim, bank_calls: list, lo: float = math.inf, hi: float = -math.inf) -> Tracker:
    """A tracker (no thrust window) fed ``sim``'s scans, none in ``[lo, hi]``, up to the first
    scan that calls the bank (its calls: ``bank_calls``)."""
    trk = Tracker(sim.header.sensors, TrackerConfig(latch_thrust_window_s=0.0))
    for t, s, z in scans(sim):
        if lo <= t <= hi:
            continue
        trk.process_scan(t, s, z)
        if bank_calls:
            break
    return trk


def _reference(h, t, sensors, q_ballistic, boost_step, every=1.0):
    """The bank written out one hypothesis at a time with the numpy reference filter (not the
    compiled kernels the tracker runs it on): burnout times every ``every`` s, at a detection
    when one is due, else across the gap between two detections; hypothesis ``τ`` is the boost
    model's log-likelihoods up to the last detection before it plus a ballistic EKF from that
    detection's boost posterior (carried to ``τ`` by the tracker's boost step ``boost_step``)
    over the detections after it, a prior uniform in burnout time; the weighted moments of the
    (p, v) at ``t``."""
    ts = np.asarray(h.t)
    B = np.cumsum(h.ll)
    hyp, last = [], -np.inf
    for j in range(len(ts)):
        if ts[j] - last >= every - 1e-6:
            hyp.append((ts[j], j))
            last = ts[j]
        while j + 1 < len(ts) and last + every < ts[j + 1] - 1e-6:
            last += every
            hyp.append((last, j))
    xs, Ps, score = [], [], []

    def step(X, P, dt):
        n = int(np.ceil(dt / 4.0))
        for _ in range(n):
            X, P = predict(X, P, dt / n, process_noise(round(dt / n, 6), q_ballistic, 2.0, 1.0))
        return X, P

    for q, (tau, j0) in enumerate(hyp):
        X = np.zeros((1, 2, 9))
        P = np.zeros((1, 2, 9, 9))
        x9, P9 = h.x[j0], h.P[j0]
        if tau > ts[j0]:                             # burnt out inside the gap: thrust until τ
            Xb, Pb = x9[None, None].repeat(2, 1).copy(), P9[None, None].repeat(2, 1).copy()
            tp = ts[j0]
            for tq, jq in hyp[:q + 1]:
                if jq == j0 and tq > ts[j0]:
                    mu = np.array([[0.0, 1.0]])
                    boost_step(Xb, Pb, mu, np.zeros(1, bool), tq - tp)
                    Xb[0, 0], Pb[0, 0] = Xb[0, 1], Pb[0, 1]
                    tp = tq
            x9, P9 = Xb[0, 1], Pb[0, 1]
        X[0, :, 0:6] = x9[0:6]
        P[0, :, 0:6, 0:6] = P9[0:6, 0:6]
        P[0, :, 6:9, 6:9] = 1e-6 * np.eye(3)
        ll, tp = 0.0, tau
        for j in range(j0 + 1, len(ts)):
            if ts[j] > tp:
                X, P = step(X, P, ts[j] - tp)
            tp = ts[j]
            zhat, Hp = sensors.measure(X[:, 0, 0:3], h.s[j])
            R = sensors.R[h.s[j]]
            S = Hp[0] @ P[0, 0, 0:3, 0:3] @ Hp[0].T + R
            nu = h.z[j] - zhat[0]
            nu[1] = wrap_angle(nu[1])
            ll += -0.5 * (nu @ np.linalg.solve(S, nu) + np.linalg.slogdet(2.0 * np.pi * S)[1])
            Xu, Pu = ekf_update(X[:, 0], P[:, 0], nu[None], Hp, np.linalg.inv(S)[None], R)
            X[:, 0], P[:, 0] = Xu, Pu
            X[:, 1], P[:, 1] = Xu, Pu
        if t > tp:
            X, P = step(X, P, t - tp)
        span = (hyp[q + 1][0] if q + 1 < len(hyp) else ts[-1]) - tau
        xs.append(X[0, 0, 0:6])
        Ps.append(P[0, 0, 0:6, 0:6])
        score.append(B[j0] + ll + np.log(max(span, 1e-3)))
    w = np.exp(np.array(score) - max(score))
    w /= w.sum()
    xs = np.array(xs)
    x = w @ xs
    Pm = sum(wk * (Pk + np.outer(xk - x, xk - x)) for wk, xk, Pk in zip(w, xs, Ps))
    return x, Pm, w, np.array([tau for tau, _ in hyp])


def test_latch_takes_the_bank_of_burnout_times(one_missile, bank_calls):
    """At the scan that latches the track, its ballistic (p, v) and covariance are the bank's,
    which match the bank written out independently (:func:`_reference`) on the detections and
    boost-model snapshots the tracker kept; the bank puts its weight within 1.5 s of the true
    burnout; and a tracker without the bank, run in lockstep, latches a different state."""
    cfg = TrackerConfig(latch_thrust_window_s=0.0)
    trk = Tracker(one_missile.header.sensors, cfg)
    plain = Tracker(one_missile.header.sensors, TrackerConfig(latch_thrust_window_s=0.0, burnout_bank_s=0.0))
    t, k = to_first_latch(one_missile, trk, plain)
    assert len(bank_calls) == 1
    h, t_latch, got = bank_calls[0]
    assert got is not None and t_latch == t
    x, P, w, tk = got
    np.testing.assert_array_equal(trk._tracks.X[k, 0, 0:6], x)
    np.testing.assert_array_equal(trk._tracks.P[k, 0, 0:6, 0:6], P)
    xr, Pr, wr, tkr = _reference(h, t, trk.sensors, cfg.q_ballistic, trk._step)
    np.testing.assert_allclose(tk, tkr)
    np.testing.assert_allclose(w, wr, atol=1e-6)
    np.testing.assert_allclose(x, xr, rtol=0, atol=1e-3)
    np.testing.assert_allclose(P, Pr, rtol=1e-6, atol=1e-9)
    t_burnout = one_missile.events[0].burnout_t
    assert abs(float(w @ tk) - t_burnout) < 1.5, (float(w @ tk), t_burnout)
    assert tk[0] < t_burnout - 5.0                     # the window reaches well before the burnout
    assert plain._tracks.latched[k]
    assert np.abs(plain._tracks.X[k, 0, 3:6] - x[3:6]).max() > 0.1


def _truth_at(sim, t):
    """The missile's true (p, v) at ``t``: its nearest 1 s sample carried by the Taylor step."""
    k = int(np.argmin(np.abs(np.asarray(sim.truth.t) - t)))
    x = np.zeros((1, 2, 9))
    x[0, :, :6] = sim.truth.state[k]          # both models (a zero row divides by |p|² = 0)
    return propagate_mean(x, t - float(sim.truth.t[k]))[0, 0, :6]


@pytest.mark.parametrize("gap_s", [4.0, 6.0])
def test_bank_covers_a_burnout_between_detections(one_missile, bank_calls, gap_s):
    """No detection for ``gap_s`` around the true burnout: the bank still has hypotheses every
    second across the gap (a hypothesis only at each detection would put the burnout at one of
    the gap's two ends, seconds of thrust away from the truth), weighs them around the true
    burnout, and the latched (p, v) covers the truth (6-D NEES under χ²₆'s 99 % point)."""
    t_burnout = one_missile.events[0].burnout_t
    lo, hi = t_burnout - gap_s / 2, t_burnout + gap_s / 2
    _run_to_the_latch(one_missile, bank_calls, lo, hi)
    assert len(bank_calls) == 1
    _, t_latch, got = bank_calls[0]
    assert got is not None
    x, P, w, tk = got
    inside = (tk > lo) & (tk < hi)
    assert inside.sum() >= gap_s - 2, tk                  # hypotheses across the gap, 1 s apart
    assert abs(float(w @ tk) - t_burnout) < 1.5, (float(w @ tk), t_burnout)
    e = x - _truth_at(one_missile, t_latch)
    assert e @ np.linalg.solve(P, e) < 16.8


def _boost_leg(x: np.ndarray, P: np.ndarray, taus: list[float], t0: float,
               step: Callable[..., None]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The boost model's (p, v) and covariance predicted from its posterior ``(x, P)`` (9-D) at
    ``t0`` to each of ``taus`` (ascending, after ``t0``), no detection between: the start of
    a hypothesis *burnt out at τ* inside a gap between detections."""
    X = np.zeros((1, N_MODELS, DIM))
    Pm = np.zeros((1, N_MODELS, DIM, DIM))
    X[0, :] = x
    Pm[0, :] = P
    out = []
    tp = t0
    for tau in taus:
        mu = np.zeros((1, N_MODELS))
        mu[0, 1 - BALLISTIC] = 1.0                  # the boost model alone, still thrusting
        step(X, Pm, mu, np.zeros(1, bool), tau - tp)
        X[0, BALLISTIC] = X[0, 1 - BALLISTIC]
        Pm[0, BALLISTIC] = Pm[0, 1 - BALLISTIC]
        tp = tau
        out.append((X[0, 1 - BALLISTIC, 0:6].copy(), Pm[0, 1 - BALLISTIC, 0:6, 0:6].copy()))
    return out


def _bank_state_loop(h, t, sensors, step, every=1.0, min_hypotheses=3):
    """:func:`burnout.bank_state` as a Python loop over the detections calling the tracker's
    compiled gate, update and time update on every model: the reference for the compiled loop."""
    hyp = burnout.hypothesis_times(h, every)
    K = len(hyp)
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
    tk = np.array([tau for tau, _ in hyp])
    Bk = np.array([B[j] for _, j in hyp])
    at: dict[int, list[int]] = {}
    for k, (_, j) in enumerate(hyp):
        at.setdefault(j, []).append(k)
    na = 0
    t_prev = ts[0]
    pending = 0
    for j in range(len(ts)):
        if na and ts[j] > t_prev:
            step(X[:na], P[:na], mu[:na], latched[:na], ts[j] - t_prev)
        na += pending
        pending = 0
        if na:
            s = h.s[j]
            z = h.z[j][None, :]
            zhat, Hp, Sinv, _, ll, _ = kernels.gate(X[:na], P[:na], mu[:na], z, sensors.site[s], sensors.basis[s],
                                                    sensors.R[s])
            L[:na] += ll[:, BALLISTIC, 0]
            kernels.imm_update(X[:na], P[:na], mu[:na], latched[:na], np.arange(na), np.zeros(na, np.int64), z,
                               zhat, Hp, Sinv, ll, sensors.R[s])
        t_prev = ts[j]
        ks = at.get(j, [])
        if not ks:
            continue
        x9, P9 = h.x[j], h.P[j]
        if tk[ks[0]] == ts[j]:
            X[na, :, 0:6] = x9[0:6]
            P[na, :, 0:6, 0:6] = P9[0:6, 0:6]
            na += 1
            ks = ks[1:]
        if ks:
            for k, (xs, Ps) in zip(ks, _boost_leg(x9, P9, [float(tk[k]) for k in ks], ts[j], step)):
                X[k, :, 0:6] = xs
                P[k, :, 0:6, 0:6] = Ps
                step(X[k:k + 1], P[k:k + 1], mu[k:k + 1], latched[k:k + 1], ts[j + 1] - tk[k])
            pending = len(ks)
    if t > t_prev:
        step(X, P, mu, latched, t - t_prev)
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


@pytest.mark.parametrize("gap_s", [0.0, 4.0, 6.0])
def test_compiled_bank_matches_the_python_loop(one_missile, bank_calls, gap_s):
    """The bank's compiled scan loop gives the Python loop's (x, P, weights, burnout times) on
    the histories the tracker hands it (every scan, and with a gap around the burnout), and the
    same at a latch 10 s after the last detection."""
    t_burnout = one_missile.events[0].burnout_t
    lo, hi = (t_burnout - gap_s / 2, t_burnout + gap_s / 2) if gap_s else (math.inf, -math.inf)
    trk = _run_to_the_latch(one_missile, bank_calls, lo, hi)
    assert len(bank_calls) == 1
    h, t, got = bank_calls[0]
    assert got is not None
    later = burnout.bank_state(h, t + 10.0, trk.sensors, trk._step, trk._step_consts, trk.config.mu)
    assert later is not None
    for tq, out in ((t, got), (t + 10.0, later)):
        ref = _bank_state_loop(h, tq, trk.sensors, trk._step)
        assert ref is not None
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max())
