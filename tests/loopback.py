"""Loopback ports for the servers the tests start, shared by every area (the root conftest.py
puts this directory on ``sys.path``; a module of its own name, since taky installs a top-level
``tests`` package).

Picking a port by binding port 0, closing the socket and starting a server on that number later
leaves a window in which another process (another xdist worker's server, an outgoing connection
given that ephemeral port) can take it. So:

* a server started in this process is given a socket that is already bound and listening
  (:func:`listening_socket`; uvicorn: ``Server.run(sockets=[sock])``): there is no window;
* a server in another process must be told a number (:func:`free_port`); it is started with
  :func:`retry_in_use`, which starts it again when it failed because the port was taken, and
  says so plainly when that keeps happening.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's ``ip_local_port_range``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port that was free a moment ago: only for a server in another process, started
    through :func:`retry_in_use`. Drawn below the kernel's ephemeral range when there is room:
    a port from that range (what binding port 0 gives) can be taken for as long as it lives by
    any outgoing connection on the machine — a client of PostgreSQL or NATS in another pytest
    process — and a server restarted on its port (a receiver stopped and started again) then
    found it taken on every try."""
    low = _ephemeral_low()
    if low > 12_000:
        rng = random.Random()
        for _ in range(50):
            port = rng.randrange(10_000, low)
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def listening_socket() -> socket.socket:
    """A socket bound to a free loopback port and listening: hand it to the server itself."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def says_in_use(text: str) -> bool:
    """Whether a server's error or log says its address was already in use (uvicorn, accord node
    serve, PostgreSQL, nginx and Python's OSError all say it in these words)."""
    return "address already in use" in text.lower()


class PortStayedInUse(RuntimeError):
    """A server could not bind its port, try after try."""


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on TCP ``port`` (Linux's /proc): a
    connection that succeeds may reach another process that took the port first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{f[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


def retry_in_use(start: Callable[[int], T], ports: Callable[[], int] = free_port, *, attempts: int = 5,
                 what: str = "server", pause: float = 0.2) -> T:
    """``start(port)`` on ``ports()`` (a fresh free port each time by default; a constant function
    keeps a port the test has already handed out, waiting ``pause`` seconds longer each time for
    whoever holds it to let go). An exception from ``start`` whose message says the address was
    in use starts it again, up to ``attempts`` times; any other exception goes straight through."""
    last: BaseException | None = None
    tried: list[int] = []
    for i in range(attempts):
        port = ports()
        tried.append(port)
        try:
            return start(port)
        except Exception as exc:  # noqa: BLE001 - re-raised unless the port was taken
            if not says_in_use(str(exc)):
                raise
            last = exc
            time.sleep(pause * (i + 1))
    raise PortStayedInUse(f"{what} could not listen: port(s) {', '.join(map(str, sorted(set(tried))))} "
                          f"already in use by another process on each of {attempts} tries "
                          f"(last error: {str(last).strip().splitlines()[-1] if last else '?'})") from last


@contextmanager
def uvicorn_thread(app: Any, *, name: str = "uvicorn", timeout: float = 20.0,
                   **config: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread on a socket bound before it starts; yield its
    base URL (``http://127.0.0.1:<port>``); stop the server on leaving. ``config`` goes to
    ``uvicorn.Config`` (default ``log_level="warning"``, ``lifespan="off"``)."""
    import uvicorn

    config = {"log_level": "warning", "lifespan": "off", **config}
    sock = listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"uvicorn ({name}) did not start on its socket, port {port}")
            time.sleep(0.02)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
