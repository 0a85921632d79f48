"""Partner versions that wait for what comes before them: the ``dialogue_waiting`` table.

Versions signed by different parties may arrive out of order, so a received version whose
predecessor (or, for a version 1, whose series) is not indexed yet is not rejected: it waits.
Each waiting item has one row — the record and the version it waits for (``awaits_version``;
``0``: it waits for its series ``series_id``) — and :meth:`accord.dialogue.store.DialogueStore.sync`
leaves it out of its scan of unindexed items. Indexing a version (received or written here)
releases the items that waited for exactly that version (and, for a series, the version 1s of its
series): their rows go and they are tried again in the same sync, or — released by a local
write — in the next one. So a read with nothing new costs no parsing, however many wait.

At most :data:`MAX_WAITING_PER_ORIGINATOR` items of one originator wait at a time; a version
beyond that is rejected (``dialogue_rejected``, ledgered as ``item.rejected``) with the reason.
"""

from __future__ import annotations

from typing import Any

from accord.dialogue.model import KIND_SERIES
from accord.dialogue.versions import SignedVersion

MAX_WAITING_PER_ORIGINATOR = 1000

DDL = """
CREATE TABLE IF NOT EXISTS dialogue_waiting (
    item_id        TEXT PRIMARY KEY,
    originator     TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    awaits_version INTEGER NOT NULL,
    series_id      TEXT NOT NULL,
    since          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dialogue_waiting_record ON dialogue_waiting (record_id, awaits_version);
CREATE INDEX IF NOT EXISTS dialogue_waiting_series ON dialogue_waiting (series_id, awaits_version);
CREATE INDEX IF NOT EXISTS dialogue_waiting_originator ON dialogue_waiting (originator);
"""


def awaited(v: SignedVersion) -> str:
    """What ``v`` waits for, in words (``awaits_version`` is ``v.version - 1``)."""
    return f"its series {v.series_id}" if v.version <= 1 else f"version {v.version - 1} of {v.record_id}"


def wait(conn: Any, v: SignedVersion, item_id: str, originator: str, since: str) -> str | None:
    """Record that ``item_id`` (version ``v``) waits; ``None``, or the rejection reason when its
    originator has :data:`MAX_WAITING_PER_ORIGINATOR` items waiting already. An item waiting
    already (made to wait by another process's sync since this one's scan) keeps its place."""
    if conn.execute("SELECT 1 FROM dialogue_waiting WHERE item_id=?", (item_id,)).fetchone() is not None:
        return None
    n = conn.execute("SELECT COUNT(*) FROM dialogue_waiting WHERE originator=?", (originator,)).fetchone()[0]
    if n >= MAX_WAITING_PER_ORIGINATOR:
        return (f"{v.kind} {v.record_id} v{v.version} waits for {awaited(v)}, but {originator} has "
                f"{n} versions waiting already (at most {MAX_WAITING_PER_ORIGINATOR} per originator)")
    conn.execute("INSERT OR IGNORE INTO dialogue_waiting (item_id, originator, record_id, awaits_version, "
                 "series_id, since) VALUES (?,?,?,?,?,?)",
                 (item_id, originator, v.record_id, max(v.version - 1, 0), v.series_id, since))
    return None


def release(conn: Any, v: SignedVersion) -> list[str]:
    """The items that waited for ``v`` (its successor; a series: the version 1s of the series),
    no longer waiting — they are to be tried again."""
    where: list[tuple[str, tuple[str | int, ...]]] = [("record_id=? AND awaits_version=?", (v.record_id, v.version))]
    if v.kind == KIND_SERIES:
        where.append(("series_id=? AND awaits_version=0", (v.record_id,)))
    ids: list[str] = []
    for cond, args in where:
        got = [r[0] for r in conn.execute(f"SELECT item_id FROM dialogue_waiting WHERE {cond} ORDER BY item_id",
                                          args)]
        if got:
            conn.execute(f"DELETE FROM dialogue_waiting WHERE {cond}", args)
            ids += got
    return ids


__all__ = ["DDL", "MAX_WAITING_PER_ORIGINATOR", "awaited", "release", "wait"]
