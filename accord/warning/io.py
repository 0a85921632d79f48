"""Reading and writing the early-warning JSON Lines files (``docs/formats/warning-files.md``).

Kept as one module: each early-warning file format's reader and writer side by side, so
a format's fields are checked and written in one place.

* ``detections.jsonl`` — a header line (format, Earth constants, sensors) then one detection a
  line in time order. :func:`read_detections` returns the validated header and the detections as
  numpy column arrays (no object per detection: the tracker batches per scan).
* ``tracks.jsonl`` / ``predictions.jsonl`` — the tracker's output (:func:`write_tracks`,
  :func:`write_predictions`, :func:`read_tracks`, :func:`read_predictions`).
* ``truth.jsonl`` / ``events.jsonl`` — scenario truth (:func:`read_truth`, :func:`read_events`).

Bad input raises :class:`accord.errors.InputError` naming the file, the 1-based line number and
the field. The header is checked by pydantic models (:class:`HeaderFields`, :class:`SensorFields`)
through :func:`accord.core.input_files.check_model`, the loader of Accord's other input files. With ``lenient=True`` a bad *detection* line is skipped instead, and the skip is
counted and reported in :attr:`Detections.skipped` (the header is never lenient: without valid
sensors nothing can be interpreted).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accord.core.canonical import check_json_bounds, json_limit_error
from accord.core.input_files import check_model
from accord.errors import CanonicalJSONError, InputError
from accord.warning.frames import EARTH_RADIUS_M, MU, enu_basis, lla_to_ecef
from accord.warning.types import Prediction, TrackState

DETECTIONS_FORMAT = "accord-detections/1"
TWO_PI = 2.0 * math.pi
#: Sensor ECEF positions in a header may differ from lat/lon/alt by rounding only.
ECEF_TOLERANCE_M = 10.0
#: An angular sigma above this (≈ 5.7°) is almost surely degrees written as radians.
MAX_SIGMA_ANGLE_RAD = 0.1
#: How many skipped lines are kept verbatim (with reasons) under ``lenient``; all are counted.
MAX_SKIPS_KEPT = 1000


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


def _loads(text: str) -> Any:
    """Strict JSON: NaN/Infinity rejected (Python's json accepts them by default); nesting deeper
    than :data:`~accord.core.canonical.MAX_JSON_DEPTH` and integers longer than 4,300 digits
    raise a ``ValueError`` that says so (not a ``RecursionError`` or int()'s advice)."""
    try:
        return check_json_bounds(json.loads(text, parse_constant=_reject_constant), text=text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError, CanonicalJSONError) as exc:  # ours, or json.loads past its limits
        detail = exc.detail if isinstance(exc, CanonicalJSONError) else json_limit_error(exc).detail
        raise ValueError(detail) from None


def _float(v: int | float) -> float:
    """``float(v)``, with integers beyond a double (``10**400``, which JSON reads as an int) as
    infinity (then refused as not finite) instead of an ``OverflowError``."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


# --------------------------------------------------------------------------------------------
# Sensors and the header
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sensor:
    """One radar of the header: site, noise, scan timing and coverage.

    Coverage is the set of points with ``min_range_m ≤ r ≤ max_range_m``,
    ``min_el_deg ≤ el ≤ max_el_deg`` and ``|wrap(az − az_center_deg)| ≤ az_half_width_deg``
    (see :func:`accord.warning.sim.in_coverage`).
    """

    id: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    sigma_range_m: float
    sigma_az_rad: float
    sigma_el_rad: float
    scan_period_s: float
    scan_offset_s: float
    pd: float
    clutter_per_scan: float
    min_range_m: float
    max_range_m: float
    min_el_deg: float
    max_el_deg: float
    az_center_deg: float
    az_half_width_deg: float
    ecef_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def ecef(self) -> np.ndarray:
        """Site position in ECEF metres, shape (3,)."""
        return np.asarray(self.ecef_m, dtype=float)

    @property
    def basis(self) -> np.ndarray:
        """Rows E, N, U in ECEF (``enu = basis @ (p - ecef)``), shape (3, 3)."""
        return enu_basis(self.lat_deg, self.lon_deg)

    @property
    def R(self) -> np.ndarray:
        """Measurement noise covariance over (range, az, el): ``diag(σr², σaz², σel²)``."""
        return np.diag([self.sigma_range_m**2, self.sigma_az_rad**2, self.sigma_el_rad**2])

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in SENSOR_FIELDS}
        d["ecef_m"] = [float(v) for v in self.ecef_m]
        return d


#: Required sensor fields, in file order, with (lower, upper, inclusive-lower) bounds and unit hint.
_SENSOR_BOUNDS: dict[str, tuple[float, float, str]] = {
    "lat_deg": (-90.0, 90.0, "degrees"),
    "lon_deg": (-180.0, 360.0, "degrees"),
    "alt_m": (-500.0, 100_000.0, "metres"),
    "sigma_range_m": (0.0, 100_000.0, "metres, > 0"),
    "sigma_az_rad": (0.0, MAX_SIGMA_ANGLE_RAD, "radians, > 0 (degrees given?)"),
    "sigma_el_rad": (0.0, MAX_SIGMA_ANGLE_RAD, "radians, > 0 (degrees given?)"),
    "scan_period_s": (0.0, 3600.0, "seconds, > 0"),
    "scan_offset_s": (0.0, 3600.0, "seconds"),
    "pd": (0.0, 1.0, "probability in (0, 1]"),
    "clutter_per_scan": (0.0, 1e6, "mean count per scan, ≥ 0"),
    "min_range_m": (0.0, 1e8, "metres"),
    "max_range_m": (0.0, 1e8, "metres"),
    "min_el_deg": (-90.0, 90.0, "degrees"),
    "max_el_deg": (-90.0, 90.0, "degrees"),
    "az_center_deg": (-360.0, 360.0, "degrees"),
    "az_half_width_deg": (0.0, 180.0, "degrees, in (0, 180]"),
}
SENSOR_FIELDS: tuple[str, ...] = ("id", *_SENSOR_BOUNDS)
_STRICTLY_POSITIVE = {"sigma_range_m", "sigma_az_rad", "sigma_el_rad", "scan_period_s", "pd",
                      "az_half_width_deg"}


def _finite(v: Any) -> float:
    """A JSON number as a finite float (not a bool, a string or beyond a double)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, got {type(v).__name__} {v!r}"[:200])
    v = _float(v)
    if not math.isfinite(v):
        raise ValueError("not a finite number (or beyond a 64-bit double)")
    return v


_NUMBER = BeforeValidator(_finite)


def _within(key: str) -> AfterValidator:
    """The check of sensor field ``key``: within its :data:`_SENSOR_BOUNDS`."""
    lo, hi, unit = _SENSOR_BOUNDS[key]

    def check(v: float) -> float:
        if v < lo or v > hi or (key in _STRICTLY_POSITIVE and v <= 0.0):
            raise ValueError(f"{v!r} out of range [{lo}, {hi}] ({unit})")
        return v
    return AfterValidator(check)


def _sensor_id(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("sensor needs a non-empty string id")
    return v


def _ecef_m(v: Any) -> tuple[float, float, float]:
    if (not isinstance(v, list) or len(v) != 3
            or any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in v)
            or not all(math.isfinite(c) for c in v)):
        raise ValueError("ecef_m must be 3 finite numbers (metres)")
    return (float(v[0]), float(v[1]), float(v[2]))


class SensorFields(BaseModel):
    """A sensor object of the header as written (:func:`parse_sensor` makes the :class:`Sensor`):
    each number finite and within :data:`_SENSOR_BOUNDS`, the ranges ordered, and ``ecef_m``,
    when given, within :data:`ECEF_TOLERANCE_M` of lat/lon/alt on the sphere. Other keys are
    ignored."""

    id: Annotated[str, BeforeValidator(_sensor_id)]
    lat_deg: Annotated[float, _NUMBER, _within("lat_deg")]
    lon_deg: Annotated[float, _NUMBER, _within("lon_deg")]
    alt_m: Annotated[float, _NUMBER, _within("alt_m")]
    sigma_range_m: Annotated[float, _NUMBER, _within("sigma_range_m")]
    sigma_az_rad: Annotated[float, _NUMBER, _within("sigma_az_rad")]
    sigma_el_rad: Annotated[float, _NUMBER, _within("sigma_el_rad")]
    scan_period_s: Annotated[float, _NUMBER, _within("scan_period_s")]
    scan_offset_s: Annotated[float, _NUMBER, _within("scan_offset_s")]
    pd: Annotated[float, _NUMBER, _within("pd")]
    clutter_per_scan: Annotated[float, _NUMBER, _within("clutter_per_scan")]
    min_range_m: Annotated[float, _NUMBER, _within("min_range_m")]
    max_range_m: Annotated[float, _NUMBER, _within("max_range_m")]
    min_el_deg: Annotated[float, _NUMBER, _within("min_el_deg")]
    max_el_deg: Annotated[float, _NUMBER, _within("max_el_deg")]
    az_center_deg: Annotated[float, _NUMBER, _within("az_center_deg")]
    az_half_width_deg: Annotated[float, _NUMBER, _within("az_half_width_deg")]
    ecef_m: Annotated[tuple[float, float, float] | None, BeforeValidator(_ecef_m)] = None

    def computed_ecef(self) -> np.ndarray:
        """The site in ECEF metres from lat/lon/alt on the sphere."""
        return lla_to_ecef(self.lat_deg, self.lon_deg, self.alt_m)

    @model_validator(mode="after")
    def _ordered_and_placed(self) -> "SensorFields":
        if self.min_range_m >= self.max_range_m:
            raise ValueError("min_range_m: min_range_m must be below max_range_m")
        if self.min_el_deg >= self.max_el_deg:
            raise ValueError("min_el_deg: min_el_deg must be below max_el_deg")
        if self.ecef_m is not None:
            off = float(np.linalg.norm(np.asarray(self.ecef_m) - self.computed_ecef()))
            if off > ECEF_TOLERANCE_M:
                raise ValueError(f"ecef_m: ecef_m is {off:.0f} m from lat/lon/alt on the sphere "
                                 "(wrong units or a WGS84 position?)")
        return self


#: pydantic's own error for a missing key, in this format's words
_SENSOR_MESSAGES = {"missing": "missing required field"}


def parse_sensor(obj: Any, *, source: str = "<header>", line: int = 1) -> Sensor:
    """Validate one sensor object of the header (required fields, units, ranges) through
    :class:`SensorFields`; a problem names the sensor, the file, the line and the field."""
    if not isinstance(obj, dict):
        raise InputError("sensor entry must be an object", source=source, line=line, field="sensors")
    sid = obj.get("id")
    what = f"sensor {sid!r}" if isinstance(sid, str) and sid.strip() else None
    m = check_model(SensorFields, obj, source=source, line=line, where_in_message=True, what=what,
                    messages=_SENSOR_MESSAGES)
    e = m.computed_ecef()
    return Sensor(id=m.id, **{k: getattr(m, k) for k in _SENSOR_BOUNDS},
                  ecef_m=(float(e[0]), float(e[1]), float(e[2])))


@dataclass(frozen=True)
class DetectionsHeader:
    """Line 1 of ``detections.jsonl``."""

    sensors: tuple[Sensor, ...]
    format: str = DETECTIONS_FORMAT
    earth_radius_m: float = EARTH_RADIUS_M
    mu: float = MU

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sensors)

    def sensor(self, sensor_id: str) -> Sensor:
        for s in self.sensors:
            if s.id == sensor_id:
                return s
        raise InputError(f"unknown sensor {sensor_id!r}", field="sensor")

    def to_json(self) -> dict:
        return {"format": self.format, "earth_radius_m": self.earth_radius_m, "mu": self.mu,
                "sensors": [s.to_json() for s in self.sensors]}


def _header_number(v: Any) -> float:
    try:
        return _finite(v)
    except ValueError as exc:
        raise ValueError(f"header: {exc}") from None


class HeaderFields(BaseModel):
    """The header line as written: the format tag, Accord's Earth constants when given, and a
    non-empty list of sensors (each checked by :func:`parse_sensor`). Other keys are ignored."""

    format: Any = Field(None, validate_default=True)
    earth_radius_m: Annotated[float | None, BeforeValidator(_header_number)] = None
    mu: Annotated[float | None, BeforeValidator(_header_number)] = None
    sensors: Any = Field(None, validate_default=True)

    @field_validator("format")
    @classmethod
    def _format(cls, v: Any) -> str:
        if v != DETECTIONS_FORMAT:
            raise ValueError(f"expected format {DETECTIONS_FORMAT!r}, got {v!r}")
        return v

    @field_validator("earth_radius_m", "mu")
    @classmethod
    def _frame(cls, v: float | None, info: ValidationInfo) -> float | None:
        ref = EARTH_RADIUS_M if info.field_name == "earth_radius_m" else MU
        if v is not None and abs(v - ref) > 1e-9 * ref:
            raise ValueError(f"Accord's frame uses {ref!r}, file says {v!r}")
        return v

    @field_validator("sensors")
    @classmethod
    def _sensors(cls, v: Any) -> list[Any]:
        if not isinstance(v, list) or not v:
            raise ValueError("header needs a non-empty list of sensors")
        return v


def parse_header(text: str, *, source: str = "<detections>") -> DetectionsHeader:
    """Parse and validate the header line (line 1) through :class:`HeaderFields`."""
    try:
        obj = _loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"header is not valid JSON: {exc}", source=source, line=1) from None
    if not isinstance(obj, dict):
        raise InputError("header must be a JSON object", source=source, line=1)
    fields = check_model(HeaderFields, obj, source=source, line=1)
    parsed = tuple(parse_sensor(s, source=source, line=1) for s in fields.sensors)
    ids = [s.id for s in parsed]
    dup = [k for k, n in Counter(ids).items() if n > 1]
    if dup:
        raise InputError(f"duplicate sensor id {dup[0]!r}", source=source, line=1, field="id")
    return DetectionsHeader(sensors=parsed)


