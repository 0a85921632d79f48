"""Helpers for the federation tests: three nodes, their agreements, and node server processes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.federation import Federation, InProcessNetwork
from accord.node import Node
from loopback import free_port, retry_in_use

PARTIES = ("JPN", "KOR", "USA")
ROOT = Path(__file__).resolve().parents[2]


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (read from /proc): a server's workers."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def agreements_for(nodes: dict[str, Node], now: datetime, *, days: int = 365):
    """The bilateral JPN–KOR agreement (everything up to SECRET) and the trilateral warning one."""
    keys = {p: n.identity.public_b64 for p, n in nodes.items()}
    start, end = now - timedelta(days=1), now + timedelta(days=days)
    out = []
    if {"JPN", "KOR"} <= set(nodes):
        rules = [(a, b, ["test.*", "intel.*", "dialogue.*", "warning.*"], "SECRET")
                 for a, b in (("JPN", "KOR"), ("KOR", "JPN"))]
        ag = new_agreement("jpn-kor-bilateral", ["JPN", "KOR"], {p: keys[p] for p in ("JPN", "KOR")},
                           rules, start, end, title="JPN-KOR bilateral")
        out.append(ag)
    tri = [p for p in PARTIES if p in nodes]
    if len(tri) == 3:
        rules = [(a, b, ["warning.*"], "SECRET") for a in tri for b in tri if a != b]
        out.append(new_agreement("trilateral-warning", tri, {p: keys[p] for p in tri}, rules, start, end,
                                 title="Trilateral missile warning"))
    signed = []
    for ag in out:
        for p in ag.parties:
            ag = sign_agreement(ag, nodes[p].identity)
        signed.append(ag)
    return signed


def make_nodes(base: Path, parties=PARTIES, *, ports: dict[str, int] | None = None, clock=None,
               store=None) -> dict[str, Node]:
    """Initialise nodes, pin each other's keys (and URLs), add the signed agreements. ``store``:
    a function of the party giving its node's ``--store`` URL (default: SQLite in its directory)."""
    nodes = {p: Node.init(base / p, party=p, clock=clock, store=store(p) if store else None) for p in parties}
    for p, n in nodes.items():
        for q, m in nodes.items():
            if p != q:
                url = f"http://127.0.0.1:{ports[q]}" if ports else None
                n.add_partner(q, m.identity.public_b64, url=url)
    from accord.federation.schema import ensure_federation_schema

    for n in nodes.values():
        ensure_federation_schema(n.conn)
    now = nodes[parties[0]].clock.now()
    for ag in agreements_for(nodes, now):
        for p in ag.parties:
            nodes[p].add_agreement(ag)
    return nodes


def attached(nodes: dict[str, Node]) -> InProcessNetwork:
    """One in-process network with every node of ``nodes`` attached."""
    net = InProcessNetwork()
    for n in nodes.values():
        net.attach(n)
    return net


class Rewriting(InProcessNetwork):
    """The in-process network, the receiver's acknowledgements altered on their way back: each
    receipt replaced by ``rewrite(receipt)`` (a lying receiver's bookkeeping)."""

    def __init__(self, rewrite) -> None:
        super().__init__()
        self.rewrite = rewrite

    def send(self, node, party, envelopes):
        ack = super().send(node, party, envelopes)
        return dataclasses.replace(ack, receipts=tuple(self.rewrite(r) for r in ack.receipts))


def naming(name) -> Rewriting:
    """:class:`Rewriting` that has each ``stored`` receipt name the ledger index ``name(receipt)``."""
    return Rewriting(lambda r: dataclasses.replace(r, ledger_index=name(r)) if r.status == "stored" else r)


def federation_over(nodes: dict[str, Node], net: InProcessNetwork) -> Federation:
    """``net`` with every node of ``nodes`` attached, and JPN's :class:`Federation` over it."""
    for n in nodes.values():
        net.attach(n)
    return Federation(nodes["JPN"], net)


@contextmanager
def networked(base: Path, parties=PARTIES, *, clock=None) -> Iterator[tuple[dict[str, Node], InProcessNetwork]]:
    """The ``parties``' nodes (:func:`make_nodes` under ``base``, on ``clock``: the real one by
    default) attached to one in-process network: ``(nodes, net)``. Every node in ``nodes`` is
    closed on leaving (a test that reopens a node puts the new one in ``nodes``)."""
    nodes = make_nodes(base, parties, clock=clock)
    try:
        yield nodes, attached(nodes)
    finally:
        for n in nodes.values():
            n.close()


