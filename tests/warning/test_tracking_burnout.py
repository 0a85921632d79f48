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


def test_latch_adds_the_boost_models_thrust_acting_over_the_window(one_missile):
    """Two trackers, identical but for the window, run in lockstep: at the scan that latches the
    track, the windowed one's (p, v) covariance exceeds the other's by exactly
    ``J (â âᵀ + P_aa) Jᵀ``, ``J = [W²/2 I; W I]``, from the boost model's thrust estimate."""
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
    A = np.outer(a, a) + plain._tracks.P[k, 1, 6:9, 6:9]
    J = np.vstack([0.5 * W * W * np.eye(3), W * np.eye(3)])
    np.testing.assert_allclose(wide._tracks.P[k, 0, 0:6, 0:6] - plain._tracks.P[k, 0, 0:6, 0:6], J @ A @ J.T,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wide._tracks.X[k], plain._tracks.X[k])       # the state itself is untouched
    assert wide._tracks.latched[k]
