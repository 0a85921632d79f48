"""Scenario scoring: truth set by coverage, RMSE, impact error and ellipse coverage, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from accord.warning.frames import EARTH_RADIUS_M
from accord.warning.io import write_predictions, write_tracks
from accord.warning.scoring import GOSPA_C_M, score_dirs, score_tracks, scenario_seconds
from accord.warning.sim import DEFAULT_SENSORS, LaunchSpec, ScenarioSpec, in_any_coverage, simulate, write_scenario
from accord.warning.types import Ellipse95, Prediction, TrackState

LAUNCH = LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                    aim_lat_deg=41.46, aim_lon_deg=132.59)


@pytest.fixture(scope="module")
def sim():
    return simulate(ScenarioSpec(DEFAULT_SENSORS, (LAUNCH,), seed=4))


def tracks_from_truth(sim, offset=(0.0, 0.0, 0.0), only_covered=True, tid="T1"):
    tr = sim.truth
    cov = in_any_coverage(sim.header.sensors, tr.state[:, :3])
    out = []
    for t, s, c in zip(tr.t, tr.state, cov):
        if c or not only_covered:
            p = s[:3] + offset
            out.append(TrackState(float(t), tid, *p.tolist(), *s[3:].tolist()))
    return out


def score(sim, tracks, preds=()):
    return score_tracks(sim.header.sensors, sim.truth, sim.events, tracks, list(preds),
                        seconds=scenario_seconds(sim.detections.t))


def test_truth_set_is_only_the_covered_part_of_the_flight(sim):
    cov = in_any_coverage(sim.header.sensors, sim.truth.state[:, :3])
    assert 0 < cov.sum() < len(cov)  # the boost starts below the radars' horizon
    s = score(sim, tracks_from_truth(sim))
    assert s.gospa_mean_m == 0.0 and s.position_rmse_m == 0.0 and s.mean_false == 0.0
    assert s.n_assigned == int(cov.sum())
    # tracks also where no radar sees the missile are false tracks there
    s2 = score(sim, tracks_from_truth(sim, only_covered=False))
    n_out = int((~cov).sum())
    assert s2.mean_false * s2.n_seconds == pytest.approx(n_out)
    assert s2.false_m == pytest.approx(math.sqrt(n_out * GOSPA_C_M**2 / 2 / s2.n_seconds))


def test_offset_tracks_give_that_rmse_and_gospa(sim):
    s = score(sim, tracks_from_truth(sim, offset=(600.0, 0.0, 800.0)))
    assert s.position_rmse_m == pytest.approx(1000.0)
    n_cov = s.n_assigned
    assert s.gospa_mean_m == pytest.approx(1000.0 * n_cov / s.n_seconds)
    assert s.localisation_m == pytest.approx(1000.0 * math.sqrt(n_cov / s.n_seconds))
    assert s.missed_m == 0.0 and s.false_m == 0.0


def test_no_tracks_is_all_missed(sim):
    s = score(sim, [])
    assert s.localisation_m == 0.0 and s.false_m == 0.0 and math.isnan(s.position_rmse_m)
    assert s.mean_missed == pytest.approx(s.mean_truths)
    assert s.missed_m == pytest.approx(GOSPA_C_M / math.sqrt(2) * math.sqrt(s.mean_truths))


def test_one_track_per_missile_has_no_fragmentation_and_no_switch(sim):
    s = score(sim, tracks_from_truth(sim))
    assert s.missile_tracks == {"M001": ("T1",)}
    assert s.tracks_per_missile == 1.0 and s.identity_switches == 0


def test_a_track_replaced_after_a_gap_is_two_tracks_and_one_switch(sim):
    tracks = tracks_from_truth(sim)
    cut, back = len(tracks) // 3, len(tracks) // 3 + 20   # 20 s unreported, then a new identity
    renamed = [replace(tr, track_id="T9") for tr in tracks[back:]]
    s = score(sim, tracks[:cut] + renamed)
    assert s.missile_tracks == {"M001": ("T1", "T9")}
    assert s.tracks_per_missile == 2.0 and s.identity_switches == 1
    # the same identity back after the gap: one track, no switch
    s = score(sim, tracks[:cut] + tracks[back:])
    assert s.tracks_per_missile == 1.0 and s.identity_switches == 0
    # identities flickering T1, T2, T1: two tracks, two switches
    flicker = tracks[:cut] + [replace(tr, track_id="T2") for tr in tracks[cut:back]] + tracks[back:]
    s = score(sim, flicker)
    assert s.missile_tracks == {"M001": ("T1", "T2")} and s.identity_switches == 2


def test_identity_swap_between_two_missiles_counts_a_switch_for_each():
    two = simulate(ScenarioSpec(DEFAULT_SENSORS, (LAUNCH, replace(LAUNCH, id="M002", launch_t=15.0,
                                                                  aim_lat_deg=40.0)), seed=4))
    tracks = []
    for t, mid, st in zip(two.truth.t, two.truth.ids, two.truth.state):
        tid = {"M001": "A", "M002": "B"}[mid]
        if t >= 300:   # the two tracks swap missiles
            tid = "B" if tid == "A" else "A"
        tracks.append(TrackState(float(t), tid, *st.tolist()))
    s = score(two, tracks)
    assert s.missile_tracks == {"M001": ("A", "B"), "M002": ("B", "A")}
    assert s.identity_switches == 2 and s.tracks_per_missile == 2.0


def test_ellipse_coverage_is_reported_per_phase_since_burnout(sim):
    ev = sim.events[0]
    tracks = tracks_from_truth(sim)
    t_cov = {tr.t for tr in tracks}
    t_early = min(t for t in t_cov if t >= ev.burnout_t + 5)      # 0–20 s after burnout
    t_late = min(t for t in t_cov if t >= ev.burnout_t + 100)    # ≥ 60 s
    preds = [_pred(t_early, ev.impact_lat_deg, ev.impact_lon_deg, 1000.0, 500.0, 0.0),
             _pred(t_early, ev.impact_lat_deg + 1.0, ev.impact_lon_deg, 1000.0, 500.0, 0.0),
             _pred(t_late, ev.impact_lat_deg, ev.impact_lon_deg, 1000.0, 500.0, 0.0)]
    s = score(sim, tracks, preds)
    assert [(p.lo_s, p.n) for p in s.phase_coverage] == [(0.0, 2), (20.0, 0), (60.0, 1)]
    assert s.phase_coverage[0].ellipse_coverage == 0.5 and s.phase_coverage[2].ellipse_coverage == 1.0
    assert math.isnan(s.phase_coverage[1].ellipse_coverage)


def _pred(t, lat, lon, a, b, bearing, tid="T1"):
    return Prediction(t=t, track_id=tid, launch_t=5.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                      launch_sigma_m=100.0, impact_t=400.0, impact_lat_deg=lat, impact_lon_deg=lon,
                      impact_ellipse_95=Ellipse95(a, b, bearing))


def test_impact_error_and_ellipse_coverage(sim):
    ev = sim.events[0]
    tracks = tracks_from_truth(sim)
    t_cov = [tr.t for tr in tracks]
    # 3 km due east of the true impact
    dlon = math.degrees(3000.0 / (EARTH_RADIUS_M * math.cos(math.radians(ev.impact_lat_deg))))
    lat, lon = ev.impact_lat_deg, ev.impact_lon_deg + dlon
    t_late = t_cov[-5]
    preds = [
        _pred(t_cov[2], ev.impact_lat_deg, ev.impact_lon_deg, 1000.0, 500.0, 0.0),  # exact
        _pred(t_late, lat, lon, 4000.0, 1000.0, 90.0),   # major axis east: covers
        _pred(t_late, lat, lon, 4000.0, 1000.0, 0.0),    # major axis north: misses
        _pred(t_late, lat, lon, 2000.0, 1000.0, 90.0),   # too small: misses
        _pred(t_late, 30.0, 120.0, 1e5, 1e5, 0.0, tid="GHOST"),  # a track never assigned: ignored
    ]
    s = score(sim, tracks, preds)
    assert s.n_predictions == 4
    early = [b for b in s.impact_bins if b.lo_s <= t_cov[2] - ev.launch_t < b.hi_s][0]
    assert early.n == 1 and early.median_error_m == pytest.approx(0.0, abs=1.0) and early.ellipse_coverage == 1.0
    late = [b for b in s.impact_bins if b.lo_s <= t_late - ev.launch_t < b.hi_s][0]
    assert late.n == 3 and late.median_error_m == pytest.approx(3000.0, rel=1e-3)
    assert late.ellipse_coverage == pytest.approx(1 / 3)
    assert t_late - max(ev.burnout_t, t_cov[0]) >= 60
    assert s.n_post_burnout == 3 and s.impact_coverage_post_burnout == pytest.approx(1 / 3)


def test_score_command_prints_table_and_json(tmp_path, sim):
    from accord.cli.main import app
    sc = write_scenario(tmp_path / "sc", sim)
    out = tmp_path / "out"
    out.mkdir()
    write_tracks(out / "tracks.jsonl", tracks_from_truth(sim, offset=(0.0, 300.0, 400.0)))
    write_predictions(out / "predictions.jsonl", [])
    assert score_dirs(sc, out).position_rmse_m == pytest.approx(500.0)
    r = CliRunner().invoke(app, ["warning", "score", str(sc), str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert d["impact_bins"][-1]["hi_s"] is None  # open-ended bin, valid JSON
    assert d["position_rmse_m"] == pytest.approx(500.0) and d["mean_false"] == 0.0
    r = CliRunner().invoke(app, ["warning", "score", str(sc), str(out)])
    assert r.exit_code == 0 and "GOSPA" in r.output and "500" in r.output
    assert "tracks per missile" in r.output and "identity switches" in r.output
    assert d["tracks_per_missile"] == 1.0 and d["identity_switches"] == 0
    r = CliRunner().invoke(app, ["warning", "score", str(sc), str(tmp_path / "nope")])
    assert r.exit_code != 0


def test_score_table_labels_the_figure_its_parts_add_up_to(tmp_path, sim):
    """The parts are RMS over the seconds: printed under the GOSPA RMS, named as its parts, and
    they add up to it in quadrature (not to the mean, printed above them)."""
    from accord.cli.main import app
    sc = write_scenario(tmp_path / "sc", sim)
    out = tmp_path / "out"
    out.mkdir()
    tracks = tracks_from_truth(sim, offset=(0.0, 300.0, 400.0))
    write_tracks(out / "tracks.jsonl", tracks[::3] + [TrackState(t.t, "F1", t.x + 9e4, t.y, t.z, 0, 0, 0)
                                                      for t in tracks[::7]])
    write_predictions(out / "predictions.jsonl", [])
    r = CliRunner().invoke(app, ["warning", "score", str(sc), str(out)])
    assert r.exit_code == 0, r.output
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[1].endswith(" m"):
            rows[cells[0]] = float(cells[1][:-2].replace(",", ""))
    mean, rms = rows["GOSPA mean over the seconds (c=5 km, p=2, α=2)"], rows["GOSPA RMS over the seconds"]
    parts = [rows[f"{p} part of the RMS"] for p in ("localisation", "missed", "false")]
    assert all(p > 0 for p in parts) and mean < rms
    assert math.sqrt(sum(p * p for p in parts)) == pytest.approx(rms, abs=1.5)  # printed rounded to 1 m
    assert "localisation² + missed² + false² = RMS²" in r.stdout
