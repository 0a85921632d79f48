"""``accord warning alerts``: CAP 1.2 alert sequences from predictions (a thin layer over
:mod:`accord.warning.alerts`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from accord.cli.output import literal, plain, plural, print_table
from accord.errors import ConfigError

console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


def alerts(
    source: Annotated[Path, typer.Argument(help="predictions.jsonl, or a scenario directory "
                                                "(predictions.jsonl, or detections.jsonl to track first)")],
    party: Annotated[str, typer.Option("--party", help="Party to warn (JPN, KOR, USA).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the CAP XML files and index.json.")],
    status: Annotated[Optional[str], typer.Option(
        "--status", help="Actual or Exercise (default Exercise; a simulated scenario is never Actual).")] = None,
    sender: Annotated[Optional[str], typer.Option("--sender", help="CAP sender (default accord.<party>.example).")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="Node YAML whose 'alerts:' section holds the rules.")] = None,
    geography: Annotated[Optional[Path], typer.Option("--geography", help="Geography file (default: packaged).")] = None,
    epoch: Annotated[str, typer.Option("--epoch", help="Wall-clock time of scenario t=0 (RFC 3339).")]
    = "2026-01-01T00:00:00Z",
    node_dir: Annotated[Optional[Path], typer.Option(
        "--node", help="Also store each message as a 'warning.alert' item in this node (ledgered).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the index as JSON.")] = False,
) -> None:
    """Produce the CAP 1.2 Alert/Update/Cancel sequence for one party from predictions."""
    from accord.clock import parse_rfc3339
    from accord.warning.alerts import AlertEngine, AlertRules, Geography
    from accord.warning.alerts.batch import index_json, load_input, run_engine, summary_rows, write_alerts

    party = party.upper()
    geo = Geography.load(geography, parties=[party])
    rules = AlertRules.from_yaml(config, party=party) if config else AlertRules(party=party)
    with Progress(TextColumn("{task.description}"), BarColumn(), console=console, transient=True,
                  disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task("tracking detections", total=None)
        inp = load_input(source, progress=lambda n, total: progress.update(task, completed=n, total=total))
    chosen = status or "Exercise"
    if chosen == "Actual" and inp.simulated:
        raise ConfigError(f"{source}: a simulated scenario (it has truth/events files) cannot be "
                          f"issued with status Actual")
    when: datetime = parse_rfc3339(epoch, field="epoch")
    engine = AlertEngine(rules, geo, sender or f"accord.{party.lower()}.example", chosen, epoch=when)
    messages = run_engine(engine, inp.predictions, source=inp.source)
    node = None
    if node_dir is not None:
        from accord.node import Node

        node = Node.open(node_dir)
        if node.party != party:
            node.close()
            raise ConfigError(f"{node_dir}: the node is {node.party}'s, not {party}'s")
    write_alerts(out, messages, party=party, status=chosen, source=inp.source)
    if node is not None:
        with node:
            for m in messages:
                node.put_item(m.to_item())
    if as_json:
        typer.echo(json.dumps(index_json(messages, party=party, status=chosen, source=inp.source),
                              indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{literal(out)}: {plural(len(messages), 'CAP 1.2 message')} for {party} ({chosen}) "
                        f"from {plural(len(inp.predictions), 'prediction')}")
    for col in ("t", "sent", "type", "track", "reason", "areas", "headline (en)"):
        table.add_column(col, overflow="fold")
    for r in summary_rows(messages):
        table.add_row(f"{r['t']:.0f}", r["sent"][11:19], r["msgType"], plain(r["track"]), plain(r["reason"]),
                      plain(" ".join(r["areas"])), plain(r["headline"]))
    print_table(console, table)


def register(root: typer.Typer) -> None:
    """Add ``alerts`` to the ``warning`` sub-app (skipped when that area is absent)."""
    for group in root.registered_groups:
        if group.name == "warning" and group.typer_instance is not None:
            group.typer_instance.command("alerts")(alerts)
            return
