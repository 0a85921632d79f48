"""Launch/impact prediction: closed-form Kepler arcs, the unscented ellipse, its calibration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from accord.warning.frames import EARTH_RADIUS_M, enu_basis, great_circle_m, lla_to_ecef
from accord.warning.prediction import (
    CHI2_2DOF_95, ellipse_95, kepler_ground_arc, predict_launch_impact)
from accord.warning.sim import LaunchSpec, fly
from accord.warning.types import Ellipse95, Prediction


@pytest.fixture(scope="module")
def flight():
    return fly(LaunchSpec(id="M1", launch_t=10.0, launch_lat_deg=39.5, launch_lon_deg=126.0,
                          aim_lat_deg=40.5, aim_lon_deg=135.0))


def test_kepler_arc_from_a_post_burnout_state_lands_on_the_simulated_impact(flight):
    t = flight.burnout_t + 30.0
    s = flight.state_at(np.array([t]))[0]
    arc = kepler_ground_arc(s[:3], s[3:])
    assert arc["valid"]
    assert np.linalg.norm(arc["impact"] - flight.impact_ecef) < 50.0          # metres
    assert abs(t + arc["dt_impact"] - flight.impact_t) < 0.5                    # seconds
    assert abs(np.linalg.norm(arc["impact"]) - EARTH_RADIUS_M) < 1e-3
    # the same arc seen from another point of the flight gives the same impact
    s2 = flight.state_at(np.array([flight.impact_t - 60.0]))[0]
    arc2 = kepler_ground_arc(s2[:3], s2[3:])
    assert np.linalg.norm(arc2["impact"] - arc["impact"]) < 1.0


def test_launch_is_the_ballistic_arc_continued_to_the_ground(flight):
    s = flight.state_at(np.array([flight.burnout_t + 30.0]))[0]
    arc = kepler_ground_arc(s[:3], s[3:])
    assert arc["dt_launch"] < 0
    lat = np.degrees(np.arcsin(arc["launch"][2] / EARTH_RADIUS_M))
    lon = np.degrees(np.arctan2(arc["launch"][1], arc["launch"][0]))
    # boost bends the real path, so the equivalent-ballistic pad is near, not on, the real one
    assert great_circle_m(lat, lon, 39.5, 126.0) < 150e3


def test_states_that_never_meet_the_ground_are_invalid():
    r = lla_to_ecef(0.0, 0.0, 400e3)
    v_circ = np.sqrt(3.986004418e14 / np.linalg.norm(r))
    assert not kepler_ground_arc(r, np.array([0.0, v_circ, 0.0]))["valid"]        # orbit
    assert not kepler_ground_arc(r, np.array([0.0, 2 * v_circ, 0.0]))["valid"]    # escape
    assert not kepler_ground_arc(lla_to_ecef(0, 0, -10e3), np.array([0.0, 100.0, 0.0]))["valid"]


@pytest.mark.parametrize("cov, bearing", [([[1.0, 0.0], [0.0, 9.0]], 0.0),
                                          ([[9.0, 0.0], [0.0, 1.0]], 90.0),
                                          ([[5.0, 4.0], [4.0, 5.0]], 45.0)])
def test_ellipse_axes_and_bearing(cov, bearing):
    e = ellipse_95(np.array(cov) * 1e6)
    vals = np.linalg.eigvalsh(np.array(cov) * 1e6)
    assert e.semi_major_m == pytest.approx(np.sqrt(CHI2_2DOF_95 * vals[1]))
    assert e.semi_minor_m == pytest.approx(np.sqrt(CHI2_2DOF_95 * vals[0]))
    assert min(abs(e.bearing_deg - bearing), 180 - abs(e.bearing_deg - bearing)) < 1e-6


def test_unscented_ellipse_holds_95_percent_of_monte_carlo_impacts(flight):
    """Sample states from N(x, P), fly each to the ground: ~95 % land inside the 95 % ellipse."""
    t = flight.burnout_t + 20.0
    x = flight.state_at(np.array([t]))[0]
    A = np.random.default_rng(0).normal(size=(6, 6))
    P = np.diag([300.0, 300.0, 300.0, 3.0, 3.0, 3.0]) ** 2 + (A @ A.T) * 1e2
    (pred,) = predict_launch_impact(t, ["T1"], x[None], P[None])
    samples = np.random.default_rng(1).multivariate_normal(x, P, size=4000)
    arc = kepler_ground_arc(samples[:, :3], samples[:, 3:])
    assert arc["valid"].all()
    centre = lla_to_ecef(pred.impact_lat_deg, pred.impact_lon_deg)
    en = (arc["impact"] - centre) @ enu_basis(pred.impact_lat_deg, pred.impact_lon_deg)[:2].T
    C = np.array(pred.impact_cov_en_m2).reshape(2, 2)
    m2 = np.einsum("ki,ij,kj->k", en, np.linalg.inv(C), en)
    assert 0.93 < np.mean(m2 <= CHI2_2DOF_95) < 0.97
    assert abs(pred.impact_t - (t + np.mean(arc["dt_impact"]))) < 1.0
    # the ellipse is the covariance's: semi-major² / 5.991 is its largest eigenvalue
    assert pred.impact_ellipse_95.semi_major_m ** 2 / CHI2_2DOF_95 == pytest.approx(np.linalg.eigvalsh(C)[1])
    assert len(pred.ground_track) == 24 and pred.status == "tracking"


def test_launch_from_a_boost_anchor_recovers_a_straight_line_rise():
    from accord.warning.prediction import launch_from_boost
    pad = lla_to_ecef(39.8, 126.4, 0.0)
    up = pad / np.linalg.norm(pad)
    d = up + 0.3 * np.cross([0.0, 0.0, 1.0], up)
    a = 30.0 * d / np.linalg.norm(d)                        # net acceleration, m/s²
    tau = 35.0
    anchor = np.r_[100.0, pad + 0.5 * a * tau**2, a * tau]   # seen at t = 100 s
    s = lla_to_ecef(41.0, 130.0, 150e3)
    (pred,) = predict_launch_impact(150.0, ["T1"], np.r_[s, 2000.0 * np.cross([0, 0, 1.0], s / np.linalg.norm(s))][None],
                                    (np.eye(6) * 100.0)[None])
    out = launch_from_boost(pred, anchor)
    assert abs(out.launch_t - (100.0 - tau)) < 1e-6
    assert great_circle_m(out.launch_lat_deg, out.launch_lon_deg, 39.8, 126.4) < 1.0
    assert out.impact_lat_deg == pred.impact_lat_deg               # only the launch changes
    assert launch_from_boost(pred, np.full(7, np.nan)) is pred     # no anchor: unchanged


def _reference_predictions(t, x, P, radius=EARTH_RADIUS_M, n_track=24, launch_model_sigma_m=40_000.0):
    """predict_launch_impact written out in numpy from the module's public pieces (sigma points,
    Kepler arcs, the 95 % ellipse): per track ``None`` (no prediction) or its numbers."""
    from accord.warning.frames import ecef_to_lla
    from accord.warning.prediction import sigma_points
    chi, w = sigma_points(x, P)
    arc = kepler_ground_arc(chi[..., :3], chi[..., 3:])
    nominal = kepler_ground_arc(x[:, :3], x[:, 3:], track_points=n_track)
    out = []
    for k in range(len(x)):
        if not (arc["valid"][k].all() and nominal["valid"][k]):
            out.append(None)
            continue
        stats = []
        for pts in (arc["launch"][k], arc["impact"][k]):
            m = w @ pts
            m = m * radius / np.linalg.norm(m)
            lat, lon, _ = ecef_to_lla(m, radius)
            en = (pts - m) @ enu_basis(lat, lon)[:2].T
            stats.append((float(lat), float(lon), (en * w[:, None]).T @ en))
        (l_lat, l_lon, l_cov), (i_lat, i_lon, i_cov) = stats
        dti = arc["dt_impact"][k]
        e = ellipse_95(i_cov)
        glat, glon, _ = ecef_to_lla(nominal["track"][k], radius)
        out.append(dict(launch_t=t + w @ arc["dt_launch"][k], launch_lat_deg=l_lat, launch_lon_deg=l_lon,
                        launch_sigma_m=np.sqrt(np.trace(l_cov) + launch_model_sigma_m**2),
                        impact_t=t + w @ dti, impact_lat_deg=i_lat, impact_lon_deg=i_lon,
                        impact_t_sigma_s=np.sqrt(w @ (dti - w @ dti) ** 2),
                        semi_major_m=e.semi_major_m, semi_minor_m=e.semi_minor_m, bearing_deg=e.bearing_deg,
                        cov=i_cov.ravel(), glat=glat, glon=glon))
    return out


def test_predictions_equal_the_unscented_transform_written_out(flight):
    # several flights' post-burnout states and covariances, one escaping (no prediction)
    rng = np.random.default_rng(5)
    ts = flight.burnout_t + np.array([5.0, 40.0, 120.0, 300.0])
    X = flight.state_at(ts)
    X = np.vstack([X, X[1] * np.r_[np.ones(3), 6.0 * np.ones(3)]])
    Ps = []
    for _ in range(len(X)):
        A = rng.normal(size=(6, 6))
        Ps.append(np.diag(rng.uniform(50, 2000, 3).tolist() + rng.uniform(1, 40, 3).tolist()) ** 2 + (A @ A.T) * 50.0)
    P = np.array(Ps)
    ids = [f"T{k}" for k in range(len(X))]
    preds = predict_launch_impact(200.0, ids, X, P)
    ref = _reference_predictions(200.0, X, P)
    assert [p.track_id for p in preds] == [i for i, r in zip(ids, ref) if r is not None] == ids[:4]
    for p, r in zip(preds, [r for r in ref if r is not None]):
        # the objects are what their constructors make: every field set, equal and hashing alike
        rebuilt = Prediction(**{f.name: getattr(p, f.name) for f in dataclasses.fields(Prediction)})
        assert vars(p) == vars(rebuilt) and p == rebuilt and hash(p) == hash(rebuilt)
        assert vars(p.impact_ellipse_95) == vars(Ellipse95(*dataclasses.astuple(p.impact_ellipse_95)))
        assert p.status == "tracking" and p.reach_prob == ()
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.launch_t = 0.0
        for name in ("launch_t", "impact_t"):
            assert getattr(p, name) == pytest.approx(r[name], rel=0, abs=1e-6)
        for name in ("launch_lat_deg", "launch_lon_deg", "impact_lat_deg", "impact_lon_deg"):
            assert getattr(p, name) == pytest.approx(r[name], rel=0, abs=1e-10)
        for name in ("launch_sigma_m", "impact_t_sigma_s"):
            assert getattr(p, name) == pytest.approx(r[name], rel=1e-9)
        e = p.impact_ellipse_95
        assert e.semi_major_m == pytest.approx(r["semi_major_m"], rel=1e-9)
        assert e.semi_minor_m == pytest.approx(r["semi_minor_m"], rel=1e-9)
        assert e.bearing_deg == pytest.approx(r["bearing_deg"], abs=1e-9)
        assert np.allclose(p.impact_cov_en_m2, r["cov"], rtol=1e-9, atol=1e-6)
        g = np.array(p.ground_track)
        assert g.shape == (24, 2)
        assert np.abs(g[:, 0] - r["glat"]).max() <= 5e-6 + 1e-12   # rounded to 1e-5°
        assert np.abs(g[:, 1] - r["glon"]).max() <= 5e-6 + 1e-12


def test_every_prediction_is_made_by_the_dataclass_constructors(flight, monkeypatch):
    """No prediction bypasses ``Prediction.__init__`` / ``Ellipse95.__init__`` (a check added to
    either then holds for all), and the objects pickle back to equal ones."""
    import pickle

    made = {"Prediction": 0, "Ellipse95": 0}

    def counting(cls):
        original = cls.__init__

        def init(self, *a, **kw):
            made[cls.__name__] += 1
            original(self, *a, **kw)
        monkeypatch.setattr(cls, "__init__", init)

    counting(Prediction)
    counting(Ellipse95)
    ts = flight.burnout_t + np.array([5.0, 40.0, 120.0])
    X = flight.state_at(ts)
    P = np.array([np.diag([300.0, 300.0, 300.0, 5.0, 5.0, 5.0]) ** 2] * len(X))
    preds = predict_launch_impact(200.0, ["A", "B", "C"], X, P)
    assert len(preds) == 3
    assert made == {"Prediction": 3, "Ellipse95": 3}
    for p in preds:
        back = pickle.loads(pickle.dumps(p))
        assert back == p and list(vars(back)) == [f.name for f in dataclasses.fields(Prediction)]
        assert Prediction.from_json(p.to_json()) == p
