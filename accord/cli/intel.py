"""``accord intel …``: STIX collections, import and export — thin over :mod:`accord.intel`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt
from accord.cli.output import noun_for, plain, plural, print_table
from accord.core.files import replace_file

if TYPE_CHECKING:
    from accord.node import Node

app = typer.Typer(help="STIX 2.1 intelligence: TAXII collections, import, export.", no_args_is_help=True)

# collection ids are 36 characters: give tables room when the output is not a terminal
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _store(directory: Path):  # noqa: ANN202 - IntelStore, imported lazily to keep --help fast
    from accord.intel.node_store import store_for
    from accord.node import Node

    return store_for(Node.open(directory))


@app.command("add-collection")
def add_collection(title: Annotated[str, typer.Argument(help="collection title")], dir: DirOpt,
                   alias: Annotated[Optional[str], typer.Option("--alias", help="short name usable in URLs")] = None,
                   description: Annotated[Optional[str], typer.Option("--description", help="free text shown with the collection")] = None,
                   shared: Annotated[bool, typer.Option("--shared", help="share new objects with partners as policy allows")] = False,
                   rel_to: Annotated[str, typer.Option("--rel-to", help="default REL TO for objects without an Accord marking, e.g. KOR,USA")] = "",
                   strict: Annotated[bool, typer.Option("--strict", help="validate adds with stix2 (slower)")] = False,
                   json_out: JsonOpt = False) -> None:
    """Create a TAXII collection on the node."""
    coll = _store(dir).add_collection(title, alias=alias, description=description, shared=shared,
                                      rel_to=[p.strip() for p in rel_to.split(",") if p.strip()], strict=strict)
    if json_out:
        typer.echo(json.dumps(coll.to_json(), indent=2))
    else:
        # plain: ' [shared]' (and any [...] in a title) is text, not a Rich style tag
        console.print(plain(f"collection {coll.id} ({coll.alias or 'no alias'}): {coll.title}"
                            f"{' [shared]' if coll.shared else ''}"), highlight=False)


@app.command("collections")
def collections(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """List the node's TAXII collections with their object-version counts."""
    store = _store(dir)
    rows = [{**c.to_json(), "versions": store.count(c.id)} for c in store.collections()]
    if json_out:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "alias", "title", "shared", "REL TO", "versions")
    table.columns[0].no_wrap = True
    for r in rows:
        table.add_row(r["id"], plain(r["alias"] or ""), plain(r["title"]), "yes" if r["shared"] else "no",
                      plain(", ".join(r["rel_to"]) or "-"), str(r["versions"]))
    print_table(console, table)


@app.command("import")
def import_(bundle: Annotated[Path, typer.Argument(help="STIX 2.1 bundle (JSON)")], dir: DirOpt,
            collection: Annotated[Optional[str], typer.Option("--collection", help="collection id or alias (default: 'imports')")] = None,
            strict: Annotated[bool, typer.Option("--strict", help="also run stix2-validator's MUST checks")] = False,
            skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="store the valid objects, skip the "
                                                       "invalid ones, list them with reasons in a report file and "
                                                       "exit non-zero")] = False,
            report: Annotated[Optional[Path], typer.Option("--report", help="where --skip-invalid writes its report "
                                                           "(default: DIR/import-reports/BUNDLE-TIME.rejected.json)")] = None,
            json_out: JsonOpt = False) -> None:
    """Import a bundle: every object validated in full first; all stored, or nothing
    (with --skip-invalid: every valid object stored, each invalid one reported). The objects are
    the node's own: an id a partner's tool wrote first is the node's once imported."""
    from accord.errors import InvalidObjectsSkipped, StixValidationError
    from accord.intel.import_export import import_bundle, write_rejection_report

    if report is not None and not skip_invalid:
        from accord.errors import InputError
        raise InputError("--report is where --skip-invalid writes what it skipped; give --skip-invalid too",
                         field="report")
    store = _store(dir)
    try:
        with console.status(plain(f"validating and importing {bundle} …")):
            summary = import_bundle(store, bundle, collection=collection, strict=strict, skip_invalid=skip_invalid)
    except StixValidationError as exc:
        for f in exc.failures[:20]:
            Console(stderr=True).print(plain(f"  {f['message']}"), highlight=False, soft_wrap=True)
        if exc.count > min(20, len(exc.failures)):
            Console(stderr=True).print(f"  … and {exc.count - min(20, len(exc.failures))} more", highlight=False)
        raise
    # what was stored or found present: not the invalid objects skipped
    taken = summary["objects"] - summary.get("skipped", 0)
    written = None
    if summary.get("skipped"):
        stamp = store.clock.now().strftime("%Y%m%dT%H%M%SZ")
        written = write_rejection_report(summary, report or dir / "import-reports" / f"{bundle.stem}-{stamp}.rejected.json")
        summary = {**summary, "report": str(written)}
    if json_out:
        typer.echo(json.dumps({k: v for k, v in summary.items() if k != "rejected"}, indent=2))
    else:
        count = (f"{taken} of {summary['objects']}" if taken != summary["objects"] else str(summary["objects"]))
        console.print(plain(f"imported {count} {noun_for(summary['objects'], 'object')} from {bundle} into "
                            f"{summary['alias'] or summary['collection']}: "
                            f"{summary['stored']} new, {summary['already_present']} already present"), highlight=False)
        console.print(plain("  " + ", ".join(f"{t} {n}" for t, n in summary["types"].items())), highlight=False)
        if written is not None:
            console.print(plain(f"skipped {plural(summary['skipped'], 'invalid object')}; report: {written}"),
                          highlight=False)
    if written is not None:
        raise InvalidObjectsSkipped(
            f"{summary['skipped']} of {summary['objects']} object(s) were not valid STIX 2.1 and were skipped, "
            f"{taken} were stored; each skipped one is listed with its reason in {written}",
            [{"index": r["index"], "id": r["id"], "message": r["reason"]} for r in summary["rejected"]],
            source=str(bundle))


