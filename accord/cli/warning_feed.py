"""``accord warning feed | ingest | watch``: live radar feeds over NATS JetStream (docs/feeds.md)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from accord.cli.output import plain, plural

from accord.errors import ConfigError, InputError

console = Console(soft_wrap=True)

NatsOpt = Annotated[str, typer.Option("--nats", envvar="ACCORD_NATS",
                                      help="NATS server URL, e.g. nats://127.0.0.1:4222 (several: comma-separated); "
                                           "a URL with a user's password is best given in the environment.")]
IngestNatsOpt = Annotated[str, typer.Option("--nats", envvar=["ACCORD_NATS_INGEST", "ACCORD_NATS"],
                                            help="NATS server URL, e.g. nats://127.0.0.1:4222 (several: "
                                                 "comma-separated); a URL with a user's password is best given in "
                                                 "the environment.")]
StreamOpt = Annotated[str, typer.Option("--stream", help="JetStream stream of the radar feed (created if absent).")]
PrefixOpt = Annotated[str, typer.Option("--prefix", help="Subject prefix: scans on <prefix>.<party>.radar.<sensor>, "
                                                     "warning events on <prefix>.<party>.warning.<kind>.")]


def _speed(value: str) -> float:
    if value in ("max", "0"):
        return 0.0
    try:
        v = float(value)
    except ValueError:
        raise InputError(f"--speed {value!r}: give a number > 0, or 0/max for as fast as possible",
                         field="speed") from None
    if not v >= 0 or v == float("inf"):
        raise InputError(f"--speed {value!r}: give a number > 0, or 0/max for as fast as possible", field="speed")
    return v


def feed(
    detections: Annotated[Path, typer.Argument(help="detections.jsonl (or a scenario directory) to publish as a live feed.")],
    nats: NatsOpt,
    party: Annotated[str, typer.Option("--party", help="Party whose radars these are (subject token).")],
    speed: Annotated[str, typer.Option("--speed", help="Times real time (2 = twice as fast); 0 or max: as fast as possible.")] = "1",
    stream: StreamOpt = "ACCORD_RADAR",
    prefix: PrefixOpt = "accord",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Publish DETECTIONS scan by scan to JetStream, one subject per radar, timed by the scan times."""
    from accord.core.parties import check_party
    from accord.feeds.feed import publish_scans
    from accord.feeds.scans import scans_of
    from accord.logs import configure
    from accord.warning.io import read_detections

    configure("warning")   # a subject the NATS server refuses this user is a warning line on stderr
    party = check_party(party.upper())
    _, det = read_detections(detections)
    scans = list(scans_of(det))
    res = asyncio.run(publish_scans(nats, scans, party=party, stream=stream, prefix=prefix, speed=_speed(speed)))
    summary = {"scans": res.scans, "detections": res.detections, "duplicates": res.duplicates,
               "seconds": round(res.seconds, 3), "stream": stream,
               "subjects": f"{prefix}.{party}.radar.<sensor>"}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(plain(f"published {plural(res.scans, 'scan')} ({plural(res.detections, 'detection')}) to stream "
                        f"{stream} on {prefix}.{party}.radar.<sensor> in {res.seconds:.2f} s"
                        + (f"; {res.duplicates:,} already there (same message id), not stored again"
                           if res.duplicates else "")),
                  highlight=False)


def ingest(
    dir: Annotated[Path, typer.Option("--dir", help="Node directory to store tracks, predictions and alerts in.")],
    nats: IngestNatsOpt,
    sensors: Annotated[Optional[Path], typer.Option(
        "--sensors", help="The radars: a detections file or a scenario directory (its header line is read). Needed the first time.")] = None,
    stream: StreamOpt = "ACCORD_RADAR",
    prefix: PrefixOpt = "accord",
    consumer: Annotated[Optional[str], typer.Option(
        "--consumer", help="Durable consumer name (default ingest-<party>).")] = None,
    marking: Annotated[Optional[str], typer.Option(
        "--marking", help="Marking of the track and prediction items (default CONFIDENTIAL//REL TO <party>).")] = None,
    status: Annotated[str, typer.Option("--status", help="CAP status of the alerts: Exercise or Actual.")] = "Exercise",
    epoch: Annotated[str, typer.Option("--epoch", help="Wall-clock time of scan time t=0 (RFC 3339).")]
    = "2026-01-01T00:00:00Z",
    clock_ahead: Annotated[float, typer.Option(
        "--clock-ahead", min=0,
        help="Refuse a scan dated (epoch + t) more than this many seconds ahead of the node's clock "
             "(also the lead a feed back from a silence of over a day may have).")] = 300.0,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Scan messages per transaction at most.")] = 512,
    idle_exit: Annotated[Optional[float], typer.Option(
        "--idle-exit", help="Stop after this many seconds without a message (default: run until stopped).")] = None,
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts",
                                         help="Run the alert engine on the predictions (default) or not.")] = True,
    alert_process: Annotated[bool, typer.Option(
        "--alert-process/--no-alert-process",
        help="Run the alert engine in a child process of its own (default; both cores busy) or on a "
             "thread of the ingest (one process).")] = True,
    alert_restarts: Annotated[int, typer.Option(
        "--alert-restarts", min=0, max=1000,
        help="Start the alert process again, after a backoff, if it dies: at most this many times within "
             "10 minutes, and this many times in a row with no commit between; once more and the ingest "
             "stops (0: stop at the first death).")] = 3,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option("--log-format", help="text or json (one object a line).")] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on exit.")] = False,
) -> None:
    """Consume the radar feed durably: track, predict, alert; store the items in the node and
    publish them on <prefix>.<party>.warning.<kind>. Resumes after its last committed scan."""
    from accord.clock import parse_rfc3339
    from accord.feeds.events import EventBridge
    from accord.feeds.ingest import Ingest, IngestOptions
    from accord.logs import configure
    from accord.node import Node
    from accord.warning.io import detections_file, parse_header
    from accord.warning.io.jsonl import bounded_lines, line_problem, open_lines

    if status not in ("Exercise", "Actual"):
        raise InputError(f"--status {status!r}: Exercise or Actual", field="status")
    header = None
    if sensors is not None:
        sensors = detections_file(sensors)
        try:
            with open_lines(sensors) as fh:   # as read_detections reads it: bounded, bytes checked
                first = next(iter(bounded_lines(fh)), "")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", source=str(sensors)) from None
        problem = line_problem(first)
        if problem is not None:
            raise InputError(f"header: {problem}", source=str(sensors), line=1)
        header = parse_header(first, source=str(sensors))
    configure(log_level, log_format)
    node = Node.open(dir)
    try:
        opts = IngestOptions(url=nats, stream=stream, durable=consumer or f"ingest-{node.party}", prefix=prefix,
                             marking=marking, status=status, epoch=parse_rfc3339(epoch, field="epoch"),
                             clock_ahead_s=clock_ahead,
                             batch=batch, idle_exit_s=idle_exit, alerts=alerts, quiet_gc=True,
                             alert_process=alert_process, alert_restarts=alert_restarts)
        ing = Ingest(node, header, opts)
        ing.log_config = (log_level, log_format)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            # SIGHUP too, as `node serve` does: a closed terminal or a service manager's reload
            # stops the ingest cleanly (what it took finished and acknowledged) instead of killing it
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, stop.set)
            await ing.run(stop)

        # the node's consoles, served by other processes, hear of each stored batch at once
        with EventBridge(node, nats, prefix=prefix):
            asyncio.run(main())
    finally:
        node.close()
    summary = ing.summary.to_json()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(f"ingested {plural(summary['scans'], 'scan')} ({plural(summary['detections'], 'detection')}), stored "
                  f"{plural(summary['items'], 'item')}; refused {summary['refused']}, skipped {summary['skipped']} "
                  "already processed", highlight=False)


