"""Bad input to the tracker's library API and to ``accord warning track``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from accord.errors import InputError
from accord.warning.pipeline import track_detections
from accord.warning.tracking import Tracker

RADAR = {"id": "R1", "lat_deg": 40.0, "lon_deg": 135.0, "alt_m": 0.0, "sigma_range_m": 20.0,
         "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "min_range_m": 5e4, "max_range_m": 2e6,
         "min_el_deg": 0.5, "max_el_deg": 85.0, "az_center_deg": 270.0, "az_half_width_deg": 90.0}
GOOD = np.array([[800e3, 4.7, 0.2]])


def test_unknown_sensor_is_named():
    trk = Tracker([RADAR])
    with pytest.raises(InputError, match="unknown sensor 'R9'.*R1"):
        trk.process_scan(0.0, "R9", GOOD)
    with pytest.raises(InputError, match="unknown sensor index 3"):
        trk.process_scan(0.0, 3, GOOD)


@pytest.mark.parametrize("rae, msg", [
    (np.zeros((2, 2)), "shape"),
    (np.zeros((3,)), "shape"),
    (np.array([[np.nan, 1.0, 0.1]]), "non-finite"),
    (np.array([[-5.0, 1.0, 0.1]]), "range"),
])
def test_malformed_detection_arrays_are_refused(rae, msg):
    with pytest.raises(InputError, match=msg):
        Tracker([RADAR]).process_scan(0.0, "R1", rae)


def test_scans_out_of_time_order_are_refused():
    trk = Tracker([RADAR])
    trk.process_scan(10.0, "R1", GOOD)
    with pytest.raises(InputError, match="earlier than the previous scan"):
        trk.process_scan(9.0, "R1", GOOD)
    trk.process_scan(10.0, "R1", np.zeros((0, 3)))      # same time, empty scan: fine


def test_bad_sensor_definitions_are_refused():
    with pytest.raises(InputError, match="sigma_range_m"):
        Tracker([{**RADAR, "sigma_range_m": "20"}])
    with pytest.raises(InputError, match="at least one sensor"):
        Tracker([])
    with pytest.raises(InputError, match="duplicate"):
        Tracker([RADAR, RADAR])


def test_pipeline_columns_are_checked():
    det = {"t": [0.0, 1.0], "sensor": ["R1", "R2"], "range_m": [8e5, 8e5], "az_rad": [4.7, 4.7],
           "el_rad": [0.2, 0.2]}
    with pytest.raises(InputError, match="unknown sensor 'R2'"):
        track_detections([RADAR], det)
    with pytest.raises(InputError, match="lack a column"):
        track_detections([RADAR], {k: v for k, v in det.items() if k != "el_rad"})
    with pytest.raises(InputError, match="line 3: time 1.0 is earlier"):
        from accord.warning.io import Detections
        d = Detections.from_arrays([2.0, 1.0], [0, 0], np.array([[8e5, 4.7, 0.2]] * 2), ["R1"])
        d = Detections(t=d.t, sensor_idx=d.sensor_idx, range_m=d.range_m, az_rad=d.az_rad,
                       el_rad=d.el_rad, sensor_ids=d.sensor_ids, line=np.array([2, 3]))
        track_detections([RADAR], d)
    with pytest.raises(InputError, match="different lengths"):
        track_detections([RADAR], {**det, "sensor": ["R1"], "t": [0.0]})


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_cli_track_writes_outputs_and_reports_bad_lines(tmp_path):
    from accord.cli.main import app
    from accord.warning.sim import random_scenario, simulate, write_scenario

    sim = simulate(random_scenario(2, 1, duration=300.0))
    assert sim.is_target.sum() > 50
    write_scenario(tmp_path / "scn", sim)
    runner = CliRunner()
    res = runner.invoke(app, ["warning", "track", str(tmp_path / "scn" / "detections.jsonl"),
                              "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["detections"] == len(sim.detections) and summary["confirmed_tracks"] >= 1
    tracks = (tmp_path / "out" / "tracks.jsonl").read_text().splitlines()
    assert len(tracks) == summary["track_lines"] > 0
    assert len(json.loads(tracks[0])["cov"]) == 36
    # a malformed line: a clear error with the line number, nothing written
    lines = (tmp_path / "scn" / "detections.jsonl").read_text().splitlines()
    _write(tmp_path / "bad.jsonl", lines[:5] + ['{"t": 3.0, "sensor": "NOPE", "range_m": 1, '
                                                '"az_rad": 1, "el_rad": 0.1}'] + lines[5:])
    res = runner.invoke(app, ["warning", "track", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o2")])
    assert res.exit_code != 0
    assert isinstance(res.exception, InputError) and res.exception.line == 6
    assert "unknown sensor" in str(res.exception)
    assert not (tmp_path / "o2" / "tracks.jsonl").exists()
    res = runner.invoke(app, ["warning", "track", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o3"),
                              "--lenient", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["skipped_lines"] == 1


def test_cli_track_takes_the_scenario_directory_and_score_names_the_directory_it_wants(tmp_path):
    """``warning alerts`` and ``score`` take the scenario directory, ``track`` took only the file
    in it (``sc42: is a directory``); and ``score`` given that file named a path that exists
    nowhere (``sc42/detections.jsonl/detections.jsonl: not a directory``)."""
    from accord.cli.main import app
    from accord.warning.sim import random_scenario, simulate, write_scenario

    write_scenario(tmp_path / "scn", simulate(random_scenario(2, 1, duration=120.0)))
    runner = CliRunner()
    res = runner.invoke(app, ["warning", "track", str(tmp_path / "scn"), "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    by_file = runner.invoke(app, ["warning", "track", str(tmp_path / "scn" / "detections.jsonl"),
                                  "--out", str(tmp_path / "out2"), "--json"])
    assert (tmp_path / "out" / "tracks.jsonl").read_text() == (tmp_path / "out2" / "tracks.jsonl").read_text()
    assert json.loads(res.output)["detections"] == json.loads(by_file.output)["detections"]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["warning", "track", str(empty), "--out", str(tmp_path / "o3")])
    assert str(res.exception) == f"{empty}: a directory without a detections.jsonl: give a detections file"
    res = runner.invoke(app, ["warning", "score", str(tmp_path / "scn" / "detections.jsonl"), str(tmp_path / "out")])
    assert str(res.exception) == (f"{tmp_path / 'scn' / 'detections.jsonl'}: a file; give the scenario directory "
                                  f"that holds detections.jsonl and truth.jsonl ({tmp_path / 'scn'})")
