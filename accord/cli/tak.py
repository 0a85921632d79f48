"""``accord tak send`` and ``accord node tak add|list|remove|run``: Accord's picture on TAK
servers (thin over :mod:`accord.tak`; docs/tak.md)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt
from accord.cli.output import plain, plural, print_table
from accord.errors import AccordError

app = typer.Typer(help="TAK interop: send the warning picture to TAK servers as Cursor on Target.",
                  no_args_is_help=True)
node_app = typer.Typer(help="A node's standing TAK destinations (sent under policy, ledgered).",
                       no_args_is_help=True)
console = Console(soft_wrap=True)

ServerOpt = Annotated[str, typer.Option("--server", help="tcp://HOST:PORT or tls://HOST:PORT")]
TlsOpt = Annotated[bool, typer.Option("--tls", help="TLS even with a tcp:// address")]
CertOpt = Annotated[Optional[Path], typer.Option("--cert", help="client certificate (PEM) for TLS")]
KeyOpt = Annotated[Optional[Path], typer.Option("--key", help="client private key (PEM) for TLS")]
CaOpt = Annotated[Optional[Path], typer.Option("--ca", help="CA certificate that signed the server's (PEM)")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="allow plain TCP to a host that is not loopback")]


def _server(server: str, tls: bool, cert: Optional[Path], key: Optional[Path], ca: Optional[Path],
            insecure: bool):  # noqa: ANN202 - TakServer, imported lazily
    from accord.tak.client import TakServer

    parsed = TakServer.parse(server, tls=tls, cert=cert, key=key, ca=ca, insecure=insecure)
    parsed.ssl_context()  # PEM files that do not load are refused now, not at every connection attempt
    return parsed


@app.command("send")
def send(
    directory: Annotated[Path, typer.Argument(help="output of `accord warning track` / `warning alerts`, or a "
                                                   "scenario directory (tracked first)")],
    server: ServerOpt,
    marking: Annotated[str, typer.Option("--marking", help="marking carried by every event, e.g. "
                                                           "'UNCLASSIFIED//REL TO JPN, KOR'")],
    party: Annotated[Optional[str], typer.Option("--party", help="whose picture (default: the alerts' party)")]
    = None,
    speed: Annotated[float, typer.Option("--speed", help="times real time")] = 1.0,
    stale: Annotated[Optional[float], typer.Option("--stale", help="seconds an event stays on a client "
                                                                   "after its last update (default max(10, 5/speed))")]
    = None,
    tls: TlsOpt = False, cert: CertOpt = None, key: KeyOpt = None, ca: CaOpt = None, insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Send a warning picture to a TAK server as a timed CoT stream, restamped to now."""
    from accord.core.markings import Marking
    from accord.tak.replay import load_picture, report_json, send_picture

    mk = str(Marking.parse(marking))
    target = _server(server, tls, cert, key, ca, insecure)
    picture = load_picture(directory, party=party.upper() if party else None)
    report = asyncio.run(send_picture(picture, target, marking=mk, speed=speed, stale_s=stale))
    doc = report_json(report, target, picture)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    kinds = ", ".join(f"{n:,} {t}" for t, n in doc["by_type"].items())
    console.print(plain(f"sent {plural(doc['events'], 'CoT event')} ({kinds}) in {plural(doc['frames'], 'update')} "
                        f"to {doc['server']} in {doc['seconds']:.1f} s"), highlight=False)


