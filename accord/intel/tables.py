"""The intel store's SQL schema: its tables, their indexes and migrations, and the id hash
rows are found by. :class:`accord.intel.store.IntelStore` creates them (through
:func:`accord.store.migrations.migrate`, the steps :func:`migrations` lists) and writes and reads
them; :mod:`accord.intel.adding` (the add path) and :mod:`accord.intel.listing` (the read path)
build their SQL on the names here.

Tables:

``intel_collections``  TAXII collections (id, title, alias, ``shared`` flag, default REL TO, and
                       ``received_from``: the partner a collection was created for when its
                       first item from that partner arrived, :mod:`accord.intel.sharing`; NULL
                       for the node's own).
``intel_objects``      one row per object *version*: unique on (collection, id, version key)
                       (checked by :meth:`IntelStore.add_objects`; found by the id hash ``idh``),
                       with the TAXII ``date_added`` (µs since the epoch, strictly increasing
                       per collection so it orders and pages exactly), first/last-version flags,
                       the releasability code (:func:`accord.intel.markings.rel_code`) and the
                       granular-redaction plan computed once at ingest, the originator party and
                       the object's JSON text (served as stored: no re-serialisation on reads).
                       An object's identity is (collection, originator, id): each writer's
                       versions of an id are its own, with their own first/last flags, and
                       ``shadowed`` marks the versions of a writer other than the id's *owner*
                       in that collection (the originator of its unshadowed versions: the
                       node's party once it has added the id, else the first writer), which
                       only their writer is served (:mod:`accord.intel.adding`).
``intel_markings``     every marking definition seen (immutable by STIX rules), by (id, originator):
                       an object's marking is read with its originator's definitions, else the
                       node's (:func:`stored_definition`), so a writer's definition never stands
                       for the node's or another writer's under the same id.
``intel_status``       TAXII status resources of add requests (persisted).
``intel_meta``         the secret that signs paging cursors (made once, kept in the database,
                       so a cursor is valid on any worker and after a restart).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from accord.errors import InputError
from accord.store.base import pipelined
from accord.store.migrations import Step

DDL = """
CREATE TABLE IF NOT EXISTS intel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intel_collections (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT, alias TEXT UNIQUE,
  shared INTEGER NOT NULL DEFAULT 0, rel_to TEXT NOT NULL DEFAULT '', strict INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intel_markings (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intel_received (
  item_id TEXT PRIMARY KEY, originator TEXT NOT NULL, collection TEXT, stix_id TEXT,
  outcome TEXT NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS intel_status (
  id TEXT PRIMARY KEY, collection TEXT NOT NULL, request_timestamp TEXT NOT NULL,
  principal TEXT, body TEXT NOT NULL);
"""
# One row per object version. (collection, stix_id, vkey) is unique: add_objects checks it
# inside the write transaction it opens (:func:`accord.store.base.begin_write`) (so no other writer, in this
# process or another, can slip in between the check and the insert). Lookups by id go through
# ``idh``, a 64-bit hash of the id (:func:`id_hash`): an entry of ~14 bytes instead of the
# ~120 of a (collection, stix_id, vkey) index. Object ids are random UUIDs, so every object
# added dirties a random page of the id index, and each dirty page is written to the WAL and
# fsync'd at commit: a small index keeps that to a few pages per request. The hash only narrows
# a lookup; every query also compares ``stix_id``, so a collision costs a row read, never a
# wrong answer.
OBJECTS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
  seq INTEGER PRIMARY KEY,
  collection TEXT NOT NULL REFERENCES intel_collections(id),
  stix_id TEXT NOT NULL, idh INTEGER NOT NULL, type TEXT NOT NULL, spec_version TEXT NOT NULL,
  version TEXT NOT NULL, vkey TEXT NOT NULL, date_added INTEGER NOT NULL,
  is_first INTEGER NOT NULL, is_last INTEGER NOT NULL,
  rel TEXT NOT NULL, granular TEXT, originator TEXT NOT NULL, body TEXT NOT NULL);
"""
OBJECTS_INDEXES = """
CREATE INDEX IF NOT EXISTS intel_objects_added ON intel_objects(collection, date_added);
CREATE INDEX IF NOT EXISTS intel_objects_idh ON intel_objects(idh);
"""
# Migration 4, PostgreSQL only: its planner, before statistics exist (a new or fast-growing
# table: autovacuum analyses it a minute later at the earliest), estimated ~100 rows for each
# equality and answered a lookup by id by AND-ing the id-hash index with the whole collection's
# (collection, date_added) entries — 10,000 index entries read per lookup at 10,000 objects —
# and a page by sorting the whole collection. An id-hash index that also holds the collection
# matches both equalities in one index scan, and (collection, date_added, seq) gives a page's
# order without a sort, whatever the statistics say. SQLite keeps its one-column id index
# (``INDEXED BY`` names it; its entries stay small, see ``OBJECTS_TABLE``).
PG_INDEXES = """
DROP INDEX IF EXISTS intel_objects_idh;
CREATE INDEX intel_objects_idh ON intel_objects(idh, collection);
DROP INDEX IF EXISTS intel_objects_added;
CREATE INDEX intel_objects_added ON intel_objects(collection, date_added, seq);
"""
# the columns of the first schema (then unique on (collection, stix_id, vkey), without idh): a
# database made by an earlier Accord is rebuilt into the new table once, when a store opens it
V1_COLUMNS = ("seq, collection, stix_id, type, spec_version, version, vkey, date_added, is_first,"
              " is_last, rel, granular, originator, body")


def id_hash(stix_id: str) -> int:
    """The ``idh`` of a STIX id: the first 8 bytes of its BLAKE2b digest, as a signed 64-bit
    integer (stable across processes and versions: it is stored)."""
    return int.from_bytes(hashlib.blake2b(stix_id.encode("utf-8"), digest_size=8).digest(), "big", signed=True)



# by id: seek the id-hash index. Left to itself SQLite may walk the (collection, date_added)
# index instead (to avoid a sort, or because it cannot tell which equality is narrower), i.e.
# read the whole collection per lookup.
ID_INDEXED = "intel_objects INDEXED BY intel_objects_idh"


def upgrade_v1(conn: Any) -> None:
    """Migration 2: rebuild a first-schema ``intel_objects`` (no ``idh``) into the current one,
    in the step's transaction: rows, seq numbers and date_added unchanged; nothing changes if
    it fails."""
    def columns() -> set[str]:
        return {r[1] for r in conn.execute("PRAGMA table_info(intel_objects)")}

    present = columns()
    if not present or "idh" in present:
        return
    conn.create_function("accord_id_hash", 1, id_hash, deterministic=True)  # only SQLite had v1
    conn.execute(OBJECTS_TABLE.format(name="intel_objects_v2"))
    conn.execute(f"INSERT INTO intel_objects_v2({V1_COLUMNS}, idh)"
                 f" SELECT {V1_COLUMNS}, accord_id_hash(stix_id) FROM intel_objects")
    conn.execute("DROP TABLE intel_objects")  # and its indexes
    conn.execute("ALTER TABLE intel_objects_v2 RENAME TO intel_objects")
    for stmt in OBJECTS_INDEXES.strip().splitlines():
        conn.execute(stmt)


RECEIVED_PREFIX = "received from "  # the description of a collection made for a partner's items


def add_received_from(conn: Any) -> None:
    """Migration 5: ``intel_collections.received_from``, the partner whose received items a
    collection was made for (only that partner's items are applied into it). Collections made so
    before the column existed are found by what receiving wrote when it made them for a partner's
    first item: the description ``received from <party>``. They are that party's even if another
    partner's items were applied into them since (it named a collection not made for it): that
    partner is refused from now on, as it would have been had the column always been there, and
    the party they were made for goes on being applied — leaving them to no partner would stop the
    feed of the one partner entitled to them. Any other collection stays NULL: no partner's item
    is applied into it any more."""
    if "received_from" not in {r[1] for r in conn.execute("PRAGMA table_info(intel_collections)")}:
        conn.execute("ALTER TABLE intel_collections ADD COLUMN received_from TEXT")
    rows = conn.execute("SELECT id, description FROM intel_collections WHERE received_from IS NULL"
                        " AND description LIKE ?", (RECEIVED_PREFIX + "%",)).fetchall()
    for cid, description in rows:
        party = description[len(RECEIVED_PREFIX):]
        if description.startswith(RECEIVED_PREFIX) and party:  # (SQLite's LIKE ignores case)
            conn.execute("UPDATE intel_collections SET received_from = ? WHERE id = ?", (party, cid))


def scope_by_originator(conn: Any, home: str) -> None:
    """Migration 6: objects are identified per (collection, originator, id), and ``shadowed``
    marks the versions of a writer other than the id's owner in the collection (served to that
    writer only). Until then the first writer of an id in a collection owned it and other
    writers' versions were refused, so an id has one originator in a collection — except in data
    written before that rule: there the owner is the node's party (``home``) if it wrote a
    version, else the originator of the earliest version, the others' versions are shadowed, and
    each originator's first/last flags are set again."""
    if "shadowed" not in {r[1] for r in conn.execute("PRAGMA table_info(intel_objects)")}:
        conn.execute("ALTER TABLE intel_objects ADD COLUMN shadowed INTEGER NOT NULL DEFAULT 0")
    mixed = conn.execute("SELECT collection, stix_id FROM intel_objects GROUP BY collection, stix_id"
                         " HAVING COUNT(DISTINCT originator) > 1").fetchall()
    for coll, sid in mixed:
        key = (id_hash(sid), coll, sid)
        owner = conn.execute(f"SELECT originator FROM {ID_INDEXED} WHERE idh = ? AND collection = ? AND stix_id = ?"
                             " ORDER BY CASE WHEN originator = ? THEN 0 ELSE 1 END, date_added, seq LIMIT 1",
                             (*key, home)).fetchone()[0]
        conn.execute(f"UPDATE {ID_INDEXED} SET shadowed = CASE WHEN originator = ? THEN 0 ELSE 1 END"
                     " WHERE idh = ? AND collection = ? AND stix_id = ?", (owner, *key))
        fix_flags(conn.cursor(), coll, sid)


def scope_markings(conn: Any) -> None:
    """Migration 7: marking definitions kept per (id, originator), where the first one stored
    under an id stood for every writer's. Each originator's definitions are taken from the
    marking-definition objects it stored (its first version of each id); a stored definition
    whose objects are all deleted is kept under the originator ``''`` — unknown — which
    :func:`stored_definition` consults last for other parties' objects, never for the node's."""
    if "originator" in {r[1] for r in conn.execute("PRAGMA table_info(intel_markings)")}:
        return
    conn.execute("CREATE TABLE intel_markings_v2 (id TEXT NOT NULL, originator TEXT NOT NULL,"
                 " body TEXT NOT NULL, PRIMARY KEY (id, originator))")
    conn.execute("INSERT INTO intel_markings_v2(id, originator, body) SELECT o.stix_id, o.originator, o.body"
                 " FROM intel_objects o WHERE o.type = 'marking-definition' AND o.seq = (SELECT MIN(p.seq)"
                 " FROM intel_objects p WHERE p.idh = o.idh AND p.stix_id = o.stix_id AND p.originator = o.originator)")
    conn.execute("INSERT INTO intel_markings_v2(id, originator, body) SELECT id, '', body FROM intel_markings m"
                 " WHERE NOT EXISTS (SELECT 1 FROM intel_markings_v2 v WHERE v.id = m.id)")
    conn.execute("DROP TABLE intel_markings")
    conn.execute("ALTER TABLE intel_markings_v2 RENAME TO intel_markings")


def stored_definition(conn: Any, ref: str, origin: str, home: str) -> tuple[str | None, str | None]:
    """``(originator, JSON text)`` of the stored marking definition ``ref`` that marks objects of
    ``origin``: its own, else the node's (``home``), else — for another party's objects only —
    one kept from before definitions were per originator (``''``: it may be any writer's, so it
    never marks the node's objects, which are then withheld from partners as unknown-marked
    until the node stores its own); ``(None, None)`` if there is none."""
    rows = dict(conn.execute("SELECT originator, body FROM intel_markings WHERE id = ? AND originator IN (?, ?, '')",
                             (ref, origin, home)).fetchall())
    by = next((p for p in ((origin, home, "") if origin != home else (home,)) if p in rows), None)
    return by, rows.get(by) if by is not None else None


def migrations(home: str) -> list[Step]:
    """The steps of the intel component's schema, in order (:func:`accord.store.migrations.migrate`),
    for a store whose own party is ``home``."""
    return [DDL, upgrade_v1, OBJECTS_TABLE.format(name="intel_objects") + OBJECTS_INDEXES,
            {"sqlite": "", "postgresql": PG_INDEXES}, add_received_from,
            functools.partial(scope_by_originator, home=home), scope_markings]


def fix_flags(cur: Any, coll: str, sid: str) -> None:
    """Set the first/last-version flags of every stored version of ``sid`` in ``coll`` again,
    each originator's among its own (after an add stored several versions of it at once, or a
    delete removed some): one statement, so a delete's flags go with its commit in one round
    trip on PostgreSQL."""
    match = "idh = ? AND collection = ? AND stix_id = ?"
    own = "o.idh = ? AND o.collection = ? AND o.stix_id = ? AND o.originator = intel_objects.originator"
    key = (id_hash(sid), coll, sid)
    cur.execute(
        f"UPDATE {ID_INDEXED} SET"
        f" is_first = CASE WHEN vkey = (SELECT MIN(o.vkey) FROM intel_objects AS o INDEXED BY intel_objects_idh"
        f" WHERE {own}) THEN 1 ELSE 0 END,"
        f" is_last = CASE WHEN vkey = (SELECT MAX(o.vkey) FROM intel_objects AS o INDEXED BY intel_objects_idh"
        f" WHERE {own}) THEN 1 ELSE 0 END"
        f" WHERE {match}", key * 3)


def delete_rows(conn: Any, coll: str, sid: str, where: list[str], args: list[Any], *, sender: str | None = None,
                hooks: Sequence[Callable[[list[tuple[Any, ...]]], object]] = ()) -> int:
    """Delete the versions of ``sid`` in ``coll`` that ``where`` selects and set the flags of
    those left, in one transaction; return how many. ``hooks`` run in it, after the delete, with
    the versions ``sender`` (the partner a received collection was made for) originated that were
    deleted, ``(stix_id, version, vkey, originator)`` each, read before the delete (no read and
    no hook call without a ``sender`` or when none was deleted). PostgreSQL:
    BEGIN, the node's lock and the DELETE in one round trip, the flags and the COMMIT in another
    (a third to read the versions, when there are hooks); the pipeline is ended before hooks,
    which may take locks of their own (the ledger's)."""
    cond = " AND ".join(where)
    with ExitStack() as pipe, conn:
        pipe.enter_context(pipelined(conn))
        gone = conn.execute(f"SELECT stix_id, version, vkey, originator FROM {ID_INDEXED} WHERE {cond}"
                            " AND originator = ?", [*args, sender]).fetchall() if hooks and sender else []
        n = conn.execute(f"DELETE FROM {ID_INDEXED} WHERE {cond}", args).rowcount
        if n:
            fix_flags(conn.cursor(), coll, sid)
        if gone:
            pipe.close()
            for hook in hooks:
                hook([tuple(g) for g in gone])
    return n


def taken(conn: Any, cid: str, alias: str | None) -> InputError:
    """The refusal of a collection whose id or alias another holds, naming that one."""
    row = conn.execute("SELECT id, title FROM intel_collections WHERE id = ?", (cid,)).fetchone()
    if row is not None:
        return InputError(f"a collection with id {cid!r} already exists ({row['title']})", field="id")
    row = conn.execute("SELECT id, title FROM intel_collections WHERE alias = ?", (alias,)).fetchone()
    held = f" by collection {row['id']} ({row['title']})" if row is not None else ""
    return InputError(f"alias {alias!r} is already used{held}", field="alias")
