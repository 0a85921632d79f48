"""``accord warning``: simulate scenarios and score trackers (the tracker adds ``track``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

app = typer.Typer(help="Early warning: simulate radar scenarios, track missiles, score trackers.",
                  no_args_is_help=True)
console = Console()


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Directory to write detections/truth/events.jsonl into."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same files."),
    missiles: int = typer.Option(2, "--missiles", min=0, max=100, help="Number of missiles."),
    duration: float = typer.Option(None, "--duration", help="Seconds to simulate (default: until the last impact)."),
    pd: float = typer.Option(None, "--pd", help="Override every radar's detection probability."),
    clutter: float = typer.Option(None, "--clutter", help="Override every radar's clutter per scan."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
) -> None:
    """Simulate a seeded scenario like the sample ones (three radars, launches into the East Sea)."""
    from accord.warning.sim import random_scenario, simulate as run, write_scenario

    spec = random_scenario(seed, missiles, duration=duration, pd=pd, clutter_per_scan=clutter)
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("solving launches", total=len(spec.launches))
        result = run(spec, progress=lambda _id: progress.advance(task))
    write_scenario(out, result)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in result.events], indent=2))
        return
    table = Table(title=f"{out}: {len(result.detections)} detections "
                        f"({int(result.is_target.sum())} from missiles), {result.duration:.0f} s")
    for col in ("id", "launch t", "burnout t", "impact t", "range km", "apogee km", "lofted"):
        table.add_column(col, justify="right" if col != "id" else "left")
    for e in result.events:
        table.add_row(e.id, f"{e.launch_t:.2f}", f"{e.burnout_t:.1f}", f"{e.impact_t:.1f}",
                      f"{e.range_km:.0f}", f"{e.apogee_km:.0f}", "yes" if e.lofted else "no")
    console.print(table)
