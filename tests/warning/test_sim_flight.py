"""Simulator flight physics: landing on the aim point, energy, phases, trajectory kinds."""

from __future__ import annotations

import numpy as np
import pytest

from accord.errors import InputError
from accord.warning.frames import EARTH_RADIUS_M, MU, ecef_to_lla, great_circle_m
from accord.warning.sim import LaunchSpec, fly

AIM = dict(launch_lat_deg=39.2, launch_lon_deg=127.1, aim_lat_deg=41.46, aim_lon_deg=132.59)


@pytest.fixture(scope="module")
def flights():
    return {k: fly(LaunchSpec(id="M1", launch_t=10.0, trajectory=k, **AIM))
            for k in ("minimum-energy", "lofted", "depressed")}


def test_each_kind_lands_on_the_aim_point(flights):
    for f in flights.values():
        e = f.event()
        miss = great_circle_m(e.impact_lat_deg, e.impact_lon_deg, AIM["aim_lat_deg"], AIM["aim_lon_deg"])
        assert miss < 50.0, (f.spec.trajectory, miss)
        assert e.launch_t == 10.0 and e.burnout_t > e.launch_t and e.impact_t > e.burnout_t


def test_lofted_is_higher_and_depressed_lower_than_minimum_energy(flights):
    ap = {k: f.event().apogee_km for k, f in flights.items()}
    assert ap["lofted"] > 1.5 * ap["minimum-energy"] > 1.5 * ap["depressed"]
    assert flights["lofted"].event().lofted and not flights["minimum-energy"].event().lofted
    assert flights["lofted"].impact_t > flights["minimum-energy"].impact_t > flights["depressed"].impact_t


def test_ballistic_phase_conserves_energy_and_angular_momentum(flights):
    f = flights["minimum-energy"]
    t = np.arange(np.ceil(f.burnout_t) + 1, np.floor(f.impact_t))
    s = f.state_at(t)
    r, v = s[:, :3], s[:, 3:]
    energy = 0.5 * np.sum(v * v, axis=1) - MU / np.linalg.norm(r, axis=1)
    h = np.cross(r, v)
    assert np.ptp(energy) < 1e-6 * abs(energy.mean())
    assert np.max(np.linalg.norm(h - h[0], axis=1)) < 1e-6 * np.linalg.norm(h[0])


def test_boost_accelerates_beyond_gravity_then_coasts(flights):
    f = flights["minimum-energy"]
    tb = f.burnout_t
    before = f.state_at(np.array([tb - 2.0, tb - 1.0]))
    after = f.state_at(np.array([tb + 1.0, tb + 2.0]))
    a_before = np.linalg.norm(before[1, 3:] - before[0, 3:])
    a_after = np.linalg.norm(after[1, 3:] - after[0, 3:])
    assert a_before > 3 * 9.8 and a_after < 9.81
    # vertical rise first: the velocity is along the local vertical after 2 s
    s = f.state_at(np.array([f.launch_t + 2.0]))[0]
    up = s[:3] / np.linalg.norm(s[:3])
    assert np.dot(s[3:], up) / np.linalg.norm(s[3:]) > 0.9999


def test_starts_at_rest_on_the_ground_and_ends_at_zero_altitude(flights):
    f = flights["depressed"]
    s0 = f.state_at(np.array([f.launch_t]))[0]
    assert abs(np.linalg.norm(s0[:3]) - EARTH_RADIUS_M) < 1e-3 and np.linalg.norm(s0[3:]) == 0.0
    s1 = f.state_at(np.array([f.impact_t]))[0]
    assert abs(np.linalg.norm(s1[:3]) - EARTH_RADIUS_M) < 1e-3
    lat, lon, _ = ecef_to_lla(s1[:3])
    assert abs(lat - AIM["aim_lat_deg"]) < 1e-3 and abs(lon - AIM["aim_lon_deg"]) < 1e-3


def test_hermite_interpolation_matches_the_integration_nodes(flights):
    f = flights["minimum-energy"]
    mid = 0.5 * (f.t[:-1] + f.t[1:])
    s = f.state_at(mid)
    # midpoint velocity consistent with the finite difference of positions across the node pair
    fd = (f.r[1:] - f.r[:-1]) / (f.t[1:] - f.t[:-1])[:, None]
    assert np.max(np.linalg.norm(s[:, 3:] - fd, axis=1)) < 0.5


def test_unreachable_and_bad_kind_are_input_errors():
    with pytest.raises(InputError, match="out of reach"):
        fly(LaunchSpec(id="M9", launch_t=0.0, launch_lat_deg=39.0, launch_lon_deg=127.0,
                       aim_lat_deg=-30.0, aim_lon_deg=-60.0, thrust_accel=15.0))
    with pytest.raises(InputError, match="trajectory"):
        fly(LaunchSpec(id="M9", launch_t=0.0, trajectory="sideways", **AIM))
