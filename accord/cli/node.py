"""``accord node …``: create a node, show its identity, pin partners, add and list items.

Thin over :class:`accord.node.Node`. Other areas add commands to :data:`app` (federation adds
``serve``, ``status``, ``sync`` …). The private key is never printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt, body_object
from accord.cli.output import plain, print_table, warn
from accord.core.files import replace_file
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.errors import InputError

app = typer.Typer(help="Node identity, partners and items.", no_args_is_help=True)
partner_app = typer.Typer(help="Pin partner nodes' public keys.", no_args_is_help=True)
item_app = typer.Typer(help="Create and list items on a node.", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
app.add_typer(item_app, name="item")

console = Console(soft_wrap=True)


def open_node(directory: Path):  # noqa: ANN201 - Node, imported lazily to keep `accord --help` fast
    from accord.node import Node

    return Node.open(directory)


@app.command("init")
def init(party: Annotated[str, typer.Option("--party", help="ISO 3166-1 alpha-3 code, e.g. JPN")],
         dir: Annotated[Path, typer.Option("--dir", help="the node directory to make: a new or empty one "
                                                         "(the other commands take it as their --dir)")],
         name: Annotated[Optional[str], typer.Option("--name", help="display name")] = None,
         store: Annotated[Optional[str], typer.Option(
             "--store", help="keep the node's state in PostgreSQL: postgresql://user@host:port/database "
                             "(no password in the URL: ~/.pgpass or PGPASSWORD); default SQLite in DIR")] = None
         ) -> None:
    """Create a node directory: Ed25519 key (0600), node.yaml, accord.db (WAL) or --store's database."""
    from accord.node import Node

    node = Node.init(dir, party, name=name, store=store)
    console.print(plain(f"created node {node.party} in {node.dir}"), highlight=False)
    console.print(f"fingerprint   {node.fingerprint}", highlight=False)
    console.print(f"public key    {node.identity.public_b64}", highlight=False)
    console.print(f"verifier key  {node.verifier_key}", highlight=False)
    console.print(f"partners pin it with: accord node partner add --party {node.party} "
                  f"--key {node.identity.public_b64} --dir <their node>", highlight=False)


