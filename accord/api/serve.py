"""Serving a node (``accord node serve``) truthfully: one server per node directory, bound before
it says so, plain HTTP only on loopback.

The steps, each refusing with one line before anything is served:

1. :func:`check_port` — a TCP port is 1–65535 (the OS would take 99999 modulo 65536, or 0 as
   "any free port", and the server would listen somewhere else than it said).
2. :class:`ServeLock` — ``DIR/serve.lock`` (0600) holds the PID of the process serving the
   directory, under a ``flock``: a second, independent server of the same node is refused,
   naming that PID, unless it says it co-operates (``--join``). The kernel drops the ``flock``
   when its process dies, however it dies, so a lock file left by a dead process is taken over
   (and said so); a PID reused by an unrelated process cannot keep the lock.
3. :func:`check_plain_http` — HTTP without TLS on an address other than loopback needs
   ``--insecure``, which is ledgered (``insecure.http``, :mod:`accord.core.plain_http`).
4. :func:`bind` — the listening socket is made here; an address in use or not this machine's is
   an error, not a log line after "serving on".
5. :func:`run` — uvicorn serves on that socket, holding at most so many connections in all and
   per client address (:mod:`accord.api.conn_limit`; ``node serve`` first raises the process's
   open-files limit to its hard limit), over TLS from each connection's accept, its handshake
   included (:mod:`accord.api.tls_accept`); ``on_started`` runs once the application's
   startup has completed, which is when the CLI prints "serving on …". With ``--workers N``,
   :func:`run_workers` forks N processes that each run the application on that one socket
   (the kernel spreads connections among them), replaces one that dies, and announces once all
   have started.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from accord.api.conn_limit import ConnectionLimits
from accord.api.conn_limit import raise_open_files_limit as raise_open_files_limit  # re-exported
from accord.api.http_head import MAX_HEAD_BYTES as MAX_HEAD_BYTES  # re-exported: the bound in force
from accord.api.http_head import http_protocol
from accord.api.serve_lock import LOCK_FILE as LOCK_FILE  # re-exported
from accord.api.serve_lock import ServeLock as ServeLock  # re-exported: step 2 below
from accord.api.tls_accept import accepting, server_context
from accord.core.files import write_runtime_file
from accord.core.plain_http import is_loopback_host
from accord.errors import ConfigError, InputError

if TYPE_CHECKING:
    from accord.node import Node

#: The URL `accord node serve` last served the directory on (``http(s)://host:port``), written when
#: it starts serving; `accord node token create` builds its example request on it.
URL_FILE = "serve.url"


def record_url(node_dir: str | Path, url: str) -> None:
    """Keep ``url`` in ``DIR/serve.url`` (replaced atomically, mode 0600)."""
    write_runtime_file(Path(node_dir) / URL_FILE, (url + "\n").encode("utf-8"))


def last_url(node_dir: str | Path) -> str | None:
    """The URL in ``DIR/serve.url``, or None if the node was never served (or the file is not one)."""
    try:
        url = (Path(node_dir) / URL_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    # only what record_url writes (scheme://host:port, an IPv6 host in brackets): the URL goes into
    # a curl command printed to be pasted into a shell, where '$(…)', ';' or '`' would run
    return url if _URL_RE.fullmatch(url) else None


_URL_RE = re.compile(r"https?://(\[[0-9A-Za-z:.%]+\]|[0-9A-Za-z.-]+):[0-9]{1,5}")


def check_port(port: int) -> int:
    """``port`` if it is a TCP port a server can name (1–65535), else :class:`InputError`."""
    if not 1 <= port <= 65535:
        raise InputError(f"port {port} is not a TCP port (1–65535)", field="port")
    return port


MAX_WORKERS = 64


def check_workers(workers: int) -> int:
    """``workers`` if it is a number of server processes ``node serve`` runs (1–64)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers {workers}: give 1 to {MAX_WORKERS} server processes", field="workers")
    return workers


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is a number of envelopes a delivery POST may carry (1 or more): 0 read
    no queued envelope at all (SQL ``LIMIT 0``), so the node served but never delivered, and a
    negative number read the whole queue (``LIMIT -1``)."""
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: give 1 or more envelopes per delivery POST",
                         field="batch-size")
    return batch_size


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


def record_plain_http(node: Node, host: str, port: int) -> int:
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
        self.signals: set[int] = set()  # the stop signals received so far

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's SIGINT and SIGTERM, and SIGHUP too (by default it ended the process at once)."""
        main = threading.current_thread() is threading.main_thread()  # (signals are the main thread's)
        previous = signal.signal(signal.SIGHUP, self.handle_exit) if main else None
        try:
            with super().capture_signals():
                yield
        finally:
            if main:
                signal.signal(signal.SIGHUP, previous)

    def handle_exit(self, sig: int, frame: Any) -> None:
        # the same signal again (uvicorn forced only a second SIGINT): stop waiting for requests. Another
        # one is the same stop arriving twice: a terminal's Ctrl-C reaches each worker of --workers N
        # itself and as the SIGTERM its supervisor passes on
        if self.should_exit and sig in self.signals:
            self.force_exit = True
        self.signals.add(sig)
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:  # the application's startup failed: nothing is served
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets=sockets)
            stopped = getattr(self.lifespan, "shutdown_event", None)
            if self.force_exit and stopped is not None and not stopped.is_set():
                await self.lifespan.shutdown()  # forced: requests cut off, yet deliveries settle, leases go back
        finally:
            # here, not after run(): uvicorn re-raises a SIGTERM it caught once it has shut down
            self._on_stopped()


