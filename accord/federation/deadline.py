"""The overall deadline of a request to a partner, enforced under httpx.

:func:`within` sets the calling thread's deadline; :class:`DeadlineTransport` is httpx's
transport with its connection pool's network backend replaced, so every step of a request made
on that thread is given only what is left of the deadline: the lookup of the host name (in a
thread of its own, waited for only that long: the system resolver takes no timeout), each
connection attempt to its addresses, the TLS handshake as a whole (CPython's handshake takes the
socket timeout as a limit on the whole handshake), and every read and write. Past it the step
fails with httpcore's timeout, which :func:`cut` tells apart from a per-operation timeout.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

# the calling thread's request: .at, the monotonic time it must end by; .cut, whether the last
# socket operation's timeout was the deadline's (so a timeout then is the deadline passing)
_deadlines = threading.local()


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of this thread's request deadline; ``error`` once
    none is left."""
    at = getattr(_deadlines, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    _deadlines.cut = timeout is None or left <= timeout
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every socket operation of this thread's requests ends by ``seconds`` from now."""
    _deadlines.at, _deadlines.cut = time.monotonic() + seconds, False
    try:
        yield
    finally:
        _deadlines.at = None


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write is bounded by the calling thread's deadline (a
    write loops over ``send`` itself, so a partner taking a large body a few bytes at a time is
    bounded too)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        sock = self.inner.get_extra_info("socket")
        if sock is None:
            self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))
            return
        view = memoryview(buffer)
        try:
            while view:
                sock.settimeout(_left(timeout, httpcore.WriteTimeout))
                view = view[sock.send(view):]
        except socket.timeout:
            raise httpcore.WriteTimeout("timed out") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from None

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname,
                                                    _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


# the lookups on their way, by (host, port): the event set once it ended, and its one result
_lookups: dict[tuple[str, int], tuple[threading.Event, list[Any]]] = {}
_lookups_guard = threading.Lock()


def _forget_lookups() -> None:
    """In a forked child (``node serve --workers``): the parent's lookup threads are not there,
    so lookups on their way in the parent would never end here."""
    global _lookups_guard
    _lookups_guard = threading.Lock()
    _lookups.clear()


os.register_at_fork(after_in_child=_forget_lookups)


def _lookup(host: str, port: int) -> tuple[threading.Event, list[Any]]:
    """The lookup of ``host`` on its way, or a new one in a thread of its own: however many
    requests give up waiting on a resolver that hangs, one thread per name waits on it."""
    key = (host, port)
    with _lookups_guard:
        pending = _lookups.get(key)
        if pending is not None:
            return pending
        done, found = _lookups[key] = (threading.Event(), [])

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except Exception as exc:  # noqa: BLE001 - handed to the requests waiting (OSError, UnicodeError …)
            found.append(exc)
        finally:
            with _lookups_guard:
                _lookups.pop(key, None)
            done.set()

    try:
        threading.Thread(target=lookup, name=f"accord-resolve-{host}", daemon=True).start()
    except BaseException:
        with _lookups_guard:
            _lookups.pop(key, None)
        raise
    return done, found


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of ``host``, looked up within what is left of the request's deadline.

    The system resolver (``getaddrinfo``) takes no timeout, so the lookup runs in a thread of its
    own and is waited for only that long; past it the request fails (``ConnectTimeout``) and the
    thread ends when the resolver gives up by itself. A request for a name whose lookup is still
    on its way waits for that one (one thread per name, not one per request). An address literal
    is not looked up."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
        return [host]
    except ValueError:
        pass
    wait = _left(timeout, httpcore.ConnectTimeout)
    done, found = _lookup(host, port)
    if not done.wait(wait):
        raise httpcore.ConnectTimeout(f"no address for {host} within {wait:g} s")
    if isinstance(found[0], Exception):
        raise httpcore.ConnectError(f"{host}: {found[0]}")
    return list(dict.fromkeys(str(info[4][0]) for info in found[0])) or [host]


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        """Resolve ``host`` and connect to its addresses in turn, the lookup and every attempt
        bounded by what is left of the deadline (a plain ``socket.create_connection`` would wait
        on the resolver without limit, then give each address the whole timeout)."""
        failure: Exception | None = None
        for address in _resolve(host, port, timeout):
            left = _left(timeout, httpcore.ConnectTimeout)
            try:
                return _DeadlineStream(self.inner.connect_tcp(address, port, left, local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # (_resolve gives at least one address)
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                              socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over connections bounded by the request deadline."""

    def __init__(self, verify: Any) -> None:
        super().__init__(verify=verify)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend())


def cut() -> bool:
    """Whether the calling thread's last socket operation was given the deadline's remainder (not
    its own shorter timeout): a timeout then is the deadline passing."""
    return bool(getattr(_deadlines, "cut", False))
