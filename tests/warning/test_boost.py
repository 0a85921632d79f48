"""Boost-phase impact prediction (accord.warning.boost): the hypothesis bank flies the
simulator's missile exactly, the impact distribution it gives before burnout holds the truth and
narrows as the burn goes on, and a short shot is not said to reach far."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accord.warning import boost, sim
from accord.warning.frames import ecef_to_lla, great_circle_m

P_TRACK = np.diag([300.0**2] * 3 + [20.0**2] * 3)


def _flight(lat, lon, alat, alon, kind="minimum-energy", **kw):
    spec = sim.solve_launch(sim.LaunchSpec(id="X", launch_t=0.0, launch_lat_deg=lat, launch_lon_deg=lon,
                                           aim_lat_deg=alat, aim_lon_deg=alon, trajectory=kind, **kw))
    return spec, sim.fly(spec)


def _reach_at(pred, lat, lon):
    """P(reach) at the ground-track point nearest (lat, lon)."""
    d = [great_circle_m(a, b, lat, lon) for a, b in pred.ground_track]
    return pred.reach_prob[int(np.argmin(d))], min(d)


def test_bank_flies_the_simulators_missile():
    spec, fl = _flight(39.6, 125.9, 41.4, 146.0)
    m = sim._motor(spec, spec.burn_time_s)
    one = np.array
    out, burn = boost._fly(one([spec.thrust_accel]), one([spec.vertical_s]), one([spec.burn_time_s]),
                           one([math.radians(spec.burnout_elev_deg)]), spec.propellant_fraction,
                           one([spec.burn_time_s]), 200.0, 0.5, 1.0)
    for tau in (30, 60, 90):
        s = np.asarray(fl.state_at(np.array([float(tau)]))).reshape(-1)
        want = [s[0:3] @ m.e1, s[0:3] @ m.e2, s[3:6] @ m.e1, s[3:6] @ m.e2]
        assert np.allclose(out[0, tau, 0:2], want[0:2], atol=5.0)
        assert np.allclose(out[0, tau, 2:4], want[2:4], atol=0.5)
    ok, rng, _ = boost._arc(burn)
    il, io, _ = ecef_to_lla(fl.impact_ecef[None, :])
    assert ok[0] and abs(rng[0] - great_circle_m(39.6, 125.9, il[0], io[0])) < 2_000.0


CASES = [  # (launch, aim, trajectory): a long overflight, a medium and a lofted short shot
    ((39.6, 125.9), (41.4, 146.0), "minimum-energy"),
    ((39.2, 127.0), (40.5, 134.0), "minimum-energy"),
    ((39.5, 126.0), (40.0, 131.5), "lofted"),
]


@pytest.mark.parametrize("launch, aim, kind", CASES)
def test_boost_prediction_holds_the_truth_and_narrows(launch, aim, kind):
    spec, fl = _flight(*launch, *aim, kind)
    il, io, _ = ecef_to_lla(fl.impact_ecef[None, :])
    tb = spec.burn_time_s
    widths = []
    for tau in (tb - 30.0, tb - 20.0, tb - 10.0, tb - 2.0):
        s = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)
        p = boost.boost_prediction(tau, "T1", s, P_TRACK, 0.0, launch[0], launch[1], 2_000.0)
        if p is None:   # still too near the pad to fix the flight plane (checked below)
            assert not widths
            continue
        assert p.status == "boost"
        rp = np.asarray(p.reach_prob)
        assert rp[0] > 0.99 and np.all(np.diff(rp) <= 1e-9)          # P(reach) falls along the path
        q, off = _reach_at(p, il[0], io[0])
        assert off < 30_000.0                                           # the path leads to the truth
        assert 0.005 < q < 0.995, (tau, q)                              # the truth is not excluded
        widths.append(p.impact_ellipse_95.semi_major_m)
    assert len(widths) >= 2 and widths[-1] < widths[0]


def test_short_shot_is_not_said_to_reach_far():
    spec, fl = _flight(39.2, 127.0, 39.8, 131.5)       # ~390 km into the sea
    tau = spec.burn_time_s - 3.0
    s = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)
    p = boost.boost_prediction(tau, "T1", s, P_TRACK, 0.0, 39.2, 127.0, 2_000.0)
    assert p is not None
    far = [q for (a, b), q in zip(p.ground_track, p.reach_prob) if great_circle_m(39.2, 127.0, a, b) > 800e3]
    assert far and max(far) < 0.1


def test_no_prediction_without_a_usable_launch():
    spec, fl = _flight(39.6, 125.9, 41.4, 146.0)
    s = np.asarray(fl.state_at(np.array([80.0]))).reshape(-1)
    assert boost.boost_prediction(80.0, "T1", s, P_TRACK, 0.0, 39.6, 125.9, 20_000.0) is None   # vague fit
    s = np.asarray(fl.state_at(np.array([10.0]))).reshape(-1)
    assert boost.boost_prediction(10.0, "T1", s, P_TRACK, 0.0, 39.6, 125.9, 2_000.0) is None    # no plane yet


def test_tracker_predicts_from_the_boost_and_scoring_keeps_those_apart():
    from accord.warning.pipeline import track_detections
    from accord.warning.scoring import score_tracks

    launch = sim.LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.6, launch_lon_deg=125.9,
                            aim_lat_deg=41.4, aim_lon_deg=146.0)
    res = sim.simulate(sim.ScenarioSpec(sim.DEFAULT_SENSORS, (launch,), seed=3, duration=260.0))
    out = track_detections(res.header.sensors, res.detections)
    boost_p = [p for p in out.predictions if p.status == "boost"]
    ballistic = [p for p in out.predictions if p.status == "tracking"]
    assert boost_p and ballistic
    burnout = res.events[0].burnout_t
    assert max(p.t for p in boost_p) <= min(p.t for p in ballistic)           # until the latch only
    assert min(p.t for p in boost_p) < burnout                                 # before burnout
    assert all(len(p.reach_prob) == len(p.ground_track) == len(p.track_sigma_m) for p in boost_p)
    sc = score_tracks(res.header.sensors, res.truth, res.events, out.tracks, out.predictions)
    assert sc.n_boost == len(boost_p) and sc.n_predictions == len(ballistic)
    assert sc.boost_coverage >= 0.8          # the wide boost ellipses hold the true impact


def _dense_log_like(states, x, S, e1, e2, taus, log_prior):
    """The boost likelihood written out plainly: every hypothesis at every launch-time offset
    put in the plane, its 6-D Mahalanobis distance to the track, logsumexp over the offsets."""
    T = states.shape[0]
    Si = np.linalg.inv(S)
    vals = np.full((len(taus), states.shape[2]), -np.inf)
    for j, tau in enumerate(taus):
        if not 0.0 <= tau < T - 1:
            continue
        k, w = int(tau), tau - int(tau)
        s = (1.0 - w) * states[k].astype(float) + w * states[k + 1].astype(float)      # (4, N)
        d = x[:, None] - np.vstack([np.outer(e1, s[0]) + np.outer(e2, s[1]), np.outer(e1, s[2]) + np.outer(e2, s[3])])
        vals[j] = -0.5 * np.einsum("in,ij,jn->n", d, Si, d) + log_prior[j]
    top = vals.max(axis=0)
    with np.errstate(invalid="ignore"):
        return top + np.log(np.exp(vals - top).sum(axis=0))


@pytest.mark.parametrize("launch, aim, kind", CASES)
def test_likelihood_kernel_matches_the_dense_formula(launch, aim, kind):
    """The kernel's 4-D quadratic form about the in-plane point nearest the track, and its
    skipping of hypotheses more than NEGLIGIBLE_LOG_LIKE below the best, give the weights of the
    plain 6-D formula: every hypothesis within 30 of the best to 1e-9 in log-likelihood, the
    normalised weights to 1e-12, and no hypothesis the kernel skips is within 58 of the best."""
    spec, fl = _flight(*launch, *aim, kind)
    b = boost.banks()
    e1 = np.asarray(fl.state_at(np.array([0.0]))).reshape(-1)[0:3]
    e1 = e1 / np.linalg.norm(e1)
    for tau in (spec.burn_time_s - 20.0, spec.burn_time_s - 2.0):
        x = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)[0:6]
        n = np.cross(e1, x[0:3])
        e2 = np.cross(n / np.linalg.norm(n), e1)
        S = P_TRACK + np.diag([2_000.0**2] * 3 + [40.0**2] * 3)
        taus = tau + np.linspace(-6.0, 6.0, 7)
        lp = -0.5 * (np.linspace(-6.0, 6.0, 7) / 2.5) ** 2
        M, s_hat, q0 = boost._plane_quadratic(x, S, e1, e2)
        got = boost._log_like(b.states, M, s_hat, q0, taus, lp)
        want = _dense_log_like(b.states, x, S, e1, e2, taus, lp)
        near = want > want.max() - 30.0
        assert near.sum() >= 5
        assert np.allclose(got[near], want[near], rtol=0.0, atol=1e-9)
        assert np.all(got <= want + 1e-9) and np.all(got >= want - math.log(7.0) - 1e-9)
        skipped = got < want - 1e-9
        assert np.all(want[skipped] < want.max() - boost.NEGLIGIBLE_LOG_LIKE + math.log(7.0) + 1e-9)
        wg = np.exp(got + b.log_prior - (got + b.log_prior).max())
        ww = np.exp(want + b.log_prior - (want + b.log_prior).max())
        assert np.allclose(wg / wg.sum(), ww / ww.sum(), rtol=0.0, atol=1e-12)
