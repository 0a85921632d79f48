"""How many connections ``accord node serve`` holds open at once, and the open-files limit it runs under.

The head deadline (:mod:`accord.api.http_head`) bounds how long a silent connection lasts, not
how many there are: about a thousand anonymous connections that send nothing, reopened each
minute, took every file descriptor a service gets by default (systemd's soft ``LimitNOFILE``,
1,024), and nobody else — partners, users, ``/health`` — was accepted any more.

:class:`ConnectionLimits` counts the connections each server process holds, in all and per
client address (an IPv6 address counts by its /64 prefix, which one host usually has whole). A
connection past either cap is answered ``503 Service Unavailable`` (``retry-after: 1``) and closed
at once, before the head deadline starts; each is one INFO line on ``accord.api`` (event
``connection.over_limit``, with the client's address), at most 30 a minute, the next carrying
the number passed over. The defaults (:data:`MAX_CONNECTIONS`, :data:`MAX_CLIENT_CONNECTIONS`;
``node serve --max-connections``, ``--max-client-connections``) are far above what honest
clients hold; the total is kept :data:`RESERVED_FILES` below the process's open-files limit,
so the node still has descriptors for its database, its files and its partners.

:func:`raise_open_files_limit` raises the process's soft ``RLIMIT_NOFILE`` to its hard limit
when ``node serve`` starts (systemd's hard limit is 524,288): the soft limit of 1,024 exists
for programs that use ``select()``, which a node does not use on its connections.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from typing import Any

from accord.errors import InputError
from accord.logs import Throttle

log = logging.getLogger("accord.api")

MAX_CONNECTIONS = 4096
"""Connections one server process holds at most (each ``--workers`` process has as many)."""

MAX_CLIENT_CONNECTIONS = 512
"""Connections from one client address (an IPv6 /64) one server process holds at most. Behind a
reverse proxy every request comes from the proxy's address: this is the proxy's share."""

RESERVED_FILES = 256
"""File descriptors kept out of the connections' reach (database, files, partners, logs)."""

_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"retry-after: 1\r\ncontent-length: 20\r\nconnection: close\r\n\r\ntoo many connections")

_over_log = Throttle(per_minute=30)


def check_limits(max_connections: int, max_client_connections: int) -> tuple[int, int]:
    """Both caps if each is 1 or more, else :class:`InputError`."""
    if max_connections < 1:
        raise InputError(f"--max-connections {max_connections}: give 1 or more connections",
                         field="max-connections")
    if max_client_connections < 1:
        raise InputError(f"--max-client-connections {max_client_connections}: give 1 or more connections",
                         field="max-client-connections")
    return max_connections, max_client_connections


def open_files_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE`` (None: unlimited, or no such limit here)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_files_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; the soft limit in force afterwards."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # pragma: no cover - e.g. a hard limit over the kernel's nr_open
            pass
    return open_files_limit()


def client_key(host: str) -> str:
    """What one client's connections are counted under: its address, an IPv6 one by its /64."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class ConnectionLimits:
    """The open connections of one server process, in all and by client (:func:`client_key`)."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS,
                 max_client_connections: int = MAX_CLIENT_CONNECTIONS, *, files: int | None = None) -> None:
        files = open_files_limit() if files is None else files
        self.max_total = max_connections if files is None else max(1, min(max_connections, files - RESERVED_FILES))
        self.max_client = min(max_client_connections, self.max_total)
        self.total = 0
        self.by_client: Counter[str] = Counter()

    def admit(self, client: Any) -> str | None:
        """Count a new connection from ``client`` (``(host, port)`` or None) and return its key, or
        None when it is over a cap (not counted: the caller refuses it with :func:`refuse`)."""
        key = client_key(str(client[0])) if client else "unknown"
        if self.total >= self.max_total or self.by_client[key] >= self.max_client:
            return None
        self.total += 1
        self.by_client[key] += 1
        return key

    def release(self, key: str) -> None:
        """A connection :meth:`admit` counted under ``key`` has closed."""
        self.total -= 1
        self.by_client[key] -= 1
        if self.by_client[key] <= 0:
            del self.by_client[key]

    def refuse(self, transport: Any, client: Any, *, answer: bool = True) -> None:
        """Answer 503 on ``transport`` (unless not ``answer``: a TLS connection before its
        handshake, :mod:`accord.api.tls_accept`) and close it; log it (throttled)."""
        host = str(client[0]) if client else "unknown"
        which = ("all clients" if self.total >= self.max_total else "this client")
        cap = self.max_total if self.total >= self.max_total else self.max_client
        allowed, passed = _over_log.allow()
        if allowed:
            log.info("client %s: %d connections open from %s already: %s%s", host, cap, which,
                     "503, connection closed" if answer else "connection closed before its TLS handshake",
                     f" (+{passed} earlier not logged one by one)" if passed else "",
                     extra={"event": "connection.over_limit", "client": host, "limit": cap, "suppressed": passed})
        if answer:
            transport.write(_REFUSAL)
        transport.close()
