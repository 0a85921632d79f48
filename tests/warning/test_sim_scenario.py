"""Simulated scenarios: determinism, file format, radar detections, misses and clutter."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from accord.warning.frames import ecef_to_rae, rae_to_ecef
from accord.warning.io import parse_sensor, read_detections, read_events, read_truth
from accord.warning.sim import (
    DEFAULT_SENSORS,
    LaunchSpec,
    ScenarioSpec,
    in_coverage,
    random_scenario,
    simulate,
    write_scenario,
)

LAUNCH = LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.2, launch_lon_deg=127.1,
                    aim_lat_deg=41.46, aim_lon_deg=132.59)


@pytest.fixture(scope="module")
def result():
    return simulate(ScenarioSpec(sensors=DEFAULT_SENSORS, launches=(LAUNCH,), seed=11))


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, result):
    a = write_scenario(tmp_path / "a", result)
    b = write_scenario(tmp_path / "b", simulate(ScenarioSpec(DEFAULT_SENSORS, (LAUNCH,), seed=11)))
    c = write_scenario(tmp_path / "c", simulate(ScenarioSpec(DEFAULT_SENSORS, (LAUNCH,), seed=12)))
    for name in ("detections.jsonl", "truth.jsonl", "events.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "detections.jsonl").read_bytes() != (c / "detections.jsonl").read_bytes()
    assert (a / "truth.jsonl").read_bytes() == (c / "truth.jsonl").read_bytes()  # flight has no noise


def test_written_files_read_back_in_the_shared_format(tmp_path, result):
    d = write_scenario(tmp_path / "s", result)
    header_line = json.loads((d / "detections.jsonl").read_text().splitlines()[0])
    assert header_line["format"] == "accord-detections/1"
    assert list(header_line["sensors"][0])[-1] == "ecef_m"
    header, det = read_detections(d / "detections.jsonl")
    assert header.sensor_ids == ("KOR-GP1", "JPN-TPY1", "JPN-TPY2")
    assert len(det) == len(result.detections) and np.all(np.diff(det.t) >= 0)
    truth = read_truth(d / "truth.jsonl")
    ev = read_events(d / "events.jsonl")
    assert [e.id for e in ev] == ["M001"]
    assert set(truth.phase.tolist()) == {"boost", "ballistic"}
    assert np.all(truth.t == np.round(truth.t))
    assert truth.t[0] == np.ceil(ev[0].launch_t) and truth.t[-1] == np.floor(ev[0].impact_t)
    boost = truth.t[truth.phase == "boost"]
    assert boost.max() < ev[0].burnout_t <= truth.t[truth.phase == "ballistic"].min()


def test_missile_returns_have_the_sensor_noise(result):
    det, f = result.detections, result.flights[0]
    for si, s in enumerate(result.header.sensors):
        m = result.is_target & (det.sensor_idx == si)
        if m.sum() < 30:
            continue
        true_rae = ecef_to_rae(f.state_at(det.t[m])[:, :3], s.ecef, s.basis)
        err = det.rae[m] - true_rae
        err[:, 1] = (err[:, 1] + np.pi) % (2 * np.pi) - np.pi
        sig = np.array([s.sigma_range_m, s.sigma_az_rad, s.sigma_el_rad])
        z = err / sig
        assert np.all(np.abs(z.mean(axis=0)) < 4 / np.sqrt(m.sum()) + 0.05)
        assert np.all(np.abs(z.std(axis=0) - 1.0) < 0.25)


def test_detection_probability_and_clutter_rate(result):
    det, f = result.detections, result.flights[0]
    for si, s in enumerate(result.header.sensors):
        scans = s.scan_offset_s + s.scan_period_s * np.arange(int((result.duration - s.scan_offset_s) // s.scan_period_s) + 1)
        fl = scans[(scans >= f.launch_t) & (scans <= f.impact_t)]
        n_cov = int(in_coverage(s, f.state_at(fl)[:, :3]).sum()) if fl.size else 0
        n_hit = int((result.is_target & (det.sensor_idx == si)).sum())
        if n_cov > 50:
            assert abs(n_hit / n_cov - s.pd) < 4 * np.sqrt(s.pd * (1 - s.pd) / n_cov)
        n_clutter = int((~result.is_target & (det.sensor_idx == si)).sum())
        lam = s.clutter_per_scan * scans.size
        assert abs(n_clutter - lam) < 5 * np.sqrt(lam)


def test_clutter_is_inside_coverage_and_spread_over_the_volume(result):
    det = result.detections
    for si, s in enumerate(result.header.sensors):
        m = ~result.is_target & (det.sensor_idx == si)
        xyz = rae_to_ecef(det.rae[m], s.ecef, s.basis)
        assert in_coverage(s, xyz).all()
        # uniform in volume: the median range is at ((rmin³ + rmax³)/2)^(1/3)
        med = np.cbrt((s.min_range_m**3 + s.max_range_m**3) / 2)
        assert abs(np.median(det.range_m[m]) - med) < 0.05 * s.max_range_m


def test_in_coverage_edges():
    s = parse_sensor({"id": "R", "lat_deg": 0.0, "lon_deg": 0.0, "alt_m": 0.0, "sigma_range_m": 10.0,
                      "sigma_az_rad": 0.001, "sigma_el_rad": 0.001, "scan_period_s": 1.0,
                      "scan_offset_s": 0.0, "pd": 1.0, "clutter_per_scan": 0.0, "min_range_m": 1e5,
                      "max_range_m": 1e6, "min_el_deg": 5.0, "max_el_deg": 60.0,
                      "az_center_deg": 350.0, "az_half_width_deg": 30.0})
    def at(r, az, el):
        return rae_to_ecef(np.array([r, np.radians(az), np.radians(el)]), s.ecef, s.basis)
    pts = np.array([at(5e5, 10.0, 20.0), at(5e5, 330.0, 20.0), at(5e5, 21.0, 20.0),
                    at(5e5, 300.0, 20.0), at(5e4, 0.0, 20.0), at(2e6, 0.0, 20.0),
                    at(5e5, 0.0, 4.0), at(5e5, 0.0, 61.0)])
    assert in_coverage(s, pts).tolist() == [True, True, False, False, False, False, False, False]


def test_random_scenario_is_like_the_sample_scenarios():
    spec = random_scenario(5, 4, pd=1.0, clutter_per_scan=0.0)
    assert all(s.pd == 1.0 and s.clutter_per_scan == 0.0 for s in spec.sensors)
    assert spec.launches == random_scenario(5, 4).launches
    for ln in spec.launches:
        from accord.warning.frames import great_circle_m
        assert 300e3 <= great_circle_m(ln.launch_lat_deg, ln.launch_lon_deg, ln.aim_lat_deg, ln.aim_lon_deg) <= 1500e3


def test_bad_overrides_are_input_errors():
    from accord.errors import InputError
    with pytest.raises(InputError, match="pd"):
        random_scenario(1, 1, pd=1.5)
    with pytest.raises(InputError, match="clutter_per_scan"):
        random_scenario(1, 1, clutter_per_scan=-1.0)


def test_pd_one_and_no_clutter_detects_every_covered_scan():
    sensors = tuple(dataclasses.replace(s, pd=1.0, clutter_per_scan=0.0) for s in DEFAULT_SENSORS)
    r = simulate(ScenarioSpec(sensors, (LAUNCH,), duration=200.0, seed=1))
    assert r.is_target.all() and r.detections.t.max() <= 200.0
    f = r.flights[0]
    s = sensors[1]
    scans = np.arange(0.0, 201.0)
    fl = scans[(scans >= f.launch_t) & (scans <= f.impact_t)]
    assert int((r.detections.sensor_idx == 1).sum()) == int(in_coverage(s, f.state_at(fl)[:, :3]).sum())


def test_cli_simulate_writes_a_scenario(tmp_path):
    from accord.cli.main import app
    out = tmp_path / "sc"
    res = CliRunner().invoke(app, ["warning", "simulate", "--seed", "3", "--missiles", "1",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "M001" in res.output
    header, det = read_detections(out / "detections.jsonl")
    assert len(det) > 100 and len(read_events(out / "events.jsonl")) == 1


def test_cli_simulate_title_groups_the_thousands_of_both_counts(tmp_path):
    """The title read ``11,923 detections (2481 from missiles)``: one count grouped, the other
    not (docs/warning.md shows this run)."""
    from accord.cli.main import app
    res = CliRunner().invoke(app, ["warning", "simulate", "--seed", "42", "--missiles", "3",
                                   "--out", str(tmp_path / "sc42")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "11,923 detections (2,481 from missiles), 750 s" in res.output


def test_cli_simulate_into_a_pipe_starts_with_its_table(tmp_path):
    """The progress bar is for terminals: into a pipe it left a blank first line."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "accord.cli.main", "warning", "simulate", "--seed", "3", "--missiles",
                        "1", "--out", str(tmp_path / "sc")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].strip().startswith(f"{tmp_path / 'sc'}: ")
