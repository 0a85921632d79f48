"""deploy/nats/accord-users.conf on a real NATS server: each kind of Accord process runs as its own
user with only the subjects that file allows it — the feed, the ingest, the watch and a node's
event bridge all work so — and what a user is not allowed the server refuses: a watching display
cannot announce a warning, no user can put a message into the ingest's pulls or read them.

The server is this test's own (a free loopback port, its own JetStream store), started with the
deploy file as shipped (copied beside a config that listens on loopback), so the defaults the
file names — prefix ``accord``, party JPN, stream ``ACCORD_RADAR``, consumer ``ingest-JPN`` — are
the commands' own defaults."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from feeds_helpers import accord, run
from loopback import retry_in_use
from accord.feeds.nats_connect import INBOX_ROOT, connect, inbox_prefix
from accord.node import Node

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
PASSWORDS = {"feed": "feed-pw-1", "ingest": "ingest-pw-2", "serve": "serve-pw-3", "watch": "watch-pw-4"}


@pytest.fixture
def secured(tmp_path):
    """``{user: nats://user:password@127.0.0.1:port}`` of a nats-server run with the deploy users."""
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.fail("nats-server is not installed (scripts/test.sh installs Debian's)")
    shutil.copy(DEPLOY / "accord-users.conf", tmp_path / "accord-users.conf")
    env = {**os.environ, **{f"ACCORD_NATS_{u.upper()}_PASSWORD": pw for u, pw in PASSWORDS.items()}}
    procs: list[subprocess.Popen] = []

    def start(port: int) -> int:
        conf = tmp_path / "nats.conf"
        conf.write_text(f"listen: 127.0.0.1:{port}\njetstream {{ store_dir: {tmp_path / 'js'} }}\n"
                        "include ./accord-users.conf\n")
        p = subprocess.Popen([binary, "-c", str(conf)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if p.poll() is not None:
                raise RuntimeError(p.stderr.read() if p.stderr else f"nats-server exited {p.returncode}")
            try:
                asyncio.run(_ping(f"nats://watch:{PASSWORDS['watch']}@127.0.0.1:{port}"))
                procs.append(p)
                return port
            except OSError:
                time.sleep(0.1)
            except Exception:   # noqa: BLE001 - nats-py's own errors while the server starts
                time.sleep(0.1)
        p.kill()
        raise RuntimeError("nats-server did not answer within 20 s")

    port = retry_in_use(start, what="nats-server")
    yield {u: f"nats://{u}:{pw}@127.0.0.1:{port}" for u, pw in PASSWORDS.items()}
    for p in procs:
        p.terminate()
        p.wait(timeout=20)


async def _ping(url: str) -> None:
    import nats

    async def quiet(_exc: Exception) -> None:
        return None

    nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False, max_reconnect_attempts=1, error_cb=quiet)
    await nc.close()


def test_each_process_gets_its_answers_on_its_own_inbox():
    assert inbox_prefix("JPN", "ingest") == f"{INBOX_ROOT}.JPN.ingest"
    with pytest.raises(ValueError, match="unknown NATS role"):
        inbox_prefix("JPN", "admin")


def test_feed_ingest_and_watch_run_as_the_deploy_users(tmp_path, secured, japan_scenario):
    """Under nats-py's shared ``_INBOX`` the feed could not read JetStream's acknowledgements of
    its publishes (its user may read its own inbox only) and the ingest could not pull."""
    Node.init(tmp_path / "jpn", "JPN").close()
    watch = subprocess.Popen(accord("warning", "watch", "--nats", secured["watch"], "--dir", tmp_path / "jpn",
                                    "--count", "5", "--json"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ingest = accord("warning", "ingest", "--dir", tmp_path / "jpn", "--sensors", japan_scenario, "--json")
    as_ingest = {**os.environ, "ACCORD_NATS_INGEST": secured["ingest"]}   # as the unit gives it
    try:
        # the ingest makes the radar stream (the feed's user may not), so it starts first
        r = subprocess.run(ingest + ["--idle-exit", "1"], env=as_ingest, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        r = run(accord("warning", "feed", japan_scenario, "--nats", secured["feed"], "--party", "JPN",
                       "--speed", "max", "--json"))
        assert r.returncode == 0, r.stderr
        fed = json.loads(r.stdout)
        r = subprocess.run(ingest + ["--idle-exit", "2"], env=as_ingest, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert (got["scans"], got["refused"]) == (fed["scans"], 0) and fed["scans"] > 100
        out, err = watch.communicate(timeout=120)
        assert watch.returncode == 0, err
    finally:
        watch.kill() if watch.poll() is None else None
    events = [json.loads(line) for line in out.splitlines()]
    with Node.open(tmp_path / "jpn") as node:
        alerts = node.items(kind="warning.alert")
        ids = {i.id for k in ("warning.track", "warning.prediction", "warning.alert") for i in node.items(kind=k)}
    assert alerts and len(events) == 5 and {e["id"] for e in events} <= ids


def test_a_nodes_event_bridge_runs_as_the_serve_user(tmp_path, secured):
    from accord.core.items import new_item
    from accord.core.markings import Marking
    from accord.feeds.events import EventBridge

    a_node = Node.init(tmp_path / "JPN", party="JPN")
    b_node = Node.open(tmp_path / "JPN")
    try:
        with EventBridge(a_node, secured["serve"]) as a, EventBridge(b_node, secured["serve"]):
            heard: list = []
            b_node.bus.subscribe(heard.append)
            a_node.put_item(new_item("test.note", {"text": "x"}, Marking.parse("RESTRICTED"), "JPN",
                                     a_node.clock.now()))
            end = time.monotonic() + 30   # a loaded machine: the sender counts its send after the publish
            while not (heard and a.sent) and time.monotonic() < end:
                time.sleep(0.02)
            assert a.sent == 1 and [e.data["via"] for e in heard] == ["nats"]
    finally:
        a_node.close()
        b_node.close()


def test_what_a_user_is_not_allowed_the_server_refuses(secured):
    """A display's watch user announcing a warning, a radar site's feed user changing the radar
    stream (sealing it, shrinking its limits) or writing into the
    ingest's pull inbox or reading it, the serve user publishing a scan: each refused by the
    server (a permissions violation), and nothing reaches the subjects' readers."""
    import nats

    async def scenario() -> tuple[list[str], list[bytes]]:
        refused: list[str] = []
        received: list[bytes] = []

        async def on_error(exc: Exception) -> None:
            refused.append(str(exc))

        async def keep(msg) -> None:
            received.append(msg.data)

        ingest = await connect(secured["ingest"], party="JPN", role="ingest")
        inbox = ingest.new_inbox()
        await ingest.subscribe(inbox, cb=keep)
        reader = await nats.connect(secured["watch"], error_cb=on_error, allow_reconnect=False)
        await reader.subscribe("accord.JPN.radar.>", cb=keep)                   # not the watch's to read
        await ingest.flush()
        await reader.flush()
        for user, subject in (("watch", "accord.JPN.warning.alert"), ("feed", inbox),
                              ("serve", "accord.JPN.radar.JPN-TPY2"), ("feed", "$JS.API.STREAM.UPDATE.ACCORD_RADAR")):
            nc = await nats.connect(secured[user], error_cb=on_error, allow_reconnect=False)
            await nc.publish(subject, b'{"forged": true}')
            await nc.flush()
            await asyncio.sleep(0.3)
            await nc.close()
        spy = await nats.connect(secured["feed"], error_cb=on_error, allow_reconnect=False)
        await spy.subscribe(f"{INBOX_ROOT}.JPN.ingest.>", cb=keep)             # reading the ingest's pulls
        await spy.flush()
        await asyncio.sleep(0.3)
        await spy.close()
        await reader.close()
        await ingest.close()
        return refused, received

    refused, received = asyncio.run(scenario())
    text = "\n".join(refused).lower()
    assert received == []
    for what in ('publish to "accord.jpn.warning.alert"', f'publish to "{INBOX_ROOT.lower()}.jpn.ingest.',
                 'publish to "accord.jpn.radar.jpn-tpy2"', 'subscription to "accord.jpn.radar.>"',
                 'publish to "$js.api.stream.update.accord_radar"',
                 f'subscription to "{INBOX_ROOT.lower()}.jpn.ingest.>"'):
        assert what in text, refused



@pytest.mark.parametrize("command, user, refused", [
    (("warning", "feed", "{scenario}", "--party", "JPN", "--speed", "max"), "serve",
     'publish to "$js.api.stream.info.accord_radar"'),
    (("warning", "ingest", "--dir", "{node}", "--sensors", "{scenario}", "--idle-exit", "1"), "watch",
     'publish to "$js.api.stream.info.accord_radar"'),
    (("warning", "watch", "--dir", "{node}", "--count", "1"), "feed", 'subscription to "accord.jpn.warning.>"'),
])
def test_a_command_run_as_a_user_the_server_refuses_says_what_it_refused(tmp_path, secured, japan_scenario,
                                                                          command, user, refused):
    """It said `error: nats: timeout` (the refused request got no answer), and the watch waited for
    ever on a subscription that could get nothing."""
    Node.init(tmp_path / "jpn", "JPN").close()
    args = [a.format(scenario=japan_scenario, node=tmp_path / "jpn") for a in command]
    r = run(accord(*args[:2], "--nats", secured[user], *args[2:]), timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith("error: the NATS server at nats://"), r.stderr
    assert refused in last and "deploy/nats/accord-users.conf" in last, last
    assert "NATS refused this user" in r.stderr                     # the warning line before it
    assert PASSWORDS[user] not in r.stderr + r.stdout
