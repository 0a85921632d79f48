"""``accord warning track``: run the tracker on a detections file (thin over the library)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


def track(
    detections: Path = typer.Argument(..., help="detections.jsonl (header line, then one detection a line)."),
    out: Path = typer.Option(..., "--out", help="Directory to write tracks.jsonl and predictions.jsonl into."),
    lenient: bool = typer.Option(False, "--lenient", help="Skip (and count) bad detection lines instead of stopping."),
    predict_every: float = typer.Option(1.0, "--predict-every", min=1.0,
                                        help="Seconds between launch/impact prediction refreshes."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Track missiles in DETECTIONS; write tracks.jsonl and predictions.jsonl into --out."""
    from accord.warning.io import read_detections, write_predictions, write_tracks
    from accord.warning.pipeline import track_detections

    header, det = read_detections(detections, lenient=lenient)
    with Progress(TextColumn("tracking"), BarColumn(), MofNCompleteColumn(), TextColumn("detections"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task("tracking", total=len(det))
        t0, c0 = time.perf_counter(), time.process_time()
        result = track_detections(header.sensors, det, predict_every_s=predict_every,
                                  progress=lambda n: progress.update(task, completed=n))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    write_tracks(out / "tracks.jsonl", result.tracks)
    write_predictions(out / "predictions.jsonl", result.predictions)
    ids = {tr.track_id for tr in result.tracks}
    summary = {
        "detections": result.n_detections, "scans": result.n_scans,
        "skipped_lines": det.skipped_count, "skip_reasons": det.skip_reasons,
        "confirmed_tracks": len(ids), "track_lines": len(result.tracks),
        "prediction_lines": len(result.predictions), "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "detections_per_cpu_s": round(result.n_detections / cpu) if cpu > 0 else None,
        "out": str(out),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(f"{result.n_detections:,} detections in {result.n_scans:,} scans → "
                  f"{len(ids)} confirmed tracks, {len(result.tracks):,} track lines, "
                  f"{len(result.predictions):,} predictions in {elapsed:.2f} s "
                  f"({cpu:.2f} CPU s: {summary['detections_per_cpu_s']:,} detections per CPU second)",
                  highlight=False)
    if det.skipped_count:
        console.print(f"skipped {det.skipped_count} bad lines (--lenient): "
                      + ", ".join(f"{k}: {v}" for k, v in det.skip_reasons.items()), highlight=False)
    console.print(f"wrote {out / 'tracks.jsonl'} and {out / 'predictions.jsonl'}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``track`` to the ``accord warning`` app (owned by accord.cli.warning)."""
    from accord.cli.warning import app as warning_app

    warning_app.command("track")(track)
