"""Identity on the ballistic arc (accord.warning.identity): the test that tells a refinement of
one missile's prediction from another missile's."""

from __future__ import annotations

import math

import pytest

from accord.warning.identity import IDENTITY_GATE, arc_distance, impact_cov_en, same_arc, same_place
from accord.warning.types import Ellipse95, Prediction


def pred(t=300.0, lat=35.62, lon=132.75, a=2_000.0, b=1_000.0, impact_t=516.0, sigma_t=None,
         ground_track=(), **kw) -> Prediction:
    return Prediction(t=t, track_id="T1", launch_t=30.0, launch_lat_deg=39.0, launch_lon_deg=125.7,
                      launch_sigma_m=10_000.0, impact_t=impact_t, impact_lat_deg=lat, impact_lon_deg=lon,
                      impact_ellipse_95=Ellipse95(a, b, 120.0), impact_t_sigma_s=sigma_t,
                      ground_track=ground_track, **kw)


def test_the_gate_is_the_chi2_3_quantile_at_one_in_a_million():
    from scipy.stats import chi2
    assert IDENTITY_GATE == pytest.approx(chi2.ppf(1 - 1e-6, 3), rel=1e-9)


def test_a_refinement_is_the_same_arc_and_a_390_km_jump_is_not():
    ref = pred(a=30_000, b=15_000, sigma_t=5.0)
    assert same_arc(ref, pred(lat=35.70, a=20_000, b=10_000, impact_t=520, sigma_t=4.0))
    far = pred(lat=39.13, lon=132.9, a=1_500, b=500, impact_t=676, sigma_t=0.5)
    assert not same_arc(pred(a=200, b=100, sigma_t=0.2), far)
    assert arc_distance(pred(a=200, b=100, sigma_t=0.2), far) > 1e4 * IDENTITY_GATE


def test_impact_times_tell_apart_two_missiles_on_one_point_once_they_are_known():
    a, b = pred(sigma_t=2.0), pred(impact_t=546.0, sigma_t=2.0)   # same point, 30 s apart
    assert not same_arc(a, b)
    assert same_arc(pred(sigma_t=10.0), pred(impact_t=546.0, sigma_t=10.0))  # not yet known


def test_without_a_time_sigma_the_along_track_uncertainty_stands_in():
    ref = pred(a=8_000, b=4_000)          # no impact_t_sigma_s: from the ellipse and ground speed
    assert same_arc(ref, pred(a=8_000, b=4_000, impact_t=526.0))
    assert not same_arc(ref, pred(a=8_000, b=4_000, impact_t=600.0))


def test_the_covariance_comes_from_the_ellipse_when_not_given():
    P = impact_cov_en(pred(a=math.sqrt(5.991464547107979) * 3_000, b=math.sqrt(5.991464547107979) * 1_000))
    ev = sorted(float(x) for x in __import__("numpy").linalg.eigvalsh(P))
    assert ev == pytest.approx([1_000.0 ** 2, 3_000.0 ** 2], rel=1e-9)


def test_same_place_moves_the_reference_along_its_ground_track():
    track = tuple((38.0, 130.0 + 0.1 * k) for k in range(24))       # eastward, ~8.8 km per step
    ref = pred(t=300.0, impact_t=530.0, ground_track=track)          # 23 steps in 230 s: 1 step / 10 s
    here = pred(t=310.0, ground_track=((38.0, 130.1),))
    assert same_place(ref, here)
    thirty_s_behind = pred(t=310.0, ground_track=((38.0, 129.8),))  # ~26 km behind
    assert not same_place(ref, thirty_s_behind)


def test_prediction_json_keeps_the_impact_time_sigma():
    p = pred(sigma_t=3.25, status="suspect")
    assert Prediction.from_json(p.to_json()) == p
    assert "impact_t_sigma_s" not in pred().to_json()


@pytest.mark.parametrize("seed", range(4))
def test_arc_distance_is_the_matrix_formula_of_the_docstring(seed):
    """The closed form arc_distance uses equals the docstring's matrix expression (a 2×2 solve,
    the largest eigenvalue for an impact-time σ), with and without the East-North covariance."""
    import numpy as np

    from accord.warning.identity import FLOOR_SIGMA_M, impact_offset_en

    rng = np.random.default_rng(seed)
    for _ in range(50):
        L = rng.normal(size=(2, 2)) * rng.uniform(200.0, 30_000.0)
        P = L @ L.T + 1e4 * np.eye(2)
        kw = {"impact_cov_en_m2": tuple(P.reshape(-1).tolist())} if rng.random() < 0.5 else {}
        ref = pred(a=float(rng.uniform(500, 40_000)), b=float(rng.uniform(100, 500)),
                   sigma_t=float(rng.uniform(0.5, 10)) if rng.random() < 0.5 else None)
        new = pred(lat=35.62 + float(rng.normal()) * 0.3, lon=132.75 + float(rng.normal()) * 0.3,
                   impact_t=516.0 + float(rng.normal()) * 10.0,
                   sigma_t=float(rng.uniform(0.5, 10)) if rng.random() < 0.5 else None, **kw)
        Pr, Pn = impact_cov_en(ref), impact_cov_en(new)
        d = impact_offset_en(ref, new)
        d2 = float(d @ np.linalg.solve(Pr + Pn + FLOOR_SIGMA_M**2 * np.eye(2), d))

        def sig(p, Pp):
            if p.impact_t_sigma_s is not None:
                return p.impact_t_sigma_s
            flight = p.impact_t - p.launch_t
            from accord.warning.frames import great_circle_m
            v = max(500.0, great_circle_m(p.launch_lat_deg, p.launch_lon_deg, p.impact_lat_deg,
                                          p.impact_lon_deg) / flight)
            return math.sqrt(np.linalg.eigvalsh(Pp)[-1]) / v

        floor = 1.0 if ref.impact_t_sigma_s is not None and new.impact_t_sigma_s is not None else 5.0
        want = d2 + (new.impact_t - ref.impact_t) ** 2 / (sig(ref, Pr) ** 2 + sig(new, Pn) ** 2 + floor**2)
        assert arc_distance(ref, new) == pytest.approx(want, rel=1e-6)
