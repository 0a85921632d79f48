"""``accord dialogue …``: meeting series, meetings, commitments, calendar and status reports.

Thin over :class:`accord.dialogue.store.DialogueStore`; every listing has ``--json``. Each write
is signed by the node's key, stored as an item (ledgered) and queued to the other parties of the
series through federation (the policy decides; a denial is reported, not an error).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt
from accord.cli.output import plain, plural, print_table
from accord.core.files import replace_file
from accord.errors import InputError

if TYPE_CHECKING:
    from accord.node import Node

app = typer.Typer(help="Dialogue: meeting series, meetings, decisions and commitments.", no_args_is_help=True)
series_app = typer.Typer(help="Create and list meeting series.", no_args_is_help=True)
meeting_app = typer.Typer(help="Record and list meetings.", no_args_is_help=True)
commitment_app = typer.Typer(help="Add, update and list commitments.", no_args_is_help=True)
app.add_typer(series_app, name="series")
app.add_typer(meeting_app, name="meeting")
app.add_typer(commitment_app, name="commitment")

NowOpt = Annotated[Optional[str], typer.Option("--now", help="evaluate at this RFC 3339 time (default: now)")]
console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


def _store(directory: Path):  # noqa: ANN202 - imported lazily to keep `accord --help` fast
    from accord.dialogue.store import DialogueStore
    from accord.node import Node

    return DialogueStore(Node.open(directory))


def _now(text: str | None) -> datetime:
    from accord.clock import parse_rfc3339

    return parse_rfc3339(text, field="now") if text else datetime.now(UTC)


def _date(text: str | None, option: str) -> date | None:
    from accord.dialogue.model import parse_date

    return None if text is None else parse_date(text, field=option)


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_outcome(out: Any, json_out: bool) -> None:
    if json_out:
        _emit(out.to_json())
        return
    for v in out.versions:
        console.print(f"signed {v.kind} {v.record_id} v{v.version} by {v.signer}  "
                      f"digest {v.digest()[:16]}…", highlight=False)
    groups: dict[tuple[str, str], int] = {}
    for _, partner, result in out.shared:
        groups[(partner, result)] = groups.get((partner, result), 0) + 1
    for (partner, result), n in groups.items():
        console.print(plain(f"  → {partner}: {plural(n, 'item')} {result}"), highlight=False)


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


# --- series ----------------------------------------------------------------------------------
@series_app.command("create")
def series_create(dir: DirOpt,
                  series_id: Annotated[str, typer.Option("--id", help="series id, e.g. JPN-KOR-DMM")],
                  title: Annotated[str, typer.Option("--title", help="the series' title, shown in reports and calendars")],
                  parties: Annotated[str, typer.Option("--parties", help="comma-separated, e.g. JPN,KOR")],
                  first: Annotated[str, typer.Option("--first", help="date of the first meeting, YYYY-MM-DD")],
                  cadence: Annotated[int, typer.Option("--cadence", help="months between meetings")] = 6,
                  level: Annotated[str, typer.Option("--level", help="ministers | vice-ministers | working-level")]
                  = "ministers",
                  hosts: Annotated[Optional[str], typer.Option("--hosts", help="host rotation (default: parties)")]
                  = None,
                  venue: Annotated[Optional[list[str]], typer.Option("--venue", help="PARTY=place (repeatable)")]
                  = None,
                  marking: Annotated[Optional[str], typer.Option("--marking", help="banner (default UNCLASSIFIED//"
                                                                                   "REL TO the parties)")] = None,
                  json_out: JsonOpt = False) -> None:
    """Create a series; its parties must be this node and pinned partners."""
    venues = {}
    for v in venue or []:
        party, sep, place = v.partition("=")
        if not sep:
            raise InputError(f"expected PARTY=place, got {v!r}", field="venue")
        venues[party.strip()] = place.strip()
    spec = {"id": series_id, "title": title, "parties": _csv(parties), "level": level, "cadence_months": cadence,
            "first_meeting": first, "venues": venues}
    if hosts:
        spec["host_rotation"] = _csv(hosts)
    if marking:
        spec["marking"] = marking
    _print_outcome(_store(dir).create_series(spec), json_out)


@series_app.command("list")
def series_list(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """List the series held on this node."""
    series = _store(dir).list_series()
    if json_out:
        _emit([s.to_json() for s in series])
        return
    t = Table("id", "title", "parties", "level", "cadence", "first meeting", "hosts")
    for s in series:
        t.add_row(s.id, plain(s.title), ", ".join(s.parties), s.level.value, f"{s.cadence_months} months",
                  s.first_meeting.isoformat(), ", ".join(s.host_rotation))
    print_table(console, t)


@app.command("schedule")
def schedule(series_id: Annotated[str, typer.Argument(help="series id")], dir: DirOpt,
             count: Annotated[int, typer.Option("--count", help="how many meetings to plan")] = 2,
             after: Annotated[Optional[str], typer.Option("--after", help="plan after this date (default today)")]
             = None,
             json_out: JsonOpt = False) -> None:
    """Plan the next meetings of a series from its cadence and host rotation."""
    _print_outcome(_store(dir).schedule(series_id, count=count, after=_date(after, "--after")), json_out)


# --- meetings --------------------------------------------------------------------------------
@meeting_app.command("record")
def meeting_record(series_id: Annotated[str, typer.Argument(help="series id")], dir: DirOpt,
                   file: Annotated[Path, typer.Option("--file", help="meeting YAML (date, attendees, agenda, "
                                                                   "minutes, decisions, commitments)")],
                   json_out: JsonOpt = False) -> None:
    """Record a held meeting with its decisions and commitments, in one signed write."""
    from accord.core.input_files import load_model, read_text_file
    from accord.dialogue.inputs import MeetingIn

    text = read_text_file(file, what="meeting file", missing="no such meeting file")
    spec, root = load_model(MeetingIn, text, source=str(file),
                            not_a_mapping="a meeting file is a mapping (date:, attendees:, commitments: …)")
    _print_outcome(_store(dir).record_meeting(series_id, spec, source=str(file), root=root), json_out)


@meeting_app.command("list")
def meeting_list(dir: DirOpt, series_id: Annotated[Optional[str], typer.Option("--series", help="only this series (its id)")] = None,
                 json_out: JsonOpt = False) -> None:
    """List meetings (planned, held, cancelled)."""
    meetings = _store(dir).meetings(series_id)
    if json_out:
        _emit([m.to_json() for m in meetings])
        return
    t = Table("id", "#", "date", "host", "place", "status", "decisions", "commitments")
    for m in meetings:
        t.add_row(m.id, str(m.number), m.date.isoformat(), m.host, plain(m.place), m.status.value,
                  str(len(m.decisions)), str(len(m.outcomes)))
    print_table(console, t)


# --- commitments -----------------------------------------------------------------------------
@commitment_app.command("add")
def commitment_add(meeting_id: Annotated[str, typer.Argument(help="meeting id")], dir: DirOpt,
                   owner: Annotated[str, typer.Option("--owner", help="owning party")],
                   text: Annotated[str, typer.Option("--text", help="what is committed, in one sentence")],
                   due: Annotated[str, typer.Option("--due", help="YYYY-MM-DD")],
                   commitment_id: Annotated[Optional[str], typer.Option("--id", help="commitment id (default: the meeting id and the next -C<n>)")] = None,
                   json_out: JsonOpt = False) -> None:
    """Propose a commitment at a meeting (its owner agrees it on its own node)."""
    spec: dict[str, Any] = {"owner": owner, "text": text, "due": due}
    if commitment_id:
        spec["id"] = commitment_id
    _print_outcome(_store(dir).add_commitment(meeting_id, spec), json_out)


@commitment_app.command("update")
def commitment_update(commitment_id: Annotated[str, typer.Argument(help="commitment id")], dir: DirOpt,
                      status: Annotated[Optional[str], typer.Option("--status", help="agreed | in_progress | "
                                                                                    "done | lapsed")] = None,
                      evidence: Annotated[Optional[list[str]], typer.Option("--evidence", help="add evidence "
                                                                                             "(repeatable)")] = None,
                      link: Annotated[Optional[list[str]], typer.Option("--link", help="KIND:REF, KIND one of "
                                                                                     "agreement, exercise, item, url")]
                      = None,
                      due: Annotated[Optional[str], typer.Option("--due", help="new due date, YYYY-MM-DD")] = None,
                      text: Annotated[Optional[str], typer.Option("--text", help="what is committed, in one sentence")] = None,
                      note: Annotated[str, typer.Option("--note", help="why (kept in the signed version)")] = "",
                      json_out: JsonOpt = False) -> None:
    """Sign the next version of a commitment (agreed ones: owner only)."""
    links = []
    for x in link or []:
        kind, sep, ref = x.partition(":")
        if not sep:
            raise InputError(f"expected KIND:REF, got {x!r}", field="link")
        links.append({"kind": kind, "ref": ref})
    spec: dict[str, Any] = {"add_evidence": evidence or [], "add_links": links, "note": note}
    if status:
        spec["status"] = status
    if due:
        spec["due"] = due
    if text:
        spec["text"] = text
    _print_outcome(_store(dir).update_commitment(commitment_id, spec), json_out)


@commitment_app.command("list")
def commitment_list(dir: DirOpt, series_id: Annotated[Optional[str], typer.Option("--series", help="only this series (its id)")] = None,
                    owner: Annotated[Optional[str], typer.Option("--owner", help="only commitments this party owns")] = None,
                    now: NowOpt = None, json_out: JsonOpt = False) -> None:
    """List commitments with their current status."""
    from accord.dialogue.report import commitment_row

    when = _now(now)
    rows = [commitment_row(c, when, version=v) for c, v in _store(dir).commitments(series_id, owner=owner)]
    if json_out:
        _emit([r.to_json() for r in rows])
        return
    _rows_table(rows)


def _rows_table(rows: list[Any]) -> None:
    t = Table("id", "owner", "due", "status", "v", "text")
    for r in rows:
        due = f"[bold red]{r.due}[/]" if r.overdue else (f"[yellow]{r.due}[/]" if r.due_soon else str(r.due))
        t.add_row(r.id, r.owner, due, r.status, str(r.version), plain(r.text))
    print_table(console, t)


@app.command("due")
def due(dir: DirOpt, days: Annotated[int, typer.Option("--days", min=0, max=3650, help="'due soon' window in days (0 to 3650)")] = 30,
        series_id: Annotated[Optional[str], typer.Option("--series", help="only this series (its id)")] = None,
        owner: Annotated[Optional[str], typer.Option("--owner", help="only commitments this party owns")] = None,
        now: NowOpt = None, json_out: JsonOpt = False) -> None:
    """List overdue commitments and those due within --days."""
    overdue, soon = _store(dir).due(_now(now), days=days, series_id=series_id, owner=owner)
    if json_out:
        _emit({"overdue": [r.to_json() for r in overdue], "due_soon": [r.to_json() for r in soon]})
        return
    console.print(f"[bold]overdue[/] ({len(overdue)})")
    _rows_table(overdue)
    console.print(f"[bold]due within {plural(days, 'day')}[/] ({len(soon)})")
    _rows_table(soon)


@app.command("history")
def history(record_id: Annotated[str, typer.Argument(help="series, meeting or commitment id")], dir: DirOpt,
            json_out: JsonOpt = False) -> None:
    """Every signed version of a record, oldest first (a hash chain: prev = digest of the one before)."""
    versions = _store(dir).history(record_id)
    if json_out:
        _emit([{**v.payload(), "digest": v.digest(), "item_id": v.item_id} for v in versions])
        return
    t = Table("v", "signer", "signed at", "status", "change", "digest", "prev")
    for v in versions:
        t.add_row(str(v.version), v.signer, v.signed_at, str(v.state.get("status", "")),
                  plain(json.dumps(v.change, ensure_ascii=False) if v.change else ""), v.digest()[:12] + "…",
                  (v.prev or "")[:12] + ("…" if v.prev else ""))
    print_table(console, t)


@app.command("ical")
def ical(series_id: Annotated[str, typer.Argument(help="series id")], dir: DirOpt,
         out: Annotated[Optional[Path], typer.Option("--out", "-o", help="write here (default stdout)")] = None) -> None:
    """Export a series to iCalendar (RFC 5545): meetings as events, commitments as to-dos."""
    data = _store(dir).ical(series_id)
    if out:
        replace_file(out, data)
        console.print(plain(f"wrote {out} ({plural(len(data), 'byte')})"), highlight=False)
    else:
        typer.echo(data.decode(), nl=False)


@app.command("report")
def report(dir: DirOpt, series_id: Annotated[Optional[str], typer.Option("--series", help="only this series (its id)")] = None,
           party: Annotated[Optional[str], typer.Option("--party", help="only commitments this party owns")] = None,
           fmt: Annotated[str, typer.Option("--format", help="md | html")] = "md",
           out: Annotated[Optional[Path], typer.Option("--out", "-o", help="write the report here (default: stdout)")] = None,
           days: Annotated[int, typer.Option("--days", min=0, max=3650, help="'due soon' window in days (0 to 3650)")] = 30,
           now: NowOpt = None, json_out: JsonOpt = False) -> None:
    """Status report per series or per party, as Markdown or HTML."""
    from accord.dialogue.report import render_html, render_markdown

    if fmt not in ("md", "html"):
        raise InputError(f"format must be md or html, got {fmt!r}", field="format")
    r = _store(dir).report(_now(now), series_id=series_id, party=party, soon_days=days)
    if json_out:
        _emit(r.to_json())
        return
    text = render_markdown(r) if fmt == "md" else render_html(r)
    if out:
        replace_file(out, text.encode("utf-8"))
        console.print(plain(f"wrote {out}"), highlight=False)
    else:
        typer.echo(text, nl=False)


@app.command("sync")
def sync(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Verify and index dialogue versions received from partners; list the rejected ones."""
    store = _store(dir)
    ok, bad = store.sync()
    rejected = store.rejected()
    if json_out:
        _emit({"indexed": ok, "rejected_now": bad, "rejected": rejected})
        return
    console.print(f"indexed {ok}, rejected {bad}", highlight=False)
    for r in rejected:
        console.print(plain(f"  rejected {r['item_id']}: {r['reason']}"), highlight=False)


