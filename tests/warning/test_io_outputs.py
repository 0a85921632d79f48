"""tracks / predictions / truth / events files: round trips and line-numbered errors."""

from __future__ import annotations

import numpy as np
import pytest

from accord.errors import InputError
from accord.warning.io import (
    Event,
    Truth,
    read_events,
    read_predictions,
    read_tracks,
    read_truth,
    write_events,
    write_predictions,
    write_tracks,
    write_truth,
)
from accord.warning.types import Ellipse95, Prediction, TrackState


def test_tracks_round_trip(tmp_path):
    tracks = [TrackState(1.0, "T1", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, cov=tuple(float(i) for i in range(36))),
              TrackState(2.0, "T2", -1.5, 2e6, 3e6, 0.1, 0.2, 0.3)]
    write_tracks(tmp_path / "tracks.jsonl", tracks)
    assert read_tracks(tmp_path / "tracks.jsonl") == tracks


def test_predictions_round_trip(tmp_path):
    preds = [Prediction(150.0, "T17", 49.3, 40.1, 125.3, 2100.0, 486.4, 37.5, 134.5,
                        Ellipse95(8200.0, 2100.0, 71.0), impact_cov_en_m2=(1.0, 0.5, 0.5, 2.0))]
    write_predictions(tmp_path / "p.jsonl", preds)
    assert read_predictions(tmp_path / "p.jsonl") == preds


def test_truth_and_events_round_trip(tmp_path):
    truth = Truth(t=np.array([7.0, 8.0]), ids=np.array(["M001", "M001"], dtype=object),
                  state=np.arange(12, dtype=float).reshape(2, 6), phase=np.array(["boost", "ballistic"], dtype=object))
    write_truth(tmp_path / "truth.jsonl", truth)
    back = read_truth(tmp_path / "truth.jsonl")
    assert np.array_equal(back.state, truth.state) and back.ids.tolist() == ["M001", "M001"]
    assert back.phase.tolist() == ["boost", "ballistic"]
    ev = [Event("M001", 6.62, 39.2, 127.1, 70.1, 378.7, 41.5, 132.6, 527.5, 130.8, False)]
    write_events(tmp_path / "events.jsonl", ev)
    assert read_events(tmp_path / "events.jsonl") == ev


def test_bad_track_line_names_line_and_field(tmp_path):
    p = tmp_path / "tracks.jsonl"
    p.write_text('{"t": 1, "track_id": "T1", "x": 1, "y": 2, "z": 3, "vx": 0, "vy": 0, "vz": 0}\n'
                 '{"t": 2, "track_id": "T1", "x": 1, "y": 2, "z": 3, "vx": 0, "vy": 0}\n')
    with pytest.raises(InputError) as ei:
        read_tracks(p)
    assert ei.value.line == 2 and ei.value.field == "vz"
    p.write_text('{"t": 1, "track_id": "T1", "x": NaN, "y": 2, "z": 3, "vx": 0, "vy": 0, "vz": 0}\n')
    with pytest.raises(InputError, match="non-finite"):
        read_tracks(p)
    with pytest.raises(InputError, match="no such"):
        read_predictions(tmp_path / "missing.jsonl")


def test_a_write_interrupted_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    """Ctrl-C (or any error) while ``tracks.jsonl`` is written: the old file stays whole, and
    no ``tracks.jsonl.tmp`` is left beside it for the next run or the user to trip over."""
    from accord.warning.io.jsonl import write_lines

    path = tmp_path / "tracks.jsonl"
    write_lines(path, ["old"])

    def lines():
        yield "new 1"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_lines(path, lines())
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["tracks.jsonl"]
