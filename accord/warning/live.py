"""Tracking a live stream of radar scans, with a snapshot that survives a restart.

:class:`LiveTracker` is :func:`accord.warning.pipeline.track_detections` turned inside out: scans
arrive one at a time (in time order) and each call returns what became final. Before a scan at
``t`` is processed, every whole second ``w < t`` not reported yet is reported — the confirmed
tracks predicted to ``w`` and, every ``predict_every_s`` seconds, the launch/impact predictions —
exactly as the batch pipeline does (no scan at or before ``w`` can arrive any more), so a stream
gives the same tracks and predictions as the file it came from, less the seconds after the last
scan (reported once a later scan arrives).

:meth:`LiveTracker.snapshot` returns the whole state — every array of the tracker bit for bit
(``numpy.save`` format, read back with ``allow_pickle=False``) and the rest as JSON, Python's
float ``repr`` being exact — so that a tracker restored from it continues exactly as the one that
wrote it would have (tests check equality with an uninterrupted run). Pure: no I/O.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.errors import InputError
from accord.warning.tracking import SensorArray, Tracker, TrackerConfig, history
from accord.warning.tracking.tracks import Tracks
from accord.warning.types import MAX_SCAN_GAP_S, MAX_SCAN_T_S, Prediction, TrackState

SNAPSHOT_FORMAT = "accord-live-tracker/1"
_SKIP = {"sensors", "config", "_rules", "_at", "_consts"}  # rebuilt from the node's radar list and tuning (or a cache), not stored


def _never(t: float) -> bool:
    return False


@dataclass(frozen=True)
class LiveOutput:
    """What one scan made final: tracks and predictions of the whole seconds before it."""

    tracks: list[TrackState]
    predictions: list[Prediction]
    seconds: list[int]            # the whole seconds reported, in order


class LiveTracker:
    """A :class:`Tracker` fed scan by scan, reporting each whole second once it is complete."""

    def __init__(self, sensors: Sequence[Any] | SensorArray, config: TrackerConfig | None = None, *,
                 predict_every_s: float = 1.0) -> None:
        self.tracker = Tracker(sensors, config)
        self.every = max(1, int(round(predict_every_s)))
        self.w0: int | None = None       # first whole second reported (ceil of the first scan time)
        self.next_w: int | None = None   # next whole second to report
        self.last_sensors: list[int] = []  # sensors already scanned at tracker.t (duplicate check)
        #: whether a scan time is the present (the caller's wall clock): a scan more than
        #: MAX_SCAN_GAP_S after the last one is taken only then — a feed back from a long silence,
        #: not a corrupt time — and the tracker starts afresh (:meth:`process`)
        self.is_current: Callable[[float], bool] = _never

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        return self.tracker.sensors.ids

    def check(self, t: float, sensor: str) -> int:
        """The sensor index of a scan at ``t`` from ``sensor``, or :class:`InputError` if the scan
        cannot be processed: an unknown radar, a time before the last scan's or more than
        :data:`MAX_SCAN_GAP_S` after it unless :attr:`is_current` says it is the present (each
        whole second between would be reported, one by one), or the same radar at the same time
        again."""
        try:
            s = self.tracker.sensors.index(sensor)
        except (InputError, KeyError, ValueError):
            raise InputError(f"unknown sensor {sensor!r} (known: {', '.join(self.sensor_ids)})",
                             field="sensor") from None
        last = self.tracker.t
        if last is not None:
            if t < last:
                raise InputError(f"scan at t={t} from {sensor} is earlier than the last scan processed "
                                 f"(t={last}): scans must come in time order", field="t")
            if t == last and s in self.last_sensors:
                raise InputError(f"a second scan from {sensor} at t={t} (a duplicate)", field="t")
            if t - last > MAX_SCAN_GAP_S and not self.is_current(t):
                # every second between would be reported, one by one (t = 1e9 took days)
                raise InputError(f"scan at t={t} from {sensor} is more than {MAX_SCAN_GAP_S:.0f} s after the last "
                                 f"scan processed (t={last}) and not the present", field="t")
        if not 0 <= t <= MAX_SCAN_T_S:
            raise InputError(f"scan at t={t} from {sensor}: time not in [0, {MAX_SCAN_T_S:.3g}] s from the epoch",
                             field="t")
        return s

    def process(self, t: float, sensor: str, rae: np.ndarray) -> LiveOutput:
        """Process one scan (``rae (n, 3)``: range m, azimuth rad in [0, 2π), elevation rad; checked
        by the caller as :func:`accord.warning.pipeline._columns` checks a file) and return the
        whole seconds it completed."""
        s = self.check(t, sensor)
        tracks: list[TrackState] = []
        preds: list[Prediction] = []
        seconds: list[int] = []
        if self.next_w is None:
            self.w0 = self.next_w = math.ceil(t)
        assert self.w0 is not None
        trk = self.tracker
        if trk.t is not None and t - trk.t > MAX_SCAN_GAP_S:
            # back from a silence of more than a day (check let it through as the present):
            # nothing tracked before it still flies; the seconds between are not reported
            trk.forget()
            self.next_w = math.ceil(t)
        while self.next_w < t:
            w = self.next_w
            tracks.extend(trk.confirmed_tracks(w))
            if (w - self.w0) % self.every == 0:
                preds.extend(trk.predictions(w))
            seconds.append(w)
            self.next_w += 1
        if trk.t is None or t > trk.t:
            self.last_sensors = []
        trk.process_validated(float(t), s, np.ascontiguousarray(rae, dtype=float).reshape(-1, 3))
        self.last_sensors.append(s)
        return LiveOutput(tracks, preds, seconds)

    # --- snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> tuple[str, bytes]:
        """``(json, arrays)``: the whole state; :meth:`restore` rebuilds it exactly."""
        arrays: dict[str, np.ndarray] = {}
        values: dict[str, Any] = {}
        for name, v in vars(self.tracker).items():
            if name in _SKIP:
                continue
            if isinstance(v, np.ndarray):
                arrays[name] = v
            elif name == "_tracks":  # the track table's columns, as `_X`, `_P` …
                for k, a in v.columns().items():
                    arrays[f"_{k}"] = a
            elif name == "_pool":    # the pool's, as `_pool_X` …
                for k, a in v.columns().items():
                    arrays[f"_pool_{k}"] = a
            elif name in ("_last_pred", "_arc"):
                values[name] = {tid: p.to_json() for tid, p in v.items()}
            elif name == "_suspect":
                values[name] = {tid: [since, p.to_json()] for tid, (since, p) in v.items()}
            elif name == "_lost":
                values[name] = [[tid, tl] for tid, tl in v]
            elif name == "_boost_fits":
                values[name] = {str(tid): [n, list(fit)] for tid, (n, fit) in v.items()}
            elif name == "_bank":
                values[name] = v.to_json()
            elif v is None or isinstance(v, (int, float, np.floating, np.integer)):
                values[name] = v.item() if isinstance(v, (np.floating, np.integer)) else v
            else:  # a tracker attribute this snapshot does not know: never drop state silently
                raise TypeError(f"LiveTracker.snapshot: tracker attribute {name!r} of type "
                                f"{type(v).__name__} has no snapshot form")
        doc = {"format": SNAPSHOT_FORMAT, "tracker": values, "every": self.every, "w0": self.w0,
               "next_w": self.next_w, "last_sensors": self.last_sensors}
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        return json.dumps(doc, sort_keys=True), buf.getvalue()

    @classmethod
    def restore(cls, sensors: Sequence[Any] | SensorArray, state: str, arrays: bytes,
                config: TrackerConfig | None = None) -> "LiveTracker":
        """The live tracker a :meth:`snapshot` describes (same radars and tuning as then)."""
        try:
            doc = json.loads(state)
            if doc.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {SNAPSHOT_FORMAT!r}")
            with np.load(io.BytesIO(arrays), allow_pickle=False) as npz:
                loaded = {k: npz[k] for k in npz.files}
        except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"stored tracker state is damaged: {exc}", field="tracker_state") from None
        live = cls(sensors, config, predict_every_s=doc["every"])
        trk = live.tracker
        columns = set(Tracks.empty().columns())
        live_cols, pool_cols = {}, {}
        for k, a in loaded.items():
            if k.startswith("_pool_") and k[len("_pool_"):] in columns:
                pool_cols[k[len("_pool_"):]] = a
            elif k[1:] in columns:
                live_cols[k[1:]] = a
            else:
                setattr(trk, k, a)
        try:
            trk._tracks, trk._pool = Tracks(**live_cols), Tracks(**pool_cols)
        except TypeError as exc:  # a column missing
            raise InputError(f"stored tracker state is damaged: {exc}", field="tracker_state") from None
        v = doc["tracker"]
        trk._last_pred = {tid: Prediction.from_json(p) for tid, p in v.pop("_last_pred").items()}
        trk._arc = {tid: Prediction.from_json(p) for tid, p in v.pop("_arc").items()}
        trk._suspect = {tid: (float(s), Prediction.from_json(p)) for tid, (s, p) in v.pop("_suspect").items()}
        trk._lost = [(str(tid), float(tl)) for tid, tl in v.pop("_lost")]
        trk._boost_fits = {int(tid): (int(n), tuple(float(x) for x in fit))
                           for tid, (n, fit) in v.pop("_boost_fits", {}).items()}
        trk._bank = history.Records.from_json(v.pop("_bank", {}), trk.config.burnout_bank_s)
        for name, value in v.items():
            setattr(trk, name, value)
        live.w0, live.next_w, live.last_sensors = doc["w0"], doc["next_w"], list(doc["last_sensors"])
        return live