@app.command("share")
def share(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """(Re-)share every dialogue version this node signed with the other parties (idempotent)."""
    _print_outcome(_store(dir).share_all(), json_out)


@app.command("load")
def load(file: Annotated[Path, typer.Argument(help="dialogue YAML (series: and meetings:)")], dir: DirOpt,
         json_out: JsonOpt = False) -> None:
    """Load a dialogue file into this node (others' commitments stay proposed until their owner agrees)."""
    from accord.dialogue.example import adopt
    from accord.dialogue.inputs import load_dialogue_file

    data, root = load_dialogue_file(file)
    store = _store(dir)
    out = store.load(data, source=str(file), root=root)
    more = adopt(store, data)
    from accord.dialogue.store import Outcome
    _print_outcome(Outcome(out.versions + more.versions, out.shared + more.shared), json_out)


@app.command("load-example")
def load_example(dir: Annotated[Path, typer.Option("--dir", help="where the two nodes are made (or found): "
                                                     "DIR/jpn and DIR/kor, each a node directory")],
                 json_out: JsonOpt = False) -> None:
    """Japan–ROK defence ministers' series on two nodes (DIR/jpn, DIR/kor), shared both ways."""
    from accord.core.agreements import new_agreement, sign_agreement
    from accord.dialogue import example
    from accord.dialogue.store import DialogueStore
    from accord.federation import Federation, InProcessNetwork
    from accord.node import CONFIG_FILE, Node

    nodes = {}
    for party in ("JPN", "KOR"):
        d = dir / party.lower()
        nodes[party] = Node.open(d) if (d / CONFIG_FILE).exists() else Node.init(d, party)
    j, k = nodes["JPN"], nodes["KOR"]
    if "KOR" not in j.partners():
        j.add_partner("KOR", k.identity.public_b64)
    if "JPN" not in k.partners():
        k.add_partner("JPN", j.identity.public_b64)
    if not any(a.id == "jpn-kor-dialogue" for a in j.agreements()):
        start = j.clock.now() - timedelta(days=1)
        a = new_agreement("jpn-kor-dialogue", ["JPN", "KOR"],
                          {"JPN": j.identity.public_key, "KOR": k.identity.public_key},
                          [("JPN", "KOR", ["dialogue.*"], "RESTRICTED"), ("KOR", "JPN", ["dialogue.*"], "RESTRICTED")],
                          start, start + timedelta(days=3 * 365), title="JPN–KOR dialogue records")
        a = sign_agreement(sign_agreement(a, j.identity), k.identity)
        j.add_agreement(a)
        k.add_agreement(a)
    net = InProcessNetwork()
    net.attach(j)
    net.attach(k)
    feds = {"JPN": Federation(j, net), "KOR": Federation(k, net)}

    def deliver(node: Node, to: str) -> None:
        err = feds[node.party].sync(to, heads=False)[to]
        if err:
            from accord.errors import FederationError
            raise FederationError(f"delivery {node.party} → {to} failed: {err}")

    res = example.load_example(DialogueStore(j), DialogueStore(k), deliver)
    res["nodes"] = {p: str(n.dir) for p, n in nodes.items()}
    if json_out:
        _emit(res)
        return
    console.print(f"nodes: JPN {j.dir}, KOR {k.dir}; agreement jpn-kor-dialogue (dialogue.* both ways)",
                  highlight=False)
    new, stored = res["versions"], res["versions_stored"]
    console.print(f"series {res['series']}: {plural(res['records'], 'record')}; new versions signed this run: "
                  f"JPN {new['JPN']}, KOR {new['KOR']}; already present before it: "
                  f"JPN {stored['JPN'] - new['JPN']}, KOR {stored['KOR'] - new['KOR']}", highlight=False)
    console.print(f"identical on both nodes: {res['identical']}", highlight=False)
    t = Table("commitment", "status")
    for cid, st in res["commitments"].items():
        t.add_row(cid, st)
    print_table(console, t)