def watch(
    nats: NatsOpt,
    party: Annotated[Optional[str], typer.Option(
        "--party", help="Party whose warning events to follow (default with --dir: the node's).")] = None,
    key: Annotated[Optional[str], typer.Option(
        "--key", envvar="ACCORD_WATCH_KEY",
        help="The party's node public key (base64, as `accord node show` prints it): only events it signed "
             "are shown.")] = None,
    dir: Annotated[Optional[Path], typer.Option(
        "--dir", help="Or the node's directory, to take its public key (and party) from.")] = None,
    prefix: PrefixOpt = "accord",
    count: Annotated[Optional[int], typer.Option("--count", min=1, help="Stop after this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One item (JSON) a line.")] = False,
) -> None:
    """Print the warning events (tracks, predictions, alerts) an ingest publishes, as they come,
    each once its signature by the node's key verifies (the others: one warning line each)."""
    from accord.core.identity import public_key_from_b64
    from accord.core.parties import check_party
    from accord.feeds.watch import watch as run
    from accord.logs import configure

    if (key is None) == (dir is None):
        raise InputError("give the node's public key: --key (base64, as `accord node show` prints it) or --dir "
                         "(the node's directory), one of them: only events signed by it are shown", field="key")
    if dir is not None:
        from accord.node import Node

        with Node.open(dir) as node:
            pub, node_party = node.identity.public_key, node.party
        if party is not None and check_party(party.upper()) != node_party:
            raise InputError(f"--party {party}: the node in {dir} is {node_party}, whose events its key signs",
                             field="party")
        party = node_party
    else:
        assert key is not None
        pub = public_key_from_b64(key.strip(), field="key")
    if party is None:
        raise InputError("give --party: whose warning events to follow", field="party")
    watched = check_party(party.upper())
    configure("warning")   # a subject the NATS server refuses this user is a warning line on stderr

    def show(item) -> None:
        if as_json:
            typer.echo(json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":")))
            return
        typer.echo(watch_line(item))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(nats, watched, show, key=pub, prefix=prefix, stop=stop, limit=count,
                  # the line holds what a publisher sent (a field's name, an id): no control character
                  on_error=lambda line: typer.echo(f"warning: {plain(line).plain}", err=True))

    asyncio.run(main())


def watch_line(item: Any) -> str:
    """``accord warning watch``'s line for an item. The body is whoever published it: a number
    that is not one (``null``, a string, ``true``) is shown as it is, not formatted; white space
    (a newline in a track id) is one space, and a control character (ESC …) is left out."""
    b = item.body

    def deg(key: str) -> str:
        v = b.get(key)
        return f"{v:.2f}" if type(v) in (int, float) else repr(v)[:40]

    what = {"warning.track": lambda: f"track {b.get('track_id')} t={b.get('t')}",
            "warning.prediction": lambda: f"prediction {b.get('track_id')} t={b.get('t')} "
                                          f"impact {deg('impact_lat_deg')},{deg('impact_lon_deg')}",
            "warning.alert": lambda: f"alert {b.get('msgType')} {b.get('identifier')}"}.get(item.kind, lambda: "")()
    return plain(" ".join(f"{item.created_text()} {item.kind} {what} {item.id}".split())).plain


def register(root: typer.Typer) -> None:
    """Add ``feed``, ``ingest`` and ``watch`` to the ``accord warning`` app."""
    for group in root.registered_groups:
        if group.name == "warning" and group.typer_instance is not None:
            for name, fn in (("feed", feed), ("ingest", ingest), ("watch", watch)):
                group.typer_instance.command(name)(fn)
            return
    raise ConfigError("accord warning is missing: cannot add feed/ingest/watch")  # pragma: no cover
