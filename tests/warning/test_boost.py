"""Boost-phase impact prediction (accord.warning.boost): the hypothesis bank flies the
simulator's missile exactly, the impact distribution it gives before burnout holds the truth and
narrows as the burn goes on, and a short shot is not said to reach far."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from accord.warning import boost, sim
from accord.warning.boost import flight, likelihood, prior
from accord.warning.frames import ecef_to_lla, great_circle_m

P_TRACK = np.diag([300.0**2] * 3 + [20.0**2] * 3)


@functools.cache
def _flight(lat, lon, alat, alon, kind="minimum-energy", **kw):
    """A solved launch and its flight, solved once per launch for the module (solving flies the
    simulator's pure-Python RK4 a few dozen times: ~0.3 s; five tests share the overflight). Its
    arrays are read-only, so no test changes what another reads."""
    spec = sim.solve_launch(sim.LaunchSpec(id="X", launch_t=0.0, launch_lat_deg=lat, launch_lon_deg=lon,
                                           aim_lat_deg=alat, aim_lon_deg=alon, trajectory=kind, **kw))
    fl = sim.fly(spec)
    for a in (fl.t, fl.r, fl.v, fl.a_start, fl.a_end, fl.impact_ecef):
        a.setflags(write=False)
    return spec, fl


def _reach_at(pred, lat, lon):
    """P(reach) at the ground-track point nearest (lat, lon)."""
    d = [great_circle_m(a, b, lat, lon) for a, b in pred.ground_track]
    return pred.reach_prob[int(np.argmin(d))], min(d)


def test_bank_flies_the_simulators_missile():
    spec, fl = _flight(39.6, 125.9, 41.4, 146.0)
    m = sim._motor(spec, spec.burn_time_s)
    one = np.array
    out, burn = flight.fly(one([spec.thrust_accel]), one([spec.vertical_s]), one([spec.burn_time_s]),
                           one([math.radians(spec.burnout_elev_deg)]), spec.propellant_fraction,
                           one([spec.burn_time_s]), 200.0, 0.5, 1.0)
    for tau in (30, 60, 90):
        s = np.asarray(fl.state_at(np.array([float(tau)]))).reshape(-1)
        want = [s[0:3] @ m.e1, s[0:3] @ m.e2, s[3:6] @ m.e1, s[3:6] @ m.e2]
        assert np.allclose(out[0, tau, 0:2], want[0:2], atol=5.0)
        assert np.allclose(out[0, tau, 2:4], want[2:4], atol=0.5)
    ok, rng, _ = flight.impact_arc(burn)
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
        M, s_hat, q0 = likelihood.plane_quadratic(x, S, e1, e2)
        got = likelihood.log_like(b.states, M, s_hat, q0, taus, lp)
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


def _reach_at_range(pred, lat, lon, d_m):
    """P(reach) at down-range ``d_m`` from (lat, lon) along the prediction's ground track."""
    d = np.array([great_circle_m(lat, lon, a, b) for a, b in pred.ground_track])
    return float(np.interp(d_m, d, pred.reach_prob, left=1.0, right=0.0))


def test_calibrated_on_seeded_simulated_boosts():
    """The simulator's own launch mix (``sim.random_launches``: minimum-energy, lofted and
    depressed shots), seen at 55–97 % of the burn with a noisy state (500 m, 50 m/s), a launch
    point off by 3 km and a launch time off by 2 s (σ): the 95 % ellipse holds the true impact
    in about 95 % (neither padded nor overconfident), and the probability the prediction gives
    of reaching the true impact range is spread like a probability should be — the truth is
    seldom where the prediction says it almost surely reaches or almost surely does not."""
    rng = np.random.default_rng(5)
    P = np.diag([500.0**2] * 3 + [50.0**2] * 3)
    inside, pit, widths = [], [], {0.55: [], 0.85: []}
    for seed in (1, 2, 3, 4):
        for sp in sim.random_launches(seed, 10):
            spec = sim.solve_launch(sp)
            fl = sim.fly(spec)
            il, io, _ = ecef_to_lla(fl.impact_ecef[None, :])
            d_true = great_circle_m(sp.launch_lat_deg, sp.launch_lon_deg, il[0], io[0])
            for frac in (0.55, 0.7, 0.85, 0.97):
                t = sp.launch_t + frac * spec.burn_time_s
                x = np.asarray(fl.state_at(np.array([t]))).reshape(-1) + rng.multivariate_normal(np.zeros(6), P)
                dn, de = rng.normal(0.0, 3_000.0, 2)
                lat = sp.launch_lat_deg + dn / 111_195.0
                lon = sp.launch_lon_deg + de / (111_195.0 * math.cos(math.radians(lat)))
                p = boost.boost_prediction(t, "T1", x, P, sp.launch_t + rng.normal(0.0, 2.0), lat, lon, 3_000.0)
                if p is None:
                    continue
                pit.append(_reach_at_range(p, lat, lon, d_true))
                c = np.array(p.impact_cov_en_m2).reshape(2, 2)
                v = np.array([(io[0] - p.impact_lon_deg) * 111_195.0 * math.cos(math.radians(p.impact_lat_deg)),
                              (il[0] - p.impact_lat_deg) * 111_195.0])
                inside.append(float(v @ np.linalg.solve(c, v)) <= 5.991)
                if frac in widths:
                    widths[frac].append(p.impact_ellipse_95.semi_major_m)
    pit_a = np.asarray(pit)
    stats = (len(inside), np.mean(inside), np.mean(pit_a > 0.9), np.mean(pit_a < 0.1), np.mean(pit_a < 0.5))
    print("boost calibration: n, ellipse coverage, P(reach truth) > 0.9, < 0.1, < 0.5:", stats)
    assert len(inside) >= 90, stats
    assert 0.88 <= np.mean(inside) <= 0.995, stats
    assert np.mean(pit_a > 0.9) <= 0.2 and np.mean(pit_a < 0.1) <= 0.2, stats
    assert 0.3 <= np.mean(pit_a < 0.5) <= 0.7, stats
    # and it narrows as the burn goes on
    assert np.median(widths[0.85]) < np.median(widths[0.55])


def test_a_minimum_energy_overflight_is_seen_reaching_its_target_area_early():
    """The default exercise's M-OVER (minimum-energy, 1,705 km over Aomori, burn 117 s): from
    64 s after launch the prediction gives at least 0.9 that the flight reaches Aomori (1,150 km
    down-range) — the uniform pitch prior gave 0.5–0.7 until 96 s — and that probability only
    grows as the burn goes on; the truth (1,705 km) stays inside the reach distribution."""
    lat, lon = 39.6, 125.9
    spec, fl = _flight(lat, lon, 41.4, 146.0)
    il, io, _ = ecef_to_lla(fl.impact_ecef[None, :])
    d_true = great_circle_m(lat, lon, il[0], io[0])
    P = np.diag([300.0**2] * 3 + [30.0**2] * 3)
    reach, truth = [], []
    for tau in np.arange(64.0, spec.burn_time_s - 1.0, 4.0):
        s = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)
        p = boost.boost_prediction(tau, "T1", s, P, 0.0, lat, lon, 3_000.0)
        assert p is not None
        reach.append(_reach_at_range(p, lat, lon, 1_150e3))
        truth.append(_reach_at_range(p, lat, lon, d_true))
    assert min(reach) >= 0.9, reach
    assert all(b >= a - 0.005 for a, b in zip(reach, reach[1:])), reach
    assert all(0.02 < q < 0.98 for q in truth), truth


