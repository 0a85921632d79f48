"""Accuracy at the bound (issue #18): RMSE against the posterior Cramér–Rao bound of
``bench/crlb.py`` and the covariance's consistency on a clean simulated missile, seeded.

The Monte-Carlo runs differ only in the measurement noise; successive seconds of one run are
strongly correlated, so the statistical allowances below are wide — they still fail if the
ballistic process noise comes back (late NEES ≈ 3, RMSE 1.3× the bound), if the bound treats the
thrust as known again, or if the filter turns over-confident.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bench_modules import load_bench
from accord.warning.pipeline import track_detections
from accord.warning.sim import DEFAULT_SENSORS, ScenarioSpec, fly, simulate, solve_launch

crlb = load_bench("crlb")

RUNS = 10
SENSORS = tuple(dataclasses.replace(s, pd=1.0, clutter_per_scan=0.0) for s in DEFAULT_SENSORS)


@pytest.fixture(scope="module")
def flight():
    return fly(solve_launch(crlb.LAUNCH))


@pytest.fixture(scope="module")
def seconds(flight):
    return np.arange(math.ceil(flight.launch_t), math.floor(flight.impact_t) + 1, dtype=float)


@pytest.fixture(scope="module")
def bound(flight, seconds):
    return crlb.pcrlb(flight, SENSORS, seconds)


@pytest.fixture(scope="module")
def runs(flight, seconds):
    """Per run and second: squared position error and 6-D NEES of the reported track (NaN: none)."""
    spec = solve_launch(crlb.LAUNCH)
    truth = flight.state_at(seconds)
    sq = np.full((RUNS, len(seconds)), np.nan)
    nees = np.full((RUNS, len(seconds)), np.nan)
    index = {float(w): i for i, w in enumerate(seconds)}
    for k in range(RUNS):
        sim = simulate(ScenarioSpec(SENSORS, (spec,), seed=100 + k))
        out = track_detections(sim.header.sensors, sim.detections)
        assert len({tr.track_id for tr in out.tracks}) == 1
        for tr in out.tracks:
            i = index[tr.t]
            e = np.array([tr.x, tr.y, tr.z, tr.vx, tr.vy, tr.vz]) - truth[i]
            sq[k, i] = e[:3] @ e[:3]
            nees[k, i] = e @ np.linalg.solve(np.array(tr.cov).reshape(6, 6), e)
    return sq, nees


def _ratio(sq, bound, mask):
    ok = mask & np.isfinite(bound)
    tracked = np.isfinite(sq[:, ok])
    assert tracked.mean() > 0.85         # confirmed ~4 s after the first detection (boost: 33 of 37 s)
    return math.sqrt(np.nanmean(sq[:, ok])) / math.sqrt(np.mean(np.broadcast_to(bound[ok] ** 2, tracked.shape)[tracked]))


def test_bound_treats_the_thrust_as_unknown(flight, seconds, bound):
    """Told the thrust (a prior of 1 cm/s² on it), the bound drops by 20–40 % in the boost and
    right after burnout; late in the arc the thrust no longer matters and both agree."""
    known = crlb.pcrlb(flight, SENSORS, seconds, prior_sigma_a=0.01)
    since = seconds - flight.burnout_t
    ok = np.isfinite(bound) & np.isfinite(known)
    assert (known[ok] <= bound[ok] * 1.001).all()
    boost = ok & (since > -25) & (since < 0)
    assert np.median(known[boost] / bound[boost]) < 0.8
    late = ok & (since > 150)
    assert np.allclose(known[late], bound[late], rtol=0.03)
    # a wandering thrust (white jerk) only removes information
    wander = crlb.pcrlb(flight, SENSORS, seconds, q_jerk=2.0)
    assert (wander[ok] >= bound[ok] * 0.999).all()


def test_burnout_instant_matters_only_in_the_first_seconds(flight, seconds, bound):
    """The bound knows the burnout instant; not knowing it (prior σ 10 s: a velocity impulse along
    the thrust at burnout) raises it only in the first seconds after burnout (482 → 570 m at
    +1 s, 527 → 820 m at +2 s); 10–40 s after burnout, where the tracker is 1.3–1.5× the bound,
    both agree within 2.1 %: that excess is the tracker's, not the bound's knowledge."""
    unknown = crlb.pcrlb(flight, SENSORS, seconds, burnout_sigma_s=10.0)
    since = seconds - flight.burnout_t
    ok = np.isfinite(bound) & np.isfinite(unknown)
    assert (unknown[ok] >= bound[ok] * 0.999).all()
    assert np.allclose(unknown[ok & (since < 0)], bound[ok & (since < 0)], rtol=1e-9)
    first = ok & (since >= 1) & (since < 3)
    assert (unknown[first] > bound[first] * 1.1).all()
    mid = ok & (since >= 10) & (since < 40)
    assert np.allclose(unknown[mid], bound[mid], rtol=0.03)


def test_rmse_is_near_the_bound(flight, seconds, bound, runs):
    sq, _ = runs
    since = seconds - flight.burnout_t
    # measured with these seeds: 1.00, 0.99 and 1.23 (bench/crlb.py, seeds 1–20: 1.00, 0.97). One run's
    # late error is nearly one draw (no process noise: it changes slowly), so that allowance is wider
    assert _ratio(sq, bound, since > -1e9) < 1.2                    # whole flight
    assert _ratio(sq, bound, since < 0) < 1.2                       # boost
    assert _ratio(sq, bound, since >= 150) < 1.4                    # late ballistic arc
    # the ballistic phase (issue #18: ≤ 1.15): 1.08 with these seeds (bench/crlb.py, seeds
    # 1–20: 1.14, and 1.33 with the boost model's thrust held fixed over a step)
    assert _ratio(sq, bound, since >= 0) < 1.15


def test_the_latch_does_not_pad_a_clean_track(flight, seconds, bound, runs):
    """This missile latches ~15 s after burnout, its boost model's thrust estimate inside its
    own spread. 20–40 s after burnout the RMSE is 1.00× the bound with these seeds and the 6-D
    NEES 6.7 (χ²₆: 6); when the latch added the boost model's whole ``P_aa`` (~24 m/s of velocity
    σ per axis) the filter forgot its velocity and the window was 1.16× the bound (NEES 6.2)."""
    sq, nees = runs
    since = seconds - flight.burnout_t
    window = (since >= 20) & (since < 40)
    assert _ratio(sq, bound, window) < 1.08
    per_run = np.nanmean(nees[:, window], axis=1)
    assert per_run.mean() < 9.0, per_run


def test_burnout_is_crossed_without_over_confidence(flight, seconds, runs):
    """In the 10 s after burnout the 6-D NEES averages 6.3 with these seeds (χ²₆: 6). With the
    boost model's thrust held fixed over a step it trailed the pitch-over, the velocity at
    burnout was biased beyond its covariance and the NEES there averaged 7.7."""
    _, nees = runs
    since = seconds - flight.burnout_t
    per_run = np.nanmean(nees[:, (since >= 0) & (since < 10)], axis=1)
    assert per_run.mean() < 7.0, per_run


def test_covariance_is_not_over_confident_in_the_boost(flight, seconds, runs):
    """Over the last 30 s of the burn the NEES averages ≈ 5.8 (χ²₆: 6; 6.5 with the thrust held
    fixed over a step); with an even boost /
    ballistic prior for new tracks the ballistic model led early and it averaged 8.2."""
    _, nees = runs
    boost = (seconds - flight.burnout_t >= -30) & (seconds < flight.burnout_t)
    per_run = np.nanmean(nees[:, boost], axis=1)
    assert per_run.mean() < 7.5, per_run


def test_covariance_is_consistent_late_in_the_flight(flight, seconds, runs):
    """Late in the ballistic arc the 6-D NEES averages 6: neither over-confident nor padded
    (with the former ballistic process noise it averaged ≈ 3)."""
    _, nees = runs
    late = (seconds - flight.burnout_t) >= 150
    per_run = np.nanmean(nees[:, late], axis=1)
    assert 4.0 < per_run.mean() < 9.0, per_run                     # measured 6.6 with these seeds
    assert (per_run < 20.0).all(), per_run