@app.command("export")
def export(dir: DirOpt,
           collection: Annotated[Optional[str], typer.Option("--collection", help="collection id or alias (default: all)")] = None,
           fmt: Annotated[str, typer.Option("--format", help="stix | acs | misp-distribution")] = "stix",
           for_party: Annotated[Optional[str], typer.Option("--for", help="export what this partner party may see (redacted)")] = None,
           output: Annotated[Optional[Path], typer.Option("--out", "--output", "-o", help="write to this file (default: stdout)")] = None) -> None:
    """Export the latest version of every object as a STIX bundle, ACS 3.0-marked bundle or MISP distribution list."""
    from accord.intel.import_export import export_bundle

    data = export_bundle(_store(dir), collection=collection, fmt=fmt, party=for_party)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        replace_file(output, (text + "\n").encode("utf-8"))
        count = len(data["objects"])
        console.print(plain(f"wrote {plural(count, 'object')} ({fmt}) to {output}"), highlight=False)


@app.command("token")
def token(dir: DirOpt,
          name: Annotated[str, typer.Option("--name", help="a label for the token")],
          party: Annotated[Optional[str], typer.Option("--party", help="the user's party (default: the node's); a partner's analysts read through TAXII filtered by releasability")] = None,
          read: Annotated[Optional[list[str]], typer.Option("--read", help="collection id or alias readable (repeat; '*' for all)")] = None,
          write: Annotated[Optional[list[str]], typer.Option("--write", help="collection id or alias writable (repeat; '*' for all)")] = None) -> None:
    """Create a TAXII API token with per-collection read/write scopes; the secret is printed once,
    alone on stdout (the label goes to stderr)."""
    from accord.errors import InputError
    from accord.federation.tokens import create_token
    from accord.node import Node

    node = Node.open(dir)
    scopes = [f"taxii.read:{c}" for c in read or []] + [f"taxii.write:{c}" for c in write or []]
    if not scopes:
        raise InputError("give at least one --read or --write collection", field="scopes")
    _warn_unknown_collections(node, [*(read or []), *(write or [])])
    secret = create_token(node.conn, name, party or node.party, scopes)
    typer.echo(secret)  # alone on stdout, so that TOKEN=$(accord intel token …) captures the secret only
    Console(stderr=True).print(plain(f"token {name} ({party or node.party}): {' '.join(scopes)} "
                                     "(shown once; send it as 'Authorization: Bearer <token>' to /taxii2/)"),
                               highlight=False, soft_wrap=True)


def _warn_unknown_collections(node: Node, keys: list[str]) -> None:
    """A warning line for each scope's collection that does not exist (yet): the scope grants
    nothing until a collection with that id or alias is made — a typo grants nothing, silently."""
    from accord.cli.output import warn
    from accord.errors import NotFoundError
    from accord.intel.node_store import store_for

    store = store_for(node)
    for key in dict.fromkeys(keys):
        if key == "*":
            continue
        try:
            store.collection(key)
        except NotFoundError:
            warn(f"no collection {key!r} on this node (yet): its scope grants nothing until a collection "
                 "with that id or alias exists (accord intel collections)")


@app.command("sync")
def sync(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Apply STIX items received from partners to their collections (TAXII reads also do this)."""
    from accord.intel.node_store import store_for
    from accord.intel.sharing import sync_received
    from accord.node import Node

    node = Node.open(dir)
    result = sync_received(node, store_for(node))
    if json_out:
        typer.echo(json.dumps(result))
    else:
        console.print(f"applied {result['applied']} received item(s), {result['invalid']} invalid", highlight=False)


@app.command("validate")
def validate(bundle: Annotated[Path, typer.Argument(help="STIX 2.1 bundle (JSON)")],
             strict: Annotated[bool, typer.Option("--strict", help="also run stix2-validator")] = False) -> None:
    """Validate a bundle without a node (exit 2 and one line per invalid object if it fails)."""
    from accord.errors import StixValidationError
    from accord.intel.import_export import read_bundle, validate_objects

    objects = read_bundle(bundle)
    try:
        validate_objects(objects, source=str(bundle), strict=strict)
    except StixValidationError as exc:
        for f in exc.failures[:20]:
            Console(stderr=True).print(plain(f"  {f['message']}"), highlight=False, soft_wrap=True)
        raise
    console.print(plain(f"{bundle}: {plural(len(objects), 'object')}, valid STIX 2.1"
                        f"{' (stix2-validator: no errors)' if strict else ''}"), highlight=False)
