"""``accord warning``: simulate scenarios and score trackers (the tracker adds ``track``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from accord.cli.output import literal, plural, print_table

app = typer.Typer(help="Early warning: simulate radar scenarios, track missiles, score trackers, issue CAP alerts; live feeds over NATS (feed, ingest, watch).",
                  no_args_is_help=True)
console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


#: the longest --duration: six hours, as an exercise scenario's ``duration_s``
MAX_DURATION_S = 6 * 3600.0


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Directory to write detections/truth/events.jsonl into."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (0 or more): same seed, same files."),
    missiles: int = typer.Option(2, "--missiles", min=0, max=100, help="Number of missiles."),
    duration: float = typer.Option(None, "--duration", help="Seconds to simulate (default: until the last impact)."),
    pd: float = typer.Option(None, "--pd", help="Override every radar's detection probability."),
    clutter: float = typer.Option(None, "--clutter", help="Override every radar's clutter per scan."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """Simulate a seeded scenario like the sample ones (three radars, launches into the East Sea)."""
    from accord.errors import InputError
    from accord.warning.sim import random_scenario, simulate as run, write_scenario

    if duration is not None and not 0 < duration <= MAX_DURATION_S:  # NaN fails too
        raise InputError(f"{duration} is not a number of seconds in (0, {MAX_DURATION_S:.0f}] (an exercise's "
                         "longest)", field="duration")
    spec = random_scenario(seed, missiles, duration=duration, pd=pd, clutter_per_scan=clutter)
    with Progress(console=console, transient=True,
                  disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task("solving launches", total=len(spec.launches))
        result = run(spec, progress=lambda _id: progress.advance(task))
    write_scenario(out, result)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in result.events], indent=2))
        return
    table = Table(title=f"{literal(out)}: {plural(len(result.detections), 'detection')} "
                        f"({int(result.is_target.sum()):,} from missiles), {result.duration:.0f} s")
    for col in ("id", "launch t", "burnout t", "impact t", "range km", "apogee km", "lofted"):
        table.add_column(col, justify="right" if col != "id" else "left")
    for e in result.events:
        table.add_row(e.id, f"{e.launch_t:.2f}", f"{e.burnout_t:.1f}", f"{e.impact_t:.1f}",
                      f"{e.range_km:.0f}", f"{e.apogee_km:.0f}", "yes" if e.lofted else "no")
    print_table(console, table)


def _fmt(v: float | None, unit: str = "m", digits: int = 0) -> str:
    if v is None or v != v:  # None or NaN
        return "—"
    return f"{v:,.{digits}f} {unit}".strip()


def print_score(score, title: str) -> None:
    """Rich tables of a :class:`accord.warning.scoring.Score`."""
    # The parts are root-mean-squares over the seconds, so they add up (in quadrature) to the
    # GOSPA's RMS, not to its mean: printed under the RMS, named as its parts.
    t = Table(title=title, caption="the parts: localisation² + missed² + false² = RMS²")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("GOSPA mean over the seconds (c=5 km, p=2, α=2)", _fmt(score.gospa_mean_m))
    t.add_row("GOSPA RMS over the seconds", _fmt(score.gospa_rms_m))
    t.add_row("  localisation part of the RMS", _fmt(score.localisation_m))
    t.add_row("  missed part of the RMS", _fmt(score.missed_m))
    t.add_row("  false part of the RMS", _fmt(score.false_m))
    t.add_row("missiles in coverage / s", f"{score.mean_truths:.2f}")
    t.add_row("missed / s, false tracks / s", f"{score.mean_missed:.2f}, {score.mean_false:.2f}")
    t.add_row("position RMSE (assigned)", _fmt(score.position_rmse_m))
    t.add_row("velocity RMSE (assigned)", _fmt(score.velocity_rmse_mps, "m/s", 1))
    t.add_row("seconds scored", str(score.n_seconds))
    t.add_row("tracks per missile (fragmentation)",
              "—" if not score.missile_tracks else
              f"{score.tracks_per_missile:.2f} ({plural(len(score.missile_tracks), 'missile')})")
    t.add_row("identity switches", str(score.identity_switches))
    t.add_row("impact error, median (≥60 s post-burnout)", _fmt(score.impact_median_post_burnout_m))
    t.add_row("95 % ellipse coverage (≥60 s post-burnout)",
              "—" if score.impact_coverage_post_burnout != score.impact_coverage_post_burnout
              else f"{score.impact_coverage_post_burnout:.0%} of {score.n_post_burnout}")
    for ph in score.phase_coverage:
        span = f"≥{ph.lo_s:.0f} s" if ph.hi_s == float("inf") else f"{ph.lo_s:.0f}–{ph.hi_s:.0f} s"
        t.add_row(f"  95 % ellipse coverage, {span} post-burnout",
                  "—" if ph.n == 0 else f"{ph.ellipse_coverage:.0%} of {ph.n}")
    t.add_row("boost-phase predictions: 95 % ellipse coverage",
              "—" if score.n_boost == 0 else f"{score.boost_coverage:.0%} of {score.n_boost}")
    t.add_row("launch-point error, median", _fmt(score.launch_median_error_m))
    print_table(console, t)
    b = Table(title="Impact-point error vs time since launch")
    for col in ("since launch", "predictions", "median error", "90th pct", "in 95 % ellipse"):
        b.add_column(col, justify="right")
    for row in score.impact_bins:
        hi = "∞" if row.hi_s == float("inf") else f"{row.hi_s:.0f}"
        b.add_row(f"{row.lo_s:.0f}–{hi} s", str(row.n), _fmt(row.median_error_m), _fmt(row.p90_error_m),
                  "—" if row.n == 0 else f"{row.ellipse_coverage:.0%}")
    print_table(console, b)


@app.command()
def score(
    scenario_dir: Path = typer.Argument(..., help="Scenario directory (detections, truth, events)."),
    out_dir: Path = typer.Argument(..., help="Tracker output directory (tracks.jsonl, predictions.jsonl)."),
    as_json: bool = typer.Option(False, "--json", help="Print the score as JSON."),
) -> None:
    """Score tracks and predictions: GOSPA and its parts, RMSE, impact-point error."""
    from accord.warning.scoring import score_dirs

    result = score_dirs(scenario_dir, out_dir)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, allow_nan=False))
        return
    print_score(result, f"{literal(out_dir)} against {literal(scenario_dir)}")
