"""CLI for the node API's tokens: ``accord node token create|list|revoke``.

Added to ``accord node`` by :func:`accord.cli.federation.register`; thin over
:mod:`accord.federation.tokens` and :mod:`accord.api.deps`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt, open_node
from accord.cli.output import print_table, warn

if TYPE_CHECKING:
    pass


console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


app = typer.Typer(help="API tokens for the node's users (stored hashed).", no_args_is_help=True)


@app.command("create")
def token_create(dir: DirOpt, name: Annotated[str, typer.Option(help="a label for the token")],
                 scope: Annotated[list[str], typer.Option(help="scope (repeat): items:read, items:write, "
                                                         "share, status, taxii:read, admin …")],
                 party: Annotated[str | None, typer.Option(
                     help="the user's party (default: the node's); a partner's token is refused by "
                          "the user API and sees, in the console and over TAXII, only what is "
                          "releasable to its party")] = None) -> None:
    """Create a token; the secret is printed once and never stored.

    The secret alone goes to stdout (``TOKEN=$(accord node token create …)``); how to use it goes
    to stderr.
    """
    from accord.federation.tokens import checked_scopes, create_token

    node = open_node(dir)
    secret = create_token(node.conn, name, party or node.party, checked_scopes(scope))
    typer.echo(secret)
    from accord.api.serve import last_url

    served = last_url(dir)
    example = next((_EXAMPLE_REQUEST[s] for s in scope if s in _EXAMPLE_REQUEST), _EXAMPLE_REQUEST["status"])
    where = (f"(last served on {served} by `accord node serve`), e.g.:" if served else
             ", at the URL `accord node serve` prints; an example with its defaults (127.0.0.1, --port 8600):")
    Console(stderr=True, soft_wrap=True, highlight=False).print(
        f"token {name!r} for {party or node.party} ({' '.join(sorted(set(scope)))}): the secret is printed once, on stdout; "
        f"the node keeps only its SHA-256.\nSend it as a bearer token to the node's API {where}\n"
        f"  curl -H \"Authorization: Bearer $TOKEN\" {example.replace(_DEFAULT_URL, served or _DEFAULT_URL)}",
        markup=False)
    if party is not None and party != node.party and party not in node.partners():
        warn(f"{party} is not a pinned partner of {node.party} (a typo?): the token is made for {party} all the "
             f"same, and sees only what is releasable to {party}")


#: A request each scope allows, for the hint `token create` prints (the API: docs/federation.md).
_JSON = "-H 'Content-Type: application/json' -d"
_DEFAULT_URL = "http://127.0.0.1:8600"
_EXAMPLE_REQUEST = {
    "items:read": "http://127.0.0.1:8600/api/v1/items", "status": "http://127.0.0.1:8600/api/v1/status",
    "admin": "http://127.0.0.1:8600/api/v1/status", "metrics": "http://127.0.0.1:8600/metrics",
    "items:write": f"""{_JSON} '{{"kind": "test.note", "marking": "UNCLASSIFIED", "body": {{}}}}' """
                   "http://127.0.0.1:8600/api/v1/items",
    "share": f"""{_JSON} '{{"item_id": "<item id>", "to": "<party>"}}' http://127.0.0.1:8600/api/v1/share""",
    "dialogue:read": "http://127.0.0.1:8600/api/v1/dialogue/commitments",
    "dialogue:write": "http://127.0.0.1:8600/api/v1/dialogue/series",
    "taxii:read": "http://127.0.0.1:8600/taxii2/", "taxii:write": "http://127.0.0.1:8600/taxii2/",
}


@app.command("list")
def token_list(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """List tokens (names and scopes only)."""
    from accord.api.deps import list_tokens

    tokens = list_tokens(open_node(dir).conn)
    if json_out:
        typer.echo(json.dumps([{"name": t.name, "party": t.party, "scopes": list(t.scopes),
                                "created": t.created, "revoked": t.revoked} for t in tokens], indent=2))
        return
    t = Table("name", "party", "scopes", "created", "revoked")
    for tok in tokens:
        t.add_row(tok.name, tok.party, " ".join(tok.scopes), tok.created, "yes" if tok.revoked else "")
    print_table(console, t)


@app.command("revoke")
def token_revoke(dir: DirOpt, name: Annotated[str, typer.Option(help="token label")]) -> None:
    """Revoke a token."""
    from accord.api.deps import revoke_token

    revoke_token(open_node(dir).conn, name)
    typer.echo(f"revoked {name}")
