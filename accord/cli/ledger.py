"""``accord ledger``: the node's audit log — verify it, print its signed checkpoint, prove entries.

Thin over :class:`accord.store.ledger.Ledger` (opened through :class:`accord.node.Node`) and
:mod:`accord.core.checkpoint`.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from accord.cli.options import open_node
from accord.cli.output import literal, plain, plural, print_table
from accord.clock import add_seconds, to_rfc3339
from accord.core.files import replace_file

app = typer.Typer(help="The node's audit ledger: an RFC 9162 Merkle log with signed C2SP checkpoints.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)

DirOption = typer.Option(..., "--dir", help="The node directory (made by `accord node init`).")


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@app.command()
def verify(directory: Path = DirOption,
           quick: bool = typer.Option(False, "--quick", help="Check the ledger's own hashes only, not the "
                                      "database file and the stored items and agreements against it."),
           as_json: bool = typer.Option(False, "--json", help="Print the verified head (or the problems) as JSON.")
           ) -> None:
    """Verify the node: SQLite's integrity check, every leaf and subtree hash of the log, and every
    stored item, agreement and dialogue version against its ledger entry. Lists every problem
    found (what and where) and exits non-zero; ``--quick`` checks the ledger alone."""
    from accord.errors import NodeIntegrityError
    from accord.node.verify import verify_node
    from accord.store.base import unbounded

    with open_node(directory) as node:
        with Progress(TextColumn("verifying ledger"), BarColumn(),
                      TextColumn("{task.completed:,.0f}/{task.total:,.0f} hashes"),
                      console=Console(stderr=True), transient=True,
                      disable=as_json or not sys.stderr.isatty()) as progress:  # piped: no bar, no blank line
            task = progress.add_task("verify", total=1)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                with unbounded(node.conn):  # reads every row: longer than a request's statement deadline
                    result = verify_node(node, quick=quick, progress=report)
            except NodeIntegrityError as exc:
                if as_json:
                    typer.echo(json.dumps({"ok": False, "problems": [p.to_json() for p in exc.problems]}, indent=2))
                else:
                    for p in exc.problems:
                        console.print(plain(f"FAIL {p}"), highlight=False)
                raise
        head = result.head
        assert head is not None  # no problem found, so the ledger verified
        if as_json:
            typer.echo(json.dumps({"ok": True, "origin": head.origin, "tree_size": head.size,
                                   "root_hash": _b64(head.root_hash), "quick": quick, "checked": result.checked},
                                  indent=2))
            return
        console.print(f"ledger OK: {plural(head.size, 'entry', 'entries')}, every leaf and subtree hash recomputed", highlight=False)
        if not quick:
            pages = "SQLite integrity check passed; " if node.store.dialect == "sqlite" else ""
            console.print(f"database OK: {pages}stored rows match their ledger entries ("
                          + ", ".join(f"{what} {n}" for what, n in result.checked.items()) + ")", highlight=False)
        console.print(f"origin {head.origin}\nroot   {_b64(head.root_hash)}", highlight=False)


@app.command()
def checkpoint(directory: Path = DirOption) -> None:
    """Print the latest tree head as a C2SP checkpoint signed by this node (a signed note)."""
    with open_node(directory) as node:
        typer.echo(node.ledger.checkpoint(), nl=False)


@app.command()
def proof(directory: Path = DirOption,
          index: int = typer.Option(..., "--index", min=0, help="Leaf index of the entry to prove."),
          size: int = typer.Option(None, "--size", min=1, help="Tree size to prove against (default: current)."),
          as_json: bool = typer.Option(False, "--json", help="Print the proof as JSON.")) -> None:
    """Inclusion proof (RFC 9162 §2.1.3) of one entry; it is verified before it is printed."""
    with open_node(directory) as node:
        bundle = node.ledger.prove_inclusion(index, size)
        bundle.verify()
        entry = node.ledger.entry(index)
        if as_json:
            typer.echo(json.dumps({**bundle.to_json(), "origin": node.ledger.origin, "entry": entry.to_json()},
                                  indent=2))
            return
        console.print(f"entry {index} ({entry.type}, {to_rfc3339(entry.time)}) is in the tree of size "
                      f"{bundle.size}, root {_b64(bundle.root)}", highlight=False)
        console.print(f"leaf hash {_b64(bundle.leaf_hash)}", highlight=False)
        table = Table(title=f"inclusion proof: {plural(len(bundle.path), 'hash', 'hashes')} (verified)")
        table.add_column("#", justify="right")
        table.add_column("sibling hash (base64)")
        for i, h in enumerate(bundle.path):
            table.add_row(str(i), _b64(h))
        print_table(console, table)


@app.command()
def consistency(directory: Path = DirOption,
                old: int = typer.Option(..., "--old", min=1, help="The older tree size a partner has seen."),
                new: int = typer.Option(None, "--new", min=1, help="The newer tree size (default: current)."),
                as_json: bool = typer.Option(False, "--json", help="Print the proof as JSON.")) -> None:
    """Consistency proof (RFC 9162 §2.1.4) that the log at ``--old`` is a prefix of ``--new``."""
    from accord.core import merkle
    from accord.errors import InputError

    with open_node(directory) as node:
        ledger = node.ledger
        new_size = ledger.size if new is None else new
        # bad input, not a failed verification (exit 4): say which option is out of range
        if new_size > ledger.size:
            raise InputError(f"--new {new_size} is past the ledger's size {ledger.size}", field="new")
        if old > new_size:
            raise InputError(f"--old {old} is past the newer size {new_size} (need --old <= --new)", field="old")
        path = ledger.consistency_proof(old, new_size)
        old_root, new_root = ledger.root(old), ledger.root(new_size)
        merkle.verify_consistency(old, new_size, path, old_root, new_root)
        out: dict[str, Any] = {"origin": ledger.origin, "old_size": old, "old_root": _b64(old_root), "new_size": new_size,
               "new_root": _b64(new_root), "proof": [_b64(h) for h in path]}
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            return
        console.print(f"tree {old} ({out['old_root']}) is a prefix of tree {new_size} ({out['new_root']})",
                      highlight=False)
        for i, h in enumerate(out["proof"]):
            console.print(f"  {i:2d} {h}", highlight=False)


@app.command()
def show(directory: Path = DirOption,
         start: int = typer.Option(None, "--start", min=0, help="First entry (default: the last --limit)."),
         limit: int = typer.Option(20, "--limit", min=1, help="How many entries to list."),
         as_json: bool = typer.Option(False, "--json", help="Print the head and entries as JSON.")) -> None:
    """The log's head and its entries (newest last)."""
    with open_node(directory) as node:
        ledger = node.ledger
        head = ledger.checkpoint_body()
        first = max(0, head.size - limit) if start is None else start
        entries = ledger.entries(first, min(head.size, first + limit))
        if as_json:
            typer.echo(json.dumps({"origin": head.origin, "tree_size": head.size, "root_hash": _b64(head.root_hash),
                                   "entries": [e.to_json() for e in entries]}, indent=2))
            return
        table = Table(title=f"{literal(head.origin)}: {plural(head.size, 'entry', 'entries')}, root {_b64(head.root_hash)}")
        for col in ("#", "time", "type", "data"):
            table.add_column(col, justify="right" if col == "#" else "left", overflow="fold")
        for e in entries:
            table.add_row(str(e.index), e.time.strftime("%Y-%m-%d %H:%M:%S"), e.type,
                          plain(json.dumps(e.data, ensure_ascii=False, separators=(",", ":"))))
        print_table(console, table)


