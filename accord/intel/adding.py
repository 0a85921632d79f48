"""The intel store's add path: :func:`prepare` works out each object's version, marking,
releasability, granular plan and JSON text before the database's write lock is taken (other
writers wait on it); :func:`write` stores the result in one transaction (what is present
already, the first/last flags, the status resource, the store's transaction hooks);
:func:`status_json` is the status resource as a party sees it.

:meth:`accord.intel.store.IntelStore.add_objects` validates a request, then calls these two
under the store's lock; the tables and SQL names come from :mod:`accord.intel.tables`, the
values (:class:`~accord.intel.records.Stored`, :class:`~accord.intel.records.AddResult`) from
:mod:`accord.intel.records`.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any, Protocol

import orjson

from accord.clock import Clock
from accord.core.markings import Marking
from accord.intel import markings as mk
from accord.intel.records import ALL, AddResult, Collection, Stored, encode_json, to_us, us_to_rfc3339
from accord.intel.tables import ID_INDEXED, fix_flags, id_hash
from accord.intel.validate import version_key
from accord.store.base import begin_write, pipelined, select_in

# run inside an add's transaction with what it stored; may return what to run after the commit
TxnHook = Callable[[list[Stored]], Callable[[], object] | None]

# the refusal of a partner's item carrying a version its sender wrote before with other content
OTHER_CONTENT = "object {} version {} is stored already with other content"


class Markings(Protocol):
    """Where :func:`prepare` finds marking definitions (an :class:`~accord.intel.store.IntelStore`)."""

    def definitions(self, refs: Iterable[str], local: Mapping[str, dict[str, Any]],
                    origin: str | None = None) -> dict[str, dict[str, Any]]: ...

    def marking_of(self, obj: Mapping[str, Any], default_rel_to: frozenset[str] = ...,
                   local: Mapping[str, dict[str, Any]] | None = None,
                   origin: str | None = None) -> tuple[Marking, bool]: ...


def not_tlp(refs: Iterable[str]) -> list[str]:
    """``refs`` but the TLP marking ids: an object's effective marking and granular plan take a
    TLP id's meaning from the id alone (:func:`accord.intel.markings.definition_kind`), so its
    definition need not be looked up — the most common marking costs no query per add."""
    return [r for r in refs if r not in mk.TLP_BY_ID]


def prepare(markings: Markings, coll: Collection, objects: Sequence[dict[str, Any]],
            plain_json: bool, origin: str) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """What does not depend on what is stored, computed before SQLite's write lock is taken
    (other processes' writers wait on that lock): each object's version and version key,
    effective marking and releasability (read with ``origin``'s marking definitions, else the
    node's), granular plan, JSON text; and each id's hash."""
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
            m, k = markings.marking_of(obj, coll.rel_to, local, origin)
            cached = marking_cache[refs] = (m, k, mk.rel_code(m, k))
        marking, known, rel = cached
        if not refs and obj["type"] in ("marking-definition", "extension-definition"):
            rel = ALL
        granular = None
        if obj.get("granular_markings"):
            grefs = [g.get("marking_ref") for g in obj["granular_markings"] if g.get("marking_ref")]
            withhold, plan = mk.granular_plan(obj, markings.definitions(not_tlp(grefs), local, origin), coll.rel_to)
            if withhold != "*":
                rel = withhold if rel == ALL else mk.intersect_rel(rel, withhold)
            granular = json.dumps(plan) if plan else None
        if sid not in hashes:
            hashes[sid] = id_hash(sid)
        prepared.append((obj, sid, version, version_key(version) if version else "", marking, known,
                         rel, granular, encode_json(obj, plain=plain_json)))
    return prepared, hashes


def write(conn: Any, coll: Collection, prepared: list[tuple[Any, ...]], hashes: dict[str, int], *,
          clock: Clock, home: str, txn_hooks: Sequence[TxnHook], origin: str, principal: str | None,
          received: tuple[str, str] | None, after: list[Callable[[], object]]) -> AddResult:
    """Store what :func:`prepare` made, in one transaction on ``conn`` (the caller holds the
    store's lock), with what ``txn_hooks`` (:attr:`IntelStore.txn_hooks`) write for it; what they
    return to run after the commit goes to ``after``. ``home`` is the store's own party (the
    status returned is its view).

    An object is an originator's: its identity in the collection is (originator, id), so one
    writer's versions never block, answer for or reveal another's (a writer that knows an id
    cannot learn that the node holds it, nor take it before the node stores it). A version is
    "already present" only if ``origin`` stored it. Of the originators holding versions of an
    id, one is its *owner* — the node's party (``home``) as soon as it adds the id, else the
    first writer — and the others' versions are ``shadowed``: served only to their own writer
    (:func:`accord.intel.listing.conditions`), so a partner's tool adding a newer version of the
    node's object never makes it the object other readers get. The owner and what is present
    are read inside this transaction, with one query.

    A partner's item (``received``) is applied only if its object (the request's last) ends up
    stored as carried under the sender's name: that is what ``applied`` in ``intel_received``
    says, and what node verification (:mod:`accord.node.verify`) checks. So a version its
    sender stored already with other content (a STIX version never changes) answers the item
    ``refused`` (:data:`OTHER_CONTENT`): recorded ``applied``, verification would name the stored
    object edited — an alarm any partner could raise at will."""
    now_us = to_us(clock.now())
    request_ts = us_to_rfc3339(now_us)
    successes: list[dict[str, Any]] = []  # with each entry's releasability (filters status reads)
    failures: list[dict[str, Any]] = []  # the same form: a received item's object not stored as carried
    stored: list[Stored] = []
    status_id = str(uuid.uuid4())
    # PostgreSQL: BEGIN and the node's lock go with the query of what is present (one round
    # trip), the rows, the status and the COMMIT together (another): any error fails the add.
    # The pipeline holds the connection for this thread, so before hooks that take locks of
    # their own (sharing: the ledger's) it is ended — the store's statements answered — and
    # they run as plain statements.
    with ExitStack() as pipe, conn:
        pipe.enter_context(pipelined(conn))
        if not conn.in_transaction:
            # take the write lock before reading what is present: the uniqueness of
            # (collection, id, version) and the order of date_added rest on no other
            # writer committing between this read and the inserts
            begin_write(conn)
        cur = conn.cursor()
        # What is already stored of these ids, in one query per 500 ids: the (id, version) pairs
        # ``origin`` stored, its first/last version key of each id, and each id's owner; and, in
        # the same round trip, the collection's last date_added (the row with a NULL id).
        last = 0
        present: dict[tuple[str, str], int] = {}  # (id, version key) -> its date_added, of ``origin``'s
        bounds: dict[str, list[str]] = {}  # id -> ``origin``'s first and last version key
        owner: dict[str, str] = {}  # id -> the originator of its unshadowed versions
        for sid, vkey, added, by, shadowed in select_in(
                cur, "SELECT NULL, NULL, MAX(date_added), NULL, NULL FROM intel_objects WHERE collection = ?"
                     f" UNION ALL SELECT stix_id, vkey, date_added, originator, shadowed FROM {ID_INDEXED}"
                     " WHERE collection = ? AND idh IN ({})",
                hashes.values(), coll.id, coll.id):
            if sid is None:
                last = max(last, added or 0)
                continue
            if sid not in hashes:
                continue  # another id with the same hash
            if not shadowed:
                owner[sid] = by
            if by != origin:
                continue
            present[(sid, vkey)] = added
            b = bounds.setdefault(sid, [vkey, vkey])
            b[0], b[1] = min(b[0], vkey), max(b[1], vkey)
        next_us = max(now_us, last + 1)
        rows: list[tuple[Any, ...]] = []
        clear_first: list[tuple[int, str, str, str]] = []
        clear_last: list[tuple[int, str, str, str]] = []
        taken: list[tuple[int, str, str, str]] = []  # (idh, collection, id, owner) the node takes over
        promoted: list[tuple[int, str, str, str]] = []  # (idh, collection, id, originator) that owns it now
        item_obj = len(prepared) - 1 if received is not None else -1  # the received item's object
        for n, (obj, sid, version, vkey, marking, known, rel, granular, body_text) in enumerate(prepared):
            if n == item_obj and (sid, vkey) in present:
                why = _not_as_carried(cur, coll.id, hashes[sid], sid, vkey, obj, origin)
                if why is not None:
                    failures.append({"id": sid, "version": version or request_ts, "message": why, "rel": rel})
                    continue
            if (sid, vkey) in present:  # a version without a timestamp is its date_added
                vout = version or us_to_rfc3339(present[(sid, vkey)])
                successes.append({"id": sid, "version": vout, "message": "already present", "rel": rel})
                continue
            holder = owner.get(sid)
            shadow = 0
            if holder is None:  # no owner (none yet, or its versions deleted): ``origin`` owns the id
                owner[sid] = origin
                if sid in bounds:  # its versions stored while another owned the id are served again
                    promoted.append((hashes[sid], coll.id, sid, origin))
            elif holder != origin:
                if origin == home:  # the node's object: the other writer's versions are its own only
                    taken.append((hashes[sid], coll.id, sid, holder))
                    owner[sid] = origin
                else:
                    shadow = 1
            known_b = bounds.get(sid)
            if known_b is None:
                is_first = is_last = True
                bounds[sid] = [vkey, vkey]
            else:
                is_first, is_last = vkey < known_b[0], vkey > known_b[1]
                if is_first:
                    clear_first.append((hashes[sid], coll.id, sid, origin))
                    known_b[0] = vkey
                if is_last:
                    clear_last.append((hashes[sid], coll.id, sid, origin))
                    known_b[1] = vkey
            date_added = present[(sid, vkey)] = next_us
            next_us += 1
            rows.append((coll.id, sid, hashes[sid], obj["type"], obj.get("spec_version", "2.1"), version, vkey,
                         date_added, int(is_first), int(is_last), rel, granular, origin, body_text, shadow))
            if obj["type"] == "marking-definition":
                cur.execute("INSERT OR IGNORE INTO intel_markings(id, originator, body) VALUES (?, ?, ?)",
                            (sid, origin, body_text))
            vout = version or us_to_rfc3339(date_added)
            successes.append({"id": sid, "version": vout, "rel": rel})
            stored.append(Stored(coll.id, obj, vout, marking, known, origin, rel,
                                 json.loads(granular) if granular else None, coll.shared))
        for change, value in ((taken, 1), (promoted, 0)):
            if change:
                cur.executemany(f"UPDATE {ID_INDEXED} SET shadowed = {value} WHERE idh = ? AND collection = ?"
                                " AND stix_id = ? AND originator = ?", change)
        # flags first (rows of this request are inserted after, with their own flags right;
        # a version superseded within the same request is fixed by the pass below)
        if clear_first:
            cur.executemany(f"UPDATE {ID_INDEXED} SET is_first = 0 WHERE idh = ? AND collection = ?"
                            " AND stix_id = ? AND originator = ? AND is_first = 1", clear_first)
        if clear_last:
            cur.executemany(f"UPDATE {ID_INDEXED} SET is_last = 0 WHERE idh = ? AND collection = ?"
                            " AND stix_id = ? AND originator = ? AND is_last = 1", clear_last)
        cur.executemany(
            "INSERT INTO intel_objects(collection, stix_id, idh, type, spec_version, version, vkey,"
            " date_added, is_first, is_last, rel, granular, originator, body, shadowed)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        counts = Counter(r[1] for r in rows)
        for sid in (k for k, n in counts.items() if n > 1):  # several versions of one id in this request: recompute its flags
            fix_flags(cur, coll.id, sid)
        if received is not None:  # the item's object is its last; refused if that one failed
            refused = next((f["message"] for f in failures if prepared and f["id"] == prepared[-1][1]), None)
            cur.execute("INSERT INTO intel_received(item_id, originator, collection, stix_id, outcome, reason)"
                        " VALUES (?,?,?,?,?,?)", (received[0], received[1], coll.id, prepared[-1][1] if prepared else None,
                                                  "applied" if refused is None else "refused", refused))
        body = {"successes": successes, "failures": failures, "pendings": []}
        cur.execute("INSERT INTO intel_status(id, collection, request_timestamp, principal, body)"
                    " VALUES (?,?,?,?,?)", (status_id, coll.id, request_ts, principal,
                                            orjson.dumps(body).decode()))
        if stored and txn_hooks and any(st.shared is not False for st in stored):
            pipe.close()
        if stored:
            for hook in list(txn_hooks):
                then = hook(stored)
                if then is not None:
                    after.append(then)
    return AddResult(status_json(status_id, request_ts, body, home, home=home), stored)


def _not_as_carried(cur: Any, coll: str, idh: int, sid: str, vkey: str, obj: dict[str, Any],
                    origin: str) -> str | None:
    """Why a received object whose version its sender ``origin`` stored already is not applied
    (it stored other content under that version), or None when the stored version is the object
    as carried (read only in that case: one query, for a received item resent)."""
    row = cur.execute(f"SELECT body FROM {ID_INDEXED} WHERE idh = ? AND collection = ? AND stix_id = ?"
                      " AND vkey = ? AND originator = ?", (idh, coll, sid, vkey, origin)).fetchone()
    if row is not None and json.loads(row[0]) != obj:
        return OTHER_CONTENT.format(sid, obj.get("modified") or obj.get("created") or "(none)")
    return None


def status_json(sid: str, ts: str, body: dict[str, Any], party: str, *, home: str) -> dict[str, Any]:
    """The TAXII status resource of an add as ``party`` sees it: the entries of objects not
    releasable to it left out (``home``, the store's own party, sees every entry)."""
    def visible(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for e in entries:
            if party == home or e.get("rel") == ALL or mk.rel_allows(e.get("rel", "|"), party):
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
