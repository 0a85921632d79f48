"""``bench/boost_nees.py``: a boosting track's state is put to the nearest missile still in its
boost, and its NEES and per-axis errors are taken in its own covariance, in the missile's frame."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench_modules import load_bench
from accord.warning.io.truth import Truth

boost_nees = load_bench("boost_nees")


def _truth() -> tuple[Truth, list]:
    # A flies along +y at 7,000 km from the centre (up is +x there), B 50 km away along +z
    a = np.array([7e6, 0.0, 0.0, 0.0, 1000.0, 0.0])
    b = np.array([7e6, 0.0, 50e3, 0.0, 1000.0, 0.0])
    truth = Truth(t=np.array([10.0, 10.0, 30.0]), ids=np.array(["A", "B", "A"], dtype=object),
                  state=np.stack([a, b, a]), phase=np.array(["boost"] * 3, dtype=object))
    events = [SimpleNamespace(id="A", launch_t=0.0, burnout_t=20.0), SimpleNamespace(id="B", launch_t=0.0, burnout_t=20.0)]
    return truth, events


def _row(t: float, x: np.ndarray, P: np.ndarray, latched: bool = False) -> tuple:
    return (t, "T1", latched, 0.9, x, P, x, P)


def test_nees_and_axes_of_the_nearest_boosting_missile():
    truth, events = _truth()
    P = np.diag([100.0**2] * 3 + [10.0**2] * 3)
    # 2 σ off in position along x; in velocity 3 σ along the flight (+y) and 1 σ across the plane (z)
    x = truth.state[0] + [200.0, 0, 0, 0, 30.0, 10.0]
    (r,) = boost_nees.measured([_row(10.0, x, P)], truth, events, "s", "combined")
    assert (r["missile"], r["since"], r["frac"], r["before"]) == ("A", 10.0, 0.5, -10.0)
    assert r["nees_p"] == pytest.approx(4.0) and r["nees_v"] == pytest.approx(10.0)
    # along v, up in the plane, across it: 30, 0, ±10 m/s, each with σ 10 m/s
    assert np.abs(r["ev"]) == pytest.approx([30.0, 0.0, 10.0], abs=1e-9)
    assert r["sv"] == pytest.approx([10.0, 10.0, 10.0])
    assert r["ep"][1] == pytest.approx(200.0)      # position error along x: up at A


def test_anisotropic_covariance_is_read_in_the_missiles_frame():
    truth, events = _truth()
    P = np.diag([1.0, 1.0, 1.0, 5.0**2, 40.0**2, 20.0**2])   # σ_vx 5 (up), σ_vy 40 (along), σ_vz 20 (cross)
    (r,) = boost_nees.measured([_row(10.0, truth.state[0].copy(), P)], truth, events, "s", "combined")
    assert r["sv"] == pytest.approx([40.0, 5.0, 20.0])
    assert r["nees_v"] == pytest.approx(0.0)


def test_latched_far_and_burnt_out_states_do_not_count():
    truth, events = _truth()
    P = np.diag([100.0**2] * 3 + [10.0**2] * 3)
    a = truth.state[0]
    rows = [_row(10.0, a, P, latched=True),                      # the ballistic model alone
            _row(10.0, a + [0, 0, 25e3, 0, 0, 0], P),             # 25 km from A and from B: neither
            _row(30.0, a, P),                                     # A burnt out at 20 s
            _row(10.5, a, P)]                                     # not a whole second: no truth there
    assert boost_nees.measured(rows, truth, events, "s", "combined") == []
    (near_b,) = boost_nees.measured([_row(10.0, a + [0, 0, 45e3, 0, 0, 0], P)], truth, events, "s", "combined")
    assert near_b["missile"] == "B"


def test_the_boost_models_own_state_when_asked():
    truth, events = _truth()
    P = np.diag([100.0**2] * 3 + [10.0**2] * 3)
    a = truth.state[0]
    row = (10.0, "T1", False, 0.9, a + [0, 0, 0, 0, 20.0, 0], P, a, P)
    assert boost_nees.measured([row], truth, events, "s", "combined")[0]["nees_v"] == pytest.approx(4.0)
    assert boost_nees.measured([row], truth, events, "s", "boost")[0]["nees_v"] == pytest.approx(0.0)