def check_trusted_proxies(given: list[str]) -> tuple[str, ...]:
    """``--trust-proxy``'s addresses and networks, each checked (:class:`ConfigError`, one line
    naming it), as uvicorn takes them. Separated by commas, spaces or both (an empty part, as in
    ``10.10.1.5, 10.10.1.6`` split on its space, is left out)."""
    import ipaddress

    out = []
    for text in given:
        for part in (p.strip() for p in text.replace(",", " ").split()):
            try:
                out.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise ConfigError(f"--trust-proxy {part!r}: not an IP address or network "
                                  "(e.g. 10.10.1.5, 10.10.1.0/24, fd00::/64)") from None
    return tuple(out)


GRACE = 10.0  # seconds a stop waits for requests in progress (uvicorn's default: without end)


def run(app: Any, sock: socket.socket, *, on_started: Callable[[], None], on_stopped: Callable[[], None],
        log_level: str = "warning", ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
        grace: float = GRACE, limits: ConnectionLimits | None = None, trusted_proxies: tuple[str, ...] = ()) -> None:
    """Serve ``app`` on the bound ``sock`` until stopped (SIGINT, SIGTERM or SIGHUP: requests in
    progress get ``grace`` seconds, the same signal again ends the wait); uvicorn's messages at ``log_level``
    through the handlers :func:`accord.logs.configure` set up. ``on_started`` runs once the
    application has started and the socket accepts connections, ``on_stopped`` once the server
    has shut down (before a caught SIGTERM ends the process). ``limits``: the caps on open
    connections (default: :class:`ConnectionLimits`' defaults); ``trusted_proxies``: see
    :func:`server_config`."""
    config = server_config(app, log_level=log_level, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, grace=grace,
                           limits=limits, trusted_proxies=trusted_proxies)
    _Server(config, on_started, on_stopped).run(sockets=[sock])


