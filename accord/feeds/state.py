"""The ingest consumer's durable state, kept in the node's database beside the items it stores.

One row per consumer (``<stream>/<durable>``): the last JetStream stream sequence processed, the
live tracker's snapshot (:meth:`accord.warning.live.LiveTracker.snapshot`), the alert engine's
(:meth:`accord.warning.alerts.AlertEngine.snapshot`) and its clock, the radar list, and the ids of
the items the last batch stored. :meth:`IngestStore.commit` writes the batch's items (ledgered
``item.created`` through :meth:`Node.put_items`) and this row **in one transaction**; the
consumer acknowledges the messages to JetStream only after it. So whatever the moment of a
crash, the stored items, the tracker and the sequence agree: on restart the messages at or
below the stored sequence are skipped (JetStream redelivers those not acknowledged yet) and the
tracker continues from exactly where the stored items end.

When the alert engine runs on its own path (:class:`accord.feeds.alert_path.AlertPath`) the batch's
transaction leaves the engine's columns alone and queues its work instead (``ingest_alert_work``:
the prediction item ids and the seconds each scan completed); :meth:`IngestStore.commit_alerts`
stores the alerts, the engine's state and clock, and takes the work it did off the queue, in one
transaction.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accord.clock import to_rfc3339
from accord.core.items import Item
from accord.errors import ConfigError
from accord.store.base import transaction
from accord.store.base import ensure_schema

if TYPE_CHECKING:
    from accord.node import Node

DDL = """
CREATE TABLE IF NOT EXISTS ingest_state (
    consumer     TEXT PRIMARY KEY,   -- <stream>/<durable consumer name>
    stream_seq   INTEGER NOT NULL,   -- last JetStream stream sequence processed
    sensors      TEXT NOT NULL,      -- the radars (detections header JSON) the tracker was made with
    tracker      TEXT NOT NULL,      -- LiveTracker.snapshot() JSON part
    arrays       BLOB NOT NULL,      -- LiveTracker.snapshot() arrays (numpy .npz, no pickles)
    engine       TEXT NOT NULL,      -- AlertEngine.snapshot() JSON
    alert_clock  REAL,               -- the alert engine's last tick (scenario seconds), NULL before any
    last_items   TEXT NOT NULL,      -- JSON list of the item ids the last batch stored
    scans        INTEGER NOT NULL,   -- scans processed so far
    detections   INTEGER NOT NULL,   -- detections processed so far
    updated      TEXT NOT NULL       -- RFC 3339, node clock
);
CREATE TABLE IF NOT EXISTS ingest_alert_work (
    consumer     TEXT NOT NULL,
    stream_seq   INTEGER NOT NULL,   -- the batch's last stream sequence
    work         TEXT NOT NULL,      -- JSON [[prediction item ids, whole seconds completed], ...], one per scan
    PRIMARY KEY (consumer, stream_seq)
);
CREATE TABLE IF NOT EXISTS ingest_alert_state (
    consumer     TEXT PRIMARY KEY,
    last_items   TEXT NOT NULL       -- JSON list of the alert item ids the last alert commit stored
);
CREATE TABLE IF NOT EXISTS ingest_alert_restarts (
    consumer     TEXT PRIMARY KEY,
    restarts     INTEGER NOT NULL    -- alert processes started again after one died, every run counted
);
"""


@dataclass(frozen=True)
class IngestState:
    stream_seq: int
    sensors: str
    tracker: str
    arrays: bytes
    engine: str | None                  # None: the alert engine's state is the alert path's (commit_alerts)
    alert_clock: float | None
    last_items: list[str]
    scans: int
    detections: int


class IngestStore:
    """Durable ingest state on one node (its connection, write lock and item store)."""

    def __init__(self, node: Node, consumer: str) -> None:
        self.node = node
        self.consumer = consumer
        with node.write_lock:
            ensure_schema(node.conn, DDL)
        self._turn = -1

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The node's write lock, then ``DIR/ingest-<consumer>.write.lock`` (flock) — which the
        ingest and its alert process (:mod:`accord.feeds.alert_proc`) take turns on: a writer
        waiting for the other is woken when it is done, not by SQLite's busy handler, which
        polls at intervals of up to 100 ms."""
        with self.node.write_lock:
            if self._turn < 0:
                name = "ingest-" + self.consumer.replace("/", "_") + ".write.lock"
                self._turn = os.open(os.path.join(str(self.node.dir), name), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._turn, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._turn, fcntl.LOCK_UN)

    def load(self) -> IngestState | None:
        with self.node.write_lock:
            row = self.node.conn.execute(
                "SELECT stream_seq, sensors, tracker, arrays, engine, alert_clock, last_items, scans, detections "
                "FROM ingest_state WHERE consumer = ?", (self.consumer,)).fetchone()
        if row is None:
            return None
        return IngestState(int(row[0]), str(row[1]), str(row[2]), bytes(row[3]), str(row[4]),
                           None if row[5] is None else float(row[5]), list(json.loads(row[6])),
                           int(row[7]), int(row[8]))

    def commit(self, items: list[Item], state: IngestState, *, work: list | None = None,
               engine0: str = "") -> list[Item]:
        """Store ``items`` and ``state`` in one transaction; returns the items newly stored.

        With ``state.engine`` None (the alert engine runs on its own path) the engine's columns
        are left as they are (``engine0``, its state before any work, when the row is new) and
        ``work`` — what the alert engine has to do for this batch — is queued in the same
        transaction, for :meth:`commit_alerts` to take off."""
        node, conn = self.node, self.node.conn
        engine_cols = "engine = excluded.engine, alert_clock = excluded.alert_clock, " if state.engine is not None else ""
        with self._writing(), transaction(conn):
            new = node.put_items(items) if items else []
            conn.execute(
                "INSERT INTO ingest_state(consumer, stream_seq, sensors, tracker, arrays, engine, alert_clock, "
                "last_items, scans, detections, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(consumer) DO UPDATE SET stream_seq = excluded.stream_seq, "
                "sensors = excluded.sensors, tracker = excluded.tracker, arrays = excluded.arrays, "
                + engine_cols +
                "last_items = excluded.last_items, scans = excluded.scans, "
                "detections = excluded.detections, updated = excluded.updated",
                (self.consumer, state.stream_seq, state.sensors, state.tracker, state.arrays,
                 state.engine if state.engine is not None else engine0,
                 state.alert_clock, json.dumps(state.last_items), state.scans, state.detections,
                 to_rfc3339(node.clock.now())))
            if work:
                conn.execute("INSERT INTO ingest_alert_work(consumer, stream_seq, work) VALUES (?,?,?)",
                             (self.consumer, state.stream_seq, json.dumps(work, separators=(",", ":"))))
        return new

    def pending_work(self, after: int = 0) -> list[tuple[int, list]]:
        """The alert work queued by :meth:`commit` (of the batches after stream sequence
        ``after``) and not yet taken off by :meth:`commit_alerts`, in stream order."""
        with self.node.write_lock:
            rows = self.node.conn.execute(
                "SELECT stream_seq, work FROM ingest_alert_work WHERE consumer = ? AND stream_seq > ? "
                "ORDER BY stream_seq", (self.consumer, after)).fetchall()
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def commit_alerts(self, items: list[Item], engine: str, alert_clock: float | None, done_seq: int) -> list[Item]:
        """The alert path's commit, in one transaction: its items, the engine's state and clock,
        and the queued work up to ``done_seq`` taken off; returns the items newly stored."""
        node, conn = self.node, self.node.conn
        with self._writing(), transaction(conn):
            new = node.put_items(items) if items else []
            conn.execute("UPDATE ingest_state SET engine = ?, alert_clock = ? WHERE consumer = ?",
                         (engine, alert_clock, self.consumer))
            conn.execute("DELETE FROM ingest_alert_work WHERE consumer = ? AND stream_seq <= ?",
                         (self.consumer, done_seq))
            conn.execute("INSERT INTO ingest_alert_state(consumer, last_items) VALUES (?, ?) "
                         "ON CONFLICT(consumer) DO UPDATE SET last_items = excluded.last_items",
                         (self.consumer, json.dumps([i.id for i in items])))
        return new

    def count_alert_restart(self) -> None:
        """One more alert process started again after one died (:mod:`accord.feeds.alert_proc`):
        a total over every run of the consumer, which a serving node's ``/metrics`` reports
        (``accord_ingest_alert_restarts_total``)."""
        with self._writing(), transaction(self.node.conn):
            self.node.conn.execute(
                "INSERT INTO ingest_alert_restarts(consumer, restarts) VALUES (?, 1) ON CONFLICT(consumer) "
                "DO UPDATE SET restarts = ingest_alert_restarts.restarts + 1", (self.consumer,))

    def last_alert_items(self) -> list[str]:
        """The ids of the items the last :meth:`commit_alerts` stored (maybe not yet published)."""
        with self.node.write_lock:
            row = self.node.conn.execute("SELECT last_items FROM ingest_alert_state WHERE consumer = ?",
                                         (self.consumer,)).fetchone()
        return list(json.loads(row[0])) if row is not None else []


def consumer_lock(directory: object, durable: str) -> int:
    """Hold ``DIR/ingest-<consumer>.lock`` (flock) for the process's life: one ingest per consumer."""
    path = os.path.join(str(directory), f"ingest-{durable}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another `accord warning ingest` runs consumer {durable} on this node "
                          f"({path} is locked)") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
