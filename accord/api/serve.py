"""Serving a node (``accord node serve``) truthfully: one server per node directory, bound before
it says so, plain HTTP only on loopback.

The steps, each refusing with one line before anything is served:

1. :func:`check_port` — a TCP port is 1–65535 (the OS would take 99999 modulo 65536, or 0 as
   "any free port", and the server would listen somewhere else than it said).
2. :class:`ServeLock` — ``DIR/serve.lock`` (0600) holds the PID of the process serving the
   directory, under an exclusive ``flock``: a second server of the same node (two delivery
   workers draining one outbox) is refused, naming that PID. The kernel drops the ``flock``
   when its process dies, however it dies, so a lock file left by a dead process is taken over
   (and said so); a PID reused by an unrelated process cannot keep the lock.
3. :func:`check_plain_http` — HTTP without TLS on an address other than loopback needs
   ``--insecure``, which is ledgered (``insecure.http``, :mod:`accord.core.plain_http`).
4. :func:`bind` — the listening socket is made here; an address in use or not this machine's is
   an error, not a log line after "serving on".
5. :func:`run` — uvicorn serves on that socket; ``on_started`` runs once the application's
   startup has completed, which is when the CLI prints "serving on …".
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from accord.core.plain_http import is_loopback_host
from accord.errors import ConfigError, InputError
from accord.store.private_files import FILE_MODE

LOCK_FILE = "serve.lock"


def check_port(port: int) -> int:
    """``port`` if it is a TCP port a server can name (1–65535), else :class:`InputError`."""
    if not 1 <= port <= 65535:
        raise InputError(f"port {port} is not a TCP port (1–65535)", field="port")
    return port


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ServeLock:
    """``DIR/serve.lock``: held (``flock``) by the one process serving node directory ``DIR``.

    ``acquire`` raises :class:`ConfigError` naming the holder's PID if another process serves
    the directory. ``taken_over`` is the PID a dead process left in the file, if any. The file
    is never deleted (a waiter could lock a deleted file while a third process makes a new
    one); ``release`` empties it.
    """

    def __init__(self, node_dir: str | Path) -> None:
        self.path = Path(node_dir) / LOCK_FILE
        self.taken_over: int | None = None
        self._fd: int | None = None

    def acquire(self) -> "ServeLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot make the serve lock: {exc.strerror}") from None
        try:
            os.fchmod(fd, FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                raise ConfigError(f"{self.path.parent} is already served by process "
                                  f"{holder if holder is not None else '(unknown)'} ({self.path}); stop that "
                                  "server first: two servers of one node would deliver its outbox twice") from None
            self.taken_over = _read_pid(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # drops the flock
            self._fd = None

    def __enter__(self) -> "ServeLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def check_plain_http(host: str, *, tls: bool, insecure: bool) -> bool:
    """Refuse plain HTTP off loopback unless ``insecure``; True when it is accepted that way (the
    caller then warns and, once bound, ledgers it with :func:`record_plain_http`)."""
    if tls or is_loopback_host(host):
        return False
    if not insecure:
        raise ConfigError(f"serving plain HTTP on {host} (not loopback) would send bearer tokens and partners' "
                          "envelopes across the network unencrypted; serve HTTPS with --tls (after `accord node "
                          "tls init`), or pass --insecure to accept it (recorded in the ledger)")
    return True


def record_plain_http(node: Any, host: str, port: int) -> int:
    """Ledger ``insecure.http`` (``use: serve``) for a server accepted with ``--insecure``."""
    return node.record_plain_http({"use": "serve", "address": f"http://{host_port(host, port)}"})


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, or :class:`ConfigError` saying why not."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"cannot serve on host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host_port(host, port)}: {exc.strerror or exc}") from None
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None],
                 on_stopped: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started, self._on_stopped = on_started, on_stopped

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:  # the application's startup failed: nothing is served
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets=sockets)
        finally:
            # here, not after run(): uvicorn re-raises a SIGTERM it caught once it has shut down
            self._on_stopped()


def run(app: Any, sock: socket.socket, *, on_started: Callable[[], None], on_stopped: Callable[[], None],
        log_level: str = "warning", ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> None:
    """Serve ``app`` on the bound ``sock`` until stopped (SIGINT/SIGTERM); uvicorn's own messages at
    ``log_level`` through the handlers already configured (:func:`accord.logs.configure`). ``on_started`` runs
    once the application has started and the socket accepts connections, ``on_stopped`` once
    the server has shut down (before a caught SIGTERM ends the process)."""
    # log_config=None: the handlers accord.logs set up stay (uvicorn would replace them)
    config = uvicorn.Config(app, log_config=None, log_level=log_level, access_log=False,
                            ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    _Server(config, on_started, on_stopped).run(sockets=[sock])
