"""The STIX 2.1 store: objects, versions and collections in the node's database.

:class:`IntelStore` is the store's one entry point: collections, marking definitions, adds,
status resources and the TAXII reads (objects, manifests, versions, paged and filtered), and
deletes. It holds the connection, its lock and the caches; the rest is in modules of their own:

* :mod:`accord.intel.tables`: the tables, indexes and migrations, and the id hash rows are
  found by;
* :mod:`accord.intel.records`: the values taken in and handed out (``Collection``, ``Filters``,
  ``Page``, ``Stored``, ``AddResult``) and the JSON and timestamp encodings;
* :mod:`accord.intel.adding`: the add path (prepare outside the lock, write in one transaction)
  and the status resource;
* :mod:`accord.intel.listing`: the read path's SQL conditions and paging tokens.

Their public names are importable from here too (``__all__``).

The version of an object (TAXII 2.1 §3.4.1) is its ``modified``, else its ``created``; objects
with neither (most SCOs) have one version. Version keys normalise timestamps to a 9-digit
fraction so that ``…:00Z`` and ``…:00.000Z`` are the same version and keys sort in time order.

Every write is one ``with conn:`` transaction: an add either stores every object of the request
(and its status) or nothing.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from accord.clock import Clock, SystemClock, to_rfc3339
from accord.core.markings import Marking, check_party
from accord.errors import InputError, NotFoundError, StixValidationError
from accord.intel import markings as mk
from accord.intel.adding import not_tlp, prepare, status_json, write
from accord.intel.listing import Cursors, body_for, conditions
from accord.intel.records import (ALL, MEDIA_STIX21, AddResult, Collection, Filters, Page, Stored, encode_json,
                                  parse_timestamp_us, to_us, us_to_rfc3339)
from accord.intel.tables import (DDL, ID_INDEXED, OBJECTS_INDEXES, OBJECTS_TABLE, PG_INDEXES,
                                 V1_COLUMNS, delete_rows, id_hash, migrations, stored_definition, taken)
from accord.intel.validate import MAX_LISTED_FAILURES, structural_failures, validate_full, version_key
from accord.store.base import POSTGRESQL, IntegrityError, dialect_of
from accord.store.migrations import migrate

__all__ = ["ALIAS_RE", "ALL", "ANALYSE_FIRST", "DDL", "ID_INDEXED", "MEDIA_STIX21", "OBJECTS_INDEXES",
           "OBJECTS_TABLE", "PG_INDEXES", "V1_COLUMNS", "AddResult", "Collection", "Filters", "IntelStore",
           "Page", "Stored", "encode_json", "id_hash", "parse_timestamp_us", "to_us", "us_to_rfc3339", "version_key"]

# PostgreSQL: ANALYZE intel_objects once this store has added this many rows, then each time
# the rows it added have doubled (see IntelStore.keep_statistics)
ANALYSE_FIRST = 1000
ALIAS_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


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
        # hook(collection, gone, party=, principal=) in a delete's transaction in a received collection
        self.delete_hooks: list[Callable[..., object]] = []
        self.syncer: Callable[[], None] | None = None  # applies partners' items (sharing.Syncer)
        self._defs: dict[tuple[str, str], dict[str, Any]] = {}  # (originator, id) -> definition
        self._known: dict[str, Collection] = {}  # collections found, by the id or alias asked (immutable)
        self._added, self._analyse_at = 0, ANALYSE_FIRST  # rows this store added less deleted; when to analyse
        with self.lock:
            migrate(conn, "intel", migrations(party), lock=self.lock)
            with conn:
                conn.execute("INSERT OR IGNORE INTO intel_meta(key, value) VALUES ('cursor_secret', ?)",
                             (secrets.token_hex(32),))
            self._cursors = Cursors(bytes.fromhex(conn.execute(
                "SELECT value FROM intel_meta WHERE key = 'cursor_secret'").fetchone()[0]))

    def sync(self) -> None:
        """Apply items received from partners, if this store belongs to a node (throttled)."""
        if self.syncer is not None:
            self.syncer()

    # --- collections -----------------------------------------------------------------------
    def add_collection(self, title: str, *, alias: str | None = None, description: str | None = None,
                       shared: bool = False, rel_to: Iterable[str] = (), strict: bool = False,
                       id: str | None = None, received_from: str | None = None) -> Collection:
        """Create a TAXII collection. ``rel_to`` is the default REL TO of objects in it that
        carry no Accord marking (default: none, i.e. home party only). ``received_from``: made
        for that partner's items, and only its items are applied into it (:mod:`accord.intel.sharing`)."""
        if not title or not isinstance(title, str):
            raise InputError("a collection needs a title", field="title")
        rel = sorted({check_party(p, what="rel_to party") for p in rel_to})
        if received_from is not None:
            check_party(received_from, what="partner")
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
                    "INSERT INTO intel_collections(id, title, description, alias, shared, rel_to, strict, created,"
                    " received_from) VALUES (?,?,?,?,?,?,?,?,?)",
                    (cid, title, description, alias, int(shared), ",".join(rel), int(strict), created, received_from))
        except IntegrityError:
            with self.lock:
                raise taken(self.conn, cid, alias) from None
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
                          r["created"], r["received_from"])

    # --- markings --------------------------------------------------------------------------
    def definitions(self, refs: Iterable[str], local: Mapping[str, dict[str, Any]],
                    origin: str | None = None) -> dict[str, dict[str, Any]]:
        """The marking definitions ``refs`` names, by id, as they mark objects of ``origin`` (default
        the node's party): from ``local`` (the objects of the bundle being added), else stored —
        ``origin``'s own, else the node's (:func:`accord.intel.tables.stored_definition`; one
        writer's definitions never stand for another's) —; unknown ones left out."""
        origin = origin or self.party
        out: dict[str, dict[str, Any]] = {}
        for ref in refs:
            if ref in local:
                out[ref] = local[ref]
            elif (origin, ref) in self._defs:
                out[ref] = self._defs[(origin, ref)]
            else:
                with self.lock:  # the shared connection: not inside another thread's transaction
                    by, body = stored_definition(self.conn, ref, origin, self.party)
                if body is not None:
                    out[ref] = json.loads(body)
                    if by == origin:  # an originator's definition never changes (STIX 2.1 §7.2.1): cached
                        self._defs[(origin, ref)] = out[ref]
        return out

    def marking_of(self, obj: Mapping[str, Any], default_rel_to: frozenset[str] = frozenset(),
                   local: Mapping[str, dict[str, Any]] | None = None, origin: str | None = None) -> tuple[Marking, bool]:
        """The effective marking of ``obj``, an object of ``origin`` (see :mod:`accord.intel.markings`)."""
        refs = obj.get("object_marking_refs") or []
        return mk.effective_marking(refs, self.definitions(not_tlp(refs), local or {}, origin), default_rel_to)

    # --- adding ----------------------------------------------------------------------------
    def add_objects(self, collection: str | Collection, objects: Sequence[Any], *, originator: str | None = None,
                    principal: str | None = None, strict: bool | None = None,
                    validator: bool = False, received: tuple[str, str] | None = None,
                    plain_json: bool = False) -> AddResult:
        """Validate and store ``objects`` in ``collection`` in one transaction (all or nothing).

        Structural validation (:func:`check_object`) always; ``stix2.parse`` (+ stix2-validator
        if ``validator``) when ``strict`` or the collection is strict. Raises
        :class:`StixValidationError` listing the first :data:`MAX_LISTED_FAILURES` failing objects
        and counting all; stores nothing then. Re-adding a version the originator stored already
        is a success that changes nothing; each originator's versions of an id are its own
        (:func:`accord.intel.adding.write`). ``received`` = ``(item id, originator)`` records, in
        the same transaction, that a partner's item was applied (:mod:`accord.intel.sharing`).
        ``collection`` is an id, an alias or a :class:`Collection` just read (saves reading it
        again). ``plain_json``: the objects come straight from :func:`orjson.loads` (the TAXII
        API), so their text is written by orjson (:func:`encode_json`)."""
        coll = collection if isinstance(collection, Collection) else self.collection(collection)
        origin = originator or self.party
        check_party(origin, what="originator")
        if not isinstance(objects, (list, tuple)):
            raise StixValidationError("objects must be a list", [])
        failures, failed = structural_failures(objects)
        if not failed and (strict or (strict is None and coll.strict)):
            for i, obj in enumerate(objects):
                try:
                    validate_full([obj], source=None, validator=validator)
                except InputError as exc:
                    failed += 1
                    if len(failures) < MAX_LISTED_FAILURES:
                        failures.append({"index": i, "id": obj.get("id"), "message": str(exc).replace("objects[0]", f"objects[{i}]")})
        if failed:
            raise StixValidationError(
                f"{failed} of {len(objects)} object(s) are not valid STIX 2.1; nothing was stored",
                failures, count=failed)
        after: list[Callable[[], object]] = []
        with self.lock:  # reads on the shared connection: never inside another thread's transaction
            prepared, hashes = prepare(self, coll, objects, plain_json, origin)
            result = write(self.conn, coll, prepared, hashes, clock=self.clock, home=self.party,
                           txn_hooks=self.txn_hooks, origin=origin, principal=principal,
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

    # --- status ----------------------------------------------------------------------------
    def status(self, status_id: str, party: str) -> tuple[str, dict[str, Any]]:
        """``(collection_id, status resource)``, details filtered for ``party``."""
        with self.lock:
            row = self.conn.execute("SELECT collection, request_timestamp, body FROM intel_status WHERE id = ?",
                                    (status_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no status {status_id!r}")
        return row[0], status_json(status_id, row[1], orjson.loads(row[2]), party, home=self.party)

    # --- reading ---------------------------------------------------------------------------
    def _page(self, what: str, coll: str, party: str, f: Filters, limit: int | None,
              next_token: str | None, default_version: str, object_id: str | None,
              columns: str, own_shadowed: bool = True) -> tuple[list[Any], bool, str | None]:
        limit = self.max_page if limit is None else limit
        if limit < 1:
            raise InputError("limit must be a positive integer", field="limit")
        limit = min(limit, self.max_page)
        built = conditions(coll, party, f, default_version, object_id, home=self.party, own_shadowed=own_shadowed)
        if built is None:
            return [], False, None
        where, args = built
        scope = f"{what}|{coll}|{object_id or ''}"
        if next_token:
            after_added, after_seq = self._cursors.unsign(scope, next_token)
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
        token = self._cursors.sign(scope, rows[-1]["date_added"], rows[-1]["seq"]) if more else None
        return rows, more, token

    def _body(self, row: Any, party: str) -> str:
        return body_for(row, party, self.party)

    def get_objects(self, collection: str | Collection, party: str, f: Filters = Filters(), *,
                    limit: int | None = None, next: str | None = None,
                    object_id: str | None = None, own_shadowed: bool = True) -> Page:
        """Objects (JSON texts) visible to ``party``, oldest ``date_added`` first, with each one's
        originator. ``own_shadowed=False``: without the versions of ``party``'s own that are
        served to it alone (shadowed, :mod:`accord.intel.adding`) — what the node gives every
        reader, as an export for ``party`` holds."""
        coll = self._coll_id(collection)
        rows, more, token = self._page("objects", coll, party, f, limit, next, "last", object_id,
                                       "body, granular, originator", own_shadowed)
        if object_id is not None and not rows and not next:
            self._require_object(coll, party, object_id)
        return Page([self._body(r, party) for r in rows], more, token,
                    rows[0]["date_added"] if rows else None, rows[-1]["date_added"] if rows else None,
                    [r["originator"] for r in rows])

    def _require_object(self, coll: str, party: str, object_id: str) -> None:
        built = conditions(coll, party, Filters(), "all", object_id, home=self.party)
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

    def delete_object(self, collection: str | Collection, object_id: str, party: str, f: Filters = Filters(),
                      *, principal: str | None = None) -> int:
        """Delete the versions of ``object_id`` matching ``f`` (default: all) that ``party`` can
        see — and, for a party other than the node's, that ``party`` originated: the node curates
        its collections (shadowed versions too), another party removes only what it wrote. :class:`NotFoundError` if
        there are none (the same answer whether or not versions of other originators exist).
        ``principal`` (who deletes: a token's name) is handed to :attr:`delete_hooks`."""
        the_coll = collection if isinstance(collection, Collection) else self.collection(collection)
        coll, mine = the_coll.id, "" if party == self.party else f" written by {party}"
        built = conditions(coll, party, f, "all", object_id, home=self.party, curating=True)
        if built is None:
            raise NotFoundError(f"no object {object_id!r}{mine} in collection {coll}")
        where, args = built
        if party != self.party:
            where, args = [*where, "originator = ?"], [*args, party]
        hooks = [functools.partial(h, the_coll, party=party, principal=principal) for h in self.delete_hooks]
        with self.lock:
            n = delete_rows(self.conn, coll, object_id, where, args, sender=the_coll.received_from, hooks=hooks)
        if not n:
            raise NotFoundError(f"no object {object_id!r}{mine} in collection {coll}")
        self._added -= n  # the table's growth, as keep_statistics counts it
        return n

    def all_objects(self, collection: str | None = None, *, versions: str = "last") -> list[dict[str, Any]]:
        """Every stored object the node's readers get (not shadowed), in ``date_added`` order."""
        sql = "SELECT body FROM intel_objects"
        conds, args = ["shadowed = 0"], []
        if collection is not None:
            conds.append("collection = ?")
            args.append(self.collection(collection).id)
        if versions == "last":
            conds.append("is_last = 1")
        sql += " WHERE " + " AND ".join(conds)
        with self.lock:
            return [json.loads(r[0]) for r in self.conn.execute(sql + " ORDER BY date_added, seq", args)]

    def count(self, collection: str) -> int:
        with self.lock:
            return self.conn.execute("SELECT COUNT(*) FROM intel_objects WHERE collection = ?",
                                     (self.collection(collection).id,)).fetchone()[0]
