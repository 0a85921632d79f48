"""The true impact the predictions are scored against: the truth's own Kepler arc
(``accord.warning.scoring.true_impacts``), not a coarse impact point in ``events.jsonl``."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from accord.warning.frames import EARTH_RADIUS_M, great_circle_m
from accord.warning.scoring import ARC_IMPACT_MAX_M, score_tracks, true_impacts
from accord.warning.sim import DEFAULT_SENSORS, LaunchSpec, ScenarioSpec, simulate
from accord.warning.types import Ellipse95, Prediction, TrackState

LAUNCH = LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                    aim_lat_deg=41.46, aim_lon_deg=132.59)


@pytest.fixture(scope="module")
def sim():
    return simulate(ScenarioSpec(DEFAULT_SENSORS, (LAUNCH,), seed=4))


def _north(lat: float, lon: float, m: float) -> tuple[float, float]:
    return lat + math.degrees(m / EARTH_RADIUS_M), lon


def test_the_simulator_event_is_the_arc_impact(sim):
    ev = sim.events[0]
    lat, lon = true_impacts(sim.truth, sim.events)[ev.id]
    assert great_circle_m(lat, lon, ev.impact_lat_deg, ev.impact_lon_deg) < 0.5


def test_a_coarse_event_impact_is_replaced_by_the_arc_and_a_far_one_kept(sim):
    ev = sim.events[0]
    coarse = replace(ev, impact_lat_deg=_north(ev.impact_lat_deg, ev.impact_lon_deg, 80.0)[0])
    lat, lon = true_impacts(sim.truth, [coarse])[ev.id]
    assert great_circle_m(lat, lon, ev.impact_lat_deg, ev.impact_lon_deg) < 0.5
    far = replace(ev, impact_lat_deg=_north(ev.impact_lat_deg, ev.impact_lon_deg, 2 * ARC_IMPACT_MAX_M)[0])
    assert true_impacts(sim.truth, [far])[ev.id] == (far.impact_lat_deg, far.impact_lon_deg)


def test_ellipse_coverage_is_scored_against_the_arc(sim):
    """A 30 m ellipse on the exact impact covers it although the event file put the impact 80 m off."""
    ev = sim.events[0]
    coarse = replace(ev, impact_lat_deg=_north(ev.impact_lat_deg, ev.impact_lon_deg, 80.0)[0])
    t = ev.burnout_t + 100.0
    pred = Prediction(t=t, track_id="T1", launch_t=ev.launch_t, launch_lat_deg=ev.launch_lat_deg,
                      launch_lon_deg=ev.launch_lon_deg, launch_sigma_m=100.0, impact_t=ev.impact_t,
                      impact_lat_deg=ev.impact_lat_deg, impact_lon_deg=ev.impact_lon_deg,
                      impact_ellipse_95=Ellipse95(30.0, 30.0, 0.0))
    k = int(np.flatnonzero(sim.truth.t == round(t))[0])
    track = TrackState(float(sim.truth.t[k]), "T1", *sim.truth.state[k].tolist())
    s = score_tracks(sim.header.sensors, sim.truth, [coarse], [track], [pred])
    assert s.n_predictions == 1
    assert [p.ellipse_coverage for p in s.phase_coverage if p.n] == [1.0]
