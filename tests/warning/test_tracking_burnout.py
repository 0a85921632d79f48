"""The burnout latch widens the covariance by the thrust the ballistic model may have ignored."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from accord.warning.sim import random_scenario, simulate
from accord.warning.tracking import Tracker, TrackerConfig


@pytest.fixture(scope="module")
def one_missile():
    """One missile, every scan detects it, no clutter (seed 5), first 200 s."""
    return simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))


def _scans(sim):
    d = sim.detections
    n = len(d)
    starts = np.flatnonzero(np.r_[True, (np.diff(d.t) != 0) | (np.diff(d.sensor_idx) != 0)])
    for a, b in zip(starts, np.r_[starts[1:], n]):
        yield float(d.t[a]), int(d.sensor_idx[a]), np.column_stack([d.range_m[a:b], d.az_rad[a:b], d.el_rad[a:b]])


def test_latch_adds_the_boost_models_thrust_acting_over_the_window(one_missile):
    """Two trackers, identical but for the window, run in lockstep: at the scan that latches the
    track, the windowed one's (p, v) covariance exceeds the other's by exactly
    ``J (â âᵀ + min(1, s²/3) P_aa) Jᵀ``, ``J = [W²/2 I; W I]``, ``s² = âᵀ P_aa⁻¹ â``, from the
    boost model's thrust estimate."""
    W = 12.0
    plain = Tracker(one_missile.header.sensors, TrackerConfig(latch_thrust_window_s=0.0))
    wide = Tracker(one_missile.header.sensors, TrackerConfig(latch_thrust_window_s=W))
    for t, s, z in _scans(one_missile):
        before = plain._tracks.latched.copy()
        plain.process_scan(t, s, z)
        wide.process_scan(t, s, z)
        if len(before) == len(plain._tracks.latched) and (plain._tracks.latched & ~before).any():
            k = int(np.flatnonzero(plain._tracks.latched & ~before)[0])
            break
    else:
        pytest.fail("the track was never latched ballistic")
    a = plain._tracks.X[k, 1, 6:9]
    Paa = plain._tracks.P[k, 1, 6:9, 6:9]
    s2 = a @ np.linalg.solve(Paa, a)
    A = np.outer(a, a) + min(1.0, s2 / 3.0) * Paa
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    np.testing.assert_allclose(wide._tracks.P[k, 0, 0:6, 0:6] - plain._tracks.P[k, 0, 0:6, 0:6], J @ A @ J.T,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wide._tracks.X[k], plain._tracks.X[k])       # the state itself is untouched
    assert wide._tracks.latched[k]



def _pad(a, sigma_a, W=9.0):
    """The (p, v) covariance ``Tracker._unseen_thrust`` adds to one latched track whose boost
    model holds thrust ``a`` with σ ``sigma_a`` per axis."""
    X = np.zeros((1, 2, 9))
    X[0, 1, 6:9] = a
    P = np.zeros((1, 2, 9, 9))
    P[0, 1, 6:9, 6:9] = np.eye(3) * sigma_a**2
    fake = SimpleNamespace(config=TrackerConfig(latch_thrust_window_s=W), _tracks=SimpleNamespace(X=X, P=P))
    Tracker._unseen_thrust(fake, np.array([True]))
    np.testing.assert_array_equal(P[0, 0], P[0, 1] - np.pad(np.eye(3) * sigma_a**2, ((6, 0), (6, 0))))
    return P[0, 0, 0:6, 0:6]


def test_latch_pads_by_the_thrust_estimates_significance():
    """``P_aa`` enters with weight ``min(1, s²/3)``: a thrust estimate inside its own spread (the
    clean missile of bench/crlb.py latches 15 s after burnout with |â| ≈ 1, σ ≈ 2.7 m/s² per
    axis: s² ≈ 0.15) adds little of it; one standing out (east-sea-10's M007 latched 1.1 s
    before its burnout in a noise redraw: |â| 33, σ 11 m/s², s² 5.5) adds all of it — with
    ``(â âᵀ − P_aa)₊`` instead its 0–20 s ellipses held the truth 0 of 20 times."""
    W = 9.0
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    clean = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(_pad(clean, 2.7), J @ (np.outer(clean, clean) + (1 / 2.7**2 / 3) * 2.7**2 * np.eye(3)) @ J.T)
    # velocity σ across the estimate: 5.2 m/s instead of the 24 m/s the whole P_aa gave
    assert math.sqrt(_pad(clean, 2.7)[3, 3]) < 6.0
    loud = np.array([20.0, 20.0, 15.0])
    np.testing.assert_allclose(_pad(loud, 11.0), J @ (np.outer(loud, loud) + 11.0**2 * np.eye(3)) @ J.T)
    # across the estimate the whole thrust σ stays: W σ = 99 m/s
    e = np.cross(loud, [0.0, 0.0, 1.0])
    e /= np.linalg.norm(e)
    assert math.isclose(math.sqrt(e @ _pad(loud, 11.0)[3:6, 3:6] @ e), W * 11.0, rel_tol=1e-9)
