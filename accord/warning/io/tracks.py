"""The tracker's output files: ``tracks.jsonl`` (one :class:`~accord.warning.types.TrackState`
a line) and ``predictions.jsonl`` (one :class:`~accord.warning.types.Prediction` a line) —
:func:`write_tracks`, :func:`write_predictions`, :func:`read_tracks`, :func:`read_predictions`.

The line handling is :mod:`accord.warning.io.jsonl`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from accord.warning.io.jsonl import field_error, jsonl_objects, write_lines
from accord.warning.types import Prediction, TrackState


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

