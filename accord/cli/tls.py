"""CLI for TLS: ``accord node tls init|pin`` (the node API's certificate, partners' pinned
certificates).

Added to ``accord node`` by :func:`accord.cli.federation.register`; thin over
:mod:`accord.api.tls`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from accord.cli.options import DirOpt, open_node

if TYPE_CHECKING:
    pass


app = typer.Typer(help="TLS certificate of the node's API, and partners' pinned certificates.",
                  no_args_is_help=True)


@app.command("init")
def tls_init(dir: DirOpt, name: Annotated[Optional[list[str]], typer.Option(help="extra DNS name or IP")] = None) -> None:
    """Make a self-signed certificate (DIR/tls/cert.pem) and print its fingerprint."""
    from accord.api.tls import make_self_signed

    node = open_node(dir)
    fp = make_self_signed(dir, node.party, names=name or [])
    typer.echo(f"certificate: {Path(dir) / 'tls' / 'cert.pem'}")
    typer.echo(f"fingerprint: {fp}")


@app.command("pin")
def tls_pin(dir: DirOpt, party: Annotated[str, typer.Option(help="partner party")],
            cert: Annotated[Path, typer.Option(help="the partner's cert.pem")],
            fingerprint: Annotated[Optional[str], typer.Option(help="expected SHA256:… fingerprint")] = None) -> None:
    """Pin a partner's TLS certificate (checked against its fingerprint)."""
    from accord.api.tls import pin_partner_cert

    typer.echo(f"pinned {party}: {pin_partner_cert(dir, party, cert, fingerprint)}")
