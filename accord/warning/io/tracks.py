"""The tracker's output files: ``tracks.jsonl`` (one :class:`~accord.warning.types.TrackState`
a line) and ``predictions.jsonl`` (one :class:`~accord.warning.types.Prediction` a line) —
:func:`write_tracks`, :func:`write_predictions`, :func:`read_tracks`, :func:`read_predictions`.

The two are one set: :func:`write_tracker_output` writes both into a directory through
:func:`accord.warning.io.fileset.write_files_beside` (committed by ``tracker-set.json`` beside
them, since the directory may be a scenario's own), and readers of the pair take the paths
:func:`tracker_files` gives, so an interrupted run never leaves new tracks read beside old
predictions.

The line handling is :mod:`accord.warning.io.jsonl`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from accord.warning.io.fileset import committed_files, write_files_beside
from accord.warning.io.jsonl import field_error, jsonl_objects, write_lines
from accord.warning.types import Prediction, TrackState

TRACKS = "tracks.jsonl"
PREDICTIONS = "predictions.jsonl"
TRACKER_SET = "tracker-set.json"  # the manifest committing the two as one set


def write_tracker_output(directory: str | Path, tracks: list[TrackState], preds: list[Prediction]) -> Path:
    """Write ``tracks.jsonl`` and ``predictions.jsonl`` into ``directory`` as one set, leaving its
    other files alone. Returns the directory."""
    return write_files_beside(directory, {TRACKS: lambda p: write_tracks(p, tracks),
                                          PREDICTIONS: lambda p: write_predictions(p, preds)},
                              manifest=TRACKER_SET)


def tracker_files(directory: str | Path, names: tuple[str, ...] = (TRACKS, PREDICTIONS)) -> dict[str, Path]:
    """The paths to read for the tracker output ``names`` in ``directory``: the set its last
    complete (or committed) run wrote (:func:`accord.warning.io.fileset.committed_files`)."""
    return committed_files(directory, names, manifest=TRACKER_SET)


def write_tracks(path: str | Path, tracks: Iterable[TrackState]) -> None:
    """Write ``tracks.jsonl``, one :class:`TrackState` a line."""
    write_lines(path, (json.dumps(tr.to_json()) for tr in tracks))


def write_predictions(path: str | Path, preds: Iterable[Prediction]) -> None:
    """Write ``predictions.jsonl``, one :class:`Prediction` a line."""
    write_lines(path, (json.dumps(p.to_json()) for p in preds))


def read_tracks(path: str | Path) -> list[TrackState]:
    """Read ``tracks.jsonl`` into :class:`TrackState` values (``cov`` optional, 36 numbers)."""
    out = []
    for line, d in jsonl_objects(path, "tracks"):
        try:
            cov = d.get("cov")
            if cov is not None and len(cov) != 36:
                raise ValueError("cov must have 36 numbers")
            vals = [float(d[k]) for k in ("t", "x", "y", "z", "vx", "vy", "vz")]
            if not all(math.isfinite(v) for v in vals):
                raise ValueError("non-finite state")
            x, y, z, vx, vy, vz = vals[1:]
            out.append(TrackState(vals[0], str(d["track_id"]), x, y, z, vx, vy, vz,
                                  cov=None if cov is None else tuple(float(c) for c in cov)))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise field_error(path, line, exc) from None
    return out


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read ``predictions.jsonl`` into :class:`Prediction` values."""
    out = []
    for line, d in jsonl_objects(path, "predictions"):
        try:
            out.append(Prediction.from_json(d))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise field_error(path, line, exc) from None
    return out

