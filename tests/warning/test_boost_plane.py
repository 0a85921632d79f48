"""The boost prediction's flight plane fitted to the track's boost positions
(accord.warning.boost.predict._plane_fit): it holds the true plane within its σ, is sharper across the
path than the plane from the launch point and the velocity, and the tracker
hands its boost states to the prediction."""

from __future__ import annotations

import math

import numpy as np

from accord.warning import boost, sim
from accord.warning.boost import predict
from accord.warning.frames import EARTH_RADIUS_M, great_circle_m

SIGMA_P = 350.0       # per axis, the filtered boost states' order (m)
SIGMA_V = 30.0


def _flight(lat, lon, alat, alon):
    spec = sim.solve_launch(sim.LaunchSpec(id="X", launch_t=0.0, launch_lat_deg=lat, launch_lon_deg=lon,
                                           aim_lat_deg=alat, aim_lon_deg=alon))
    return spec, sim.fly(spec)


def _states(fl, taus, rng):
    """Boost states as the tracker keeps them — ``(t, p, v, σp, σv)`` — with independent noise."""
    rows = []
    for tau in taus:
        s = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)
        rows.append([tau, *(s[0:3] + rng.normal(0.0, SIGMA_P, 3)), *(s[3:6] + rng.normal(0.0, SIGMA_V, 3)),
                     SIGMA_P, SIGMA_V])
    return np.array(rows)


def _impact_unit(fl):
    u = np.asarray(fl.impact_ecef, dtype=float)
    return u / np.linalg.norm(u)


def test_plane_fit_holds_the_true_plane_within_its_sigma():
    spec, fl = _flight(39.4, 126.5, 45.6, 142.1)                # ~1,450 km, over Rebun to Sōya
    u = _impact_unit(fl)
    P = np.diag([SIGMA_P**2] * 3 + [SIGMA_V**2] * 3)
    z, sig = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        taus = np.arange(30.0, spec.burn_time_s - 5.0, 2.0)
        S = _states(fl, taus, rng)
        n, C = predict._plane_fit(np.ascontiguousarray(S[:, 1:4]), np.ascontiguousarray(S[:, 7]),
                                  S[-1, 1:4].copy(), P)
        assert abs(np.linalg.norm(n) - 1.0) < 1e-9
        s = EARTH_RADIUS_M * math.sqrt(u @ C @ u)                # σ across the path at the impact
        z.append(EARTH_RADIUS_M * float(n @ u) / s)
        sig.append(s)
    z = np.array(z)
    assert np.all(np.abs(z) < 3.0)
    # independent noise: the correlation factor makes it conservative, never overconfident
    assert 0.1 < math.sqrt(float(np.mean(z**2))) < 1.0
    assert np.median(sig) < 15_000.0         # σ across at 1,450 km: a few mrad


def test_positions_on_one_line_fix_no_plane():
    p = np.array([EARTH_RADIUS_M, 0.0, 0.0])
    pos = np.array([p * (1.0 + k * 1e-3) for k in range(8)])
    assert predict._plane_fit(pos, np.full(8, SIGMA_P), p * 1.01, np.eye(6) * SIGMA_P**2) is None


def test_boost_prediction_with_states_is_sharper_across_and_holds_the_truth():
    spec, fl = _flight(39.4, 126.5, 45.6, 142.1)
    u = _impact_unit(fl)
    ilat, ilon = math.degrees(math.asin(u[2])), math.degrees(math.atan2(u[1], u[0]))
    rng = np.random.default_rng(7)
    tau = spec.burn_time_s - 4.0
    S = _states(fl, np.arange(30.0, tau, 2.0), rng)
    x = np.asarray(fl.state_at(np.array([tau]))).reshape(-1)
    x = x + np.concatenate([rng.normal(0.0, SIGMA_P, 3), rng.normal(0.0, SIGMA_V, 3)])
    P = np.diag([SIGMA_P**2] * 3 + [SIGMA_V**2] * 3)
    old = boost.boost_prediction(tau, "T1", x, P, 0.0, 39.4, 126.5, 4_000.0)
    new = boost.boost_prediction(tau, "T1", x, P, 0.0, 39.4, 126.5, 4_000.0, states=S)
    assert old is not None and new is not None
    # the σ across the path at its far end: the fitted plane is sharper by a third or more
    assert new.track_sigma_m[-1] < 0.67 * old.track_sigma_m[-1]
    assert new.impact_ellipse_95.semi_minor_m < old.impact_ellipse_95.semi_minor_m
    # ... and the true impact lies within 3 σ of the new path
    d = [great_circle_m(a, b, ilat, ilon) for a, b in new.ground_track]
    k = int(np.argmin(d))
    assert d[k] < 3.0 * new.track_sigma_m[k] + 20_000.0          # + the 40 points' spacing
    # the σ grows from the missile out: near zero under it, largest far down the path
    assert new.track_sigma_m[0] < 0.1 * new.track_sigma_m[-1]
    # too few states: the launch point and the velocity place the plane, as without states
    few = boost.boost_prediction(tau, "T1", x, P, 0.0, 39.4, 126.5, 4_000.0, states=S[:3])
    assert few is not None and few.track_sigma_m == old.track_sigma_m


def test_tracker_hands_its_boost_states_to_the_prediction(monkeypatch):
    from accord.warning.pipeline import track_detections

    seen = []
    real = boost.boost_prediction

    def spy(*a, **kw):
        seen.append(kw.get("states"))
        return real(*a, **kw)

    monkeypatch.setattr(boost, "boost_prediction", spy)
    launch = sim.LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.6, launch_lon_deg=125.9,
                            aim_lat_deg=41.4, aim_lon_deg=146.0)
    res = sim.simulate(sim.ScenarioSpec(sim.DEFAULT_SENSORS, (launch,), seed=3, duration=150.0))
    out = track_detections(res.header.sensors, res.detections)
    assert seen and all(s is not None and s.ndim == 2 and s.shape[1] == 9 for s in seen)
    assert max(len(s) for s in seen) >= predict.PLANE_FIT_MIN_STATES
    assert all(np.all(np.diff(s[:, 0]) > 0) for s in seen)        # the kept states, in time order
    assert any(p.status == "boost" for p in out.predictions)
