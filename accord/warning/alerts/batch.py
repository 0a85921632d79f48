"""Batch use of the engine: a predictions file (or a scenario directory) in, an alert directory out.

The output directory holds one ``NNNN-<msgType>-<identifier>.xml`` file per CAP message and an
``index.json`` listing them in order. Every message is validated first, then the directory is
written as one set by :func:`accord.warning.io.fileset.write_file_set` (a fresh sibling
directory, flushed and swapped in whole), so bad input or an interruption never leaves a partial
alert sequence, or none, behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accord.errors import ConfigError, InputError
from accord.warning.alerts.cap import CapMessage, cap_time, validate
from accord.warning.alerts.engine import AlertEngine
from accord.warning.types import MAX_SCAN_GAP_S, MAX_SCAN_T_S, Prediction

INDEX = "index.json"


@dataclass(frozen=True)
class AlertInput:
    predictions: list[Prediction]
    source: str
    simulated: bool          # a scenario directory with truth: never "Actual"
    tracked: bool            # predictions came from running the tracker on detections


def load_input(path: str | Path, *, progress: Callable[[int, int], None] | None = None) -> AlertInput:
    """Read predictions from ``predictions.jsonl`` (a file, or inside a directory), or track a
    scenario directory's ``detections.jsonl`` first with :func:`accord.warning.pipeline.track_detections`."""
    from accord.warning.io import TRACKER_SET, read_predictions, tracker_files

    p = Path(path)
    if p.is_file():
        return AlertInput(read_predictions(p), str(p), _simulated(p.parent), False)
    if not p.is_dir():
        raise InputError("no such predictions file or scenario directory", source=str(p))
    if (p / "predictions.jsonl").is_file() or (p / TRACKER_SET).is_file():
        preds = tracker_files(p, ("predictions.jsonl",))["predictions.jsonl"]  # as its run committed it
        return AlertInput(read_predictions(preds), str(p / "predictions.jsonl"), _simulated(p), False)
    det = p / "detections.jsonl"
    if not det.is_file():
        raise InputError("directory has neither predictions.jsonl nor detections.jsonl", source=str(p))
    try:
        from accord.warning.pipeline import track_detections
    except ImportError as exc:  # the tracker is another part of Accord; it may be absent
        raise ConfigError(f"{p}: has only detections.jsonl and the tracker pipeline is not "
                          f"available ({exc})") from None
    from accord.warning.io import read_detections

    header, detections = read_detections(det)
    total = len(detections.t)
    result = track_detections(header.sensors, detections,
                              progress=(lambda n: progress(n, total)) if progress else None)
    return AlertInput(sorted(result.predictions, key=lambda q: (q.t, q.track_id)), str(det),
                      _simulated(p), True)


def _simulated(d: Path) -> bool:
    return (d / "truth.jsonl").exists() or (d / "events.jsonl").exists()


def run_engine(engine: AlertEngine, predictions: list[Prediction], *,
               end_t: float | None = None, source: str | None = None,
               tick_s: float = 1.0) -> list[CapMessage]:
    """Feed predictions in time order (each at its own ``t``), then let time run to ``end_t``
    (default: the last predicted impact + the clearing delay + 1 s) so every incident closes.
    Between predictions the clock ticks every ``tick_s`` seconds (:meth:`AlertEngine.on_time`),
    as it would on a live node, so held-back Updates and Cancels go out on time.

    A bad prediction raises :class:`InputError` naming ``source`` and the prediction's position
    in the input (1-based, in file order)."""
    order = sorted(range(len(predictions)), key=lambda i: (predictions[i].t, predictions[i].track_id))
    preds = [predictions[i] for i in order]
    _check_times(predictions, order, source)
    out: list[CapMessage] = []
    clock = math.floor(preds[0].t) if preds else 0.0

    def tick(until: float) -> None:
        # a live node calls on_time every second; replay that between predictions
        nonlocal clock
        while clock + tick_s <= until:
            clock += tick_s
            out.extend(engine.on_time(clock))

    for i, q in zip(order, preds):
        tick(q.t)
        try:
            out.extend(engine.on_prediction(q, q.t))
        except InputError as exc:
            raise InputError(f"prediction #{i + 1} (track {q.track_id}, t={q.t}): {exc.detail}",
                             source=source, field=exc.field) from None
    if end_t is None and preds:
        end_t = max(q.impact_t for q in preds) + engine.rules.clear_after_impact_s + 1.0
    if end_t is not None:
        tick(end_t)
        out.extend(engine.on_time(end_t))
    return out


