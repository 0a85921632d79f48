"""A node served by two real ``accord node serve`` processes with ``--nats``: the console's live
events and its sessions reach across them (accord.feeds.events, accord.console.sessions).

Each process's streams also read the ledger once a second, which would find another process's
writes without NATS; so the tests check where the wake-up came from too: the serving process's
``accord_bus_events_total{source="nats"}`` counts what its bridge brought from the other one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accord.federation.tokens import create_token
from accord.feeds.events import EventBridge, parse_wakeup
from accord.node import Node
from loopback import free_port, retry_in_use, says_in_use

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(240)


class Serve:
    """``accord node serve`` in a process of its own on a free loopback port (another one when the
    port was taken before the server bound it)."""

    def __init__(self, dir: Path, *args: str) -> None:
        retry_in_use(lambda port: self._start(port, dir, args), what="accord node serve")

    def _start(self, port: int, dir: Path, args: tuple[str, ...]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = dir.parent / f"serve-{self.port}.log"
        with open(self.logfile, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(dir), "--port",
                 str(self.port), *args], cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.logfile.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("node serve did not come up: " + self.logfile.read_text()[-2000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def _bridged(url: str, token: str) -> int:
    """Events this serving process's bridge brought from another process (its /metrics)."""
    text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    m = re.search(r'^accord_bus_events_total\{source="nats",topic="ledger"\} ([0-9.e+]+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


@pytest.fixture
def two_servers(tmp_path, nats_url, names):
    d = tmp_path / "JPN"
    node = Node.init(d, party="JPN")
    token = create_token(node.conn, "ops", node.party, {"admin"})
    node.close()
    nats = ["--nats", nats_url, "--nats-prefix", names.prefix]
    a = Serve(d, *nats)
    try:
        b = Serve(d, "--join", *nats)
    except BaseException:
        a.stop()
        raise
    yield a, b, token
    b.stop()
    a.stop()


def test_an_item_stored_through_one_process_reaches_the_console_stream_of_the_other(two_servers):
    a, b, token = two_servers
    with httpx.Client(base_url=b.url, timeout=10) as console:
        r = console.get("/console/login")
        r = console.post("/console/login", data={"token": token, "csrf": _csrf(r.text)})
        assert r.status_code == 303, r.text
        before = _bridged(b.url, token)
        got: list[dict] = []
        with console.stream("GET", "/console/events", timeout=30) as stream:
            assert stream.status_code == 200
            r = httpx.post(a.url + "/api/v1/items", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                           json={"kind": "test.note", "body": {"text": "from A"}, "marking": "RESTRICTED"})
            assert r.status_code == 201, r.text
            item_id = r.json()["item"]["id"]
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "item":
                    got.append(json.loads(line.split(":", 1)[1]))
                    if got[-1]["id"] == item_id:
                        break
    assert got[-1]["id"] == item_id and got[-1]["kind"] == "test.note"
    # the wake-up came over NATS from A (B's own writes count as "local")
    assert _bridged(b.url, token) > before


def test_a_console_session_made_on_one_process_serves_on_the_other_and_ends_on_both(two_servers):
    a, b, token = two_servers
    with httpx.Client(base_url=a.url, timeout=10, follow_redirects=False) as on_a:
        r = on_a.get("/console/login")
        r = on_a.post("/console/login", data={"token": token, "csrf": _csrf(r.text)})
        assert r.status_code == 303 and r.headers["location"] == "/console/"
        cookie = on_a.cookies["accord_console"]
    with httpx.Client(base_url=b.url, timeout=10, follow_redirects=False,
                      cookies={"accord_console": cookie}) as on_b:
        page = on_b.get("/console/")
        assert page.status_code == 200, page.headers.get("location")
        r = on_b.post("/console/logout", data={"csrf": _csrf(page.text)})
        assert r.status_code == 303
    with httpx.Client(base_url=a.url, timeout=10, follow_redirects=False,
                      cookies={"accord_console": cookie}) as again:
        r = again.get("/console/")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_the_bridge_carries_wakeups_between_processes_and_never_its_own_echo(tmp_path, nats_url, names):
    a_node = Node.init(tmp_path / "JPN", party="JPN")
    b_node = Node.open(tmp_path / "JPN")  # a second "process": its own bus
    try:
        with EventBridge(a_node, nats_url, prefix=names.prefix) as a, \
                EventBridge(b_node, nats_url, prefix=names.prefix) as b:
            heard: list = []
            b_node.bus.subscribe(heard.append)
            a_node.put_item(_note(a_node))
            end = time.monotonic() + 10
            while not heard and time.monotonic() < end:
                time.sleep(0.02)
            time.sleep(0.3)  # room for a wrong echo to arrive
            assert [e.data for e in heard] == [{"first": 0, "count": 1, "via": "nats"}]
            assert a.sent == 1 and b.received == 1 and a.received == 0 and b.sent == 0
    finally:
        a_node.close()
        b_node.close()


def _note(node: Node):
    from accord.core.items import new_item
    from accord.core.markings import Marking

    return new_item("test.note", {"text": "x"}, Marking.parse("RESTRICTED"), node.party, node.clock.now())


@pytest.mark.parametrize("raw, why", [
    (b"not json", "Expecting value"),
    (json.dumps({"topic": "ledger", "data": {"first": "0"}, "source": "s"}).encode(), "integer fields"),
    (json.dumps({"topic": "ledger", "data": {}, "source": "s", "item": {}}).encode(), "exactly topic"),
    (json.dumps({"topic": "a.b", "data": {}, "source": "s"}).encode(), "topic"),
    (b"{" + b" " * 2000 + b"}", "at most 1024"),
    (b"[" * 1024, "nested too deeply"),   # was a RecursionError, logged as a NATS connection error
])
def test_a_message_that_is_not_a_wakeup_is_refused_saying_why(raw, why):
    with pytest.raises(ValueError, match=why):
        parse_wakeup(raw)


def test_unknown_topics_and_a_flood_of_bad_messages_stay_bounded(tmp_path, nats_url, names, caplog):
    """Whoever can publish on the node's subjects chose the topic: each new one became a series of
    ``accord_bus_events_total`` (and a dict entry) for the life of the process, and each bad
    message a warning of its own."""
    import asyncio
    import logging

    import nats

    from accord.feeds.events import events_subject

    caplog.set_level(logging.WARNING, logger="accord.feeds.events")
    node = Node.init(tmp_path / "JPN", party="JPN")
    try:
        with EventBridge(node, nats_url, prefix=names.prefix) as bridge:
            async def flood() -> None:
                nc = await nats.connect(nats_url)
                subject = events_subject(names.prefix, "JPN", "ledger")
                for i in range(100):
                    await nc.publish(subject, json.dumps({"topic": f"t{i}", "data": {}, "source": "x"}).encode())
                    await nc.publish(subject, b"not json")
                await nc.flush()
                await nc.close()

            asyncio.run(flood())
            end = time.monotonic() + 10
            while bridge.dropped + bridge.received < 200 and time.monotonic() < end:
                time.sleep(0.02)
            assert bridge.dropped == 200 and bridge.received == 0
        assert node.bus.published == {}
        lines = [r for r in caplog.records if getattr(r, "event", None) == "events.bad_message"]
        assert 1 <= len(lines) <= 30
        assert "topic 't0' is not one this node publishes" in lines[0].getMessage()
    finally:
        node.close()


def test_several_nats_servers_comma_separated_as_the_deployment_gives_them(tmp_path, nats_url, names):
    """deploy/systemd/accord.env names the cluster's three servers in ACCORD_NATS, comma-separated;
    nats-py took the string for one URL and refused it ("invalid connect url option"), so
    `node serve --nats` and `warning ingest` did not start."""
    import asyncio

    from accord.feeds.events import check_nats
    from accord.feeds.nats_connect import connect

    several = f"{nats_url}, nats://127.0.0.1:{free_port()}"   # the second one down: the first serves
    check_nats(several)

    async def once() -> None:
        nc = await connect(several, party="JPN", role="ingest")
        await nc.close()

    asyncio.run(once())
    node = Node.init(tmp_path / "JPN", party="JPN")
    try:
        with EventBridge(node, several, prefix=names.prefix) as bridge:
            assert bridge.url == several
    finally:
        node.close()


def test_a_nats_url_with_credentials_is_named_without_its_password():
    """`nats://user:password@host` is how NATS takes a user and password; the one-line error
    printed it whole (to the terminal and the journal)."""
    import asyncio

    from accord.errors import ConfigError
    from accord.feeds.events import check_nats
    from accord.feeds.nats_connect import connect

    url = f"nats://ops:s3cret-pw@127.0.0.1:{free_port()},nats://ops:s3cret-pw@127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as refused:
        check_nats(url, timeout=1)
    with pytest.raises(ConfigError) as refused_too:
        asyncio.run(connect(url, party="JPN", role="feed"))
    for exc in (refused.value, refused_too.value):
        assert str(exc).startswith("cannot connect to NATS at nats://ops:[redacted]@127.0.0.1:")
        assert "s3cret-pw" not in str(exc)
    # a token as the whole user information (nats-py's token authentication)
    with pytest.raises(ConfigError) as refused:
        check_nats(f"nats://s3cret-t0ken@127.0.0.1:{free_port()}", timeout=1)
    assert str(refused.value).startswith("cannot connect to NATS at nats://[redacted]@127.0.0.1:")
    assert "s3cret-t0ken" not in str(refused.value)


def test_serve_with_an_unreachable_nats_fails_in_one_line(tmp_path):
    Node.init(tmp_path / "JPN", party="JPN").close()

    def serve(port: int) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(tmp_path / "JPN"),
                            "--port", str(port), "--nats", f"nats://127.0.0.1:{free_port()}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        if says_in_use(r.stderr):
            raise RuntimeError(r.stderr)
        return r

    r = retry_in_use(serve, what="accord node serve")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "cannot connect to NATS at nats://127.0.0.1:" in r.stderr


def test_workers_of_one_serve_hear_each_other_over_nats(tmp_path, nats_url, names):
    d = tmp_path / "JPN"
    node = Node.init(d, party="JPN")
    token = create_token(node.conn, "ops", node.party, {"admin"})
    node.close()
    server = Serve(d, "--workers", "2", "--nats", nats_url, "--nats-prefix", names.prefix)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        for i in range(6):  # the kernel spreads the connections over both workers
            with httpx.Client(timeout=10) as c:
                r = c.post(server.url + "/api/v1/items", headers=auth,
                           json={"kind": "test.note", "body": {"i": i}, "marking": "RESTRICTED"})
                assert r.status_code == 201, r.text
        seen = []

        def scrape() -> dict[str, int]:
            with httpx.Client(timeout=10) as c:
                text = c.get(server.url + "/metrics", headers=auth).text
            seen.append({src: int(float(n)) for src, n in re.findall(
                r'^accord_bus_events_total\{source="(\w+)",topic="ledger"\} ([0-9.e+]+)$', text, re.M)})
            return seen[-1]

        # a scrape sums the workers' buses: each write once as local (the worker that made it) and
        # once as nats (the other worker's bus, its bridge brought it): every worker heard all six
        end = time.monotonic() + 60
        while scrape() != {"local": 6, "nats": 6} and time.monotonic() < end:
            time.sleep(0.05)
        assert seen[-1] == {"local": 6, "nats": 6}, seen[-20:]
        assert [scrape() for _ in range(10)] == [{"local": 6, "nats": 6}] * 10
    finally:
        server.stop()
