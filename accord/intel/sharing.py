"""STIX objects flowing between nodes: out through :func:`accord.federation.share_many`, in
through the node's item store.

Outgoing (:func:`share_stored`, run after every add to a collection flagged ``shared``): each new
object version originated by this node becomes an :class:`~accord.core.items.Item` of kind
``intel.stix`` whose marking is the object's effective marking (classification, REL TO, TLP,
caveats — :mod:`accord.intel.markings`), and goes to each pinned partner the marking releases it
to, if the node's agreements allow (:func:`accord.core.policy.decide`, default deny; federation
ledgers ``item.shared``). The item body carries the collection (id, title), the object —
redacted for that partner if granular markings say so — and the marking definitions it
references, so the receiver can interpret them::

    {"collection": {"id": "…", "title": "…"}, "object": {…}, "markings": [{…}, …]}

Marking and extension definitions are not shared on their own: they travel inside the items
that use them. Received objects are never re-shared (federation refuses it anyway).

Incoming (:func:`sync_received`): items of kind ``intel.stix`` from partners (already verified,
policy-checked and ledgered ``item.received`` by federation) are added to a collection made for
their sender — created on first receipt, titled after the sender's, under an id this node
derives from the sender and the collection id the item names (:func:`received_collection_id`),
so a partner never picks a collection id here: it cannot put its objects beside the node's own
or another partner's, nor take an id the node or another partner's items will use — with their
originator recorded and their STIX markings intact. Each item is applied once (table
``intel_received``), in the same transaction as its objects; its object is the sender's own
version (:mod:`accord.intel.adding`: each originator's objects are its own). Recorded
``refused`` (one line of reason, nothing stored): an item carrying a version its sender stored
before with other content. The receive refuses it rather than node verification looking past
it: ``applied`` would record an object the sender never stored, and verification, which checks
every applied item's object is stored as carried (:mod:`accord.node.verify`), would report it
edited — a false alarm any partner could raise at will, where a lenient check would also miss a
row truly edited.

A received version deleted through the API (a TAXII DELETE: the node curates its collections) is
ledgered ``intel.deleted`` — collection, id, version, originator, the deleting party and token —
in the delete's transaction: verification accepts that row's absence, and still reports a row
deleted otherwise (a database edit).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from accord.core.items import Item
from accord.core.markings import Marking
from accord.errors import AccordError, InputError, NotFoundError, PolicyDenied, StixValidationError
from accord.intel import markings as mk
from accord.intel.store import Collection, IntelStore, Stored
from accord.intel.tables import RECEIVED_PREFIX
from accord.store.base import select_in

if TYPE_CHECKING:
    from accord.store.protocol import Node

KIND = "intel.stix"
DELETED_EVENT = "intel.deleted"  # a received object version deleted (:func:`install`)
log = logging.getLogger("accord.intel.sharing")


def _item_id(party: str, obj: dict[str, Any], version: str, partner: str | None) -> str:
    base = f"{party}:{KIND}:{obj['id']}@{version}"
    return base if partner is None else f"{base}~{partner}"  # a partner-specific redaction


def item_for(store: IntelStore, stored: Stored, partner: str, now: Any) -> Item:
    """The item carrying ``stored`` to ``partner`` (redacted for it if granular markings say so)."""
    coll = store.collection(stored.collection)
    obj = stored.object
    redacted = mk.redact(obj, stored.plan, partner) if stored.plan else obj
    refs = list(obj.get("object_marking_refs") or [])
    refs += [g["marking_ref"] for g in redacted.get("granular_markings", []) if g.get("marking_ref")]
    defs = store.definitions(refs, {})
    body = {"collection": {"id": coll.id, "title": coll.title},
            "object": redacted, "markings": [defs[r] for r in sorted(set(refs)) if r in defs]}
    return Item(KIND, _item_id(store.party, obj, stored.version, partner if redacted is not obj else None),
                store.party, stored.marking, now, body)


def share_stored(node: Node, store: IntelStore, stored: list[Stored], *, join: bool = False,
                 results: list[Any] | None = None) -> dict[str, list[dict[str, str]]]:
    """Share newly stored versions of shared collections with the partners allowed to have them.

    Returns ``{"shared": [{"item", "to"}], "denied": [{"item", "to", "reason"}]}``; a refusal
    (the policy, default deny) never fails the add that triggered it (the objects stay stored
    locally); any other failure while queueing does. ``join``: queue inside the add's own open
    transaction (see :func:`install`), the queued results added to ``results``.
    """
    from accord.federation.outbox import enqueue, plan_share

    out: dict[str, list[dict[str, str]]] = {"shared": [], "denied": []}
    # own objects only (received ones are never re-shared); definitions travel inside the
    # items that use them
    if all(s.shared is False for s in stored):  # the common case of a local collection
        return out
    party = node.party
    mine = [s for s in stored if s.originator == party
            and s.object.get("type") not in ("marking-definition", "extension-definition")]
    flags = {c: store.collection(c).shared for c in {s.collection for s in mine if s.shared is None}}
    mine = [s for s in mine if (flags[s.collection] if s.shared is None else s.shared)]
    if not mine:  # the common case of a local collection: nothing to do
        return out
    partners = sorted(node.partners())
    now = node.clock.now()
    per_partner: dict[str, dict[str, list[Item]]] = {}
    for s in mine:
        for partner in partners:
            if not mk.rel_allows(s.rel, partner):
                continue
            item = item_for(store, s, partner, now)
            per_partner.setdefault(partner, {}).setdefault(str(item.marking), []).append(item)
    for partner, groups in per_partner.items():
        for items in groups.values():  # one policy decision per (kind, marking): all or none
            try:  # refusals come before anything is written; any other error fails the add
                entries = plan_share(node, items, partner)
            except PolicyDenied as exc:
                for item in items:
                    out["denied"].append({"item": item.id, "to": partner, "reason": str(exc)})
                continue
            clash = _held_otherwise(store, [e[0] for e in entries])
            for item_id in sorted(clash):
                why = (f"item {item_id} was shared before with other content (this version in another"
                       " collection, or added again after a delete); not sent again")
                log.warning("intel: %s", why)
                out["denied"].append({"item": item_id, "to": partner, "reason": why})
            entries = [e for e in entries if e[0].id not in clash]
            if not entries:
                continue
            got = enqueue(node, entries, join=join)  # a failure here is a failure of the add
            if results is not None:
                results.extend(got)
            out["shared"] += [{"item": r.item_id, "to": partner} for r in got]
    return out


def _held_otherwise(store: IntelStore, items: list[Item]) -> set[str]:
    """Ids of ``items`` the node already holds with other content. An item's id names the object
    version and party only, so the same version added to a second shared collection, or added
    again after a delete (``created`` is the time of sharing), makes another item under the same
    id, which the node refuses to store: such items are reported and skipped, never a failure
    of the add (as when sharing ran after the commit)."""
    try:
        held = dict(select_in(store.conn, "SELECT id, digest FROM items WHERE id IN ({})", (i.id for i in items)))
    except Exception:  # noqa: BLE001 - another node implementation: its own store decides
        return set()
    return {i.id for i in items if i.id in held and held[i.id] != i.digest()}


def install(node: Node, store: IntelStore) -> None:
    """Share on every add, in the add's own transaction: the objects, their items, the outbox
    rows and the ledger events commit together, so a crash leaves all of them or none (it used
    to run after the commit, and a crash in between left objects stored and never sent). The
    delivery workers are woken once the add has committed."""
    from accord.federation.outbox import notify_queued, ready

    ready(node)  # the federation's tables: never created inside an add's transaction

    def hook(stored: list[Stored]) -> Any:
        results: list[Any] = []
        share_stored(node, store, stored, join=True, results=results)
        return (lambda: notify_queued(node, results)) if results else None

    store.txn_hooks.append(hook)

    def deleted(coll: Collection, gone: list[tuple[Any, ...]], *, party: str, principal: str | None) -> None:
        # a received version deleted (through the API: the node curates its collections) is
        # ledgered in the delete's transaction, so ledger verify tells it from a row deleted by
        # a database edit (accord.node.verify)
        node.ledger.append_many([(DELETED_EVENT, {
            "collection": coll.id, "stix_id": sid, "version": version if vkey else "", "originator": origin,
            "party": party, "by": principal or party}, node.clock.now())
            for sid, version, vkey, origin in gone])

    store.delete_hooks.append(deleted)


def _pending_ids(node: Node, store: IntelStore) -> list[str]:
    # intel_received is the store's table (made when the store opened, under the node's lock):
    # no schema statement here, where it would run outside the lock on every sync and commit
    # whatever another thread had half done on the shared connection
    with store.lock:
        try:  # the node's items table (accord.node): ids only, so this stays cheap
            rows = store.conn.execute(
                "SELECT id FROM items WHERE kind = ? AND originator != ? AND id NOT IN "
                "(SELECT item_id FROM intel_received) ORDER BY created, id", (KIND, node.party)).fetchall()
            return [r[0] for r in rows]
        except Exception:  # noqa: BLE001 - another node implementation: fall back to its API
            have = {r[0] for r in store.conn.execute("SELECT item_id FROM intel_received")}
            return [i.id for i in node.items(kind=KIND) if i.originator != node.party and i.id not in have]


# the namespace of the ids of collections made for partners' items (:func:`received_collection_id`)
RECEIVED_NS = uuid.UUID("0b6f3e2a-5c41-4d8e-9a7f-3c2d1e0f4b95")


def received_collection_id(sender: str, cid: str) -> str:
    """The id of the collection made for ``sender``'s items naming its collection ``cid`` (a
    UUID in any form :class:`uuid.UUID` reads): a UUIDv5 of both, so the node chooses it, each
    partner's ids are its own, and no partner can name an id the node (or another partner's
    items) will use."""
    return str(uuid.uuid5(RECEIVED_NS, f"{sender}/{uuid.UUID(cid)}"))


def _collection_for(store: IntelStore, cid: str, coll: dict[str, Any], sender: str) -> Collection | str:
    """The collection for ``sender``'s items naming its collection ``cid`` (made now if absent),
    or why the item is refused: a collection holds the derived id and was not made for ``sender``.

    The collection is :func:`received_collection_id`'s; one made for ``sender`` under ``cid``
    itself (as receiving made them before it derived ids) goes on receiving its items."""
    lid = received_collection_id(sender, cid)
    try:
        found = store.collection(lid)  # found once, then kept by the store: no query per item
    except NotFoundError:
        try:
            legacy = store.collection(cid)
            if legacy.id == cid and legacy.received_from == sender:
                return legacy
        except NotFoundError:
            pass
        try:
            found = store.add_collection(f"{coll.get('title') or 'intel'} (from {sender})", id=lid,
                                         description=f"{RECEIVED_PREFIX}{sender}", received_from=sender)
        except InputError:  # made meanwhile (another process applying the same partner's items)
            found = store.collection(lid)
    if found.id == lid and found.received_from == sender:
        return found
    return f"collection {lid} was not created for objects received from {sender}; not applied"


def _record(store: IntelStore, item: Item, cid: Any, obj: Any, outcome: str, reason: str) -> None:
    with store.lock, store.conn:
        store.conn.execute(
            "INSERT OR IGNORE INTO intel_received(item_id, originator, collection, stix_id, outcome, reason)"
            " VALUES (?,?,?,?,?,?)", (item.id, item.originator, cid, obj.get("id") if isinstance(obj, dict) else None,
                                      outcome, reason[:500]))


def sync_received(node: Node, store: IntelStore) -> dict[str, int]:
    """Apply received ``intel.stix`` items not applied yet; ``{"applied": n, "invalid": m}``
    (``invalid`` counts the items refused too — a version its sender stored before with other
    content, or a derived collection id held by a collection not made for the sender — each
    recorded ``refused``, see the module docstring)."""
    applied = invalid = 0
    for item_id in _pending_ids(node, store):
        item = node.get_item(item_id)
        body = item.body if isinstance(item.body, dict) else {}
        raw_coll, raw_markings = body.get("collection"), body.get("markings")
        coll: dict[str, Any] = raw_coll if isinstance(raw_coll, dict) else {}
        obj = body.get("object")
        markings: list[Any] = raw_markings if isinstance(raw_markings, list) else []
        cid = coll.get("id")  # recorded as it came (NULL if missing) when the item is invalid
        try:
            uuid.UUID(str(cid))
            cid_s = str(cid)
            if not isinstance(obj, dict):
                raise StixValidationError("item carries no STIX object", [])
            if not all(isinstance(m, dict) and m.get("type") == "marking-definition" for m in markings):
                raise StixValidationError("item's markings hold objects other than marking definitions", [])
            target = _collection_for(store, cid_s, coll, item.originator)
            if isinstance(target, str):
                log.warning("intel: item %s from %s: %s", item.id, item.originator, target)
                _record(store, item, cid_s, obj, "refused", target)
                invalid += 1
                continue
            result = store.add_objects(target, [*markings, obj], originator=item.originator,
                                       received=(item.id, item.originator))
            refused = [f for f in result.status.get("failures", ()) if f["id"] == obj.get("id")]
            if refused:  # recorded "refused" with the add (a version stored before with other content)
                log.warning("intel: item %s from %s not applied: %s", item.id, item.originator, refused[0]["message"])
                invalid += 1
                continue
            applied += 1
        except (AccordError, ValueError) as exc:
            invalid += 1
            _record(store, item, cid, obj, "invalid", str(exc))
    return {"applied": applied, "invalid": invalid}


class Syncer:
    """Runs :func:`sync_received` at most every ``interval`` seconds (TAXII reads call it)."""

    def __init__(self, node: Node, store: IntelStore, interval: float = 0.5) -> None:
        self.node, self.store, self.interval = node, store, interval
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            sync_received(self.node, self.store)
        except AccordError as exc:  # a bad item must not break reads
            log.warning("intel: applying received items failed: %s", exc)


__all__ = ["KIND", "RECEIVED_NS", "item_for", "received_collection_id", "share_stored", "install", "sync_received", "Syncer", "Marking"]
