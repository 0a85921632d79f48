"""``accord policy explain ITEM_FILE PARTNER --dir D``: why an item may or may not go to a partner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from accord.cli.output import literal
from accord.clock import parse_rfc3339
from accord.core.canonical import parse_json_strict
from accord.core.items import Item
from accord.core.policy import decide
from accord.errors import InputError, PolicyDenied

app = typer.Typer(help="Sharing policy (default deny).", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("explain")
def explain(item_file: Annotated[Path, typer.Argument(help="item JSON file")],
            partner: Annotated[str, typer.Argument(help="recipient party, e.g. KOR")],
            dir: Annotated[Path, typer.Option("--dir", help="node directory")],
            at: Annotated[Optional[str], typer.Option(help="decide at this RFC 3339 time (default now)")] = None,
            json_out: Annotated[bool, typer.Option("--json", help="print the decision and its reasons as JSON")] = False) -> None:
    """Print each policy check for sharing ITEM_FILE with PARTNER; exit 5 if denied."""
    from accord.node import Node

    node = Node.open(dir)
    try:
        raw = item_file.read_bytes()
    except FileNotFoundError:
        raise InputError("item file not found", source=str(item_file)) from None
    item = Item.from_json(parse_json_strict(raw, source=str(item_file)), source=str(item_file))
    now = parse_rfc3339(at, field="at") if at else node.clock.now()
    d = decide(item, partner, node.agreements(), now, pinned_keys=node.pinned_keys())
    if json_out:
        typer.echo(json.dumps({"allowed": d.allowed, "agreement": d.agreement_id, "reasons": list(d.lines)},
                              indent=2, ensure_ascii=False))
    else:
        for r in d.reasons:
            mark = "[green]✓[/]" if r.passed else "[red]✗[/]" if r.failed else "[bold]→[/]"
            console.print(f"{mark} {literal(r)}", highlight=False)
    if not d.allowed:
        raise typer.Exit(PolicyDenied.exit_code)
