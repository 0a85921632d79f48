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
