"""``accord exercise run --transport http``: the same exercise with every node served by its own
uvicorn server on loopback, envelopes and tree heads travelling as signed HTTP requests
(:class:`accord.federation.HttpTransport` → the partner API of :func:`accord.api.app.create_app`).

The simulated network still decides, in simulated time, which requests are delayed, lost or cut
by a partition; a request that gets through is a real HTTP POST. A crashed node's server stops;
its restart serves the reopened node on the same port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from accord.api.app import create_app
from accord.console.sessions import login_codes, new_secret
from accord.errors import FederationError, InputError
from accord.exercise.runner import Runner
from accord.federation import HttpTransport
from accord.federation.inbox import BatchAck
from accord.federation.schema import write_lock
from accord.federation.tokens import create_token, token_digest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, node: Any, port: int) -> None:
        config = uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"accord-{node.party}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise FederationError(f"the {node.party} node's server did not start on port {port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class _Heads:
    """Tree-head exchange over HTTP, refused across a partition or to a crashed node."""

    def __init__(self, runner: "HttpRunner") -> None:
        self.r = runner

    def _check(self, node: Any, party: str) -> None:
        if not self.r.states[party].up or not self.r.net.reachable(node.party, party, self.r.t):
            raise FederationError(f"{party} unreachable from {node.party}")

    def get_checkpoint(self, node: Any, party: str) -> str:
        self._check(node, party)
        return self.r.http.get_checkpoint(node, party)

    def get_consistency(self, node: Any, party: str, first: int, second: int) -> list[str]:
        self._check(node, party)
        return self.r.http.get_consistency(node, party, first, second)


class HttpRunner(Runner):
    transport = "http"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ports = {p.code: _free_port() for p in self.s.parties}
        self.servers: dict[str, _Server] = {}
        self.http = HttpTransport(timeout=30.0)

    def _partner_url(self, party: str) -> str | None:
        return f"http://127.0.0.1:{self.ports[party]}"

    def _head_transport(self) -> Any:
        return _Heads(self)

    def setup(self) -> None:
        super().setup()
        for party, st in self.states.items():
            self.servers[party] = _Server(st.node, self.ports[party])

    def _receive(self, src: str, dst: str, parsed: list[dict[str, Any]], envelopes: list[bytes]) -> BatchAck:
        sender = self.states[src].node
        if sender is None:  # the sender crashed with this request in flight: it is simply lost
            raise FederationError(f"{src} is down")
        return self.http.send(sender, dst, envelopes)

    def _inject_node_crash(self, inj: Any, rec: dict[str, Any]) -> None:
        server = self.servers.pop(inj.node, None)
        if server is not None:
            server.stop()
        super()._inject_node_crash(inj, rec)

    def _restarts(self, t: float) -> None:
        down = {p for p, st in self.states.items() if not st.up}
        super()._restarts(t)
        for party in down:
            st = self.states[party]
            if st.up and party not in self.servers:
                self.servers[party] = _Server(st.node, self.ports[party])

    def run(self, progress: bool = True) -> dict[str, Any]:
        try:
            return super().run(progress)
        finally:
            for server in self.servers.values():
                server.stop()
            self.http.close()


@dataclass(frozen=True)
class ConsoleLink:
    """Where one party's console is, and a one-time link that logs its watch officer in."""

    party: str
    url: str
    login_link: str


class ConsoleRunner(HttpRunner):
    """``accord exercise run --console``: the HTTP exercise paced at ``speed`` times real time,
    each node's console live on ``port + i`` (or a free port) with an exercise token of the
    node's own party (scope ``admin``) behind a one-time login link.

    The nodes' clock is the runner's simulated clock, so the items they store, the console's
    30-minute windows and the alerts' countdowns all follow simulated time.
    """

    def __init__(self, *args: Any, port: int | None = None, announce: Callable[[list[ConsoleLink]], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if port is not None:
            if not 1 <= port <= 65535 - len(self.s.parties):
                raise InputError(f"port {port} out of range: {len(self.s.parties)} consecutive ports from it "
                                 "must fit below 65536", field="port")
            self.ports = {p.code: port + i for i, p in enumerate(self.s.parties)}
        self.announce = announce or (lambda links: None)
        self.links: list[ConsoleLink] = []

    def setup(self) -> None:
        super().setup()
        self.links = []
        for party, st in self.states.items():
            assert st.node is not None
            with write_lock(st.node):
                secret = create_token(st.node.conn, f"exercise-console-{new_secret()[:8]}", party, {"admin"},
                                      now=self.clock.now())
            code = login_codes(st.node).issue(token_digest(secret))
            base = f"http://127.0.0.1:{self.ports[party]}"
            self.links.append(ConsoleLink(party, f"{base}/console/", f"{base}/console/login/once?code={code}"))
        self.announce(self.links)

