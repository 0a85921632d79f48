"""``accord warning track``: run the tracker on a detections file (thin over the library)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from accord.cli.output import plain, plural

console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

#: Said on stderr before the tracker's kernels are compiled (a first run after an install or an
#: update), which otherwise looks like a hang of a minute.
COMPILE_NOTICE = ("compiling the tracker's numba kernels: the first run after an install or an update "
                  "takes about a minute; later runs load them from the cache")


def load_tracker() -> tuple[float, bool]:
    """Import :mod:`accord.warning.pipeline`, which loads (or compiles) the tracker's kernels, with
    a notice on stderr when they are to be compiled: (seconds taken, whether they were compiled)."""
    if "accord.warning.pipeline" in sys.modules:
        return 0.0, False
    from accord.warning.kernel_cache import has_compiled_code

    compiling = not has_compiled_code()
    if compiling:
        err_console.print(COMPILE_NOTICE, markup=False)
    t0 = time.perf_counter()
    import accord.warning.pipeline  # noqa: F401 - its import warms the kernels up

    return time.perf_counter() - t0, compiling


def track(
    detections: Path = typer.Argument(..., help="detections.jsonl (header line, then one detection a line), or a scenario directory holding one."),
    out: Path = typer.Option(..., "--out", help="Directory to write tracks.jsonl and predictions.jsonl into (as one set, with tracker-set.json)."),
    lenient: bool = typer.Option(False, "--lenient", help="Skip (and count) bad detection lines instead of stopping."),
    predict_every: float = typer.Option(1.0, "--predict-every", min=1.0,
                                        help="Seconds between launch/impact prediction refreshes."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Track missiles in DETECTIONS; write tracks.jsonl and predictions.jsonl into --out."""
    from accord.warning.io import read_detections, write_tracker_output

    load_s, compiled = load_tracker()
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
    write_tracker_output(out, result.tracks, result.predictions)  # one set: never new tracks beside old predictions
    ids = {tr.track_id for tr in result.tracks}
    summary = {
        "detections": result.n_detections, "scans": result.n_scans,
        "skipped_lines": det.skipped_count, "skip_reasons": det.skip_reasons,
        "confirmed_tracks": len(ids), "track_lines": len(result.tracks),
        "prediction_lines": len(result.predictions), "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3), "kernel_load_seconds": round(load_s, 3), "kernels_compiled": compiled,
        "detections_per_cpu_s": round(result.n_detections / cpu) if cpu > 0 else None,
        "out": str(out),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(f"{plural(result.n_detections, 'detection')} in {plural(result.n_scans, 'scan')} → "
                  f"{plural(len(ids), 'confirmed track')}, {plural(len(result.tracks), 'track line')}, "
                  f"{plural(len(result.predictions), 'prediction')} in {elapsed:.2f} s of tracking "
                  f"({cpu:.2f} CPU s: {summary['detections_per_cpu_s']:,} detections per CPU second)",
                  highlight=False)
    if compiled:
        console.print(f"before that, compiling the tracker's kernels took {load_s:.1f} s (once: later runs "
                      "load them from the cache)", highlight=False)
    elif load_s >= 0.05:
        console.print(f"before that, loading the tracker's compiled kernels took {load_s:.1f} s", highlight=False)
    if det.skipped_count:
        console.print(plain(f"skipped {plural(det.skipped_count, 'bad line')} (--lenient): "
                            + ", ".join(f"{k}: {v}" for k, v in det.skip_reasons.items())), highlight=False)
    console.print(plain(f"wrote {out / 'tracks.jsonl'} and {out / 'predictions.jsonl'}"), highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``track`` to the ``accord warning`` app (owned by accord.cli.warning)."""
    from accord.cli.warning import app as warning_app

    warning_app.command("track")(track)