def _pinned_verifiers(node) -> list:
    """Every key this node trusts for checkpoints: each pinned partner's log key (type 0x01) and
    witness key (type 0x04), and its own."""
    from accord.core.checkpoint import COSIGNATURE_ALG, Verifier, origin_for

    keys = {node.party: node.identity.public_key}
    keys.update({p: partner.public_key for p, partner in node.partners().items()})
    out = []
    for party, key in keys.items():
        name = origin_for(party, key)
        out += [Verifier.from_key(name, key), Verifier.from_key(name, key, COSIGNATURE_ALG)]
    return out


def _read_note(path: Path) -> str:
    from accord.errors import InputError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read checkpoint: {exc}", source=str(path)) from None


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """A checkpoint that does not parse or verify is named in the error (the file at fault)."""
    from accord.errors import CheckpointError

    try:
        yield
    except CheckpointError as exc:
        raise type(exc)(f"{path}: {exc}") from None


@app.command("open")
def open_(directory: Path = DirOption,
          note_file: Path = typer.Argument(..., help="A signed checkpoint (C2SP signed note) file."),
          as_json: bool = typer.Option(False, "--json", help="Print the checkpoint and signers as JSON.")) -> None:
    """Verify a checkpoint's signatures against this node's pinned partner keys and show its head."""
    from accord.core.checkpoint import open_checkpoint

    with open_node(directory) as node:
        with _naming(note_file):
            cp, note = open_checkpoint(_read_note(note_file), _pinned_verifiers(node))
        signers: list[dict[str, Any]] = [{"name": s.name, "key_hash": s.key_hash.hex(), "cosigned_at": s.timestamp}
                   for s in note.verified]
        if as_json:
            typer.echo(json.dumps({"origin": cp.origin, "tree_size": cp.size, "root_hash": _b64(cp.root_hash),
                                   "verified_signatures": signers,
                                   "unverified_signatures": len(note.signatures) - len(signers)}, indent=2))
            return
        console.print(plain(f"{cp.origin}: tree size {cp.size}, root {_b64(cp.root_hash)}"), highlight=False)
        for s in signers:
            kind = (f"witness cosignature at {_cosigned_at(s['cosigned_at'])}"
                    if s["cosigned_at"] is not None else "log signature")
            console.print(plain(f"  verified  {s['name']}  ({kind})"), highlight=False)
        if len(note.signatures) > len(signers):
            console.print(f"  ignored   {len(note.signatures) - len(signers)} signature(s) from unknown keys")


