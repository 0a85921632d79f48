"""The detections of ``detections.jsonl`` (after its header line): :class:`Detections`, one
numpy column array per field (no object per detection: the tracker batches per scan), read by
:func:`parse_detections` / :func:`read_detections` and written by :func:`detection_lines` /
:func:`write_detections`.

A bad line raises :class:`~accord.errors.InputError` naming the file, the 1-based line and the
field; with ``lenient=True`` it is skipped instead, and the skip counted and reported in
:attr:`Detections.skipped`. The header line is :mod:`accord.warning.io.header`'s.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accord.errors import InputError
from accord.warning.io.header import DetectionsHeader, parse_header
from accord.warning.io.jsonl import bounded_lines, line_problem, loads_strict, open_lines, to_float, write_lines
from accord.warning.types import MAX_SCAN_GAP_S, MAX_SCAN_T_S

TWO_PI = 2.0 * math.pi
#: How many skipped lines are kept verbatim (with reasons) under ``lenient``; all are counted.
MAX_SKIPS_KEPT = 1000


@dataclass(frozen=True)
class Detections:
    """Detections as column arrays, in time order (non-decreasing ``t``).

    ``sensor_idx[i]`` indexes :attr:`sensor_ids` (the header's order). ``line`` holds each
    detection's 1-based source line (0 when not read from a file). ``skipped`` lists
    ``(line, reason)`` for lines skipped under ``lenient`` (at most :data:`MAX_SKIPS_KEPT`);
    ``skipped_count`` counts them all, ``skip_reasons`` by kind.
    """

    t: np.ndarray
    sensor_idx: np.ndarray
    range_m: np.ndarray
    az_rad: np.ndarray
    el_rad: np.ndarray
    sensor_ids: tuple[str, ...]
    line: np.ndarray | None = None
    skipped: tuple[tuple[int, str], ...] = ()
    skipped_count: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def rae(self) -> np.ndarray:
        """(N, 3) array of (range, az, el)."""
        return np.stack([self.range_m, self.az_rad, self.el_rad], axis=-1)

    def select(self, mask: np.ndarray) -> "Detections":
        """The detections where ``mask`` (boolean or index array) holds, same sensors."""
        return Detections(t=self.t[mask], sensor_idx=self.sensor_idx[mask],
                          range_m=self.range_m[mask], az_rad=self.az_rad[mask],
                          el_rad=self.el_rad[mask], sensor_ids=self.sensor_ids,
                          line=None if self.line is None else self.line[mask])

    def until(self, t_max: float) -> "Detections":
        """The detections with ``t ≤ t_max`` (used by the benches' ``--max-time``)."""
        return self.select(self.t <= t_max)

    @classmethod
    def from_arrays(cls, t: Iterable[float], sensor_idx: Iterable[int], rae: np.ndarray,
                    sensor_ids: Iterable[str]) -> "Detections":
        rae = np.asarray(rae, dtype=float).reshape(-1, 3)
        return cls(t=np.asarray(t, dtype=float), sensor_idx=np.asarray(sensor_idx, dtype=np.int64),
                   range_m=rae[:, 0].copy(), az_rad=rae[:, 1].copy(), el_rad=rae[:, 2].copy(),
                   sensor_ids=tuple(sensor_ids))


class _Skip(Exception):
    """A detection line is bad: carries (kind, message, field)."""

    def __init__(self, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.field = kind, message, field


def _detection_values(text: str, index: dict[str, int]) -> tuple[float, int, float, float, float]:
    problem = line_problem(text)
    if problem is not None:
        raise _Skip("malformed", problem)
    try:
        obj = loads_strict(text)
    except (ValueError, RecursionError) as exc:
        raise _Skip("malformed", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _Skip("malformed", "a detection must be a JSON object")
    sensor = obj.get("sensor")
    if "sensor" not in obj:
        raise _Skip("missing field", "missing required field", "sensor")
    if not isinstance(sensor, str):
        raise _Skip("malformed", f"sensor must be a string, got {type(sensor).__name__}", "sensor")
    if sensor not in index:
        raise _Skip("unknown sensor", f"unknown sensor {sensor[:80]!r} (not in the header)", "sensor")
    out = []
    for key in ("t", "range_m", "az_rad", "el_rad"):
        if key not in obj:
            raise _Skip("missing field", "missing required field", key)
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Skip("malformed", f"expected a number, got {type(v).__name__}", key)
        v = to_float(v)
        if not math.isfinite(v):
            raise _Skip("malformed", "not a finite number (or beyond a 64-bit double)", key)
        out.append(v)
    t, rng, az, el = out
    if t < 0.0:
        raise _Skip("out of range", f"time {t!r} is negative (seconds from scenario start)", "t")
    if t > MAX_SCAN_T_S:
        raise _Skip("out of range", f"time {t!r} is past {MAX_SCAN_T_S:.3g} s (seconds from scenario start)", "t")
    if rng <= 0.0:
        raise _Skip("out of range", f"range {rng!r} must be > 0 metres", "range_m")
    if not (0.0 <= az < TWO_PI + 1e-9):
        raise _Skip("out of range", f"azimuth {az!r} outside [0, 2π) radians (degrees given?)",
                    "az_rad")
    if not (-math.pi / 2 <= el <= math.pi / 2):
        raise _Skip("out of range", f"elevation {el!r} outside [-π/2, π/2] radians", "el_rad")
    return t, index[sensor], rng, az % TWO_PI, el


def parse_detections(lines: Iterable[str], *, lenient: bool = False,
                     source: str = "<detections>") -> tuple[DetectionsHeader, Detections]:
    """Parse detections from an iterable of lines (the first being the header).

    Raises :class:`InputError` with the line number for a malformed line, an unknown sensor, a
    missing or non-finite field, a value out of range or a time earlier than the previous line's.
    With ``lenient`` such detection lines are skipped and counted instead. Blank lines are ignored.
    """
    it = iter(lines)
    header_text = None
    lineno = 0
    for raw in it:
        lineno += 1
        if raw.strip():
            header_text = raw
            break
    if header_text is None:
        raise InputError("empty file: expected a header line", source=source, line=1)
    if lineno != 1:
        raise InputError("the header must be on line 1", source=source, line=1)
    problem = line_problem(header_text)
    if problem is not None:
        raise InputError(f"header: {problem}", source=source, line=1)
    header = parse_header(header_text, source=source)
    index = {s.id: i for i, s in enumerate(header.sensors)}
    cols: list[tuple[float, int, float, float, float]] = []
    lines_kept: list[int] = []
    skipped: list[tuple[int, str]] = []
    reasons: Counter[str] = Counter()
    last_t = -math.inf
    for raw in it:
        lineno += 1
        if not raw.strip():
            continue
        try:
            row = _detection_values(raw, index)
            if row[0] < last_t:
                raise _Skip("out of order", f"time {row[0]!r} is earlier than the previous "
                            f"detection's {last_t!r} (detections must be in time order)", "t")
            if row[0] - last_t > MAX_SCAN_GAP_S and last_t != -math.inf:
                raise _Skip("out of order", f"time {row[0]!r} is more than {MAX_SCAN_GAP_S:.0f} s after the "
                            f"previous detection's {last_t!r}", "t")
        except _Skip as skip:
            if not lenient:
                raise InputError(skip.message, source=source, line=lineno, field=skip.field) from None
            reasons[skip.kind] += 1
            if len(skipped) < MAX_SKIPS_KEPT:
                skipped.append((lineno, f"{skip.kind}: {skip.message}"))
            continue
        last_t = row[0]
        cols.append(row)
        lines_kept.append(lineno)
    arr = np.array(cols, dtype=float).reshape(-1, 5)
    det = Detections(t=arr[:, 0].copy(), sensor_idx=arr[:, 1].astype(np.int64),
                     range_m=arr[:, 2].copy(), az_rad=arr[:, 3].copy(), el_rad=arr[:, 4].copy(),
                     sensor_ids=header.sensor_ids, line=np.asarray(lines_kept, dtype=np.int64),
                     skipped=tuple(skipped), skipped_count=sum(reasons.values()),
                     skip_reasons=dict(reasons))
    return header, det


def detections_file(path: str | Path) -> Path:
    """``path``, or the ``detections.jsonl`` in it when it is a (scenario) directory."""
    p = Path(path)
    if p.is_dir():
        if not (p / "detections.jsonl").is_file():
            raise InputError("a directory without a detections.jsonl: give a detections file", source=str(p))
        return p / "detections.jsonl"
    return p


def read_detections(path: str | Path, *, lenient: bool = False) -> tuple[DetectionsHeader, Detections]:
    """Read ``detections.jsonl`` (or a scenario directory's): the validated header and the
    detections as column arrays."""
    p = detections_file(path)
    try:
        with open_lines(p) as fh:   # a line not UTF-8 or too long: refused (or skipped) with its number
            return parse_detections(bounded_lines(fh), lenient=lenient, source=str(p))
    except FileNotFoundError:
        raise InputError("no such file", source=str(p)) from None


def detection_lines(header: DetectionsHeader, det: Detections) -> Iterable[str]:
    """The lines of a ``detections.jsonl`` file (header first)."""
    yield json.dumps(header.to_json())
    ids = det.sensor_ids
    for t, s, r, a, e in zip(det.t.tolist(), det.sensor_idx.tolist(), det.range_m.tolist(),
                             det.az_rad.tolist(), det.el_rad.tolist()):
        yield json.dumps({"t": t, "sensor": ids[s], "range_m": r, "az_rad": a, "el_rad": e})


def write_detections(path: str | Path, header: DetectionsHeader, det: Detections) -> None:
    """Write ``detections.jsonl`` (header line, then detections in the given order)."""
    write_lines(path, detection_lines(header, det))

