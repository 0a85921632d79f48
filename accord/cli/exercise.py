"""``accord exercise``: list, validate and run joint exercises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.output import literal, plain, plural, print_table
from accord.exercise.scenario import builtin_names, json_schema, load_scenario

if TYPE_CHECKING:
    from accord.exercise.http import ConsoleLink
    from accord.exercise.runner import ExerciseResult

app = typer.Typer(help="Joint exercises: run a whole federation through a scenario and score it.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the built-in scenarios."""
    rows: list[dict[str, Any]] = []
    for name in builtin_names():
        s = load_scenario(name)
        n_launch = len(s.launches.explicit) + (s.launches.generated.count if s.launches.generated else 0)
        faults = sum(len(link.partitions) for link in s.links)
        rows.append({"name": name, "parties": [p.code for p in s.parties], "radars": len(s.radars),
                     "launches": n_launch, "partitions": faults, "injects": [i.type for i in s.injects],
                     "duration_s": s.duration_s, "description": s.description})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Built-in scenarios")
    table.add_column("name", no_wrap=True)
    for col in ("parties", "radars", "launches", "partitions", "injects", "duration"):
        table.add_column(col, justify="right" if col != "parties" else "left")
    for r in rows:
        table.add_row(r["name"], " ".join(r["parties"]), str(r["radars"]), str(r["launches"]),
                      str(r["partitions"]), str(len(r["injects"])), f"{r['duration_s']:.0f} s")
    print_table(console, table)


@app.command()
def validate(file: str = typer.Argument(..., help="Scenario YAML file, or a built-in scenario name.")) -> None:
    """Check a scenario file; errors name the line and the field."""
    s = load_scenario(file)
    console.print(f"[green]ok[/]: {literal(file)} — scenario {literal(repr(s.name))}, {plural(len(s.parties), 'party', 'parties')}, "
                  f"{plural(len(s.radars), 'radar')}, {plural(len(s.injects), 'inject')}", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def run(
    scenario: str = typer.Argument("trilateral-warning", help="Scenario file or built-in name."),
    out: Path = typer.Option(Path("exercise-out"), "--out", help="Directory for nodes, report and metrics."),
    transport: str = typer.Option("inproc", "--transport", help="inproc (default) or http (loopback)."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Override the scenario's seed (0 or more)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON instead of a table."),
    force: bool = typer.Option(False, "--force", help="Replace another run's output in --out (another "
                               "scenario, seed or transport)."),
    console_: bool = typer.Option(False, "--console", help="Serve every party's console live while the "
                                  "scenario plays (HTTP transport); print each URL and a one-time login link."),
    port: int | None = typer.Option(None, "--port", help="With --console: the first party's port; the "
                                    "others follow (default: free ports)."),
    speed: float | None = typer.Option(None, "--speed", help="Times real time (default with --console: 10; "
                                       "without: as fast as it goes)."),
) -> None:
    """Run an exercise and write report.html and metrics.json (default: the trilateral drill)."""
    from accord.exercise.runner import run_exercise

    s = load_scenario(scenario)
    try:
        result = run_exercise(s, out, transport=transport, seed=seed, progress=progress and not as_json,
                              force=force, console=console_, port=port, speed=speed, announce=print_links)
    except KeyboardInterrupt:
        Console(stderr=True, soft_wrap=True).print(
            plain(f"interrupted: {out} holds an unfinished run (no report); run the same command again to redo it"),
            highlight=False)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps(result.metrics, indent=2, sort_keys=True))
    else:
        print_summary(result)
    if not result.passed:
        raise typer.Exit(1)


def print_links(links: list["ConsoleLink"]) -> None:
    """Each party's console and its one-time login link (valid once, for 10 minutes)."""
    for link in links:
        console.print(f"{link.party} console: {link.url}", highlight=False)
        console.print(f"  one-time login (10 min): {link.login_link}", highlight=False, soft_wrap=True)


def print_summary(result: "ExerciseResult") -> None:
    """The summary table of a run, and where its report and metrics are."""
    m = result.metrics
    table = Table(title=f"Exercise {literal(m['scenario']['name'])} — {'PASSED' if result.passed else 'FAILED'}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in m["summary_table"]:  # the first row is the scenario's name, as written
        table.add_row(plain(label), plain(value))
    print_table(console, table)
    console.print(plain(f"report: {result.report_path}"), highlight=False)
    console.print(plain(f"metrics: {result.out_dir / 'metrics.json'}"), highlight=False)
