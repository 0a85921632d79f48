"""Batch tracking of a whole detections file: scans in time order through one :class:`Tracker`.

:func:`track_detections` splits the detections into scans (runs of equal time and radar), feeds
them to the tracker in order and, at every whole second ``w`` from the first detection to the
last, records the confirmed tracks predicted to ``w`` (after every scan at or before ``w`` and
none after: the output is causal, as a live system would report it) and, every
``predict_every_s`` seconds, the launch/impact predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.errors import InputError
from accord.warning.tracking import SensorArray, Tracker, TrackerConfig, warm_up
from accord.warning.types import MAX_SCAN_GAP_S, MAX_SCAN_T_S, Prediction, TrackState

# Load the tracker's compiled kernels now (from numba's on-disk cache; compiled on a machine's
# first run), so that the first track_detections call — the one benches time — tracks only.
warm_up()


@dataclass(frozen=True)
class TrackingResult:
    """Output of :func:`track_detections`."""

    tracks: list[TrackState]
    predictions: list[Prediction]
    n_detections: int
    n_scans: int


def _columns(detections: Any, sensors: SensorArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t (n,), sensor index (n,), rae (n, 3)) from :class:`accord.warning.io.Detections`, a numpy
    structured array or a mapping of columns (``t, sensor | sensor_idx, range_m, az_rad, el_rad``)."""
    if hasattr(detections, "sensor_idx") and hasattr(detections, "sensor_ids"):
        cols = {k: getattr(detections, k) for k in ("t", "range_m", "az_rad", "el_rad")}
        ids = tuple(detections.sensor_ids)
        remap = np.array([sensors.index(i) for i in ids], dtype=np.int64)
        sidx = np.asarray(detections.sensor_idx, dtype=np.int64)
        if sidx.size and (sidx.min() < 0 or sidx.max() >= len(ids)):
            raise InputError("sensor index out of range of the detections' sensor ids", field="sensor_idx")
        sidx = remap[sidx] if sidx.size else sidx
    else:
        if isinstance(detections, np.ndarray) and detections.dtype.names:
            names = detections.dtype.names
            get = detections.__getitem__
        elif isinstance(detections, Mapping):
            names = tuple(detections)
            get = detections.__getitem__
        else:
            raise InputError("detections must be io.Detections, a structured array or a mapping of "
                             f"columns, not {type(detections).__name__}", field="detections")
        key = "sensor_idx" if "sensor_idx" in names else "sensor"
        for k in ("t", key, "range_m", "az_rad", "el_rad"):
            if k not in names:
                raise InputError("detections lack a column", field=k)
        cols = {k: get(k) for k in ("t", "range_m", "az_rad", "el_rad")}
        raw = np.asarray(get(key))
        if raw.dtype.kind in "iu":
            sidx = raw.astype(np.int64)
            bad = (sidx < 0) | (sidx >= len(sensors))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"detection {i}: unknown sensor index {int(sidx[i])}", field=key)
        else:
            lut = {sid: k for k, sid in enumerate(sensors.ids)}
            try:
                sidx = np.array([lut[str(v)] for v in raw.tolist()], dtype=np.int64)
            except KeyError as exc:
                raise InputError(f"unknown sensor {exc.args[0]!r} (known: {', '.join(sensors.ids)})",
                                 field="sensor") from None
    try:
        t = np.asarray(cols["t"], dtype=float).reshape(-1)
        rae = np.stack([np.asarray(cols[k], dtype=float).reshape(-1)
                        for k in ("range_m", "az_rad", "el_rad")], axis=-1)
    except ValueError as exc:
        raise InputError(f"detection columns have different lengths or bad values: {exc}",
                         field="detections") from None
    if not (len(t) == len(sidx) == len(rae)):
        raise InputError("detection columns have different lengths", field="detections")
    if not (np.isfinite(t).all() and np.isfinite(rae).all()):
        i = int(np.flatnonzero(~(np.isfinite(t) & np.isfinite(rae).all(axis=1)))[0])
        raise InputError(f"detection {i} has a non-finite value", field="detections")
    if (rae[:, 0] <= 0).any():
        i = int(np.flatnonzero(rae[:, 0] <= 0)[0])
        raise InputError(f"detection {i}: range must be > 0 m", field="range_m")
    rae[:, 1] %= 2.0 * np.pi
    step = np.diff(t)
    back = np.flatnonzero((step < 0) | (step > MAX_SCAN_GAP_S))
    if len(back):
        i = int(back[0]) + 1
        line = getattr(detections, "line", None)
        where = f"line {int(line[i])}" if line is not None and len(line) > i else f"detection {i}"
        if t[i] > t[i - 1]:
            raise InputError(f"{where}: time {t[i]} is more than {MAX_SCAN_GAP_S:.0f} s after the previous "
                             f"detection's {t[i - 1]}", field="t")
        raise InputError(f"{where}: time {t[i]} is earlier than the previous detection's {t[i - 1]} "
                         "(detections must be in time order)", field="t")
    if len(t) and not 0 <= t[0] <= MAX_SCAN_T_S:
        raise InputError(f"detection 0: time {t[0]} is not in [0, {MAX_SCAN_T_S:.3g}] s", field="t")
    return t, sidx, rae


def track_detections(sensors: Sequence[Any] | SensorArray, detections: Any,
                     config: TrackerConfig | None = None, *, predict_every_s: float = 1.0,
                     progress: Callable[[int], None] | None = None) -> TrackingResult:
    """Track all ``detections`` seen by ``sensors`` (the header's; objects or dicts).

    ``progress(n)`` is called now and then with the number of detections processed so far.
    """
    arr = SensorArray.from_sensors(sensors)
    t, sidx, rae = _columns(detections, arr)
    trk = Tracker(arr, config)
    tracks: list[TrackState] = []
    preds: list[Prediction] = []
    n = len(t)
    if n == 0:
        return TrackingResult([], [], 0, 0)
    starts = np.flatnonzero(np.r_[True, (np.diff(t) != 0) | (np.diff(sidx) != 0)])
    ends = np.r_[starts[1:], n]
    t_first, t_last = float(t[0]), float(t[-1])
    w0 = math.ceil(t_first)
    next_w = w0
    every = max(1, int(round(predict_every_s)))

    def emit(w: int) -> None:
        tracks.extend(trk.confirmed_tracks(w))
        if (w - w0) % every == 0:
            preds.extend(trk.predictions(w))

    t_list = t[starts].tolist()
    s_list = sidx[starts].tolist()
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        ts = t_list[k]
        while next_w < ts:
            emit(next_w)
            next_w += 1
        trk.process_validated(ts, s_list[k], rae[a:b])  # validated in bulk by _columns
        if progress is not None and k % 256 == 0:
            progress(b)
    while next_w <= t_last:
        emit(next_w)
        next_w += 1
    if progress is not None:
        progress(n)
    return TrackingResult(tracks, preds, n, trk.n_scans)