@app.command("migrate")
def migrate_cmd(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Bring every part's tables to this version of Accord (versioned steps, each all or nothing)."""
    from accord.console.sessions import ensure_sessions
    from accord.node.schema import migrate_node

    node = open_node(dir)
    try:
        result = migrate_node(node, [ensure_sessions])
    finally:
        node.close()
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("part", "was", "now", title=f"schema of {result['store']}")
    for part, (was, now) in sorted(result["parts"].items()):
        table.add_row(part, str(was), str(now))
    print_table(console, table)


@app.command("show")
def show(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Print the node's party, key fingerprint, public key, signed-note verifier key and partners."""
    info = open_node(dir).info()
    if json_out:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for k in ("party", "name", "dir", "created", "fingerprint", "public_key", "verifier_key", "ledger_origin",
              "ledger_size", "items"):
        console.print(plain(f"{k:<14}{info[k]}"), highlight=False)
    console.print(f"{'agreements':<14}{', '.join(info['agreements']) or '(none)'}", highlight=False)
    for p, v in info["partners"].items():
        console.print(plain(f"{'partner':<14}{p}  {v['fingerprint']}  {v['url'] or ''}"), highlight=False)


@partner_app.command("add")
def partner_add(dir: DirOpt, party: Annotated[str, typer.Option("--party", help="partner party code")],
                key: Annotated[str, typer.Option("--key", help="partner's base64 Ed25519 public key")],
                url: Annotated[Optional[str], typer.Option("--url", help="partner base URL")] = None,
                replace: Annotated[bool, typer.Option("--replace", help="re-pin a different key")] = False,
                insecure: Annotated[bool, typer.Option("--insecure", help="accept a plain http:// URL to a host "
                                                       "other than loopback (warned, recorded in the ledger)")]
                = False,
                max_items: Annotated[Optional[int], typer.Option(
                    "--max-items-per-hour", help="envelopes this node takes from the partner per hour "
                    "(0: unlimited; default 1,000,000, or what its entry has)")] = None,
                max_bytes: Annotated[Optional[int], typer.Option(
                    "--max-bytes-per-hour", help="bytes of envelopes this node takes from the partner per hour "
                    "(0: unlimited; default 1 GiB, or what its entry has)")] = None) -> None:
    """Pin a partner's public key (check its fingerprint with the partner out of band). A pin that
    changes (a new party, a key replaced, a new URL) is ledgered as partner.added, a changed
    intake quota as partner.quota."""
    p = open_node(dir).add_partner(party, key, url, replace=replace, insecure=insecure,
                                   max_items_per_hour=max_items, max_bytes_per_hour=max_bytes)
    if p.insecure:
        warn(f"{p.party}'s URL {p.url} is plain HTTP off loopback: envelopes cross the network unencrypted "
             "(accepted with --insecure; recorded in the ledger as insecure.http)")
    console.print(plain(f"pinned {p.party} {p.fingerprint}" + (f" at {p.url}" if p.url else "")), highlight=False)


@partner_app.command("remove")
def partner_remove(dir: DirOpt, party: Annotated[str, typer.Option("--party", help="partner party code")],
                   json_out: JsonOpt = False) -> None:
    """Unpin a partner (ledgered): its key and the standing rules naming it are removed, its
    tokens revoked; its undelivered queue is held (delivered in order if it is pinned again).
    If a removal was interrupted, running this again completes it."""
    from accord.federation import remove_partner

    out = remove_partner(open_node(dir), party)
    if json_out:
        typer.echo(json.dumps(out, indent=2))
        return
    what = (f"{out['rules_removed']} standing rule(s) deleted, {len(out['tokens_revoked'])} token(s) revoked, "
            f"{out['queue_held']} queued envelope(s) held")
    key = out["fingerprint"] or "(no longer pinned)"
    if out.get("resumed"):
        console.print(f"removed {party} {key}: completed the interrupted removal (ledgered then: {what})",
                      highlight=False)
    else:
        console.print(f"removed {party} {key}: {what}", highlight=False)


@partner_app.command("reset-head")
def partner_reset_head(dir: DirOpt, party: Annotated[str, typer.Option("--party", help="partner party code")],
                       reason: Annotated[str, typer.Option("--reason", help="why the partner is trusted again "
                                                           "(recorded in the ledger)")],
                       json_out: JsonOpt = False) -> None:
    """Trust a partner's ledger again after an inconsistency was investigated: forget its last
    verified tree head and clear the flag; the next head becomes the baseline (ledgered)."""
    from accord.federation.treeheads import reset_partner_head

    out = reset_partner_head(open_node(dir), party, reason)
    if json_out:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    was = f"flagged: {out['was_inconsistent']}" if out["was_inconsistent"] else "not flagged"
    console.print(plain(f"reset the head of {party} (was size {out['old_size']}, {was}); the next head "
                        "fetched becomes the baseline"), highlight=False)


@partner_app.command("list")
def partner_list(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """List pinned partners."""
    partners = open_node(dir).partners()
    if json_out:
        typer.echo(json.dumps([p.to_json() for p in partners.values()], indent=2))
        return
    t = Table("party", "fingerprint", "url", "intake quota an hour")
    for p in partners.values():
        t.add_row(p.party, p.fingerprint[:23] + "…", plain(p.url or ""), _quota_text(p))
    print_table(console, t)


def _quota_text(partner: Any) -> str:
    """A partner's intake quota as ``partner list`` says it (an ``accord.node.Partner``): its own,
    or the defaults'."""
    from accord.federation import quota  # lazily, as the node itself: `accord --help` stays fast

    items, size = partner.max_items_per_hour, partner.max_bytes_per_hour
    said = ("unlimited" if n == 0 else f"{n:,} {unit}" for n, unit in
            ((quota.DEFAULT_MAX_ITEMS if items is None else items, "envelopes"),
             (quota.DEFAULT_MAX_BYTES if size is None else size, "bytes")))
    default = " (default)" if items is None and size is None else ""
    return ", ".join(said) + default


@item_app.command("add")
def item_add(dir: DirOpt, kind: Annotated[str, typer.Option("--kind", help="e.g. warning.track")],
             marking: Annotated[str, typer.Option("--marking", help="banner, e.g. 'SECRET//REL TO JPN, KOR'")],
             body: Annotated[str, typer.Option("--body", help="JSON object, or @FILE")] = "{}",
             out: Annotated[Optional[Path], typer.Option("--out", help="also write the item JSON here")] = None,
             json_out: JsonOpt = False) -> None:
    """Create an item originated by this node, store it (ledger item.created) and print its id."""
    node = open_node(dir)
    data = body_object(body)
    if out is not None and (out.is_dir() or not out.parent.is_dir()):  # refused before the item is stored
        raise InputError("is a directory" if out.is_dir() else f"no directory {str(out.parent)!r} to write into",
                         source=str(out), field="out")
    item = node.put_item(new_item(kind, data, Marking.parse(marking), node.party, node.clock.now()))
    if out is not None:
        replace_file(out, (json.dumps(item.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    if json_out:
        typer.echo(json.dumps(item.to_json(), indent=2, ensure_ascii=False))
    else:
        console.print(plain(f"{item.id}  {item.marking}  digest {item.digest()[:16]}…"), highlight=False)


@item_app.command("list")
def item_list(dir: DirOpt, kind: Annotated[Optional[str], typer.Option("--kind", help="only items of this kind, e.g. warning.track")] = None,
              json_out: JsonOpt = False) -> None:
    """List stored items (own and received)."""
    items = open_node(dir).items(kind)
    if json_out:
        typer.echo(json.dumps([i.to_json() for i in items], indent=2, ensure_ascii=False))
        return
    t = Table("id", "kind", "originator", "marking", "created")
    for i in items:
        t.add_row(plain(i.id), i.kind, i.originator, plain(i.marking), i.created_text())
    print_table(console, t)
