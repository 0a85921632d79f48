"""`accord warning track` writes ``tracks.jsonl`` and ``predictions.jsonl`` as one set, beside
whatever else its ``--out`` holds (often the scenario itself): interrupted between the two files
(an error, a kill), the earlier pair stays whole — never new tracks beside old predictions, which
``warning score`` and ``warning alerts`` would use without a word."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import accord.warning.io as wio
from accord.cli.main import app
from accord.errors import InputError
from accord.warning.io import fileset
from accord.warning.io import tracks as io_tracks
from accord.warning.sim import random_scenario, simulate, write_scenario

PAIR = ("tracks.jsonl", "predictions.jsonl")
SCENARIO = ("detections.jsonl", "truth.jsonl", "events.jsonl")


@pytest.fixture(scope="module")
def newer(tmp_path_factory):
    """The scenario whose tracker output replaces the earlier one (a different missile)."""
    return write_scenario(tmp_path_factory.mktemp("newer") / "b", simulate(random_scenario(3, 1, duration=300.0)))


def _track(src: Path, out: Path):
    return CliRunner().invoke(app, ["warning", "track", str(src), "--out", str(out)])


def _contents(d: Path, names=PAIR) -> dict[str, bytes]:
    return {name: (d / name).read_bytes() for name in names}


@pytest.fixture()
def tracked(tmp_path):
    """A scenario tracked into its own directory (the pair beside the scenario)."""
    sc = write_scenario(tmp_path / "sc", simulate(random_scenario(2, 1, duration=300.0)))
    res = _track(sc, sc)
    assert res.exit_code == 0, res.output
    return sc, _contents(sc, PAIR + SCENARIO)


def _score(score) -> str:
    return json.dumps(score.to_json(), sort_keys=True)


def _fail_second_file(monkeypatch, fail):
    # the command reaches the writer through the io package (before) or the tracks module (now)
    monkeypatch.setattr(io_tracks, "write_predictions", fail)
    monkeypatch.setattr(wio, "write_predictions", fail)


def test_a_track_that_fails_at_its_second_file_leaves_the_earlier_pair(tracked, newer, monkeypatch):
    sc, before = tracked
    listing = sorted(os.listdir(sc))

    def disk_full(path, preds):
        raise OSError(28, "No space left on device", str(path))

    _fail_second_file(monkeypatch, disk_full)
    res = _track(newer, sc)
    assert isinstance(res.exception, OSError) and "No space left" in str(res.exception)
    assert _contents(sc, PAIR + SCENARIO) == before  # the tracks too, not the new run's beside the old predictions
    assert sorted(os.listdir(sc)) == listing  # nothing staged left behind

    monkeypatch.undo()
    assert _track(newer, sc).exit_code == 0
    after = _contents(sc, PAIR + SCENARIO)
    assert all(after[name] != before[name] for name in PAIR)
    assert all(after[name] == before[name] for name in SCENARIO)  # the scenario beside them untouched
    assert sorted(os.listdir(sc)) == listing


def test_a_track_killed_at_its_second_file_leaves_the_earlier_pair_and_the_next_run_cleans_up(tracked, newer):
    sc, before = tracked
    listing = sorted(os.listdir(sc))
    # the real command, killed (SIGKILL: nothing of it runs after) once the tracks are written
    killed = textwrap.dedent("""
        import os, signal, sys
        import accord.warning.io as wio
        from accord.cli.main import app
        from accord.warning.io import tracks
        def killed(path, preds):
            os.kill(os.getpid(), signal.SIGKILL)
        tracks.write_predictions = wio.write_predictions = killed
        sys.argv = ["accord", "warning", "track", sys.argv[1], "--out", sys.argv[2]]
        app()
    """)
    r = subprocess.run([sys.executable, "-c", killed, str(newer), str(sc)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == -9, r.stderr
    assert _contents(sc, PAIR + SCENARIO) == before
    leftovers = sorted(set(os.listdir(sc)) - set(listing))
    assert len(leftovers) == 1 and leftovers[0].startswith(".tracks.jsonl.") and leftovers[0].endswith(
        ".accord-partial")  # what the killed run had written, under its staged name

    assert _track(newer, sc).exit_code == 0
    assert sorted(os.listdir(sc)) == listing  # the dead run's leftover removed
    assert all(_contents(sc)[name] != before[name] for name in PAIR)


def test_a_run_stopped_between_its_renames_is_read_as_the_new_pair_and_finished_by_the_next(
        tracked, newer, tmp_path, monkeypatch):
    from accord.warning.alerts.batch import load_input
    from accord.warning.scoring import score_dirs

    sc, before = tracked
    fresh = tmp_path / "fresh"
    assert _track(newer, fresh).exit_code == 0
    new = _contents(fresh)
    renames = []

    def stopped(src, dst):
        renames.append(dst.name)
        if len(renames) == 3:  # the manifest, the tracks, then (stopped here) the predictions
            raise KeyboardInterrupt
        os.replace(src, dst)

    monkeypatch.setattr(fileset, "commit_file", stopped)
    with pytest.raises(KeyboardInterrupt):
        wio.write_tracker_output(sc, io_tracks.read_tracks(fresh / "tracks.jsonl"),
                                 io_tracks.read_predictions(fresh / "predictions.jsonl"))
    monkeypatch.undo()
    assert renames == ["tracker-set.json", "tracks.jsonl", "predictions.jsonl"]
    # on disk: the new tracks beside the old predictions, the new ones still under their staged name
    assert (sc / "tracks.jsonl").read_bytes() == new["tracks.jsonl"]
    assert (sc / "predictions.jsonl").read_bytes() == before["predictions.jsonl"]
    # what the readers take is the new pair
    files = wio.tracker_files(sc)
    assert {name: files[name].read_bytes() for name in PAIR} == new
    assert _score(score_dirs(sc, sc)) == _score(score_dirs(sc, fresh))
    assert load_input(sc).predictions == load_input(fresh / "predictions.jsonl").predictions

    listing = sorted(os.listdir(fresh) + list(SCENARIO))
    wio.write_tracker_output(sc, [], [])  # the next run finishes the commit, then writes its own set
    assert sorted(os.listdir(sc)) == listing
    assert _contents(sc) == {"tracks.jsonl": b"", "predictions.jsonl": b""}


def test_a_first_run_stopped_between_its_renames_is_read_as_its_pair(newer, tmp_path, monkeypatch):
    """Before the predictions file has its own name at all: readers still find the committed one."""
    from accord.tak.replay import load_picture
    from accord.warning.alerts.batch import load_input

    fresh = tmp_path / "fresh"
    assert _track(newer, fresh).exit_code == 0
    tracks, preds = io_tracks.read_tracks(fresh / "tracks.jsonl"), io_tracks.read_predictions(fresh / "predictions.jsonl")
    out = tmp_path / "out"

    def stopped(src, dst):
        if dst.name == "predictions.jsonl":
            raise KeyboardInterrupt
        os.replace(src, dst)

    monkeypatch.setattr(fileset, "commit_file", stopped)
    with pytest.raises(KeyboardInterrupt):
        wio.write_tracker_output(out, tracks, preds)
    monkeypatch.undo()
    assert not (out / "predictions.jsonl").exists()
    assert load_input(out).predictions == preds
    assert load_picture(out, party="JPN").records == load_picture(fresh, party="JPN").records


def test_a_file_changed_since_its_set_was_written_is_refused_with_one_line(tracked, newer):
    sc, _ = tracked
    other = newer.parent / "other"
    assert _track(newer, other).exit_code == 0
    (sc / "predictions.jsonl").write_bytes((other / "predictions.jsonl").read_bytes())  # copied over by hand
    res = CliRunner().invoke(app, ["warning", "score", str(sc), str(sc)])
    assert isinstance(res.exception, InputError), res.output
    assert str(res.exception) == (f"{sc / 'predictions.jsonl'}: is not the file tracker-set.json names beside it "
                                  "(changed since it was written, or from another run): write the set again, or "
                                  "remove tracker-set.json to read the files as they are")
    r = subprocess.run([sys.executable, "-m", "accord", "warning", "alerts", str(sc), "--party", "JPN", "--out",
                        str(sc.parent / "alerts")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "is not the file tracker-set.json names beside it" in r.stderr
    (sc / "tracker-set.json").unlink()
    assert CliRunner().invoke(app, ["warning", "score", str(sc), str(sc)]).exit_code == 0
