"""The tracker on simulated scenarios (accord.warning.sim): filter consistency, clutter, predictions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from accord.warning.frames import great_circle_m
from accord.warning.pipeline import track_detections
from accord.warning.scoring import score_tracks
from accord.warning.sim import random_scenario, simulate


@pytest.fixture(scope="module")
def single_shot():
    """One missile, every scan detects it, no clutter (seed 5)."""
    sim = simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0))
    return sim, track_detections(sim.header.sensors, sim.detections)


@pytest.fixture(scope="module")
def cluttered():
    """Three missiles, Pd 0.9 and 15 false detections per scan per radar, first 300 s."""
    sim = simulate(random_scenario(11, 3, pd=0.9, clutter_per_scan=15.0, duration=300.0))
    return sim, track_detections(sim.header.sensors, sim.detections)


def _nees(sim, result, phase: str) -> np.ndarray:
    truth = sim.truth
    out = []
    for tr in result.tracks:
        k = np.flatnonzero((truth.t == tr.t) & (truth.phase == phase))
        if len(k) != 1:
            continue
        e = truth.state[k[0]] - np.array([tr.x, tr.y, tr.z, tr.vx, tr.vy, tr.vz])
        out.append(e @ np.linalg.solve(np.array(tr.cov).reshape(6, 6), e))
    return np.array(out)


def test_single_missile_is_one_track_with_consistent_ballistic_covariance(single_shot):
    sim, result = single_shot
    assert len({tr.track_id for tr in result.tracks}) == 1
    nees = _nees(sim, result, "ballistic")
    assert len(nees) > 100
    # NEES of a consistent 6-D estimate averages 6. The ballistic flight has no process noise, so
    # the error at t is made of all the measurements so far and stays correlated for a time of the
    # order of t itself (information grows linearly: corr(e(t), e(t + Δ)) ≈ √(t / (t + Δ)), ½ at
    # Δ = 3t); an arc from ~20 s to ~500 s after the latch holds ~3 independent draws. Compare the
    # mean with the 99 % χ² interval of 3 samples (seeds 5–8 give 8.9, 4.5, 7.8, 7.0); the
    # Monte-Carlo check over 10 runs is tests/warning/test_tracking_accuracy.py.
    n_eff = 3
    lo, hi = chi2.ppf([0.005, 0.995], 6 * n_eff) / n_eff
    assert lo < nees.mean() < hi, (nees.mean(), lo, hi)
    assert np.mean(nees < chi2.ppf(0.99, 6)) > 0.95
    first = nees[: len(nees) // 3]                   # the first third of the ballistic arc
    assert lo < first.mean() < hi, (first.mean(), lo, hi)


def test_single_missile_is_tracked_through_boost_and_burnout(single_shot):
    sim, result = single_shot
    score = score_tracks(sim.header.sensors, sim.truth, sim.events, result.tracks, result.predictions)
    assert score.mean_false == 0.0
    assert score.mean_missed < 0.03                  # a couple of seconds to confirm, no drop-outs
    assert score.position_rmse_m < 500.0
    boost = _nees(sim, result, "boost")
    assert len(boost) > 10 and np.median(boost) < chi2.ppf(0.99, 6)


def test_predictions_hit_the_true_impact_point_inside_calibrated_ellipses(single_shot):
    sim, result = single_shot
    ev = sim.events[0]
    preds = [p for p in result.predictions if p.status == "tracking"]
    late = [p for p in preds if p.t >= ev.burnout_t + 60.0]
    assert len(late) > 50
    err = np.array([great_circle_m(p.impact_lat_deg, p.impact_lon_deg, ev.impact_lat_deg, ev.impact_lon_deg)
                    for p in late])
    assert np.median(err) < 5_000.0
    # calibrated: true impact inside the 95 % ellipse about as often as claimed — not always
    m2 = []
    from accord.warning.frames import enu_basis, lla_to_ecef
    for p in preds:
        off = lla_to_ecef(ev.impact_lat_deg, ev.impact_lon_deg) - lla_to_ecef(p.impact_lat_deg, p.impact_lon_deg)
        en = (enu_basis(p.impact_lat_deg, p.impact_lon_deg) @ off)[:2]
        m2.append(en @ np.linalg.solve(np.array(p.impact_cov_en_m2).reshape(2, 2), en))
    inside = np.mean(np.array(m2) <= 5.991)
    assert inside >= 0.9
    assert np.median(m2) > 0.2                       # not an inflated ellipse (χ²₂ median 1.39)
    assert abs(np.mean([p.impact_t for p in late]) - ev.impact_t) < 10.0
    # launch back-propagated to the ground near the real pad, at about the right time
    lerr = [great_circle_m(p.launch_lat_deg, p.launch_lon_deg, ev.launch_lat_deg, ev.launch_lon_deg)
            for p in late]
    assert np.median(lerr) < 3 * late[0].launch_sigma_m
    assert abs(np.median([p.launch_t for p in late]) - ev.launch_t) < 60.0
    # every field filled: ground track from the missile to the impact point
    p = late[-1]
    assert len(p.ground_track) >= 10
    assert great_circle_m(*p.ground_track[-1], p.impact_lat_deg, p.impact_lon_deg) < 5_000.0
    assert p.impact_ellipse_95.semi_major_m >= p.impact_ellipse_95.semi_minor_m > 0


def test_predictions_firm_up_as_the_track_ages(single_shot):
    sim, result = single_shot
    preds = [p for p in result.predictions if p.status == "tracking"]
    first, last = preds[: len(preds) // 5], preds[-len(preds) // 5:]
    major = lambda ps: np.median([p.impact_ellipse_95.semi_major_m for p in ps])  # noqa: E731
    assert major(last) < major(first) / 3


def test_tracks_three_missiles_in_heavy_clutter_without_false_tracks(cluttered):
    sim, result = cluttered
    score = score_tracks(sim.header.sensors, sim.truth, sim.events, result.tracks, result.predictions)
    assert int((~sim.is_target).sum()) > 10 * int(sim.is_target.sum()) // 2   # clutter dominates
    assert score.mean_false < 0.02
    assert score.mean_missed < 0.1 * max(score.mean_truths, 1e-9)
    assert score.gospa_mean_m < 1_000.0
    ids = {tr.track_id for tr in result.tracks}
    assert len(ids) <= len(sim.events) + 1             # no track fragmentation to speak of
