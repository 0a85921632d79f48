"""The STIX 2.1 store: objects, versions and collections in the node's SQLite database.

Kept as one module: `IntelStore` is one class over the intel tables (objects, versions,
collections, markings); its add and read paths share their SQL and the marking-definition cache.

Tables (created with :func:`accord.store.base.ensure_schema`):

``intel_collections``  TAXII collections (id, title, alias, ``shared`` flag, default REL TO).
``intel_objects``      one row per object *version*: unique on (collection, id, version key)
                       (checked by :meth:`IntelStore.add_objects`; found by the id hash ``idh``),
                       with the TAXII ``date_added`` (µs since the epoch, strictly increasing
                       per collection so it orders and pages exactly), first/last-version flags,
                       the releasability code (:func:`accord.intel.markings.rel_code`) and the
                       granular-redaction plan computed once at ingest, the originator party and
                       the object's JSON text (served as stored: no re-serialisation on reads).
``intel_markings``     every marking definition seen (immutable by STIX rules), by id.
``intel_status``       TAXII status resources of add requests (persisted).
``intel_meta``         the secret that signs paging cursors (made once, kept in the database,
                       so a cursor is valid on any worker and after a restart).

The version of an object (TAXII 2.1 §3.4.1) is its ``modified``, else its ``created``; objects
with neither (most SCOs) have one version. Version keys normalise timestamps to a 9-digit
fraction so that ``…:00Z`` and ``…:00.000Z`` are the same version and keys sort in time order.

Every write is one ``with conn:`` transaction: an add either stores every object of the request
(and its status) or nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from accord.clock import Clock, SystemClock, to_rfc3339
from accord.core.markings import Marking, check_party
from accord.errors import InputError, NotFoundError, StixValidationError
from accord.intel import markings as mk
from accord.intel.validate import TS_RE, structural_failures, validate_full, version_key
from accord.store.base import POSTGRESQL, IntegrityError, begin_write, dialect_of, pipelined, select_in
from accord.store.migrations import migrate

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


ALL = "|*|"
# by id: seek the id-hash index. Left to itself SQLite may walk the (collection, date_added)
# index instead (to avoid a sort, or because it cannot tell which equality is narrower), i.e.
# read the whole collection per lookup.
ID_INDEXED = "intel_objects INDEXED BY intel_objects_idh"
# PostgreSQL: ANALYZE intel_objects once this store has added this many rows, then each time
# the rows it added have doubled (see IntelStore.keep_statistics)
ANALYSE_FIRST = 1000
ALIAS_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MEDIA_STIX21 = "application/stix+json;version=2.1"


def encode_json(value: Any, *, plain: bool = False) -> str:
    """Compact JSON text of ``value`` (what is stored and served).

    ``plain=True`` promises ``value`` holds only what :func:`orjson.loads` produces (str keys,
    64-bit ints, finite floats, valid Unicode): orjson then writes the same JSON text as
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` (floats in their shortest
    round-trip form, which parse to the same value), about 20× faster. Anything else goes
    through :mod:`json` exactly as before (orjson would silently turn NaN into ``null``)."""
    if plain:
        return orjson.dumps(value).decode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_us(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def us_to_rfc3339(us: int) -> str:
    """µs since the epoch → RFC 3339 with a 6-digit fraction (date_added on the wire)."""
    seconds, fraction = divmod(us, 1_000_000)
    return _second_rfc3339(seconds) + f"{fraction:06d}Z"


@functools.lru_cache(maxsize=1024)  # consecutive date_added values mostly share their second
def _second_rfc3339(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_timestamp_us(text: str, *, field: str) -> int:
    """RFC 3339 UTC timestamp (any fraction length) → µs since the epoch (fraction truncated)."""
    if not isinstance(text, str) or not TS_RE.match(text):
        raise InputError(f"{text!r} is not an RFC 3339 UTC timestamp", field=field)
    base, _, frac = text[:-1].partition(".")
    try:
        when = datetime.fromisoformat(base).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{text!r} is not a valid date", field=field) from None
    return to_us(when) + int((frac + "000000")[:6])


def _upgrade_v1(conn: Any) -> None:
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


def _not_tlp(refs: Iterable[str]) -> list[str]:
    """``refs`` but the TLP marking ids: an object's effective marking and granular plan take a
    TLP id's meaning from the id alone (:func:`accord.intel.markings.definition_kind`), so its
    definition need not be looked up — the most common marking costs no query per add."""
    return [r for r in refs if r not in mk.TLP_BY_ID]


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str | None
    alias: str | None
    shared: bool
    rel_to: frozenset[str]
    strict: bool
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description,
                "alias": self.alias, "shared": self.shared, "rel_to": sorted(self.rel_to),
                "strict": self.strict, "created": self.created}


@dataclass(frozen=True)
class Filters:
    """TAXII 2.1 §3.5 filters. ``versions`` holds ``first``/``last``/``all``/timestamps."""

    added_after: int | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()


@dataclass
class Page:
    """One page of a paged TAXII listing."""

    items: list[Any]
    more: bool
    next: str | None
    first_added: int | None
    last_added: int | None


@dataclass
class Stored:
    """An object version this request stored (handed to sharing hooks)."""

    collection: str
    object: dict[str, Any]
    version: str
    marking: Marking
    known: bool
    originator: str
    rel: str = "|"
    plan: list[list[Any]] | None = None
    shared: bool | None = None  # the collection's flag when stored (None: look it up)


@dataclass
class AddResult:
    status: dict[str, Any]
    stored: list[Stored] = field(default_factory=list)


class IntelStore:
    """STIX objects and TAXII collections of one node (``party`` is the node's own party:
    its users see everything; other parties see what is releasable to them)."""

    def __init__(self, conn: Any, *, party: str, clock: Clock | None = None,
                 max_page: int = 1000, lock: Any = None) -> None:
        """``lock`` guards ``conn`` against the other threads using it (a node passes the one its
        federation uses, :func:`accord.intel.node_store.store_for`); a private one by default."""
        check_party(party, what="node party")
        self.conn = conn
        self.party = party
        self.clock = clock or SystemClock()
        self.max_page = max_page
        self.lock = lock if lock is not None else threading.RLock()
        self.hooks: list[Callable[[list[Stored]], object]] = []  # after each add's commit; return values ignored
        # inside each add's transaction, after its rows (a failure rolls the add back); each may
        # return what to run once the add has committed (sharing: queue, then wake the workers)
        self.txn_hooks: list[Callable[[list[Stored]], Callable[[], object] | None]] = []
        self.syncer: Callable[[], None] | None = None  # applies partners' items (sharing.Syncer)
        self._defs: dict[str, dict[str, Any]] = {}
        self._known: dict[str, Collection] = {}  # collections found, by the id or alias asked (immutable)
        self._added, self._analyse_at = 0, ANALYSE_FIRST  # rows this store added less deleted; when to analyse
        with self.lock:
            migrate(conn, "intel", [DDL, _upgrade_v1, OBJECTS_TABLE.format(name="intel_objects") + OBJECTS_INDEXES,
                                    {"sqlite": "", "postgresql": PG_INDEXES}], lock=self.lock)
            with conn:
                conn.execute("INSERT OR IGNORE INTO intel_meta(key, value) VALUES ('cursor_secret', ?)",
                             (secrets.token_hex(32),))
            self._secret = bytes.fromhex(conn.execute(
                "SELECT value FROM intel_meta WHERE key = 'cursor_secret'").fetchone()[0])

    def sync(self) -> None:
        """Apply items received from partners, if this store belongs to a node (throttled)."""
        if self.syncer is not None:
            self.syncer()

    # --- collections -----------------------------------------------------------------------
    def add_collection(self, title: str, *, alias: str | None = None, description: str | None = None,
                       shared: bool = False, rel_to: Iterable[str] = (), strict: bool = False,
                       id: str | None = None) -> Collection:
        """Create a TAXII collection. ``rel_to`` is the default REL TO of objects in it that
        carry no Accord marking (default: none, i.e. home party only)."""
        if not title or not isinstance(title, str):
            raise InputError("a collection needs a title", field="title")
        rel = sorted({check_party(p, what="rel_to party") for p in rel_to})
        cid = id or str(uuid.uuid4())
        try:
            uuid.UUID(cid)
        except ValueError:
            raise InputError(f"collection id {cid!r} is not a UUID", field="id") from None
        if alias is not None and not ALIAS_RE.fullmatch(alias):
            raise InputError(f"alias {alias!r} must be lower-case letters, digits, '.', '_' or '-' "
                             "(it appears in URLs and token scopes)", field="alias")
        created = to_rfc3339(self.clock.now())
        try:
            with self.lock, self.conn:
                self.conn.execute(
                    "INSERT INTO intel_collections(id, title, description, alias, shared, rel_to, strict, created)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (cid, title, description, alias, int(shared), ",".join(rel), int(strict), created))
        except IntegrityError:
            raise InputError(f"a collection with id {cid!r} or alias {alias!r} already exists",
                             field="alias") from None
        return self.collection(cid)

    def collections(self) -> list[Collection]:
        with self.lock:
            rows = self.conn.execute("SELECT * FROM intel_collections ORDER BY created, id").fetchall()
        return [self._collection(r) for r in rows]

    def collection(self, key: str) -> Collection:
        """A collection by id or alias; :class:`NotFoundError` if none.

        A collection is never changed nor deleted once created (there is no statement that
        would), so one found is kept and found again without a query — on PostgreSQL a round
        trip saved on every TAXII request. A key not found is looked up each time: another
        process may create it."""
        hit = self._known.get(key)
        if hit is not None:
            return hit
        with self.lock:
            row = self.conn.execute("SELECT * FROM intel_collections WHERE id = ? OR alias = ?",
                                    (key, key)).fetchone()
        if row is None:
            raise NotFoundError(f"no collection {key!r}")
        coll = self._known[key] = self._collection(row)
        return coll

    def _coll_id(self, collection: str | Collection) -> str:
        """The id of a collection given by id or alias, or as the :class:`Collection` a caller
        has looked up already (the TAXII routes do, to check permissions)."""
        return collection.id if isinstance(collection, Collection) else self.collection(collection).id

    @staticmethod
    def _collection(r: Any) -> Collection:
        return Collection(r["id"], r["title"], r["description"], r["alias"], bool(r["shared"]),
                          frozenset(p for p in r["rel_to"].split(",") if p), bool(r["strict"]),
                          r["created"])

    # --- markings --------------------------------------------------------------------------
    def definitions(self, refs: Iterable[str], local: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The marking definitions ``refs`` names, by id: from ``local`` (the objects of the bundle
        being added), else stored (cached: a definition never changes); unknown ones left out."""
        out: dict[str, dict[str, Any]] = {}
        for ref in refs:
            if ref in local:
                out[ref] = local[ref]
            elif ref in self._defs:
                out[ref] = self._defs[ref]
            else:
                with self.lock:  # the shared connection: not inside another thread's transaction
                    row = self.conn.execute("SELECT body FROM intel_markings WHERE id = ?", (ref,)).fetchone()
                if row is not None:
                    # marking definitions never change (STIX 2.1 §7.2.1), so caching is safe
                    self._defs[ref] = out[ref] = json.loads(row[0])
        return out

    def marking_of(self, obj: Mapping[str, Any], default_rel_to: frozenset[str] = frozenset(),
                   local: Mapping[str, dict[str, Any]] | None = None) -> tuple[Marking, bool]:
        """The effective marking of ``obj`` (see :mod:`accord.intel.markings`)."""
        refs = obj.get("object_marking_refs") or []
        return mk.effective_marking(refs, self.definitions(_not_tlp(refs), local or {}), default_rel_to)

    # --- adding ----------------------------------------------------------------------------
    def add_objects(self, collection: str | Collection, objects: Sequence[Any], *, originator: str | None = None,
                    principal: str | None = None, strict: bool | None = None,
                    validator: bool = False, received: tuple[str, str] | None = None,
                    plain_json: bool = False) -> AddResult:
        """Validate and store ``objects`` in ``collection`` in one transaction (all or nothing).

        Structural validation (:func:`check_object`) always; ``stix2.parse`` (+ stix2-validator
        if ``validator``) when ``strict`` or the collection is strict. Raises
        :class:`StixValidationError` listing every failing object; stores nothing then.
        Re-adding a version already present is a success that changes nothing. ``received`` =
        ``(item id, originator)`` records, in the same transaction, that a partner's item was
        applied (:mod:`accord.intel.sharing`). ``collection`` is an id, an alias or a
        :class:`Collection` just read (saves reading it again). ``plain_json``: the objects come straight from
        :func:`orjson.loads` (the TAXII API), so their text is written by orjson
        (:func:`encode_json`).
        """
        coll = collection if isinstance(collection, Collection) else self.collection(collection)
        origin = originator or self.party
        check_party(origin, what="originator")
        if not isinstance(objects, (list, tuple)):
            raise StixValidationError("objects must be a list", [])
        failures = structural_failures(objects)
        if not failures and (strict or (strict is None and coll.strict)):
            for i, obj in enumerate(objects):
                try:
                    validate_full([obj], source=None, validator=validator)
                except InputError as exc:
                    failures.append({"index": i, "id": obj.get("id"), "message": str(exc).replace("objects[0]", f"objects[{i}]")})
        if failures:
            raise StixValidationError(
                f"{len(failures)} of {len(objects)} object(s) are not valid STIX 2.1; nothing was stored",
                failures)
        after: list[Callable[[], object]] = []
        with self.lock:  # reads on the shared connection: never inside another thread's transaction
            prepared, hashes = self._prepare(coll, objects, plain_json)
            result = self._store(coll, prepared, hashes, origin=origin, principal=principal,
                                 received=received, after=after)
        for then in after:
            then()
        self.keep_statistics(len(result.stored))
        for hook in list(self.hooks):
            if result.stored:
                hook(result.stored)
        return result

    def keep_statistics(self, added: int) -> None:
        """On PostgreSQL, ANALYZE ``intel_objects`` when the rows this store has added, less those
        it has deleted, reach :data:`ANALYSE_FIRST`, then each time they double (a few times per
        growth by 10×). Counted net of deletes because it is the table's growth that outdates
        the statistics: adds that deletes take back (a TAXII client replacing objects) leave
        them true, and an ANALYZE in a request's path costs that request tens of ms.

        Autovacuum analyses a table a minute after it changed at the earliest; until then the
        planner of a new or fast-growing table estimates ~100 rows for a collection and read a
        page by sorting every row of it (10,000 at 10,000 objects) instead of walking the
        ``(collection, date_added, seq)`` index. ANALYZE samples at most 30,000 rows (tens of
        ms), does not block reads or writes, and invalidates cached plans made without it."""
        if not added or dialect_of(self.conn) != POSTGRESQL:
            return
        self._added += added
        if self._added < self._analyse_at:
            return
        with self.lock:
            if self.conn.in_transaction:  # a caller's transaction: analysed at a later add
                return
            self.conn.execute("ANALYZE intel_objects")
        self._analyse_at = 2 * self._added

    def _prepare(self, coll: Collection, objects: Sequence[dict[str, Any]],
                 plain_json: bool) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
        """What does not depend on what is stored, computed before SQLite's write lock is taken
        (other processes' writers wait on that lock): each object's version and version key,
        effective marking and releasability, granular plan, JSON text; and each id's hash."""
        local = {o["id"]: o for o in objects if o["type"] == "marking-definition"}
        prepared: list[tuple[Any, ...]] = []
        marking_cache: dict[tuple[str, ...], tuple[Marking, bool, str]] = {}
        hashes: dict[str, int] = {}
        for obj in objects:
            version = obj.get("modified") or obj.get("created") or ""
            sid = obj["id"]
            refs = tuple(obj.get("object_marking_refs") or ())
            cached = marking_cache.get(refs)
            if cached is None:
                m, k = self.marking_of(obj, coll.rel_to, local)
                cached = marking_cache[refs] = (m, k, mk.rel_code(m, k))
            marking, known, rel = cached
            if not refs and obj["type"] in ("marking-definition", "extension-definition"):
                rel = ALL
            granular = None
            if obj.get("granular_markings"):
                grefs = [g.get("marking_ref") for g in obj["granular_markings"] if g.get("marking_ref")]
                withhold, plan = mk.granular_plan(obj, self.definitions(_not_tlp(grefs), local), coll.rel_to)
                if withhold != "*":
                    rel = withhold if rel == ALL else mk.intersect_rel(rel, withhold)
                granular = json.dumps(plan) if plan else None
            if sid not in hashes:
                hashes[sid] = id_hash(sid)
            prepared.append((obj, sid, version, version_key(version) if version else "", marking, known,
                             rel, granular, encode_json(obj, plain=plain_json)))
        return prepared, hashes

    def _store(self, coll: Collection, prepared: list[tuple[Any, ...]], hashes: dict[str, int], *,
               origin: str, principal: str | None, received: tuple[str, str] | None,
               after: list[Callable[[], object]]) -> AddResult:
        """Store what :meth:`_prepare` made, in one transaction (the caller holds ``self.lock``),
        with what :attr:`txn_hooks` write for it; what they return to run after the commit goes
        to ``after``."""
        now_us = to_us(self.clock.now())
        request_ts = us_to_rfc3339(now_us)
        successes: list[dict[str, Any]] = []  # with each entry's releasability (filters status reads)
        stored: list[Stored] = []
        status_id = str(uuid.uuid4())
        # PostgreSQL: BEGIN and the node's lock go with the query of what is present (one round
        # trip), the rows, the status and the COMMIT together (another): any error fails the add.
        # The pipeline holds the connection for this thread, so before hooks that take locks of
        # their own (sharing: the ledger's) it is ended — the store's statements answered — and
        # they run as plain statements.
        with ExitStack() as pipe, self.conn:
            pipe.enter_context(pipelined(self.conn))
            if not self.conn.in_transaction:
                # take the write lock before reading what is present: the uniqueness of
                # (collection, id, version) and the order of date_added rest on no other
                # writer committing between this read and the inserts
                begin_write(self.conn)
            cur = self.conn.cursor()
            # What is already stored of these ids, in one query per 500 ids: the (id, version) pairs
            # present and each id's first/last version key; and, in the same round trip, the
            # collection's last date_added (the row with a NULL id).
            last = 0
            present: dict[tuple[str, str], int] = {}  # (id, version key) -> its date_added
            bounds: dict[str, list[str]] = {}
            for sid, vkey, added in select_in(
                    cur, "SELECT NULL, NULL, MAX(date_added) FROM intel_objects WHERE collection = ? UNION ALL"
                         f" SELECT stix_id, vkey, date_added FROM {ID_INDEXED} WHERE collection = ? AND idh IN ({{}})",
                    hashes.values(), coll.id, coll.id):
                if sid is None:
                    last = max(last, added or 0)
                    continue
                if sid not in hashes:
                    continue  # another id with the same hash
                present[(sid, vkey)] = added
                b = bounds.setdefault(sid, [vkey, vkey])
                b[0], b[1] = min(b[0], vkey), max(b[1], vkey)
            next_us = max(now_us, last + 1)
            rows: list[tuple[Any, ...]] = []
            clear_first: list[tuple[int, str, str]] = []
            clear_last: list[tuple[int, str, str]] = []
            for obj, sid, version, vkey, marking, known, rel, granular, body_text in prepared:
                if (sid, vkey) in present:  # a version without a timestamp is its date_added
                    vout = version or us_to_rfc3339(present[(sid, vkey)])
                    successes.append({"id": sid, "version": vout, "message": "already present", "rel": rel})
                    continue
                known_b = bounds.get(sid)
                if known_b is None:
                    is_first = is_last = True
                    bounds[sid] = [vkey, vkey]
                else:
                    is_first, is_last = vkey < known_b[0], vkey > known_b[1]
                    if is_first:
                        clear_first.append((hashes[sid], coll.id, sid))
                        known_b[0] = vkey
                    if is_last:
                        clear_last.append((hashes[sid], coll.id, sid))
                        known_b[1] = vkey
                date_added = present[(sid, vkey)] = next_us
                next_us += 1
                rows.append((coll.id, sid, hashes[sid], obj["type"], obj.get("spec_version", "2.1"), version, vkey,
                             date_added, int(is_first), int(is_last), rel, granular, origin, body_text))
                if obj["type"] == "marking-definition":
                    cur.execute("INSERT OR IGNORE INTO intel_markings(id, body) VALUES (?, ?)", (sid, body_text))
                vout = version or us_to_rfc3339(date_added)
                successes.append({"id": sid, "version": vout, "rel": rel})
                stored.append(Stored(coll.id, obj, vout, marking, known, origin, rel,
                                     json.loads(granular) if granular else None, coll.shared))
            # flags first (rows of this request are inserted after, with their own flags right;
            # a version superseded within the same request is fixed by the pass below)
            if clear_first:
                cur.executemany(f"UPDATE {ID_INDEXED} SET is_first = 0 WHERE idh = ? AND collection = ?"
                                " AND stix_id = ? AND is_first = 1", clear_first)
            if clear_last:
                cur.executemany(f"UPDATE {ID_INDEXED} SET is_last = 0 WHERE idh = ? AND collection = ?"
                                " AND stix_id = ? AND is_last = 1", clear_last)
            cur.executemany(
                "INSERT INTO intel_objects(collection, stix_id, idh, type, spec_version, version, vkey,"
                " date_added, is_first, is_last, rel, granular, originator, body)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            counts = Counter(r[1] for r in rows)
            for sid in (k for k, n in counts.items() if n > 1):  # several versions of one id in this request: recompute its flags
                self._fix_flags(cur, coll.id, sid)
            if received is not None:
                cur.execute("INSERT INTO intel_received(item_id, originator, collection, stix_id, outcome)"
                            " VALUES (?,?,?,?,'applied')", (received[0], received[1], coll.id, prepared[-1][1] if prepared else None))
            body = {"successes": successes, "failures": [], "pendings": []}
            cur.execute("INSERT INTO intel_status(id, collection, request_timestamp, principal, body)"
                        " VALUES (?,?,?,?,?)", (status_id, coll.id, request_ts, principal,
                                                orjson.dumps(body).decode()))
            if stored and self.txn_hooks and any(st.shared is not False for st in stored):
                pipe.close()
            if stored:
                for hook in list(self.txn_hooks):
                    then = hook(stored)
                    if then is not None:
                        after.append(then)
        return AddResult(self._status_json(status_id, request_ts, body, self.party), stored)

    @staticmethod
    def _fix_flags(cur: Any, coll: str, sid: str) -> None:
        match = "idh = ? AND collection = ? AND stix_id = ?"
        key = (id_hash(sid), coll, sid)
        cur.execute(
            f"UPDATE {ID_INDEXED} SET"
            f" is_first = CASE WHEN vkey = (SELECT MIN(vkey) FROM {ID_INDEXED} WHERE {match}) THEN 1 ELSE 0 END,"
            f" is_last = CASE WHEN vkey = (SELECT MAX(vkey) FROM {ID_INDEXED} WHERE {match}) THEN 1 ELSE 0 END"
            f" WHERE {match}", key * 3)

    # --- status ----------------------------------------------------------------------------
    def status(self, status_id: str, party: str) -> tuple[str, dict[str, Any]]:
        """``(collection_id, status resource)``, details filtered for ``party``."""
        with self.lock:
            row = self.conn.execute("SELECT collection, request_timestamp, body FROM intel_status WHERE id = ?",
                                    (status_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no status {status_id!r}")
        return row[0], self._status_json(status_id, row[1], orjson.loads(row[2]), party)

    def _status_json(self, sid: str, ts: str, body: dict[str, Any], party: str) -> dict[str, Any]:
        def visible(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for e in entries:
                if party == self.party or e.get("rel") == ALL or mk.rel_allows(e.get("rel", "|"), party):
                    out.append({k: v for k, v in e.items() if k != "rel"})
            return out
        succ, fail, pend = visible(body["successes"]), visible(body["failures"]), visible(body["pendings"])
        out: dict[str, Any] = {"id": sid, "status": "complete" if not pend else "pending",
                               "request_timestamp": ts,
                               "total_count": len(succ) + len(fail) + len(pend),
                               "success_count": len(succ), "failure_count": len(fail),
                               "pending_count": len(pend)}
        if succ:
            out["successes"] = succ
        if fail:
            out["failures"] = fail
        if pend:
            out["pendings"] = pend
        return out

    # --- cursors ---------------------------------------------------------------------------
    def _sign(self, scope: str, date_added: int, seq: int) -> str:
        mac = hmac.new(self._secret, f"{scope}|{date_added}|{seq}".encode(), hashlib.sha256).digest()[:12]
        return f"{date_added:x}.{seq:x}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def _unsign(self, scope: str, token: str) -> tuple[int, int]:
        try:
            a, b, _ = token.split(".")
            date_added, seq = int(a, 16), int(b, 16)
        except (ValueError, AttributeError):
            raise InputError("malformed paging token", field="next") from None
        if not hmac.compare_digest(self._sign(scope, date_added, seq), token):
            raise InputError("paging token does not belong to this listing or was altered", field="next")
        return date_added, seq

    # --- reading ---------------------------------------------------------------------------
    def _where(self, coll: str, party: str, f: Filters, default_version: str,
               object_id: str | None) -> tuple[list[str], list[Any]] | None:
        where: list[str] = ["collection = ?"]
        args: list[Any] = [coll]
        if party != self.party:
            where.append("(rel = '|*|' OR instr(rel, ?) > 0)")
            args.append(f"|{party}|")
        if object_id is not None:
            where.append("idh = ? AND stix_id = ?")
            args.extend((id_hash(object_id), object_id))
        if f.added_after is not None:
            where.append("date_added > ?")
            args.append(f.added_after)
        if f.ids:
            marks = ",".join("?" * len(f.ids))
            where.append(f"idh IN ({marks}) AND stix_id IN ({marks})")
            args.extend(id_hash(i) for i in f.ids)
            args.extend(f.ids)
        if f.types:
            where.append(f"type IN ({','.join('?' * len(f.types))})")
            args.extend(f.types)
        if f.spec_versions and "2.1" not in f.spec_versions:
            return None  # this store holds STIX 2.1 only
        versions = f.versions or (default_version,)
        if "all" not in versions:
            conds, vargs = [], []
            for v in versions:
                if v == "first":
                    conds.append("is_first = 1")
                elif v == "last":
                    conds.append("is_last = 1")
                else:
                    parse_timestamp_us(v, field="match[version]")
                    conds.append("vkey = ?")
                    vargs.append(version_key(v))
            where.append("(" + " OR ".join(conds) + ")")
            args.extend(vargs)
        return where, args

    def _page(self, what: str, coll: str, party: str, f: Filters, limit: int | None,
              next_token: str | None, default_version: str, object_id: str | None,
              columns: str) -> tuple[list[Any], bool, str | None]:
        limit = self.max_page if limit is None else limit
        if limit < 1:
            raise InputError("limit must be a positive integer", field="limit")
        limit = min(limit, self.max_page)
        built = self._where(coll, party, f, default_version, object_id)
        if built is None:
            return [], False, None
        where, args = built
        scope = f"{what}|{coll}|{object_id or ''}"
        if next_token:
            after_added, after_seq = self._unsign(scope, next_token)
            # the same rows as ``date_added > ? OR (date_added = ? AND seq > ?)``, but the index
            # seeks to the cursor (PostgreSQL cannot seek on an OR: it read the collection from its start)
            where.append("date_added >= ? AND (date_added > ? OR seq > ?)")
            args.extend([after_added, after_added, after_seq])
        table = ID_INDEXED if (object_id is not None or f.ids) else "intel_objects"
        sql = (f"SELECT {columns}, seq, date_added FROM {table} WHERE {' AND '.join(where)}"
               " ORDER BY date_added, seq LIMIT ?")
        with self.lock:
            rows = self.conn.execute(sql, [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        token = self._sign(scope, rows[-1]["date_added"], rows[-1]["seq"]) if more else None
        return rows, more, token

    def _body(self, row: Any, party: str) -> str:
        if row["granular"] and party != self.party:
            plan = json.loads(row["granular"])
            obj = mk.redact(json.loads(row["body"]), plan, party)
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        return row["body"]

    def get_objects(self, collection: str | Collection, party: str, f: Filters = Filters(), *,
                    limit: int | None = None, next: str | None = None,
                    object_id: str | None = None) -> Page:
        """Objects (JSON texts) visible to ``party``, oldest ``date_added`` first."""
        coll = self._coll_id(collection)
        rows, more, token = self._page("objects", coll, party, f, limit, next, "last", object_id,
                                       "body, granular")
        if object_id is not None and not rows and not next:
            self._require_object(coll, party, object_id)
        return Page([self._body(r, party) for r in rows], more, token,
                    rows[0]["date_added"] if rows else None, rows[-1]["date_added"] if rows else None)

    def _require_object(self, coll: str, party: str, object_id: str) -> None:
        built = self._where(coll, party, Filters(), "all", object_id)
        assert built is not None
        with self.lock:
            hit = self.conn.execute(f"SELECT 1 FROM {ID_INDEXED} WHERE {' AND '.join(built[0])} LIMIT 1",
                                    built[1]).fetchone()
        if hit is None:
            raise NotFoundError(f"no object {object_id!r} in collection {coll}")

    def manifest(self, collection: str | Collection, party: str, f: Filters = Filters(), *,
                 limit: int | None = None, next: str | None = None) -> Page:
        """TAXII manifest records (§5.3) of the objects visible to ``party``."""
        coll = self._coll_id(collection)
        rows, more, token = self._page("manifest", coll, party, f, limit, next, "last", None,
                                       "stix_id, version")
        items = [{"id": r["stix_id"], "date_added": us_to_rfc3339(r["date_added"]),
                  "version": r["version"] or us_to_rfc3339(r["date_added"]), "media_type": MEDIA_STIX21}
                 for r in rows]
        return Page(items, more, token, rows[0]["date_added"] if rows else None,
                    rows[-1]["date_added"] if rows else None)

    def versions(self, collection: str | Collection, object_id: str, party: str, f: Filters = Filters(), *,
                 limit: int | None = None, next: str | None = None) -> Page:
        """The versions of one object visible to ``party`` (§5.8), oldest first."""
        coll = self._coll_id(collection)
        f = Filters(added_after=f.added_after, spec_versions=f.spec_versions, versions=("all",))
        rows, more, token = self._page("versions", coll, party, f, limit, next, "all", object_id,
                                       "version")
        if not rows and not next:
            self._require_object(coll, party, object_id)
        return Page([r["version"] or us_to_rfc3339(r["date_added"]) for r in rows], more, token,
                    rows[0]["date_added"] if rows else None, rows[-1]["date_added"] if rows else None)

    def delete_object(self, collection: str | Collection, object_id: str, party: str, f: Filters = Filters()) -> int:
        """Delete the versions of ``object_id`` matching ``f`` (default: all) that ``party`` can
        see; :class:`NotFoundError` if there are none."""
        coll = self._coll_id(collection)
        built = self._where(coll, party, f, "all", object_id)
        if built is None:
            raise NotFoundError(f"no object {object_id!r} in collection {coll}")
        where, args = built
        # PostgreSQL: BEGIN, the node's lock and the DELETE in one round trip, the flags and the
        # COMMIT in another
        with self.lock, pipelined(self.conn), self.conn:
            n = self.conn.execute(f"DELETE FROM {ID_INDEXED} WHERE {' AND '.join(where)}", args).rowcount
            if n:
                self._fix_flags(self.conn.cursor(), coll, object_id)
        if not n:
            raise NotFoundError(f"no object {object_id!r} in collection {coll}")
        self._added -= n  # the table's growth, as keep_statistics counts it
        return n

    def all_objects(self, collection: str | None = None, *, versions: str = "last") -> list[dict[str, Any]]:
        """Every stored object (for export), in ``date_added`` order."""
        sql = "SELECT body FROM intel_objects"
        conds, args = [], []
        if collection is not None:
            conds.append("collection = ?")
            args.append(self.collection(collection).id)
        if versions == "last":
            conds.append("is_last = 1")
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        with self.lock:
            return [json.loads(r[0]) for r in self.conn.execute(sql + " ORDER BY date_added, seq", args)]

    def count(self, collection: str) -> int:
        with self.lock:
            return self.conn.execute("SELECT COUNT(*) FROM intel_objects WHERE collection = ?",
                                     (self.collection(collection).id,)).fetchone()[0]