@node_app.command("add")
def add(
    directory: DirOpt, server: ServerOpt,
    party: Annotated[str, typer.Option("--party", help="the party whose recipient the server is treated as")],
    kinds: Annotated[list[str], typer.Option("--kinds", help="item kinds to send (fnmatch, repeatable)")],
    name: Annotated[Optional[str], typer.Option("--name", help="destination name (default: the party)")] = None,
    max_classification: Annotated[Optional[str], typer.Option(
        "--max-classification", help="send nothing above this classification")] = None,
    stale: Annotated[float, typer.Option("--stale", help="seconds an event stays after its last update")] = 10.0,
    accept: Annotated[Optional[list[str]], typer.Option(
        "--accept", help="CoT type (fnmatch) taken back in as a warning.report item (repeatable)")] = None,
    report_marking: Annotated[Optional[str], typer.Option(
        "--report-marking", help="marking of the reports taken in")] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="also send the items the node holds now")] = False,
    tls: TlsOpt = False, cert: CertOpt = None, key: KeyOpt = None, ca: CaOpt = None, insecure: InsecureOpt = False,
) -> None:
    """Keep a TAK server as a standing destination of this node."""
    from accord.core.markings import Classification
    from accord.node import Node
    from accord.tak.destination import Destination, add_destination

    party = party.upper()
    target = _server(server, tls, cert, key, ca, insecure)
    ceiling = Classification.parse(max_classification) if max_classification else None
    with Node.open(directory) as node:
        d = add_destination(node, Destination(name or party, target, party, tuple(kinds), ceiling, stale,
                                              tuple(accept or ()), report_marking), from_start=from_start)
    console.print(plain(f"TAK destination {d.name}: {d.server.url} as {d.party}'s recipient, kinds "
                        f"{', '.join(d.kinds)}; run it with `accord node tak run --dir {directory}`"), highlight=False)


@node_app.command("list")
def list_(directory: DirOpt, as_json: JsonOpt = False) -> None:
    """List this node's TAK destinations."""
    from accord.node import Node
    from accord.tak.destination import destinations

    with Node.open(directory) as node:
        rows = [d.to_json() for d in destinations(node)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="TAK destinations")
    for col in ("name", "server", "party", "kinds", "ceiling", "accept"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(plain(r["name"]), plain(r["server"]), r["party"], plain(" ".join(r["kinds"])),
                      r["max_classification"] or "—", plain(" ".join(r["accept"]) or "—"))
    print_table(console, table)


@node_app.command("remove")
def remove(directory: DirOpt, name: Annotated[str, typer.Option("--name", help="destination name")]) -> None:
    """Stop sending to a TAK destination (its sends stay in the ledger)."""
    from accord.node import Node
    from accord.tak.destination import remove_destination

    with Node.open(directory) as node:
        remove_destination(node, name)
    console.print(plain(f"removed TAK destination {name}"), highlight=False)


@node_app.command("run")
def run(directory: DirOpt,
        name: Annotated[Optional[str], typer.Option("--name", help="only this destination")] = None,
        duration: Annotated[Optional[float], typer.Option("--duration", help="stop after this many seconds")] = None,
        ) -> None:
    """Follow the node's new items to its TAK destinations until interrupted (beside `node serve`)."""
    from accord.logs import configure
    from accord.node import Node
    from accord.tak.destination import destinations
    from accord.tak.follower import Follower

    configure("info", "text")
    with Node.open(directory) as node:
        names = [name] if name else [d.name for d in destinations(node)]
        if not names:
            raise AccordError(f"{directory}: no TAK destinations to follow (add one with `accord node tak add`)")
        followers = [Follower(node, n) for n in names]

        def stop_all() -> None:
            for f in followers:
                f.stop()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop_all)
            if duration is not None:
                loop.call_later(duration, stop_all)
            await asyncio.gather(*(f.run() for f in followers))

        asyncio.run(main())
        for f in followers:
            s = f.stats
            console.print(plain(f"{f.dest.name}: {plural(s.items_sent, 'item')} sent ({plural(s.events_sent, 'event')}), "
                                f"{s.denied} denied by policy, {plural(s.reports, 'report')} taken in, "
                                f"{plural(s.refused, 'event')} refused"), highlight=False)


def register(root: typer.Typer) -> None:
    """``accord tak`` is added by main (``app``); ``accord node tak`` here."""
    for group in root.registered_groups:
        if group.name == "node" and group.typer_instance is not None:
            group.typer_instance.add_typer(node_app, name="tak")
            return