# --------------------------------------------------------------------------------------------
# Detections
# --------------------------------------------------------------------------------------------
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
    try:
        obj = _loads(text)
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
        v = _float(v)
        if not math.isfinite(v):
            raise _Skip("malformed", "not a finite number (or beyond a 64-bit double)", key)
        out.append(v)
    t, rng, az, el = out
    if t < 0.0:
        raise _Skip("out of range", f"time {t!r} is negative (seconds from scenario start)", "t")
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


def read_detections(path: str | Path, *, lenient: bool = False) -> tuple[DetectionsHeader, Detections]:
    """Read ``detections.jsonl``: the validated header and the detections as column arrays."""
    p = Path(path)
    try:
        with p.open("r", encoding="utf-8", errors="strict") as fh:
            return parse_detections(fh, lenient=lenient, source=str(p))
    except FileNotFoundError:
        raise InputError("no such file", source=str(p)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", source=str(p)) from None


def detection_lines(header: DetectionsHeader, det: Detections) -> Iterable[str]:
    """The lines of a ``detections.jsonl`` file (header first)."""
    yield json.dumps(header.to_json())
    ids = det.sensor_ids
    for t, s, r, a, e in zip(det.t.tolist(), det.sensor_idx.tolist(), det.range_m.tolist(),
                             det.az_rad.tolist(), det.el_rad.tolist()):
        yield json.dumps({"t": t, "sensor": ids[s], "range_m": r, "az_rad": a, "el_rad": e})


def write_detections(path: str | Path, header: DetectionsHeader, det: Detections) -> None:
    """Write ``detections.jsonl`` (header line, then detections in the given order)."""
    _write_lines(path, detection_lines(header, det))


# --------------------------------------------------------------------------------------------
# Tracks, predictions, truth, events
# --------------------------------------------------------------------------------------------
def _write_lines(path: str | Path, lines: Iterable[str]) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
    tmp.replace(p)  # all or nothing: a reader never sees half a file


def write_tracks(path: str | Path, tracks: Iterable[TrackState]) -> None:
    """Write ``tracks.jsonl``, one :class:`TrackState` a line."""
    _write_lines(path, (json.dumps(tr.to_json()) for tr in tracks))


def write_predictions(path: str | Path, preds: Iterable[Prediction]) -> None:
    """Write ``predictions.jsonl``, one :class:`Prediction` a line."""
    _write_lines(path, (json.dumps(p.to_json()) for p in preds))


def _jsonl_objects(path: str | Path, what: str) -> Iterable[tuple[int, dict]]:
    p = Path(path)
    try:
        fh: IO[str] = p.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such {what} file", source=str(p)) from None
    with fh:
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    obj = _loads(raw)
                except (ValueError, RecursionError) as exc:
                    raise InputError(f"not valid JSON: {exc}", source=str(p), line=lineno) from None
                if not isinstance(obj, dict):
                    raise InputError(f"a {what} line must be a JSON object", source=str(p), line=lineno)
                yield lineno, obj
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc.reason}", source=str(p), line=lineno + 1) from None


