"""CLI for standing sharing rules: ``accord node rule add|list|remove``.

Added to ``accord node`` by :func:`accord.cli.federation.register`; thin over
:func:`accord.federation.add_rule`, :func:`~accord.federation.rules` and
:func:`~accord.federation.remove_rule`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from accord.cli.options import DirOpt, JsonOpt, open_node

if TYPE_CHECKING:
    pass

KindsOpt = Annotated[str, typer.Option(help="kind pattern, e.g. warning.track or intel.*")]
ToOpt = Annotated[str, typer.Option(help="a pinned partner's party, or '*' for every partner")]

app = typer.Typer(help="Standing sharing rules (every own item of a kind to a partner or '*').",
                  no_args_is_help=True)


@app.command("add")
def rule_add(dir: DirOpt, kinds: KindsOpt, to: ToOpt = "*") -> None:
    """Add a standing rule; the policy still decides each item. The same rule added again
    changes nothing, and says so."""
    from accord.federation import add_rule

    if add_rule(open_node(dir), kinds, to):
        typer.echo(f"rule: {kinds} → {to}")
    else:
        typer.echo(f"rule {kinds} → {to} already present; nothing changed")


@app.command("list")
def rule_list(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """List standing rules."""
    from accord.federation import rules

    rs = rules(open_node(dir))
    if json_out:
        typer.echo(json.dumps([{"kinds": k, "to": t} for k, t in rs]))
        return
    for k, t in rs:
        typer.echo(f"{k} → {t}")


@app.command("remove")
def rule_remove(dir: DirOpt, kinds: KindsOpt, to: ToOpt = "*") -> None:
    """Remove a standing rule (as added: same --kinds and --to); what it queued stays queued."""
    from accord.federation import remove_rule

    remove_rule(open_node(dir), kinds, to)
    typer.echo(f"removed rule: {kinds} → {to}")