def test_the_simulators_class_is_drawn_by_trajectory_kind():
    """A class drawn only as minimum-energy shots holds flights the simulator would fly to the
    same range: solving a minimum-energy launch to a drawn hypothesis' impact range gives its
    burn time (to 2 %) and burnout elevation (to 2°)."""
    from dataclasses import replace

    cls = replace(boost.SIM_CLASS, kinds=(("minimum-energy", 1.0, 0.0, 0.0),), n=12, seed=7)
    a0, tv, tb, gb = prior._draw_by_kind(cls, np.random.default_rng(cls.seed))
    _, burn = flight.fly(a0, tv, tb, gb, cls.propellant_fraction, np.ascontiguousarray(tb), 300.0, 0.5, 1.0)
    ok, rng_m, _ = flight.impact_arc(burn)
    checked = 0
    for k in np.flatnonzero(ok & (rng_m > 300e3) & (rng_m < 2_000e3))[:4]:
        ang = rng_m[k] / 6_371_000.0                    # due north along the meridian of the launch
        spec = sim.solve_launch(sim.LaunchSpec(id="X", launch_t=0.0, launch_lat_deg=30.0, launch_lon_deg=130.0,
                                               aim_lat_deg=30.0 + math.degrees(ang), aim_lon_deg=130.0,
                                               thrust_accel=float(a0[k]), vertical_s=float(tv[k])))
        assert abs(spec.burn_time_s / tb[k] - 1.0) < 0.02, (spec.burn_time_s, tb[k])
        assert abs(spec.burnout_elev_deg - math.degrees(gb[k])) < 2.0, (spec.burnout_elev_deg, math.degrees(gb[k]))
        checked += 1
    assert checked >= 3
