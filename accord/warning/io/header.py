"""Line 1 of ``detections.jsonl``: the radars (:class:`Sensor`) and the header
(:class:`DetectionsHeader`), checked by pydantic models (:class:`SensorFields`,
:class:`HeaderFields`) through :func:`accord.core.input_files.check_model`, the loader of
Accord's other input files: :func:`parse_sensor`, :func:`parse_header`.

The header is never lenient: without valid sensors nothing can be interpreted. The detections
that follow it are :mod:`accord.warning.io.detections`'; the simulator and the tracker take the
:class:`Sensor` values made here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

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

from accord.core.input_files import check_model
from accord.errors import InputError
from accord.warning.frames import EARTH_RADIUS_M, MU, enu_basis, lla_to_ecef
from accord.warning.io.jsonl import loads_strict, to_float

DETECTIONS_FORMAT = "accord-detections/1"
#: Sensor ECEF positions in a header may differ from lat/lon/alt by rounding only.
ECEF_TOLERANCE_M = 10.0
#: An angular sigma above this (≈ 5.7°) is almost surely degrees written as radians.
MAX_SIGMA_ANGLE_RAD = 0.1


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
    v = to_float(v)
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
        obj = loads_strict(text)
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

