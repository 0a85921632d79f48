"""Reading and writing the early-warning JSON Lines files (``docs/formats/warning-files.md``).

Each file format's reader and writer sit side by side in one module, so a format's fields are
checked and written in one place; every name is importable from here:

* ``detections.jsonl`` — a header line (format, Earth constants, sensors:
  :mod:`~accord.warning.io.header`) then one detection a line in time order
  (:mod:`~accord.warning.io.detections`). :func:`read_detections` returns the validated header
  and the detections as numpy column arrays (no object per detection: the tracker batches per
  scan).
* ``tracks.jsonl`` / ``predictions.jsonl`` — the tracker's output (:mod:`~accord.warning.io.tracks`:
  :func:`write_tracks`, :func:`write_predictions`, :func:`read_tracks`, :func:`read_predictions`;
  the pair written as one set by :func:`write_tracker_output`, read through :func:`tracker_files`).
* ``truth.jsonl`` / ``events.jsonl`` — scenario truth (:mod:`~accord.warning.io.truth`:
  :func:`read_truth`, :func:`read_events`, :func:`write_truth`, :func:`write_events`).

What they share — strict JSON, line-numbered reading, all-or-nothing writing — is
:mod:`~accord.warning.io.jsonl`.
A scenario's three files, and the tracker's two, are written as one set by
:mod:`~accord.warning.io.fileset`.

Bad input raises :class:`accord.errors.InputError` naming the file, the 1-based line number and
the field. The header is checked by pydantic models (:class:`HeaderFields`, :class:`SensorFields`)
through :func:`accord.core.input_files.check_model`, the loader of Accord's other input files. With
``lenient=True`` a bad *detection* line is skipped instead, and the skip is counted and reported
in :attr:`Detections.skipped` (the header is never lenient: without valid sensors nothing can be
interpreted).
"""

from __future__ import annotations

from accord.warning.io.detections import (
    MAX_SKIPS_KEPT,
    TWO_PI,
    Detections,
    detection_lines,
    detections_file,
    parse_detections,
    read_detections,
    write_detections,
)
from accord.warning.io.header import (
    DETECTIONS_FORMAT,
    ECEF_TOLERANCE_M,
    MAX_SIGMA_ANGLE_RAD,
    SENSOR_FIELDS,
    DetectionsHeader,
    HeaderFields,
    Sensor,
    SensorFields,
    parse_header,
    parse_sensor,
)
from accord.warning.io.tracks import (
    TRACKER_SET,
    read_predictions,
    read_tracks,
    tracker_files,
    write_predictions,
    write_tracker_output,
    write_tracks,
)
from accord.warning.io.truth import (
    EVENT_KEYS,
    TRUTH_KEYS,
    Event,
    Truth,
    read_events,
    read_truth,
    write_events,
    write_truth,
)

__all__ = [
    "DETECTIONS_FORMAT", "ECEF_TOLERANCE_M", "EVENT_KEYS", "MAX_SIGMA_ANGLE_RAD", "MAX_SKIPS_KEPT",
    "SENSOR_FIELDS", "TRACKER_SET", "TRUTH_KEYS", "TWO_PI", "Detections", "DetectionsHeader", "Event", "HeaderFields",
    "Sensor", "SensorFields", "Truth", "detection_lines", "detections_file", "parse_detections", "parse_header",
    "parse_sensor", "read_detections", "read_events", "read_predictions", "read_tracks", "read_truth", "tracker_files",
    "write_detections", "write_events", "write_predictions", "write_tracker_output", "write_tracks", "write_truth",
]
