"""A TCP relay to a server that can go silent: what a client sees of an unreachable database host
(a network fault, a failover whose address answers nothing) — the connections it had stop, and a
new one hangs until the client's connect timeout. Silent, the relay resets the connections it
carries, accepts new ones and never answers them, and counts them (:attr:`SilentRelay.silent_accepts`:
the connection attempts the host was asked for while away); answering again, it closes those and
relays new ones as before. For tests/store/test_store_silent_host.py and bench/store_outage.py.
"""

from __future__ import annotations

import socket
import threading

from loopback import HOST, listening_socket


class SilentRelay:
    """``port`` relays to ``HOST:target``; ``go_silent()``, ``answer_again()``, ``close()``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._sock = listening_socket()
        self.port = int(self._sock.getsockname()[1])
        self.silent = False
        self.silent_accepts = 0
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []      # accepted while silent, never answered
        self._carried: list[socket.socket] = []   # both ends of every relayed connection
        self._flowing = threading.Event()         # cleared: what is relayed is held, not reset (freeze)
        self._flowing.set()
        threading.Thread(target=self._accept, name="silent-relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self.silent:
                    self.silent_accepts += 1
                    self._held.append(client)
                    continue
            try:
                upstream = socket.create_connection((HOST, self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._carried += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            _shut(s)

    def go_silent(self) -> None:
        """Reset what is relayed; accept new connections without answering them."""
        with self._lock:
            self.silent = True
            carried, self._carried = self._carried, []
        for s in carried:
            _shut(s)

    def freeze(self) -> None:
        """Go silent without resetting anything: the connections carried stay open and nothing on
        them is answered (a frozen server, or a network fault that drops rather than resets)."""
        with self._lock:
            self.silent = True
        self._flowing.clear()

    def answer_again(self) -> None:
        """Close the connections held unanswered (their clients see them fail) and relay again."""
        with self._lock:
            self.silent = False
            held, self._held = self._held, []
        self._flowing.set()
        for s in held:
            _shut(s)

    def close(self) -> None:
        _shut(self._sock)
        self.go_silent()
        self.answer_again()


def _shut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