def _field_error(path: str | Path, line: int, exc: Exception) -> InputError:
    if isinstance(exc, KeyError):
        return InputError("missing required field", source=str(path), line=line, field=str(exc.args[0]))
    return InputError(f"bad value: {exc}", source=str(path), line=line)


def read_tracks(path: str | Path) -> list[TrackState]:
    """Read ``tracks.jsonl`` into :class:`TrackState` values (``cov`` optional, 36 numbers)."""
    out = []
    for line, d in _jsonl_objects(path, "tracks"):
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
            raise _field_error(path, line, exc) from None
    return out


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read ``predictions.jsonl`` into :class:`Prediction` values."""
    out = []
    for line, d in _jsonl_objects(path, "predictions"):
        try:
            out.append(Prediction.from_json(d))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _field_error(path, line, exc) from None
    return out


@dataclass(frozen=True)
class Truth:
    """``truth.jsonl`` as arrays: ``t`` (N,), ``ids`` (N,) object, ``state`` (N, 6), ``phase``."""

    t: np.ndarray
    ids: np.ndarray
    state: np.ndarray
    phase: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


TRUTH_KEYS = ("x", "y", "z", "vx", "vy", "vz")


def read_truth(path: str | Path) -> Truth:
    """Read ``truth.jsonl`` (``t, id, x, y, z, vx, vy, vz, phase`` every whole second)."""
    t, ids, st, ph = [], [], [], []
    for line, d in _jsonl_objects(path, "truth"):
        try:
            t.append(float(d["t"]))
            ids.append(str(d["id"]))
            st.append([float(d[k]) for k in TRUTH_KEYS])
            ph.append(str(d.get("phase", "")))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _field_error(path, line, exc) from None
    return Truth(t=np.asarray(t, dtype=float), ids=np.asarray(ids, dtype=object),
                 state=np.asarray(st, dtype=float).reshape(-1, 6), phase=np.asarray(ph, dtype=object))


@dataclass(frozen=True)
class Event:
    """One missile of ``events.jsonl``: launch, burnout and impact."""

    id: str
    launch_t: float
    launch_lat_deg: float
    launch_lon_deg: float
    burnout_t: float
    impact_t: float
    impact_lat_deg: float
    impact_lon_deg: float
    range_km: float
    apogee_km: float
    lofted: bool

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in EVENT_KEYS}


EVENT_KEYS = ("id", "launch_t", "launch_lat_deg", "launch_lon_deg", "burnout_t", "impact_t",
              "impact_lat_deg", "impact_lon_deg", "range_km", "apogee_km", "lofted")


def read_events(path: str | Path) -> list[Event]:
    """Read ``events.jsonl`` (one missile a line)."""
    out = []
    for line, d in _jsonl_objects(path, "events"):
        try:
            out.append(Event(id=str(d["id"]), lofted=bool(d["lofted"]),
                             **{k: float(d[k]) for k in EVENT_KEYS if k not in ("id", "lofted")}))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _field_error(path, line, exc) from None
    return out


def write_truth(path: str | Path, truth: Truth) -> None:
    """Write ``truth.jsonl``."""
    def lines() -> Iterable[str]:
        for t, i, s, ph in zip(truth.t.tolist(), truth.ids.tolist(), truth.state.tolist(),
                               truth.phase.tolist()):
            d = {"t": t, "id": i, **dict(zip(TRUTH_KEYS, s)), "phase": ph}
            yield json.dumps(d)
    _write_lines(path, lines())


def write_events(path: str | Path, events: Iterable[Event]) -> None:
    """Write ``events.jsonl``."""
    _write_lines(path, (json.dumps(e.to_json()) for e in events))
