"""The burnout latch widens the covariance by the thrust the ballistic model may have ignored."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from scipy.stats import multivariate_normal

from accord.warning.tracking import Tracker, TrackerConfig
from tracking_scans import to_first_latch


def _second_moment(a, Paa, v, A=40.0, sA=10.0):
    """``E[a aᵀ]`` of the two hypotheses at the latch, written out independently of the tracker:
    burnt out (``a = 0``, ``â ~ N(0, P_aa)``) or burning (``a ~ N(A v̂, σ_A² I)``, ``â ~ N(A v̂,
    P_aa + σ_A² I)``), even prior odds; ``(p, E[a aᵀ])``."""
    m = A * v / np.linalg.norm(v)
    S = sA**2 * np.eye(3)
    l0 = multivariate_normal(np.zeros(3), Paa).logpdf(a)
    l1 = multivariate_normal(m, Paa + S).logpdf(a)
    p = 1.0 / (1.0 + math.exp(l0 - l1))
    C1 = np.linalg.inv(np.linalg.inv(S) + np.linalg.inv(Paa))          # N(m, S) × N(â, P_aa)
    m1 = C1 @ (np.linalg.solve(S, m) + np.linalg.solve(Paa, a))
    return p, p * (np.outer(m1, m1) + C1)


def test_latch_adds_the_thrust_a_burning_motor_would_have_pushed_over_the_window(one_missile):
    """Two trackers, identical but for the window, run in lockstep: at the scan that latches the
    track, the windowed one's (p, v) covariance exceeds the other's by exactly
    ``J E[a aᵀ] Jᵀ``, ``J = [W²/2 I; W I]``, the thrust's second moment under "burnt out" or
    "still burning" weighed by the boost model's estimate (:func:`_second_moment`). This clean
    missile latches after its burnout, so the weight of "burning" is negligible."""
    W = 12.0
    plain = Tracker(one_missile.header.sensors, TrackerConfig(latch_thrust_window_s=0.0))
    wide = Tracker(one_missile.header.sensors, TrackerConfig(latch_thrust_window_s=W))
    _, k = to_first_latch(one_missile, plain, wide)
    a = plain._tracks.X[k, 1, 6:9]
    Paa = plain._tracks.P[k, 1, 6:9, 6:9]
    p, A = _second_moment(a, Paa, plain._tracks.X[k, 1, 3:6])
    assert p < 1e-3
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    np.testing.assert_allclose(wide._tracks.P[k, 0, 0:6, 0:6] - plain._tracks.P[k, 0, 0:6, 0:6], J @ A @ J.T,
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(wide._tracks.X[k], plain._tracks.X[k])       # the state itself is untouched
    assert wide._tracks.latched[k]


def _pad(a, sigma_a, v=(0.0, 3000.0, 0.0), W=9.0):
    """The (p, v) covariance ``Tracker._unseen_thrust`` adds to one latched track whose boost
    model holds thrust ``a`` with σ ``sigma_a`` per axis and velocity ``v``."""
    X = np.zeros((1, 2, 9))
    X[0, 1, 6:9] = a
    X[0, 1, 3:6] = v
    P = np.zeros((1, 2, 9, 9))
    P[0, 1, 6:9, 6:9] = np.eye(3) * sigma_a**2
    fake = SimpleNamespace(config=TrackerConfig(latch_thrust_window_s=W), _tracks=SimpleNamespace(X=X, P=P))
    Tracker._unseen_thrust(fake, np.array([True]))
    np.testing.assert_array_equal(P[0, 0], P[0, 1] - np.pad(np.eye(3) * sigma_a**2, ((6, 0), (6, 0))))
    return P[0, 0, 0:6, 0:6]


def test_latch_pads_only_by_a_thrust_a_motor_could_be_giving():
    """A clean latch (the clean missile of bench/crlb.py latches 15 s after burnout with
    |â| ≈ 1, σ ≈ 2.7 m/s² per axis) adds nothing — the former weight ``â âᵀ + min(1, s²/3) P_aa``
    gave it 9 m/s of velocity σ along ``â``, and 50–75 m/s to the gap salvos' latches with
    |â| 8–16, σ 6–7 m/s² (``s²`` ≥ 3 for 39 % of thrust-free estimates, χ²₃). A latch during the
    burn (east-sea-10's M007 in a noise redraw: |â| 33 m/s² along the velocity, σ 11) adds the
    thrust's whole second moment; the same |â| pointing backwards is no motor and adds nothing."""
    W = 9.0
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    v = np.array([0.0, 3000.0, 0.0])
    for a, sa, p_max, sv_max in (([0.0, 1.0, 0.0], 2.7, 1e-3, 0.5), ([1.0, 0.5, -0.5], 2.7, 1e-3, 0.5),
                                 ([9.0, 10.0, 5.0], 6.5, 0.1, 45.0)):
        a = np.array(a)
        p, A = _second_moment(a, sa**2 * np.eye(3), v)
        assert p < p_max
        np.testing.assert_allclose(_pad(a, sa), J @ A @ J.T, rtol=1e-9, atol=1e-12)
        assert math.sqrt(_pad(a, sa)[3:6, 3:6].max()) < sv_max
        s2 = a @ a / sa**2
        former = J @ (np.outer(a, a) + min(1.0, s2 / 3.0) * sa**2 * np.eye(3)) @ J.T
        assert math.sqrt(former[3:6, 3:6].max()) > 2.0 * sv_max
    loud = np.array([5.0, 33.0, 3.0])
    p, A = _second_moment(loud, 11.0**2 * np.eye(3), v)
    assert p > 0.9
    np.testing.assert_allclose(_pad(loud, 11.0), J @ A @ J.T, rtol=1e-9)
    # along the velocity: W × a thrust of at least |â|
    assert math.sqrt(_pad(loud, 11.0)[4, 4]) > W * 33.0
    assert _pad(-loud, 11.0).max() < 1e-4 * _pad(loud, 11.0).max()
