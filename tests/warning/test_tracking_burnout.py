"""The burnout latch widens the covariance by the thrust the ballistic model may have ignored."""

from __future__ import annotations

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


def _excess(a, Paa):
    """``(a aᵀ − P_aa)₊``: the symmetric matrix with the negative eigenvalues dropped."""
    w, V = np.linalg.eigh(np.outer(a, a) - Paa)
    return (V * np.clip(w, 0.0, None)) @ V.T


def _one_track(sim, W):
    """A tracker with one confirmed boosting track (``sim`` up to the track's confirmation)."""
    trk = Tracker(sim.header.sensors, TrackerConfig(latch_thrust_window_s=W))
    for t, s, z in _scans(sim):
        trk.process_scan(t, s, z)
        if trk.n_confirmed:
            break
    assert trk.n_confirmed == 1 and not trk._tracks.latched.any()
    return trk


def test_only_thrust_beyond_the_estimates_noise_widens_the_latch(one_missile):
    """A thrust estimate within its own noise (the boost model's steady random-walk openness
    ``P_aa``, no evidence of thrust) adds nothing; one well outside adds ``â âᵀ − P_aa`` along
    ``â`` only — with ``P_aa`` itself added, a clean missile's covariance was padded by ~13 m/s
    per axis at every latch."""
    W = 9.0
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    trk = _one_track(one_missile, W)
    rows = np.ones(1, bool)
    Paa = np.diag([4.0, 1.0, 2.25])
    for a, expect in ((np.array([1.0, -0.5, 0.8]), np.zeros((3, 3))),                  # within noise
                      (np.array([20.0, 0.0, 0.0]), np.diag([396.0, 0.0, 0.0])),        # along x only
                      (np.array([0.0, 12.0, 16.0]), None)):
        trk._tracks.X[0, 1, 6:9] = a
        trk._tracks.P[0, 1, 6:9, 6:9] = Paa
        before = trk._tracks.P[0, :, 0:6, 0:6].copy()
        trk._unseen_thrust(rows)
        gained = trk._tracks.P[0, :, 0:6, 0:6] - before
        if expect is None:
            u = a / np.linalg.norm(a)
            w = np.linalg.eigvalsh(J.T @ np.linalg.pinv(J @ J.T) @ gained[0] @ np.linalg.pinv(J @ J.T) @ J)
            # rank one along â, smaller than |â|² and larger than |â|² − the largest P_aa
            assert w[:2] == pytest.approx([0.0, 0.0], abs=1e-6)
            assert 400.0 - 4.0 < w[2] < 400.0
            expect = _excess(a, Paa)
            assert np.allclose(expect @ u, w[2] * u, rtol=0.02)
        np.testing.assert_allclose(gained[0], J @ expect @ J.T, atol=1e-6)
        np.testing.assert_allclose(gained[1], gained[0])                 # both models' (p, v)


def test_latch_adds_the_boost_models_thrust_acting_over_the_window(one_missile):
    """Two trackers, identical but for the window, run in lockstep: at the scan that latches the
    track, the windowed one's (p, v) covariance exceeds the other's by exactly
    ``J (â âᵀ − P_aa)₊ Jᵀ``, ``J = [W²/2 I; W I]``, from the boost model's thrust estimate."""
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
    A = _excess(a, plain._tracks.P[k, 1, 6:9, 6:9])
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    np.testing.assert_allclose(wide._tracks.P[k, 0, 0:6, 0:6] - plain._tracks.P[k, 0, 0:6, 0:6], J @ A @ J.T,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wide._tracks.X[k], plain._tracks.X[k])       # the state itself is untouched
    assert wide._tracks.latched[k]
