"""The traffic counters of ``node serve --workers N`` summed over its worker processes, so that a
scrape of ``GET /metrics`` (:mod:`accord.api.metrics`) answers the same totals whichever worker
the kernel hands it to, and a counter never goes backwards while the serve runs.

Why files written by the workers rather than prometheus_client's multiprocess mode: that mode
picks its value class when ``prometheus_client`` is first imported, from the environment
(``PROMETHEUS_MULTIPROC_DIR``), and sums only the ``Counter``/``Histogram`` objects it made —
every ``inc()`` a locked write to a memory-mapped file. The counters here are plain integers
bumped on the hot paths (:mod:`accord.federation.stats`, the bus's ``published``) and turned
into metric families by a collector of its own at scrape time; moving them onto that mode
would put a lock and an mmap write on each bump and tie correctness to the order of imports
(the supervisor imports the client before it forks). So the same idea is done directly and
off the hot paths:

* The supervisor makes a directory for this serve, ``DIR/serve-metrics/<its PID>/``
  (:func:`serve_directory`: emptied if it exists, removed when the serve ends, and those of
  serves no longer running removed when one starts).
* Each worker (:class:`WorkerShare`) writes its counts to ``worker-<index>.json`` there,
  atomically (a temporary file renamed over it), from a small thread at most once a second and
  only when they changed, and at once when it answers a scrape itself.
* A scrape sums the answering worker's live counts with the other workers' latest files. What
  a scrape reports of a worker is then never more than what its file holds afterwards, so the
  next scrape, on any worker, reports at least as much.
* A file that cannot be read, or does not hold a worker's counts (logged), counts as what it held
  when last read, as does every file when the directory cannot be listed: a scrape never reports
  a worker's counts as gone (a counter going backwards, which Prometheus takes for a restart).
* A worker that dies leaves its file; the one that replaces it (same index) starts from the
  counts in it and adds its own, so the dead worker's counts stay in the sum. What it counted
  after its last write (under a second's worth, and never reported) is lost.

The partner counters are reported for the node's partners only, as without ``--workers``, so
the labels stay bounded by the configuration, whatever a file holds. Without ``--workers`` no
file is written and no thread runs: :func:`totals` reads the process's own counters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from accord.core.files import write_runtime_file
from accord.core.processes import pid_alive
from accord.federation.stats import LATENCY_BUCKETS, Histogram, PartnerCounters, counters
from accord.logs import Throttle
from accord.store.private_files import private_dir

if TYPE_CHECKING:
    from accord.node import Node

log = logging.getLogger("accord.api")

METRICS_DIR = "serve-metrics"
"""Under the node directory: one directory per running ``node serve --workers N``, named by its PID."""

PUBLISH_INTERVAL = 1.0  # seconds between a worker's writes of its counts (when they changed)

PARTNER_FIELDS = ("sent", "refused_by", "failures", "received", "refused", "over_quota")

K = TypeVar("K")

_FILE_NAME = re.compile(r"worker-([0-9]{1,4})\.json")


@dataclass
class Traffic:
    """The traffic counters of one process, or their sum over several, as plain values."""

    partners: dict[str, PartnerCounters] = field(default_factory=dict)
    auth_failures: dict[str, int] = field(default_factory=dict)           # by API
    taxii_requests: dict[tuple[str, int], int] = field(default_factory=dict)  # by (method, status)
    bus_events: dict[tuple[str, str], int] = field(default_factory=dict)  # by (topic, source)

    def add(self, other: Traffic) -> Traffic:
        """Add ``other``'s counts into this one; returns this one."""
        for party, pc in other.partners.items():
            mine = self.partners.setdefault(party, PartnerCounters())
            for name in PARTNER_FIELDS:
                setattr(mine, name, getattr(mine, name) + getattr(pc, name))
            mine.latency.counts = [a + b for a, b in zip(mine.latency.counts, pc.latency.counts)]
            mine.latency.sum += pc.latency.sum
            mine.latency.count += pc.latency.count
        _add_counts(self.auth_failures, other.auth_failures)
        _add_counts(self.taxii_requests, other.taxii_requests)
        _add_counts(self.bus_events, other.bus_events)
        return self

    def to_json(self) -> bytes:
        return json.dumps({
            "partners": {party: {**{name: getattr(pc, name) for name in PARTNER_FIELDS},
                                 "latency": pc.latency.counts, "latency_sum": pc.latency.sum}
                         for party, pc in self.partners.items()},
            "auth_failures": self.auth_failures,
            "taxii_requests": [[m, code, n] for (m, code), n in self.taxii_requests.items()],
            "bus_events": [[topic, source, n] for (topic, source), n in self.bus_events.items()],
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Traffic:
        """What :meth:`to_json` wrote; ValueError for anything else."""
        try:
            doc = json.loads(data)
            out = cls()
            for party, p in doc["partners"].items():
                latency, seconds = [_count(n) for n in p["latency"]], float(p["latency_sum"])
                if len(latency) != len(LATENCY_BUCKETS) + 1 or not 0 <= seconds < math.inf:
                    raise ValueError("latency histogram")
                out.partners[str(party)] = PartnerCounters(
                    **{name: _count(p.get(name, 0)) for name in PARTNER_FIELDS},
                    latency=Histogram(counts=latency, sum=seconds, count=sum(latency)))
            out.auth_failures = {str(api): _count(n) for api, n in doc["auth_failures"].items()}
            out.taxii_requests = {(str(m), int(code)): _count(n) for m, code, n in doc["taxii_requests"]}
            out.bus_events = {(str(topic), str(source)): _count(n) for topic, source, n in doc["bus_events"]}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a worker's counts ({exc})") from None
        return out


def _add_counts(mine: dict[K, int], theirs: dict[K, int]) -> None:
    for key, n in theirs.items():
        mine[key] = mine.get(key, 0) + n


def _count(n: Any) -> int:
    if type(n) is not int or n < 0:
        raise ValueError(f"{n!r} is not a count")
    return n


def live_traffic(node: Node) -> Traffic:
    """This process's counters of ``node``, copied (each dict copied at once: a copy of a dict
    runs under the GIL, so the threads counting meanwhile never break it)."""
    traffic = counters(node)
    partners = {}
    for party, pc in dict(traffic.partners).items():
        h = pc.latency
        counts = list(h.counts)
        partners[party] = PartnerCounters(pc.sent, pc.refused_by, pc.failures, pc.received, pc.refused,
                                          Histogram(counts=counts, sum=h.sum, count=sum(counts)), pc.over_quota)
    return Traffic(partners, dict(traffic.auth_failures), dict(traffic.taxii_requests), dict(node.bus.published))


class WorkerShare:
    """One worker's part in the sum: its counts written to ``worker-<index>.json`` in the serve's
    directory, and the other workers' files read at a scrape (see the module docstring)."""

    def __init__(self, node: Node, directory: Path, index: int, *, interval: float = PUBLISH_INTERVAL) -> None:
        self.node, self.directory, self.interval = node, Path(directory), interval
        self.index, self.path = index, self.directory / f"worker-{index}.json"
        # the worker this one replaces (same index) left its counts: they stay in the sum
        self.base = _read(self.path) or Traffic()
        self._written = Traffic().add(self.base)  # what the file holds (or will, once first written)
        self._lock = threading.Lock()  # one write at a time, each newer than the one before
        # the other workers' counts as last read: a file that cannot be read or holds bad numbers
        # (or a directory that cannot be listed) counts as what it held before, never as zero
        self._seen: dict[int, Traffic] = {}
        self._seen_lock = threading.Lock()  # one scrape's reads at a time, each newer than the one before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-metrics-share", daemon=True)

    def start(self) -> WorkerShare:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.publish()

    def publish(self) -> Traffic:
        """Write this worker's counts (those it replaced included) if they changed; returns what
        its file holds now — the counts themselves, or the last ones written if this write failed."""
        with self._lock:
            now = Traffic().add(self.base).add(live_traffic(self.node))
            if now != self._written:
                write_runtime_file(self.path, now.to_json())
                self._written = now
            return self._written

    def totals(self) -> Traffic:
        """The sum over the serve's workers: this one's counts, written first, and the others' files."""
        try:
            parts = {self.index: self.publish()}
        except OSError as exc:
            _warn("cannot write %s: %s", self.path, exc.strerror or exc)
            parts = {self.index: self._written}  # what the others can read of this worker
        with self._seen_lock:
            try:
                files = list(self.directory.iterdir())
            except OSError as exc:
                _warn("cannot list %s: %s", self.directory, exc.strerror or exc)
                files = []
            for other in files:
                named = _FILE_NAME.fullmatch(other.name)
                if named and int(named[1]) != self.index:
                    found = _read(other)
                    if found is not None:
                        self._seen[int(named[1])] = found
            parts = {**self._seen, **parts}
        out = Traffic()
        for index in sorted(parts):  # always in one order: a float sum (latency) then only grows
            out.add(parts[index])
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.publish()
            except OSError as exc:
                _warn("cannot write %s: %s", self.path, exc.strerror or exc)


_shares: "weakref.WeakKeyDictionary[Any, WorkerShare]" = weakref.WeakKeyDictionary()


def share(node: Node, directory: Path, index: int) -> WorkerShare:
    """Make this process worker ``index`` of the serve whose directory is ``directory``: its
    counts of ``node`` are written there, and :func:`totals` sums the workers'."""
    found = _shares[node] = WorkerShare(node, directory, index)
    return found.start()


def totals(node: Node) -> Traffic:
    """The traffic counters a scrape reports: summed over the serve's workers with ``--workers``
    (:func:`share`), else this process's own."""
    found = _shares.get(node)
    return found.totals() if found is not None else live_traffic(node)


@contextlib.contextmanager
def serve_directory(node_dir: str | Path) -> Iterator[Path]:
    """The directory of this serve's worker counts, ``DIR/serve-metrics/<PID>``: made empty here,
    removed when the block ends. Those of serves no longer running are removed first."""
    root = private_dir(Path(node_dir) / METRICS_DIR)
    pid = os.getpid()
    for entry in root.iterdir():
        if entry.name.isdigit() and (int(entry.name) == pid or not pid_alive(int(entry.name))):
            shutil.rmtree(entry, ignore_errors=True)
    path = private_dir(root / str(pid))
    try:
        yield path
    finally:
        if os.getpid() == pid:  # (a forked worker never leaves the block: it ends with os._exit)
            shutil.rmtree(path, ignore_errors=True)


def _read(path: Path) -> Traffic | None:
    """The counts in ``path``; None if there is no such file (or, logged, not one a worker wrote)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn("cannot read %s: %s", path, exc.strerror or exc)
        return None
    try:
        return Traffic.from_json(data)
    except ValueError as exc:
        _warn("%s: %s", path, exc)
        return None


_throttle = Throttle(per_minute=6)


def _warn(msg: str, *args: Any) -> None:
    if _throttle.allow()[0]:
        log.warning("metrics of the workers: " + msg, *args, extra={"event": "serve.metrics_share_failed"})
