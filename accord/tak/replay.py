"""``accord tak send``: the output of ``accord warning track`` / ``accord warning alerts`` (or a
scenario's detections, tracked first) sent to a TAK server as a timed stream.

The records are grouped by their time ``t`` (seconds from the scenario's start) and sent at
``start + (t − t₀) / speed`` of wall-clock time, each event stamped with the moment it is sent
(:class:`accord.tak.picture.Stamp`): TAK servers and clients drop stale events, so a replay of a
run made last week is restamped, and its tracks disappear ``stale`` seconds after their last
update, as live ones would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from accord.errors import InputError
from accord.tak.client import TakConnection, TakServer
from accord.tak.cot import CotEvent, sendable
from accord.tak.picture import Drawn, Stamp, alert_events, prediction_events, track_events

Record = tuple[float, str, dict[str, Any]]  # (t, "track" | "prediction" | "alert", body)


@dataclass
class Picture:
    """What a directory holds, in time order; ``party``: whose picture it is."""

    records: list[Record]
    party: str
    sources: list[str] = field(default_factory=list)


def load_picture(directory: str | Path, *, party: str | None = None) -> Picture:
    """Read ``tracks.jsonl``, ``predictions.jsonl`` and an alerts ``index.json`` from
    ``directory`` (any of them); a directory with only ``detections.jsonl`` is tracked first."""
    from accord.warning.io import read_predictions, read_tracks, tracker_files

    d = Path(directory)
    if not d.is_dir():
        raise InputError("no such directory", source=str(d))
    records: list[Record] = []
    sources = []
    alert_party = None
    files = tracker_files(d)  # the pair one run wrote, never new tracks beside old predictions
    if files["tracks.jsonl"].is_file():
        records += [(tr.t, "track", tr.to_json()) for tr in read_tracks(files["tracks.jsonl"])]
        sources.append("tracks.jsonl")
    if files["predictions.jsonl"].is_file():
        records += [(p.t, "prediction", p.to_json()) for p in read_predictions(files["predictions.jsonl"])]
        sources.append("predictions.jsonl")
    if (d / "index.json").is_file():
        alert_party, alerts = _read_alerts(d)
        records += alerts
        sources.append("index.json")
    if not records and (d / "detections.jsonl").is_file():
        from accord.warning.io import read_detections
        from accord.warning.pipeline import track_detections

        header, det = read_detections(d / "detections.jsonl")
        result = track_detections(header.sensors, det)
        records += [(tr.t, "track", tr.to_json()) for tr in result.tracks]
        records += [(p.t, "prediction", p.to_json()) for p in result.predictions]
        sources.append("detections.jsonl (tracked)")
    if not records:
        raise InputError("holds none of tracks.jsonl, predictions.jsonl, index.json (accord-alerts/1) "
                         "or detections.jsonl", source=str(d))
    if party is None:
        if alert_party is None:
            raise InputError("say whose picture this is with --party (tracks files do not name it)",
                             source=str(d))
        party = alert_party
    order = {"track": 0, "prediction": 1, "alert": 2}
    records.sort(key=lambda r: (r[0], order[r[1]]))
    return Picture(records, party, sources)


def _read_alerts(d: Path) -> tuple[str, list[Record]]:
    from accord.core.canonical import parse_json_strict

    path = d / "index.json"
    try:
        index = parse_json_strict(path.read_bytes())
    except Exception as exc:
        raise InputError(f"not JSON: {exc}", source=str(path)) from None
    if not isinstance(index, dict) or index.get("format") != "accord-alerts/1":
        raise InputError("not an alerts index (format accord-alerts/1)", source=str(path))
    out: list[Record] = []
    for n, m in enumerate(index.get("messages") or []):
        try:
            t = m["t"]
            # a JSON integer may be beyond a double (float() overflows), true is not a time
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not -1e300 < t < 1e300:
                raise ValueError(f"t {repr(t)[:40]} is not a finite number")
            name = Path(str(m["file"])).name
            xml = (d / name).read_text(encoding="utf-8")
            out.append((float(t), "alert", {"cap_xml": xml, "incident": m.get("incident")}))
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise InputError(f"message {n}: {exc}", source=str(path)) from None
    return str(index.get("party") or ""), out


MAKERS: dict[str, Callable[..., list[CotEvent]]] = {
    "track": track_events, "prediction": prediction_events, "alert": alert_events}


def picture_events(records: list[Record], *, party: str, marking: str, stamp: Stamp,
                   drawn: Drawn | None = None) -> list[CotEvent]:
    out: list[CotEvent] = []
    for _, kind, body in records:
        if kind == "alert":
            out += alert_events(body, party=party, marking=marking, stamp=stamp, drawn=drawn)
        else:
            out += MAKERS[kind](body, party=party, marking=marking, stamp=stamp)
    return [sendable(e) for e in out]


@dataclass
class SendReport:
    events: int = 0
    frames: int = 0
    by_type: Counter = field(default_factory=Counter)
    seconds: float = 0.0


async def send_picture(picture: Picture, server: TakServer, *, marking: str, speed: float = 1.0,
                       stale_s: float | None = None,
                       now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> SendReport:
    """Send the picture as a timed stream (``speed`` times real time); return what was sent."""
    if not speed > 0:
        raise InputError(f"speed must be above 0, got {speed}", field="speed")
    stale = stale_s if stale_s is not None else max(10.0, 5.0 / speed)
    conn = await TakConnection.open(server)
    report = SendReport()
    drawn: Drawn = {}
    start = time.monotonic()
    try:
        records = picture.records
        t0 = records[0][0]
        i = 0
        while i < len(records):
            j = i
            while j < len(records) and records[j][0] == records[i][0]:
                j += 1
            delay = start + (records[i][0] - t0) / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            events = picture_events(records[i:j], party=picture.party, marking=marking,
                                    stamp=Stamp(now(), stale, 1.0 / speed), drawn=drawn)
            await conn.send(events)
            report.events += len(events)
            report.frames += 1
            report.by_type.update(e.type for e in events)
            i = j
    finally:
        await conn.close()
    report.seconds = time.monotonic() - start
    return report


def report_json(report: SendReport, server: TakServer, picture: Picture) -> dict[str, Any]:
    return {"server": server.url, "party": picture.party, "sources": picture.sources, "events": report.events,
            "frames": report.frames, "by_type": dict(sorted(report.by_type.items())),
            "seconds": round(report.seconds, 3)}


def dumps(report: SendReport, server: TakServer, picture: Picture) -> str:
    return json.dumps(report_json(report, server, picture), indent=2)