def _check_times(predictions: list[Prediction], order: list[int], source: str | None) -> None:
    """The engine's clock ticks every second from the first prediction to the last impact: each
    prediction time within :data:`MAX_SCAN_T_S` of the epoch and :data:`MAX_SCAN_GAP_S` of the one
    before, its impact time within a gap of its own time (``impact_t`` 1e308 ticked for ever)."""
    prev = None
    for i in order:
        q = predictions[i]
        problem = None
        if not (math.isfinite(q.t) and 0 <= q.t <= MAX_SCAN_T_S):
            problem = f"time t={q.t} is not in [0, {MAX_SCAN_T_S:.3g}] s", "t"
        elif prev is not None and q.t - prev > MAX_SCAN_GAP_S:
            problem = f"time t={q.t} is more than {MAX_SCAN_GAP_S:.0f} s after the prediction before ({prev})", "t"
        elif not (math.isfinite(q.impact_t) and abs(q.impact_t - q.t) <= MAX_SCAN_GAP_S):
            problem = f"impact_t {q.impact_t} is not within {MAX_SCAN_GAP_S:.0f} s of t={q.t}", "impact_t"
        if problem is not None:
            raise InputError(f"prediction #{i + 1} (track {q.track_id}): {problem[0]}", source=source,
                             field=problem[1])
        prev = q.t


def index_json(messages: list[CapMessage], *, party: str, status: str, source: str) -> dict:
    return {"format": "accord-alerts/1", "party": party, "status": status, "source": source,
            "messages": [dict(m.to_json(), file=_file_name(i, m)) for i, m in enumerate(messages, 1)]}


def _file_name(i: int, m: CapMessage) -> str:
    return f"{i:04d}-{m.msg_type}-{m.identifier}.xml"


def write_alerts(out_dir: str | Path, messages: list[CapMessage], *, party: str, status: str,
                 source: str) -> Path:
    """Write the messages and ``index.json`` as one set, replacing an earlier alert directory
    whole (:func:`accord.warning.io.fileset.write_file_set`).

    An existing ``out_dir`` is replaced only if it is empty or an earlier alert directory (it has
    an ``index.json`` in this format); anything else is refused, so nothing unrelated is deleted.
    """
    from accord.warning.io.fileset import write_file_set

    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise InputError("output path exists and is not a directory", source=str(out))
        if any(out.iterdir()) and not _is_alert_dir(out):
            raise InputError("output directory is not empty and is not an earlier alert "
                             "directory; refusing to replace it", source=str(out))
    for m in messages:
        validate(m.xml)
    doc = index_json(messages, party=party, status=status, source=source)
    writers = {_file_name(i, m): _writer(m.xml) for i, m in enumerate(messages, 1)}
    writers[INDEX] = _writer((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return write_file_set(out, writers, what="alert sequence", owns=_is_alert_dir)


def _writer(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)
    return write


def _is_alert_dir(d: Path) -> bool:
    try:
        return json.loads((d / INDEX).read_text(encoding="utf-8")).get("format") == "accord-alerts/1"
    except (OSError, ValueError, AttributeError):
        return False


def summary_rows(messages: list[CapMessage]) -> list[dict]:
    return [{"sent": cap_time(m.sent), "t": m.t, "msgType": m.msg_type, "track": m.track_id,
             "reason": m.reason, "areas": list(m.area_codes), "headline": m.texts["en"].headline}
            for m in messages]