def _cosigned_at(ts: int) -> str:
    """A witness's time as RFC 3339, or as Unix time past the year 9999: a cosignature may carry
    any time below 2**63 (C2SP tlog-cosignature), and fromtimestamp raised on one past 9999."""
    when = add_seconds(datetime(1970, 1, 1, tzinfo=UTC), ts)
    return f"{ts} (Unix time, past the year 9999)" if when is None else to_rfc3339(when)


@app.command()
def cosign(directory: Path = DirOption,
           note_file: Path = typer.Argument(..., help="A partner's signed checkpoint file."),
           party: str = typer.Option(..., "--party", help="The partner whose log it is (its key must be pinned)."),
           out: Path = typer.Option(None, "--out", help="Write the cosigned note here (default: print it).")) -> None:
    """Witness a partner's checkpoint: verify its signature with the pinned key, add this node's
    C2SP tlog-cosignature/v1 (timestamped Ed25519) and print the note."""
    from accord.core.checkpoint import Checkpoint, Verifier, origin_for, parse_note
    from accord.core.checkpoint import cosign as add_cosignature
    from accord.errors import InputError, NotFoundError

    with open_node(directory) as node:
        if party == node.party:
            raise InputError(f"{party} is this node's own party: a partner witnesses a node's checkpoints, not the node")
        partners = node.partners()
        if party not in partners:
            raise NotFoundError(f"partner {party} is not pinned on this node (accord node partner add)")
        key = partners[party].public_key
        log = origin_for(party, key)
        text = _read_note(note_file)
        with _naming(note_file):
            origin = Checkpoint.parse(parse_note(text).text).origin
        owner = origin.split("/")[1] if origin.startswith("accord.node/") and origin.count("/") == 2 else None
        if owner is not None and owner != party:
            raise InputError(f"this checkpoint is {owner}'s log, not {party}'s: give --party {owner}",
                             source=str(note_file))
        with _naming(note_file):
            note = add_cosignature(text, node.identity, node.origin, time=node.clock.now(),
                                   log_verifiers=[Verifier.from_key(log, key)])
        if out is not None:
            replace_file(out, note.encode("utf-8"))
            size = Checkpoint.parse(parse_note(note).text).size
            typer.echo(f"{node.party} cosigned {party}'s checkpoint (tree size {size}); wrote {out}")
        else:
            typer.echo(note, nl=False)
