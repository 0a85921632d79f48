"""``DIR/serve.lock``: one server per node directory unless it co-operates (``--join``); step 2
of :mod:`accord.api.serve`."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from accord.core.files import FILE_MODE
from accord.core.processes import pid_alive
from accord.errors import ConfigError

LOCK_FILE = "serve.lock"


class ServeLock:
    """``DIR/serve.lock``: held (``flock``) by the processes serving node directory ``DIR``.

    A server takes it alone: ``acquire`` raises :class:`ConfigError` naming the PIDs in the file
    if another process serves the directory. ``join=True`` (``node serve --join``) is a server
    that co-operates with the ones already running (several processes, one node: partner leases
    and the store's write transactions keep them consistent) and is let in beside them. The
    workers of one ``node serve --workers N`` inherit their supervisor's lock. Every holder keeps
    a shared ``flock``; a server that finds none taken takes it exclusively for a moment, so
    taking over is atomic (the node directory's own ``flock`` guards taking and leaving). The
    file holds one PID a line. ``taken_over`` is the PID a dead process left in the file, if
    any (the kernel drops a ``flock`` when its process dies, however it dies; a PID reused by an
    unrelated process cannot keep the lock). The file is never deleted; ``release`` removes its
    holder's line.
    """

    def __init__(self, node_dir: str | Path, *, join: bool = False) -> None:
        self.path = Path(node_dir) / LOCK_FILE
        self.join = join
        self.taken_over: int | None = None
        self.joined: list[int] = []  # the live servers this one joined
        self._fd: int | None = None
        self._pid = os.getpid()

    def acquire(self) -> "ServeLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot make the serve lock: {exc.strerror}") from None
        try:
            os.fchmod(fd, FILE_MODE)
            with _guard(self.path.parent):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holders = _read_pids(fd)
                    if not self.join:
                        who = (f"process {holders[0]}" if len(holders) == 1 else
                               f"processes {', '.join(map(str, holders))}" if holders else "process (unknown)")
                        raise ConfigError(f"{self.path.parent} is already served by {who} ({self.path}); stop that "
                                          "server first, or pass --join to serve the node beside it "
                                          "(several processes, one node)") from None
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # only a taker holds LOCK_EX, under the guard
                    self.joined = [p for p in holders if pid_alive(p)]
                    _write_pids(fd, [*self.joined, self._pid])
                else:  # nobody serves the directory: whatever the file names is dead
                    old = _read_pids(fd)
                    self.taken_over = old[0] if old else None
                    _write_pids(fd, [self._pid])
                    fcntl.flock(fd, fcntl.LOCK_SH)  # let co-operating servers (--join) in beside this one
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                with _guard(self.path.parent):
                    _write_pids(self._fd, [p for p in _read_pids(self._fd) if p != self._pid])
            except OSError:  # pragma: no cover - the directory went away: the flock goes with the fd
                pass
            os.close(self._fd)  # drops the flock (once the workers that inherited it are gone too)
            self._fd = None

    def __enter__(self) -> "ServeLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _guard:
    """The node directory's own ``flock``, held while a server takes or leaves ``serve.lock``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        self.fd = os.open(self.directory, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _read_pids(fd: int) -> list[int]:
    text = os.pread(fd, 4096, 0).decode("ascii", "replace")
    return [int(t) for t in text.split() if t.isdigit()]


def _write_pids(fd: int, pids: list[int]) -> None:
    os.ftruncate(fd, 0)
    if pids:
        os.pwrite(fd, "".join(f"{p}\n" for p in pids).encode(), 0)
    os.fsync(fd)

