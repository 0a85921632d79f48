"""The simulator's fast paths change no output: its compiled flight (``accord.warning.sim_kernels``)
gives the numpy reference's bits — the boost over a batch of pitch programs (the launch solution's
inner loop) and a whole flight's nodes, on motors and pitch programs unlike the probe
``compiled_boost`` checks — and solving a launch flies no burn time twice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accord.warning import libm, sim


def _motor(a0, f, tv, tb):
    return sim._Motor(r0=np.zeros(3), e1=np.zeros(3), e2=np.zeros(3), a0=a0, f=f, tv=tv, tb=tb)


def _bits(parts):
    return [np.asarray(p, dtype=complex).reshape(-1).tobytes() for p in parts]


def test_the_compiled_flight_is_used_on_this_machine():
    assert sim.compiled_boost() in (True, False)


def test_the_references_cube_is_libms_pow_on_every_cpu():
    # numpy's own power (Intel's SVML on AVX-512 CPUs) parts from libm's pow in the last bit for
    # about one value in twenty; the compiled kernels call libm's, so the reference must too
    x = np.random.default_rng(5).uniform(6.3e6, 7.5e6, 2_000)
    assert libm.cube(x).tobytes() == np.array([math.pow(v, 3.0) for v in x]).tobytes()
    assert sim._accel(0.0, x[:3] + 0j, _motor(40.0, 0.1, 5.0, 60.0), None).tobytes() == \
        ((-sim.MU / np.array([math.pow(v, 3.0) for v in x[:3]])) * (x[:3] + 0j)).tobytes()


@pytest.mark.parametrize("a0, f, tv, tb", [(38.0, 0.12, 6.0, 31.7), (32.4, 0.12, 4.13, 88.05),
                                           (44.9, 0.2, 7.9, 163.3), (40.0, 0.12, 6.0, 11.0)])
def test_the_boost_batch_has_the_numpy_bits(a0, f, tv, tb):
    m = _motor(a0, f, tv, tb)
    gammas = np.radians(np.linspace(-19.3, 83.1, 17))   # low ones fly into the ground
    got = sim._boost(m, gammas)
    want = sim._boost_numpy(m, gammas)[:3]
    assert _bits(got) == _bits(want)
    assert [g.tobytes() for g in got] == [w.tobytes() for w in want]   # the crash flags too


@pytest.mark.parametrize("a0, f, tv, tb, elev", [(38.0, 0.12, 6.0, 61.7, 31.0), (33.0, 0.12, 5.0, 120.0, 62.5),
                                                 (45.0, 0.12, 8.0, 140.0, 12.0), (38.0, 0.12, 6.0, 80.0, -15.0)])
def test_a_flights_nodes_have_the_numpy_bits(a0, f, tv, tb, elev):
    m = _motor(a0, f, tv, tb)
    got = sim._flight_nodes(m, float(np.radians(elev)))
    want = sim._flight_nodes_numpy(m, float(np.radians(elev)))
    if isinstance(want, str):
        assert got == want
    else:
        assert not isinstance(got, str)
        assert _bits(got) == _bits(want)


def test_solving_a_launch_flies_each_burn_time_once(monkeypatch):
    """Brent's method evaluates its bracket's ends again and ends on a burn time it has flown:
    solve_launch flies each burn time's batch of pitch programs once."""
    flown = []
    max_range = sim._max_range
    monkeypatch.setattr(sim, "_max_range", lambda spec, tb: flown.append(tb) or max_range(spec, tb))
    sim.solve_launch(sim.LaunchSpec(id="M1", launch_t=0.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                                    aim_lat_deg=41.46, aim_lon_deg=132.59))
    assert len(flown) > 5
    assert len(set(flown)) == len(flown), sorted(flown)
