"""CLI for federation: ``accord node serve|status|sync|prune|token …|tls …|rule …`` and ``accord share``.

Registered by :func:`register` into the ``node`` app of :mod:`accord.cli.node` (skipped if that
module is absent) and the root app. Every command is a thin call into :mod:`accord.federation`
or :mod:`accord.api`. The sub-apps ``token``, ``tls`` and ``rule`` have modules of their own
(:mod:`accord.cli.tokens`, :mod:`accord.cli.tls`, :mod:`accord.cli.rules`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.options import DirOpt, JsonOpt, body_object, open_node
from accord.cli.output import literal, plain, plural, print_table, warn
from accord.cli.rules import app as rule_app
from accord.cli.tls import app as tls_app
from accord.cli.tokens import app as token_app

if TYPE_CHECKING:
    from accord.node import Node


console = Console(soft_wrap=True)  # a line into a pipe or a log stays one line


def serve(dir: DirOpt, host: Annotated[str, typer.Option(help="address to bind (plain HTTP off loopback "
                                                            "needs --tls or --insecure)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to listen on (1–65535)")] = 8600,
          tls: Annotated[bool, typer.Option("--tls/--no-tls", help="serve HTTPS with DIR/tls/cert.pem")] = False,
          insecure: Annotated[bool, typer.Option("--insecure", help="accept plain HTTP on an address other than "
                                                 "loopback (warned, recorded in the ledger)")] = False,
          log_level: Annotated[str, typer.Option(help="debug, info, warning or error (the server's own "
                                                 "messages: warning and up)")] = "info",
          log_format: Annotated[str, typer.Option(help="text, or json: one object per line")] = "text",
          keep: Annotated[str, typer.Option(help="prune acknowledged outbox rows older than this "
                                            "(e.g. 1h, 30m, 0), every minute")] = "1h",
          keep_rejections: Annotated[str, typer.Option(help="prune refusal records (fed_rejections) older than "
                                                       "this (e.g. 8d, 30d), every minute")] = "8d",
          batch_size: Annotated[int, typer.Option(help="envelopes per delivery POST at most, 1 or more (a backlog goes in batches this big; a trickle goes one by one)")] = 2000,
          workers: Annotated[int, typer.Option(help="server processes sharing the port (1–64); each partner's "
                                               "outbox is drained by one of them at a time (a lease)")] = 1,
          max_connections: Annotated[int, typer.Option(help="connections each server process holds open at "
                                                       "most (1 or more; kept below the open-files limit); past "
                                                       "it 503 and closed")] = 4096,
          max_client_connections: Annotated[int, typer.Option(help="connections from one client address (an IPv6 "
                                                              "/64) each server process holds open at most; behind "
                                                              "a reverse proxy, the proxy's share")] = 512,
          join: Annotated[bool, typer.Option("--join", help="serve beside the servers of this node already "
                                             "running (another port or machine), co-operating by leases")] = False,
          nats: Annotated[Optional[str], typer.Option(
              "--nats", envvar="ACCORD_NATS", help="NATS server URL (several: comma-separated): carry the console's live events between "
              "the processes serving this node (with --workers or --join; one process needs none)")] = None,
          nats_prefix: Annotated[str, typer.Option(
              "--nats-prefix", "--prefix", help="subject prefix of the live events (<prefix>.<party>.events.>); "
              "--prefix is the same option, named as in the feed commands")] = "accord",
          gossip_every: Annotated[str, typer.Option(
              "--gossip-every", help="how often each partner's view of the third parties' tree heads is compared "
              "with this node's (e.g. 1m, 10s; docs/federation.md)")] = "1m",
          grace: Annotated[str, typer.Option(help="on SIGTERM, how long requests in progress may take before they "
                                             "are cut off (e.g. 10s, 1m; a second SIGTERM cuts them off at "
                                             "once)")] = "10s",
          trust_proxy: Annotated[list[str] | None, typer.Option(
              "--trust-proxy", envvar="ACCORD_TRUST_PROXY",
              help="the address or network (e.g. 10.10.1.5, 10.10.1.0/24) of a reverse proxy whose "
              "X-Forwarded-For names the client, for the console's login limit and request budget; "
              "repeat for several; none by default (each client is its connection's peer)")] = None) -> None:
    """Serve the node's API (user + partner) and run its delivery workers.

    One server per node directory (its PID in DIR/serve.lock) unless --join; "serving on …" once
    bound and started (by every worker, with --workers).
    """
    from accord.api import serve as serving
    from accord.api.app import create_app
    from accord.api.conn_limit import ConnectionLimits, check_limits
    from accord.api.tls import check_server_files
    from accord.clock import parse_duration
    from accord.federation import Federation
    from accord.logs import configure

    configure(log_level, log_format)  # first: a bad level or format fails before anything starts
    retention = parse_duration(keep, field="keep")
    rejections_retention = parse_duration(keep_rejections, field="keep-rejections")
    grace_s = parse_duration(grace, field="grace").total_seconds()
    gossip_s = parse_duration(gossip_every, field="gossip-every").total_seconds()
    serving.check_port(port)
    serving.check_workers(workers)
    serving.check_batch_size(batch_size)
    check_limits(max_connections, max_client_connections)
    trusted = serving.check_trusted_proxies(trust_proxy or [])
    if nats is not None:
        from accord.feeds.events import check_nats, events_subject

        events_subject(nats_prefix, "XXX")  # a bad prefix fails before anything starts
        check_nats(nats)
    node = open_node(dir)
    serving.raise_open_files_limit()  # the soft 1,024 is for select(); the caps below stay under it
    with serving.ServeLock(dir, join=join) as lock:
        if lock.taken_over is not None:
            console.print(plain(f"took over {lock.path} from process {lock.taken_over}, which no longer runs"),
                          highlight=False)
        if lock.joined:
            console.print(plain(f"joining the server(s) of {dir} in process {', '.join(map(str, lock.joined))}"),
                          highlight=False)
        certfile = keyfile = None
        scheme = "http"
        if tls:  # checked here, before the bind: uvicorn's own error named no file
            certfile, keyfile = check_server_files(dir)
            scheme = "https"
        plain_http = serving.check_plain_http(host, tls=tls, insecure=insecure)
        with serving.bind(host, port) as sock:
            if plain_http:
                serving.record_plain_http(node, host, port)
                address = f"http://{serving.host_port(host, port)}"
                logging.getLogger("accord.api").warning(   # a log record: one JSON line with --log-format json
                    "serving plain HTTP on %s, not loopback: bearer tokens and envelopes cross the network "
                    "unencrypted (accepted with --insecure; recorded in the ledger as insecure.http)",
                    serving.host_port(host, port), extra={"event": "serve.insecure_http", "address": address})
            where = f"{scheme}://{serving.host_port(host, port)}"
            serving.record_url(dir, where)   # the examples `node token create` prints use it
            party = node.party
            several = f" ({workers} worker processes)" if workers > 1 else ""
            uvicorn_level = "warning" if log_level.lower() in ("debug", "info") else log_level.lower()
            # several processes serving the node: shares made in another one are found by this poll
            poll = 0.1 if workers > 1 or join else 0.5

            def announce() -> None:
                console.print(f"node {party} serving on {where}{several}\n"
                              f"console: {where}/console/ (log in with an API token)", highlight=False)

            def serve_app(the_node: Node, on_started: object, on_stopped: object) -> None:
                fed = Federation(the_node, batch_size=batch_size, retention=retention, poll_interval=poll, rejections_retention=rejections_retention,
                                 gossip_interval=gossip_s)
                bridge = None
                if nats is not None:  # this process's bus ⇄ the node's other processes (accord.feeds.events)
                    from accord.feeds.events import EventBridge

                    bridge = EventBridge(the_node, nats, prefix=nats_prefix).start()
                limits = ConnectionLimits(max_connections, max_client_connections)
                try:
                    serving.run(create_app(the_node, federation=fed), sock, ssl_certfile=certfile,
                                ssl_keyfile=keyfile, log_level=uvicorn_level, grace=grace_s, limits=limits,
                                trusted_proxies=trusted, on_started=on_started, on_stopped=on_stopped)  # type: ignore[arg-type]
                finally:
                    if bridge is not None:
                        bridge.stop()

            if workers == 1:
                serve_app(node, announce, lock.release)
                return
            create_app(node)  # every table and migration made once, before the workers open the node
            node.close()  # no connection crosses the fork: each worker opens its own
            from accord.api import worker_metrics

            # each worker writes its traffic counters there; a scrape on any one sums them all
            with worker_metrics.serve_directory(dir) as counts_dir:
                def serve_one(index: int, ready: object) -> None:
                    the_node = open_node(dir)
                    shared = worker_metrics.share(the_node, counts_dir, index)
                    serve_app(the_node, ready, shared.stop)

                serving.run_workers(workers, serve_one, on_started=announce, on_stopped=lock.release)


def status(dir: DirOpt, json_out: JsonOpt = False,
           check: Annotated[bool, typer.Option("--check", help="exit 1 (one 'check:' line on stderr per "
                                               "partner) if a partner is inconsistent, or failing, silent or "
                                               "has an item waiting for --alert-after or longer")] = False,
           alert_after: Annotated[str, typer.Option(help="with --check: how long before it counts "
                                                    "(e.g. 5m, 1h, 0)")] = "5m") -> None:
    """Partners, last contact, queue depths, ledger head, rejections. With --check, the exit code
    says whether every partner is well (0) or not (1), for a monitor."""
    from accord.clock import parse_duration
    from accord.federation import status as fed_status
    from accord.federation.status import problems

    after = parse_duration(alert_after, field="alert-after").total_seconds()
    st = fed_status(open_node(dir))
    _print_status(st, json_out)
    found = problems(st, after) if check else []
    for line in found:
        typer.echo(f"check: {line}", err=True)
    if found:
        raise typer.Exit(1)


def _print_status(st: dict, json_out: bool) -> None:
    from accord.clock import duration_text

    if json_out:
        typer.echo(json.dumps(st, indent=2))
        return
    led = st["ledger"]
    console.print(f"node {st['party']}  ledger {plural(led['size'], 'entry', 'entries')}  root {led['root'][:16]}…", highlight=False)
    t = Table("partner", "last contact (UTC)", "queued", "oldest", "delivered", "refused", "sent #", "recv #",
              "head", "state")
    for p in st["partners"]:
        head = p["partner_head"]
        state = ("[red]INCONSISTENT[/]" if p["inconsistent"] else
                 f"[yellow]failing for {duration_text(p['failing_for_s'])} "
                 f"({plural(p['consecutive_failures'], 'attempt')})[/]"
                 if p["consecutive_failures"] else "ok")
        # a partner never reached: how long it has been pinned (unknown for a pin older than the record)
        never = f"never (pinned {duration_text(p['pinned_for_s'])} ago)" if p.get("pinned_for_s") is not None \
            else "never"
        t.add_row(p["party"], p["last_contact"].replace("T", " ")[:19] if p["last_contact"] else never,
                  str(p["queued"]),
                  duration_text(p["oldest_queued_age_s"]), str(p["delivered"]),
                  str(p["rejected_by_partner"]), str(p["sent_seq"]), str(p["received_seq"]),
                  f"{head['size']}" if head else "-", state)
    print_table(console, t)
    for p in st["partners"]:
        if p["inconsistent"]:
            console.print(f"[red]{p['party']} inconsistent:[/] {literal(p['inconsistent'])}", highlight=False)
        elif p["last_error"]:
            since = f" (failing since {p['failing_since']})" if p["failing_since"] else ""
            console.print(plain(f"{p['party']} last error{since}: {p['last_error']}"), highlight=False)
    for p in st["partners"]:
        rc = p.get("receipts") or {}
        if any(rc.values()):  # receipts checked against the partner's signed ledger
            console.print(f"{p['party']} receipts: {rc['proven']} proven, {rc['pending']} pending, "
                          f"{rc['false']} false, {rc['unindexed']} unchecked (no ledger index, or past the "
                          "cap of waiting checks)", highlight=False)
        intake = p.get("intake")
        if intake and intake["over_quota"]:
            console.print(plain(f"{p['party']} is over its intake quota for the hour from {intake['window_start']}: "
                                f"{intake['items']} of {intake['max_items'] or 'unlimited'} envelopes, "
                                f"{intake['bytes']} of {intake['max_bytes'] or 'unlimited'} bytes taken"),
                          highlight=False)
    for line in st["sharing_warnings"]:
        warn(line)
    r = st["rejections"]
    console.print(f"rejections: {r['total']}", highlight=False)
    for rej in r["recent"]:
        where = f"from {rej['from'] or 'an unknown caller'}" + (f" #{rej['seq']}" if rej["seq"] is not None else "")
        console.print(plain(f"  {rej['at']} {where}: {rej['code']}: {rej['reason']}"), highlight=False)


def prune(dir: DirOpt, keep: Annotated[str, typer.Option(help="keep acknowledged rows younger than this "
                                                         "(e.g. 1h, 30m; 0 prunes every acknowledged row)")] = "1h",
          keep_rejections: Annotated[str, typer.Option(help="keep refusal records (fed_rejections) younger "
                                                       "than this (e.g. 8d, 30d)")] = "8d",
          json_out: JsonOpt = False) -> None:
    """Prune the outbox: drop envelopes partners acknowledged more than KEEP ago; never an
    unacknowledged one; the inbox rows received over 8 days ago (each partner's last kept); and
    the refusal records older than KEEP_REJECTIONS (their ledger events stay, and status counts
    them). The ledger is not touched (ledger verify passes afterwards)."""
    from accord.clock import duration_text, parse_duration
    from accord.federation.retention import prune as prune_outbox

    window = parse_duration(keep, field="keep")
    rejections_window = parse_duration(keep_rejections, field="keep-rejections")
    result = prune_outbox(open_node(dir), window, rejections_window)
    if json_out:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    per = ", ".join(f"{p} {n}" for p, n in sorted(
        {p: result.delivered.get(p, 0) + result.rejected.get(p, 0)
         for p in {*result.delivered, *result.rejected}}.items()))
    typer.echo(f"pruned {result.pruned} acknowledged envelope(s)" + (f" ({per})" if per else "")
               + f" acknowledged at or before {result.cutoff}")
    typer.echo(f"kept {result.kept_queued} unacknowledged, {result.kept_acknowledged} acknowledged inside the "
               f"retention window ({duration_text(window.total_seconds())})")
    if result.inbox:
        from accord.federation.retention import INBOX_KEEP

        typer.echo(f"pruned {sum(result.inbox.values())} inbox row(s) ("
                   + ", ".join(f"{p} {n}" for p, n in sorted(result.inbox.items()))
                   + f") received over {duration_text(INBOX_KEEP.total_seconds())} ago")
    if result.rejections:
        typer.echo(f"pruned {result.rejections} refusal record(s) recorded over {duration_text(rejections_window.total_seconds())} ago")


def sync(dir: DirOpt, json_out: JsonOpt = False) -> None:
    """Deliver queued envelopes, check partner tree heads and compare their views of the third parties once, without serving.

    Exit status 1 when a partner was not synced (unreachable, refused, deferred by its quota, or
    delivered to by a serving process of this node): its line says why, and a scheduled sync
    that left envelopes queued does not pass as done."""
    from accord.federation import Federation

    node = open_node(dir)
    fed = Federation(node)
    try:
        result = fed.sync()
    finally:
        fed.stop()
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        for party, err in result.items():
            console.print(plain(f"{party}: {'ok' if err is None else err}"), highlight=False)
    if any(err is not None for err in result.values()):
        raise typer.Exit(1)


def share(item_id: Annotated[Optional[str], typer.Argument(help="id of an item the node holds")] = None,
          to: Annotated[list[str], typer.Option("--to", help="partner party (repeat)")] = [],  # noqa: B006
          dir: DirOpt = Path("."),
          kind: Annotated[Optional[str], typer.Option(help="create a new item of this kind")] = None,
          marking: Annotated[Optional[str], typer.Option(help="banner of the new item")] = None,
          body: Annotated[Optional[str], typer.Option(help="JSON object body of the new item, or @FILE")] = None,
          json_out: JsonOpt = False) -> None:
    """Share an item (or a new one made from --kind/--marking/--body) with partners, under policy."""
    from accord import federation
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.errors import InputError

    node = open_node(dir)
    if item_id is None:
        if not (kind and marking):
            raise InputError("give an ITEM id, or --kind and --marking (and --body) for a new item")
        data = body_object(body or "{}")
        item = new_item(kind, data, Marking.parse(marking), node.party, node.clock.now())
    else:
        item = node.get_item(item_id)
    # every recipient is checked before anything is written: a refusal leaves no item behind
    results, by_rule = federation.share_with(node, item, to, standing=item_id is None)
    if json_out:
        typer.echo(json.dumps({"item_id": item.id, "shared_by_rule": {r.to: r.seq for r in by_rule},
                               "shared": [r.to_json() for r in results]}, indent=2))
        return
    typer.echo(f"item {item.id}")
    for r in by_rule:
        typer.echo(f"  → {r.to}: {r.status} as #{r.seq} (standing rule)")
    for r in results:
        typer.echo(f"  → {r.to}: {r.status} as #{r.seq} (agreement {r.agreement})")


def register(root: typer.Typer) -> None:
    """Add the federation commands to ``accord node`` and ``accord share`` to the root."""
    root.command("share")(share)
    try:
        from accord.cli.node import app as node_app
    except ModuleNotFoundError as exc:
        if exc.name != "accord.cli.node":
            raise
        return
    node_app.command("serve")(serve)
    node_app.command("status")(status)
    node_app.command("sync")(sync)
    node_app.command("prune")(prune)
    node_app.add_typer(token_app, name="token")
    node_app.add_typer(tls_app, name="tls")
    node_app.add_typer(rule_app, name="rule")
