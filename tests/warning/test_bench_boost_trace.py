"""``bench/boost_trace.py --banks``: the tracker's inputs to its boost predictions, recorded in a
run, give the run's own predictions again when replayed, and other banks when asked for."""

from __future__ import annotations

import dataclasses

import pytest

from bench_modules import load_bench
from accord.warning import boost
from accord.warning.boost import predict  # noqa: F401  (boost.predict below)
from accord.warning.sim import random_scenario, simulate
from accord.warning.tracking import TrackerConfig

boost_trace = load_bench("boost_trace")


@pytest.fixture(scope="module")
def run():
    s = simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))
    return boost_trace.tracked(s.header.sensors, s.detections, TrackerConfig())


def test_replaying_the_recorded_inputs_gives_the_runs_boost_predictions(run):
    res, calls = run
    made = [p for p in res.predictions if p.status == "boost"]
    assert len(made) >= 5 and len(calls) >= len(made)
    assert boost.boost_prediction is boost.predict.boost_prediction     # the recorder is taken out again
    again = [p for p in boost_trace.replayed(calls, boost.DEFAULT_CLASSES) if p is not None]
    assert [(p.t, p.track_id, p.reach_prob, p.ground_track) for p in again] == \
        [(p.t, p.track_id, p.reach_prob, p.ground_track) for p in made]


def test_another_bank_changes_the_predictions(run):
    _, calls = run
    other = (boost.SIM_CLASS, dataclasses.replace(boost.STEP_CLASS, seed=boost.STEP_CLASS.seed + 1))
    a = boost_trace.replayed(calls, boost.DEFAULT_CLASSES)
    b = boost_trace.replayed(calls, other)
    assert len(a) == len(b)
    assert any(p is not None and q is not None and p.reach_prob != q.reach_prob for p, q in zip(a, b))


def test_nees_is_of_the_nearest_missile_in_the_tracks_own_covariance():
    import numpy as np

    from accord.warning.io.truth import Truth

    t = np.array([0.0, 1.0, 0.0, 1.0])
    ids = np.array(["A", "A", "B", "B"], dtype=object)
    a0, b0 = np.array([7e6, 0, 0, 100.0, 0, 0]), np.array([7e6, 50e3, 0, 0, 100.0, 0])
    state = np.stack([a0, a0 + [100.0, 0, 0, 0, 0, 0], b0, b0 + [0, 100.0, 0, 0, 0, 0]])
    truth = Truth(t=t, ids=ids, state=state, phase=np.array(["boost", "ballistic"] * 2, dtype=object))
    P = np.diag([100.0**2] * 3 + [10.0**2] * 3)
    true_a = a0 + [50.0, 0, 0, 0, 0, 0]                       # A at t = 0.5 (interpolated)
    x = true_a + [200.0, 0, 0, 0, 30.0, 0]                   # 2 σ off in position, 3 σ in velocity
    m, phase, pos, vel = boost_trace.nearest(truth, [], call=((0.5, "T1", x, P), {}))
    assert (m, phase) == ("A", "boost")
    assert pos == pytest.approx(4.0) and vel == pytest.approx(9.0)
    far = true_a + [0, 25e3, 0, 0, 0, 0]                       # 25 km from A, 25 km from B: neither
    assert boost_trace.nearest(truth, [], call=((0.5, "T1", far, P), {})) is None


def test_the_thrust_estimates_are_the_boost_models_and_the_truths_thrust_is_its_velocity_change():
    import numpy as np

    from accord.warning.frames import gravity
    from accord.warning.io.truth import Truth

    s = simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))
    thrusts: dict = {}
    _, calls = boost_trace.tracked(s.header.sensors, s.detections, TrackerConfig(), thrusts)
    assert set(thrusts) == {(float(args[0]), args[1]) for args, _ in calls}
    est = np.array([v[0] for v in thrusts.values()])
    sig = np.array([v[1] for v in thrusts.values()])
    # a boosting missile of the simulator's class thrusts 32–60 m/s²: the estimates say so
    assert (sig > 0).all() and np.median(est) > 20.0

    # a synthetic truth: 30 m/s² of thrust along x on top of gravity, then none
    p0 = np.array([7e6, 0.0, 0.0])
    t = np.arange(6.0)
    pos, vel = [p0], [np.zeros(3)]
    for k in range(1, 6):
        a = gravity(pos[-1]) + (np.array([30.0, 0, 0]) if k <= 3 else 0.0)
        vel.append(vel[-1] + a)
        pos.append(pos[-1] + vel[-1])
    state = np.hstack([np.array(pos), np.array(vel)])
    truth = Truth(t=t, ids=np.array(["A"] * 6, dtype=object), state=state,
                  phase=np.array(["boost"] * 6, dtype=object))
    assert boost_trace.true_thrust(truth, "A", 1.5) == pytest.approx(30.0, rel=1e-3)
    assert boost_trace.true_thrust(truth, "A", 4.5) == pytest.approx(0.0, abs=0.1)
    assert np.isnan(boost_trace.true_thrust(truth, "A", 9.0))
