"""``accord demo``: three nodes, two agreements, items shared and refused, ledgers verified.

Thin over :func:`accord.node.demo.run_demo`; prints a summary table (or ``--json``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.output import print_table
from accord.errors import ConfigError


def demo(dir: Annotated[Optional[Path], typer.Option("--dir", help="where to create the nodes "
                                                     "(default: a new temporary directory)")] = None,
         json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Run the trust-core demo: JPN, KOR, USA nodes; agreements; items shared and refused; ledgers verified."""
    from accord.node.demo import run_demo

    if dir is None:
        dir = Path(tempfile.mkdtemp(prefix="accord-demo-"))
    elif dir.exists() and any(dir.iterdir()):
        raise ConfigError(f"{dir}: not empty; give a new or empty directory for the demo nodes")
    t0 = time.perf_counter()
    result = run_demo(dir)
    elapsed = time.perf_counter() - t0
    if json_out:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    console = Console(soft_wrap=True)  # the tables: print_table (whole into a pipe, folded on a terminal)
    console.print(f"[bold]Accord demo[/] — nodes JPN, KOR, USA in {dir}; agreements "
                  "jpn-kor-bilateral (warning.* ≤ SECRET, intel.* ≤ CONFIDENTIAL) and trilateral-warning "
                  "(warning.alert, warning.prediction ≤ CONFIDENTIAL), signed by every party", highlight=False)
    t = Table(title="Exchanges (sender policy → sealed envelope → recipient verification + policy → store + ledger)")
    for col in ("#", "from → to", "kind", "marking", "outcome", "reason"):
        t.add_column(col, overflow="fold")
    for e in result.exchanges:
        style = {"delivered": "green", "refused by sender": "yellow"}.get(e.outcome, "red")
        t.add_row(e.step, f"{e.sender} → {e.recipient}", e.kind, e.marking, f"[{style}]{e.outcome}[/]", e.reason)
    print_table(console, t)
    n = Table(title="Ledgers (RFC 9162 Merkle logs, every entry and subtree hash recomputed)")
    for col in ("node", "items", "ledger size", "root (first 16 hex)", "verified", "events"):
        n.add_column(col, overflow="fold")
    for party, led in result.ledgers.items():
        n.add_row(party, str(led["items"]), str(led["size"]), led["root"][:16], "[green]yes[/]" if led["verified"] else "no",
                  ", ".join(f"{k} {v}" for k, v in sorted(led["events"].items())))
    print_table(console, n)
    delivered = sum(e.outcome == "delivered" for e in result.exchanges)
    console.print(f"{delivered} delivered, {len(result.exchanges) - delivered} refused or rejected, "
                  f"3 ledgers verified in {elapsed:.2f} s. Agreements: {dir}/*.yaml; nodes: {dir}/jpn, kor, usa "
                  f"(try `accord node show --dir {dir}/jpn`).", highlight=False)


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
