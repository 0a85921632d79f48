"""``bench/boost_modes.py``: its mixture likelihood is the tracker's boost prediction but for the
sum over the IMM's modes — given the combined state as its one mode it makes the tracker's
prediction, and a mode that makes no difference (the same state twice) changes nothing, while a
mode far from the truth given the weight moves the prediction."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import load_bench
from accord.warning import boost, sim

boost_modes = load_bench("boost_modes")

P_TRACK = np.diag([300.0**2] * 3 + [20.0**2] * 3)
LAUNCH = (39.2, 127.0)


@pytest.fixture(scope="module")
def boosting() -> tuple[float, np.ndarray]:
    spec = sim.solve_launch(sim.LaunchSpec(id="X", launch_t=0.0, launch_lat_deg=LAUNCH[0], launch_lon_deg=LAUNCH[1],
                                           aim_lat_deg=40.5, aim_lon_deg=134.0, trajectory="minimum-energy"))
    tau = spec.burn_time_s - 10.0
    return tau, np.asarray(sim.fly(spec).state_at(np.array([tau]))).reshape(-1)


def _both(tau: float, s: np.ndarray, modes: list) -> tuple:
    args = (tau, "T1", s, P_TRACK, 0.0, LAUNCH[0], LAUNCH[1], 2_000.0)
    return boost.boost_prediction(*args), boost_modes.mixture_prediction(*args, modes=modes)


def test_one_mode_the_combined_state_is_the_trackers_prediction(boosting):
    tau, s = boosting
    p0, p1 = _both(tau, s, [(1.0, s, P_TRACK)])
    assert p0 is not None and p1 is not None
    assert np.max(np.abs(np.array(p0.reach_prob) - np.array(p1.reach_prob))) < 1e-9
    assert p1.impact_t == pytest.approx(p0.impact_t, abs=1e-6)
    # the same state split over two modes is the same likelihood
    _, p2 = _both(tau, s, [(0.3, s, P_TRACK), (0.7, s, P_TRACK)])
    assert np.max(np.abs(np.array(p0.reach_prob) - np.array(p2.reach_prob))) < 1e-9


def test_a_slower_mode_given_the_weight_shortens_the_reach(boosting):
    tau, s = boosting
    slow = s.copy()
    slow[3:6] *= 0.9   # 10 % slower: a burnout some seconds ago
    p0, p1 = _both(tau, s, [(0.999, slow, P_TRACK), (0.001, s, P_TRACK)])
    assert p0 is not None and p1 is not None
    assert p1.impact_t < p0.impact_t
