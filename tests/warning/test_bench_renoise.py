"""``bench/renoise.py`` finds which detections come from a missile and redraws only their noise."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import load_bench
from accord.warning.sim import random_scenario, simulate

renoise = load_bench("renoise")


@pytest.fixture(scope="module")
def sim():
    return simulate(random_scenario(3, 2, duration=250.0))


def test_missile_detections_match_the_simulators_own_flags(sim):
    """The simulator knows which detections are missile returns: the bench's 6 σ test against the
    interpolated truth finds ≥ 99 % of them and takes a clutter detection at most by chance."""
    owned, z_true = renoise.missile_detections(sim.header, sim.detections, sim.truth, ballistic_only=False)
    target = np.asarray(sim.is_target, dtype=bool)
    assert target.sum() > 200
    assert owned[target].mean() > 0.99
    assert (owned & ~target).sum() <= 2
    # the noise-free values are close to the detections: within the 6 σ used to find them
    sig = np.array([[s.sigma_range_m, s.sigma_az_rad, s.sigma_el_rad] for s in sim.header.sensors])
    d = (sim.detections.rae - z_true)[owned]
    d[:, 1] = (d[:, 1] + np.pi) % (2 * np.pi) - np.pi
    nd = d / sig[sim.detections.sensor_idx[owned]]
    assert np.abs(nd).max() < 6.0
    assert 0.8 < nd.std(axis=0).min() and nd.std(axis=0).max() < 1.2     # the simulator's own noise


def test_ballistic_only_keeps_the_boost_phase_detections(sim):
    all_, _ = renoise.missile_detections(sim.header, sim.detections, sim.truth, ballistic_only=False)
    late, _ = renoise.missile_detections(sim.header, sim.detections, sim.truth, ballistic_only=True)
    assert (late <= all_).all() and late.sum() < all_.sum()
    first_burnout = min(e.burnout_t for e in sim.events)
    assert (sim.detections.t[late] >= first_burnout - 1.0).all()
