"""``accord exercise run --transport http``: the same exercise with every node served by its own
uvicorn server on loopback, envelopes and tree heads travelling as signed HTTP requests
(:class:`accord.federation.HttpTransport` → the partner API of :func:`accord.api.app.create_app`):
:class:`HttpDelivery`, the :class:`~accord.exercise.delivery.Delivery` the runner is given.

The simulated network still decides, in simulated time, which requests are delayed, lost or cut
by a partition; a request that gets through is a real HTTP POST. A crashed node's server stops;
its restart serves the reopened node on the same port.

Each server is handed a socket already bound and listening: a free port is bound when it is
picked (as the partners are pinned), so no other process can take it before the server starts.
A crashed node's server closes its socket (connections are refused while it is down); the
restart binds the same port again, and says so in one line if another process took it meanwhile.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

from accord.api.app import create_app
from accord.console.sessions import login_codes, new_secret
from accord.errors import FederationError, InputError
from accord.exercise.nodes import World
from accord.federation import HttpTransport
from accord.federation.inbox import BatchAck
from accord.federation.schema import write_lock
from accord.federation.tokens import create_token, token_digest

if TYPE_CHECKING:
    from accord.node import Node


def _listen(party: str, port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` (0: a free one) and listening, for ``party``'s server."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own: a restart
        sock.bind(("127.0.0.1", port))                                 # beside TIME_WAIT connections
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise FederationError(f"the {party} node's server cannot listen on 127.0.0.1:{port}: "
                              f"{exc.strerror or exc}") from None
    return sock


class _Server:
    """uvicorn in a thread on ``sock``, which it closes when it stops."""

    def __init__(self, node: Node, sock: socket.socket) -> None:
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(node), log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       name=f"accord-{node.party}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise FederationError(f"the {node.party} node's server did not start on port {port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()  # uvicorn closed it already unless it failed to start


class _Heads:
    """Tree-head exchange over HTTP, refused across a partition or to a crashed node."""

    def __init__(self, world: World, http: HttpTransport) -> None:
        self.world = world
        self.http = http

    def _check(self, node: Node, party: str) -> None:
        if not self.world.states[party].up or not self.world.net.reachable(node.party, party, self.world.t):
            raise FederationError(f"{party} unreachable from {node.party}")

    def get_checkpoint(self, node: Node, party: str) -> str:
        self._check(node, party)
        return self.http.get_checkpoint(node, party)

    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]:
        self._check(node, party)
        return self.http.get_consistency(node, party, first, second)


class HttpDelivery:
    """Each node behind its own server on a loopback port (``ports``, else free ones picked and
    bound as the partners are pinned); a batch that arrives is POSTed to the receiver's partner API."""

    transport = "http"

    def __init__(self, ports: dict[str, int] | None = None) -> None:
        self.ports: dict[str, int] = dict(ports or {})
        self.sockets: dict[str, socket.socket] = {}  # bound for a picked port until its server starts
        self.servers: dict[str, _Server] = {}
        self.http = HttpTransport(timeout=30.0)

    def partner_url(self, party: str) -> str | None:
        if party not in self.ports:
            sock = _listen(party, 0)
            self.sockets[party] = sock
            self.ports[party] = sock.getsockname()[1]
        return f"http://127.0.0.1:{self.ports[party]}"

    def _socket(self, party: str) -> socket.socket:
        """The socket bound when the port was picked, else the party's port bound now."""
        return self.sockets.pop(party, None) or _listen(party, self.ports[party])

    def start(self, world: World) -> None:
        for party, st in world.states.items():
            self.partner_url(party)
            assert st.node is not None, f"{party}'s node is opened before its server starts"
            self.servers[party] = _Server(st.node, self._socket(party))

    def receive(self, world: World, src: str, dst: str, parsed: list[dict[str, Any]],
                envelopes: list[bytes]) -> BatchAck:
        sender = world.states[src].node
        if sender is None:  # the sender crashed with this request in flight: it is simply lost
            raise FederationError(f"{src} is down")
        return self.http.send(sender, dst, envelopes)

    def heads(self, world: World) -> Any:
        return _Heads(world, self.http)

    def node_down(self, party: str) -> None:
        server = self.servers.pop(party, None)
        if server is not None:
            server.stop()

    def node_up(self, party: str, node: Node) -> None:
        if party not in self.servers:
            self.servers[party] = _Server(node, self._socket(party))

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        self.http.close()


@dataclass(frozen=True)
class ConsoleLink:
    """Where one party's console is, and a one-time link that logs its watch officer in."""

    party: str
    url: str
    login_link: str


class ConsoleDelivery(HttpDelivery):
    """``accord exercise run --console``: the HTTP delivery with each node's console live on
    ``port + i`` (or a free port) and an exercise token of the node's own party (scope
    ``admin``) behind a one-time login link, given to ``announce`` once every console is up.

    The nodes' clock is the runner's simulated clock, so the items they store, the console's
    30-minute windows and the alerts' countdowns all follow simulated time.
    """

    def __init__(self, parties: list[str], *, port: int | None = None,
                 announce: Callable[[list[ConsoleLink]], None] | None = None) -> None:
        ports = None
        if port is not None:
            if not 1 <= port <= 65535 - len(parties):
                raise InputError(f"port {port} out of range: {len(parties)} consecutive ports from it "
                                 "must fit below 65536", field="port")
            ports = {p: port + i for i, p in enumerate(parties)}
        super().__init__(ports)
        self.announce = announce or (lambda links: None)
        self.links: list[ConsoleLink] = []

    def start(self, world: World) -> None:
        super().start(world)
        self.links = []
        for party, st in world.states.items():
            assert st.node is not None
            with write_lock(st.node):
                secret = create_token(st.node.conn, f"exercise-console-{new_secret()[:8]}", party, {"admin"},
                                      now=world.clock.now())
            code = login_codes(st.node).issue(token_digest(secret))
            base = f"http://127.0.0.1:{self.ports[party]}"
            self.links.append(ConsoleLink(party, f"{base}/console/", f"{base}/console/login/once?code={code}"))
        self.announce(self.links)