def server_config(app: Any, *, log_level: str = "warning", ssl_certfile: str | None = None,
                  ssl_keyfile: str | None = None, grace: float = GRACE,
                  limits: ConnectionLimits | None = None, http: str = "auto",
                  head_seconds: float | None = None, trusted_proxies: tuple[str, ...] = ()) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app``: a request head is bounded (:mod:`accord.api.http_head`,
    431 past 64 KiB), and so are the connections held open (``limits``, :mod:`accord.api.conn_limit`,
    503 past them); no access log; log_config=None, so accord.logs' handlers stay. With a
    certificate, TLS is done under the HTTP protocol (:mod:`accord.api.tls_accept`), not by the
    listener: a connection counts against ``limits`` and has its deadline from its accept.
    ``http``: uvicorn's HTTP protocol (``"auto"``: httptools if installed, else h11; ``"h11"``;
    ``"httptools"``), bounded either way; ``head_seconds``: the head deadline (60 s).
    ``trusted_proxies``: the addresses (or networks) of reverse proxies whose ``X-Forwarded-For``
    names the client — the address the console's login limit and request budget count. None by
    default, loopback included: uvicorn would otherwise believe that header from 127.0.0.1, and
    a forwarder on the same host that passes it on unchanged would let clients choose it."""
    counts = ConnectionLimits() if limits is None else limits
    protocol = http_protocol(counts, http=http, head_seconds=head_seconds)
    accept = (protocol if ssl_certfile is None
              else accepting(protocol, server_context(ssl_certfile, ssl_keyfile or ssl_certfile), counts))
    return uvicorn.Config(app, log_config=None, log_level=log_level, access_log=False, http=accept,  # type: ignore[arg-type]
                          timeout_graceful_shutdown=grace,  # type: ignore[arg-type]  # (a float is fine)
                          proxy_headers=bool(trusted_proxies),
                          forwarded_allow_ips=list(trusted_proxies) if trusted_proxies else None)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # each stops a server cleanly


def run_workers(workers: int, serve_one: Callable[[int, Callable[[], None]], None], *,
                on_started: Callable[[], None], on_stopped: Callable[[], None],
                restart_delay: float = 1.0) -> None:
    """Supervise ``workers`` forked processes serving one node on the socket bound before (``node
    serve --workers N``): the kernel hands each connection to one of them.

    Each child calls ``serve_one(index, ready)`` — it opens the node on connections of its own
    (none is inherited across the fork) and serves until SIGTERM — and calls ``ready()`` once its
    application has started; ``on_started`` runs when all have. A child that exits while the
    supervisor is not stopping (``kill -9``, a crash) is replaced after ``restart_delay``
    seconds, and its partner leases pass to the others meanwhile. SIGTERM, SIGINT or SIGHUP to the
    supervisor is passed to every child as SIGTERM; ``on_stopped`` runs once all have exited. A
    supervisor that dies without that (``kill -9``) takes its workers with it (:func:`die_with`),
    so the port and the serve lock are free for the next ``node serve``. A child that dies
    during start-up stops the others and raises :class:`ConfigError`.
    """
    log = logging.getLogger("accord.api")
    ready_r, ready_w = os.pipe()
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    supervisor = os.getpid()

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(ready_r)
                for s in STOP_SIGNALS:
                    signal.signal(s, signal.SIG_DFL)
                die_with(supervisor)
                serve_one(index, lambda: None if os.write(ready_w, b".") else None)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - reported here: the supervisor sees only the exit code
                log.exception("worker %d (process %d) failed", index, os.getpid())
            finally:
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        for index in range(workers):
            spawn(index)
        started, failed = 0, False
        while started < workers and not stopping:
            if select.select([ready_r], [], [], 0.2)[0]:
                started += len(os.read(ready_r, workers))
            done, _ = os.waitpid(-1, os.WNOHANG)
            if done:  # a worker died before it started
                children.pop(done, None)
                failed = True
                break
        if failed and not stopping:
            forward(signal.SIGTERM, None)
            _reap(children)
            raise ConfigError(f"a worker exited during start-up ({started} of {workers} had started); "
                              "see the messages above")
        if not stopping:
            on_started()
        while children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:  # pragma: no cover - none left
                break
            index = children.pop(pid, -1)
            if index < 0 or stopping:
                continue
            how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else
                   f"exit code {os.WEXITSTATUS(status)}")
            log.warning("worker %d (process %d) ended (%s); starting another", index, pid, how,
                        extra={"event": "serve.worker_restarted", "worker": index, "pid": pid})
            time.sleep(restart_delay)
            if not stopping:
                spawn(index)
    finally:
        os.close(ready_r)
        os.close(ready_w)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if children:
            forward(signal.SIGTERM, None)
            _reap(children)
        on_stopped()


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with(supervisor: int) -> None:
    """Make this worker get SIGTERM when its supervisor dies, however it dies (``kill -9``, the
    OOM killer): an orphaned worker served on unsupervised, holding the port and the serve lock
    it inherited, so a new ``node serve`` was refused, naming the dead supervisor. SIGTERM, not
    SIGKILL: the worker stops as cleanly as on a forwarded one (its partner leases given back).
    Linux's ``prctl``; elsewhere a thread watches for the parent to change."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        armed = False
    if not armed:  # pragma: no cover - not Linux
        def watch() -> None:
            while os.getppid() == supervisor:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="accord-supervisor-watch", daemon=True).start()
    if os.getppid() != supervisor:  # it died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def _reap(children: dict[int, int], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while children and time.monotonic() < end:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in list(children):  # pragma: no cover - a worker that ignored SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        children.pop(pid, None)