@contextmanager
def federated(base: Path, parties=PARTIES) -> Iterator[tuple[dict[str, Node], InProcessNetwork, ManualClock, Federation]]:
    """:func:`networked` on one manual clock, and the first party's :class:`Federation` over the
    network: ``(nodes, net, clock, fed)``; the nodes closed on leaving."""
    clock = ManualClock()
    with networked(base, parties, clock=clock) as (nodes, net):
        yield nodes, net, clock, Federation(nodes[parties[0]], net)


def note(node: Node, n: int, *, kind: str = "test.note", banner: str = "RESTRICTED//REL TO JPN, KOR, USA"):
    return new_item(kind, {"n": n}, Marking.parse(banner), node.party, node.clock.now())


class NodeProcess:
    """``accord node serve`` in its own process on a loopback port: ``port`` when the test has
    handed it out already (pinned in partners' URLs), else a free one. A server that exits because
    its port was taken meanwhile is started again (:func:`loopback.retry_in_use`): on the same
    ``port`` after a pause, or on a fresh free one."""

    def __init__(self, dir: Path, port: int | None = None, *, wrapper: list[str] | None = None,
                 args: list[str] | None = None, scheme: str = "http") -> None:
        self.dir, self.wrapper, self.args, self.scheme = dir, wrapper or [], args or [], scheme
        self.fixed_port = port
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen | None = None
        self.log = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "NodeProcess":
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> "NodeProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [*self.wrapper, sys.executable, "-m", "accord.cli.main", "node", "serve", "--dir", str(self.dir),
               "--port", str(self.port), *self.args]
        if self.log is not None:
            self.log.close()
        self.log = open(self.dir / "serve.log", "ab")
        self.log_from = self.log.tell()  # this start's part of the log
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 90.0) -> "NodeProcess":
        """Until /health answers; spawned again while it exits with its port in use."""
        calls = 0

        def ports() -> int:
            nonlocal calls
            calls += 1
            return self.port if calls == 1 or self.fixed_port is not None else free_port()

        def attempt(port: int) -> "NodeProcess":
            if calls > 1:  # the last try's server exited: its port was in use
                self.port = port
                self.spawn()
            return self._ready(timeout)

        return retry_in_use(attempt, ports, what=f"accord node serve --dir {self.dir.name}")

    def _ready(self, timeout: float) -> "NodeProcess":
        assert self.proc is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                with open(self.dir / "serve.log", "rb") as log:
                    log.seek(self.log_from)
                    said = log.read().decode(errors="replace")
                raise RuntimeError(f"node server exited with {self.proc.returncode}: " + said[-2000:])
            try:
                # the health probe only: the certificate of a TLS node is checked by the tests themselves
                if httpx.get(self.url + "/health", timeout=0.5, verify=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("node server did not come up")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self.log is not None:
            self.log.close()
            self.log = None


def wait_for(pred, timeout: float = 30.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def now_utc() -> datetime:
    return datetime.now(UTC)


def db(dir: Path):
    """A read connection of its own to a node's database, SQLite or PostgreSQL (the server may
    be running)."""
    from accord.node.node import open_database

    return open_database(dir)


def received(dir: Path, originator: str) -> list[tuple[int, str]]:
    """(seq, item id) of the items a node stored from ``originator``, in sequence order."""
    conn = db(dir)
    try:
        return conn.execute("SELECT seq, item_id FROM fed_received WHERE originator=? ORDER BY seq",
                            (originator,)).fetchall()
    except Exception:  # table not made yet
        return []
    finally:
        conn.close()


def ledger_events(dir: Path, event_type: str) -> list[dict]:
    import json
    conn = db(dir)
    try:
        return [json.loads(r[0])["data"] for r in conn.execute(
            "SELECT leaf FROM ledger_leaves WHERE type=? ORDER BY idx", (event_type,))]
    finally:
        conn.close()


def outbox_states(dir: Path, recipient: str) -> dict[str, int]:
    conn = db(dir)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM fed_outbox WHERE recipient=? GROUP BY state",
                                 (recipient,)).fetchall())
    finally:
        conn.close()


def start_all(procs: dict[str, NodeProcess], timeout: float = 90.0) -> dict[str, NodeProcess]:
    """Spawn every server first, then wait for each (they start in parallel)."""
    for p in procs.values():
        p.spawn()
    for p in procs.values():
        p.wait_ready(timeout)
    return procs
