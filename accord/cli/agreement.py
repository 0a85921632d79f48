"""``accord agreement create|sign|verify|show|add|list``: thin over :mod:`accord.core.agreements`."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt, open_node
from accord.cli.output import literal, plain, print_table
from accord.clock import SystemClock, parse_rfc3339, to_rfc3339
from accord.core.agreements import (Agreement, agreement_problems, load_agreement, new_agreement,
                                    sign_agreement)
from accord.core.files import follow_links
from accord.core.identity import fingerprint
from accord.core.parties import party_problem
from accord.errors import AgreementError, InputError

app = typer.Typer(help="Sharing agreements: create, sign, verify, show, add to a node.", no_args_is_help=True)
console = Console(soft_wrap=True)
AgreementFile = Annotated[Path, typer.Argument(help="agreement YAML file (as `agreement create` writes it)")]
_RULE = re.compile(r"(?P<a>[A-Z]{3})(?P<dir>->|<->)(?P<b>[A-Z]{3}):(?P<kinds>[^:]+):(?P<level>[A-Z_ ]+)")


def parse_rule(text: str) -> list[tuple[str, str, list[str], str]]:
    """``JPN->KOR:warning.*,intel.*:SECRET`` (one way) or ``JPN<->KOR:…`` (both ways)."""
    m = _RULE.fullmatch(text.strip())
    if not m:
        raise InputError(f"rule {text!r} is not FROM->TO:KIND[,KIND…]:LEVEL (or FROM<->TO:…), "
                         "e.g. 'JPN->KOR:warning.*:SECRET'", field="rule")
    for code in (m["a"], m["b"]):
        problem = party_problem(code, what="rule party")
        if problem is not None:
            raise InputError(f"rule {text!r}: {problem}", field="rule")
    kinds = [k.strip() for k in m["kinds"].split(",")]
    rules = [(m["a"], m["b"], kinds, m["level"])]
    if m["dir"] == "<->":
        rules.append((m["b"], m["a"], kinds, m["level"]))
    return rules


@app.command("create")
def create(dir: DirOpt, agreement_id: Annotated[str, typer.Option("--id", help="agreement id")],
           party: Annotated[list[str], typer.Option("--party", help="another party (repeat; the node's own is always one); keys come from the node's pins")],
           rule: Annotated[list[str], typer.Option("--rule", help="FROM->TO:KINDS:LEVEL or FROM<->TO:KINDS:LEVEL (repeat)")],
           out: Annotated[Path, typer.Option("--out", help="agreement YAML file to write")],
           valid_from: Annotated[Optional[str], typer.Option(help="RFC 3339 (default: now)")] = None,
           valid_until: Annotated[Optional[str], typer.Option(help="RFC 3339 (default: one year after valid-from)")] = None,
           title: Annotated[str, typer.Option(help="human title")] = "",
           version: Annotated[int, typer.Option(help="version (raise it to change an agreement)")] = 1) -> None:
    """Write a new, unsigned agreement between this node and the named (pinned) partners."""
    rules = [r for text in rule for r in parse_rule(text)]
    start, end = _window(valid_from, valid_until)
    node = open_node(dir)
    keys = {node.party: node.identity.public_key}
    for p in party:
        problem = party_problem(p)
        if problem is not None:
            raise InputError(problem, field="party")
        if p == node.party:  # the node is always a party; naming it too changes nothing
            continue
        if p not in node.partners():
            raise InputError(f"{p} is not a pinned partner of {node.party} (accord node partner add)", field="party")
        keys[p] = node.partners()[p].public_key
    a = new_agreement(agreement_id, list(keys), keys, rules, start, end, version=version, title=title)
    if out.exists():
        raise InputError("file exists; refusing to overwrite it (an agreement file may hold parties' signatures): "
                         "give another --out, or remove the file first", source=str(out))
    a.save(out)
    console.print(plain(f"wrote {out}: {a.id} v{a.version}, parties {', '.join(a.parties)}, {len(a.rules)} rule(s); "
                        f"unsigned — each party runs `accord agreement sign {out} --dir <its node>`"), highlight=False)


def _window(valid_from: str | None, valid_until: str | None) -> tuple[datetime, datetime]:
    """``--valid-from`` and ``--valid-until`` (defaults: now, a year on), refused in one line
    naming the flags when the window is empty (the agreement's own check names its field)."""
    start = parse_rfc3339(valid_from, field="valid-from") if valid_from else SystemClock().now()
    end = parse_rfc3339(valid_until, field="valid-until") if valid_until else start + timedelta(days=365)
    # compared as written to the file (milliseconds; the same width, so the text orders as time)
    start_text, end_text = to_rfc3339(start), to_rfc3339(end)
    if end_text <= start_text:
        since = f"--valid-from ({valid_from})" if valid_from else f"--valid-from (not given: now, {start_text})"
        how = "is before" if end_text < start_text else "is the same instant as"
        raise InputError(f"--valid-until ({valid_until}) {how} {since}: an agreement is in force from "
                         "--valid-from up to, not including, --valid-until")
    return start, end


@app.command("sign")
def sign(file: AgreementFile, dir: DirOpt) -> None:
    """Add this node's signature to the agreement file (in place)."""
    node = open_node(dir)
    # the file read is the file written back: its links resolved once, before it is read, and
    # the entry replaced as it is then (a link swapped in once it was read is not followed)
    target = follow_links(file)
    path = file if Path(os.path.abspath(file)) == target else target
    a = sign_agreement(load_agreement(path), node.identity)
    a.save(path, follow=False)
    missing = [p for p in a.parties if a.signature_of(p) is None]
    console.print(f"{node.party} signed {a.id} v{a.version}; " +
                  (f"still missing: {', '.join(missing)}" if missing else "signed by every party"), highlight=False)


@app.command("verify")
def verify(file: AgreementFile, dir: DirOpt,
           at: Annotated[Optional[str], typer.Option(help="check at this RFC 3339 time (default now)")] = None) -> None:
    """Check that every party signed this exact agreement under its pinned key and it is in force."""
    node = open_node(dir)
    a = load_agreement(file)
    now = parse_rfc3339(at, field="at") if at else SystemClock().now()
    problems = agreement_problems(a, node.pinned_keys(), now)
    if problems:
        err = AgreementError(f"{file}: {a.id} v{a.version} is NOT in force: " + "; ".join(problems))
        raise err
    console.print(plain(f"{file}: {a.id} v{a.version} is in force at {to_rfc3339(now)} "
                        f"(signed by {', '.join(a.parties)} under their pinned keys)"), highlight=False)


def _describe(a: Agreement) -> dict:
    d = a.to_json()
    d["fingerprints"] = {p: fingerprint(a.public_key(p)) for p in a.parties}
    d["missing_signatures"] = [p for p in a.parties if a.signature_of(p) is None]
    return d


@app.command("show")
def show(file: AgreementFile, json_out: JsonOpt = False) -> None:
    """Print an agreement: parties, keys, window, rules, signatures present."""
    a = load_agreement(file)
    if json_out:
        typer.echo(json.dumps(_describe(a), indent=2, ensure_ascii=False))
        return
    console.print(f"[bold]{a.id}[/] v{a.version}  {literal(a.title)}", highlight=False)
    console.print(f"valid {to_rfc3339(a.valid_from)} → {to_rfc3339(a.valid_until)}", highlight=False)
    t = Table("party", "key fingerprint", "signed")
    for p in a.parties:
        t.add_row(p, fingerprint(a.public_key(p))[:23] + "…", "yes" if a.signature_of(p) else "[red]no[/]")
    print_table(console, t)
    r = Table("from", "to", "kinds", "max classification")
    for rule in a.rules:
        r.add_row(rule.from_party, rule.to_party, plain(", ".join(rule.kinds)), rule.max_classification.banner)
    print_table(console, r)


@app.command("add")
def add(file: AgreementFile, dir: DirOpt) -> None:
    """Verify the agreement against the node's pins and store it (ledger agreement.added)."""
    node = open_node(dir)
    a = load_agreement(file)
    outcome = node.add_agreement(a)
    console.print(f"{node.party}: agreement {a.id} v{a.version} {outcome}", highlight=False)


@app.command("list")
def list_(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Agreements stored on the node, with whether each is in force now."""
    node = open_node(dir)
    now = node.clock.now()
    rows: list[dict[str, Any]] = [{"id": a.id, "version": a.version, "parties": list(a.parties),
             "valid_from": to_rfc3339(a.valid_from), "valid_until": to_rfc3339(a.valid_until),
             "problems": agreement_problems(a, node.pinned_keys(), now)} for a in node.agreements()]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table("id", "version", "parties", "valid until", "in force")
    for r in rows:
        t.add_row(r["id"], str(r["version"]), ", ".join(r["parties"]), r["valid_until"],
                  "yes" if not r["problems"] else "[red]no[/]: " + literal("; ".join(r["problems"])))
    print_table(console, t)
