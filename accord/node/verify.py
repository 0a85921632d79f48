"""Verify a whole node: the database file, the ledger, and what is stored against what is ledgered.

``accord ledger verify`` calls :func:`verify_node`. The ledger alone (``quick=True``) proves the
log was not rewritten; it says nothing of the rows beside it. The full check adds:

1. **SQLite** (not on PostgreSQL, whose pages its server checks) — ``PRAGMA integrity_check``: every b-tree page, cell, index entry and free-list
   page of ``accord.db`` is well formed (a flipped byte in a page header, a lost index entry);
2. **items** — every stored item's JSON is hashed again (SHA-256 of its RFC 8785 bytes, what
   :meth:`accord.core.items.Item.digest` is) and must equal its ``digest`` column *and* the
   digest its ledger entry recorded (``item.created`` for own and local items, ``item.received``
   for partners'); it must parse as an item whose id, kind, originator, created time and
   classification match the row's columns. Every ledger entry that records an item must find it
   stored, with the same digest. An edited body, an edited digest column or a deleted row is
   named with the item id and the ledger entry;
3. **agreements** — each stored agreement's signed body is hashed again and must equal its row's
   digest and the digest of the latest ``agreement.added`` / ``agreement.changed`` entry for its
   id, at the same version;
4. **dialogue** — each row of the ``dialogue_versions`` index must repeat the signed version its
   item holds (body, version digest, record, version), so reads served from the index show what
   was signed and ledgered;
5. **received intelligence** — each STIX object applied from a partner's ``intel.stix`` item
   (``intel_received``) must be stored exactly as that item carries it, under its sender's name,
   so TAXII serves what was received and ledgered (the receive records an item applied only
   then: one resending a version stored otherwise is refused, :mod:`accord.intel.adding`), or
   be recorded deleted by an ``intel.deleted`` ledger entry (a delete through the API,
   :mod:`accord.intel.sharing`): a row deleted any other way is reported;
6. **outbox** — each envelope in ``fed_outbox`` must be recorded by the ``item.shared`` entry of
   its recipient and number, carry that entry's item exactly as stored (same digest), be
   addressed as its row says and be signed by this node's key: nothing was slipped into the
   queue, re-addressed or altered. (Rows may be pruned once delivered, so a missing row is not
   a problem.)
7. **receipt checks waiting** — each partner's ``fed_partner_state.receipts_pending`` (the count
   the cap on waiting receipt checks reads, :func:`accord.federation.receipts.record`) must equal
   its number of ``fed_receipt_checks`` rows: a counter edited in the database, which could let
   the cap admit more rows than it allows, is named with the partner and both numbers.

Intelligence objects added locally (``accord intel import``, TAXII adds) are not ledgered one
by one, so only check 1 covers them.

Every problem found is collected (not only the first); :func:`verify_node` raises
:class:`~accord.errors.NodeIntegrityError` carrying them all, or returns what it verified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from accord.core.checkpoint import Checkpoint
from accord.errors import AccordError, LedgerError, NodeIntegrityError
from accord.store.base import POSTGRESQL, DatabaseError, begin_read, dialect_of, savepoint, table_exists

if TYPE_CHECKING:
    from accord.node.node import Node

ITEM_EVENTS = ("item.created", "item.received")
AGREEMENT_EVENTS = ("agreement.added", "agreement.changed")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (a table and key, a ledger entry, ``sqlite``) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "what": self.what}


@dataclass
class NodeVerification:
    """What :func:`verify_node` checked: the ledger head and how many rows of each kind."""

    head: Checkpoint | None
    quick: bool
    checked: dict[str, int] = field(default_factory=dict)


def verify_node(node: Node, *, quick: bool = False,
                progress: Callable[[int, int], None] | None = None) -> NodeVerification:
    """Verify ``node`` (see the module docstring): the :class:`NodeVerification` (the ledger
    head, how many rows of each kind were checked), or :class:`NodeIntegrityError` listing every
    problem found. ``quick``: the ledger's own hashes only (what a partner's checkpoint check
    relies on), whose failure is the ledger's :class:`LedgerError` (a ledger that cannot be read:
    :class:`NodeIntegrityError`)."""
    with _snapshot(node):
        if quick:
            try:
                return NodeVerification(node.ledger.verify(progress=progress), True)
            except DatabaseError as exc:
                raise NodeIntegrityError([Problem("ledger", f"cannot be read: {exc}")]) from None
        return _verify_all(node, progress)


@contextmanager
def _snapshot(node: Node) -> Iterator[None]:
    """One read transaction around every check, so that they all see the same database: a
    server writing meanwhile (an item and its ledger entry) cannot show one without the other."""
    with node.write_lock:
        if node.conn.in_transaction:
            yield
            return
        begin_read(node.conn)
        try:
            yield
        finally:
            node.conn.rollback()  # nothing was written


def _verify_all(node: Node, progress: Callable[[int, int], None] | None) -> NodeVerification:
    problems: list[Problem] = []
    result = NodeVerification(None, False)
    problems += _sqlite(node.conn)
    try:
        with savepoint(node.conn):  # a check that fails to read leaves the snapshot usable
            result.head = node.ledger.verify(progress=progress)
    except LedgerError as exc:
        problems.append(Problem("ledger", str(exc)))
    except DatabaseError as exc:
        problems.append(Problem("ledger", f"cannot be read: {exc}"))
    for name, check in (("items", _items), ("agreements", _agreements), ("dialogue versions", _dialogue),
                        ("received intel objects", _intel_received), ("queued envelopes", _outbox)):
        try:
            with savepoint(node.conn):
                result.checked[name] = check(node, problems)
        except DatabaseError as exc:
            problems.append(Problem(name, f"cannot be read: {exc}"))
    try:  # bookkeeping, not rows against ledger entries: not in ``checked``
        with savepoint(node.conn):
            _receipts_pending(node, problems)
    except DatabaseError as exc:
        problems.append(Problem("receipt checks", f"cannot be read: {exc}"))
    if problems:
        raise NodeIntegrityError(problems)
    return result


def _sqlite(conn: Any) -> list[Problem]:
    if dialect_of(conn) == POSTGRESQL:  # pages are the server's: its checksums and amcheck (docs/deployment.md)
        return []
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(100)")]
    except DatabaseError as exc:
        return [Problem("sqlite", f"integrity check could not run: {exc}")]
    return [] if rows == ["ok"] else [Problem("sqlite", r) for r in rows]


def _ledgered(node: Node, types: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, data)`` of every ledger entry of one of ``types``, oldest first."""
    marks = ",".join("?" * len(types))
    for idx, leaf in node.conn.execute(f"SELECT idx, leaf FROM ledger_leaves WHERE type IN ({marks}) ORDER BY idx",
                                       types):
        try:
            data = orjson.loads(bytes(leaf)).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            continue  # not an event: the ledger check names it
        if isinstance(data, dict):
            yield idx, data


def _items(node: Node, problems: list[Problem]) -> int:
    from accord.core.items import Item

    ledgered: dict[str, tuple[int, str]] = {}  # item id -> (first ledger entry, digest it recorded)
    for idx, data in _ledgered(node, ITEM_EVENTS):
        item_id, digest = data.get("item_id"), data.get("digest")
        if not isinstance(item_id, str) or not isinstance(digest, str):
            continue  # an event that names no stored item (e.g. an exercise's injected entry)
        seen = ledgered.setdefault(item_id, (idx, digest))
        if seen[1] != digest:
            problems.append(Problem(f"ledger entry {idx}", f"records item {item_id} with digest {digest[:16]}…, "
                                    f"entry {seen[0]} with {seen[1][:16]}…"))
    held: set[str] = set()
    count = 0
    with node.write_lock:
        rows = node.conn.execute("SELECT id, kind, originator, created, classification, digest, json FROM items")
        for item_id, kind, originator, created, classification, digest, blob in rows:
            count += 1
            held.add(item_id)
            where = f"item {item_id}"
            raw = blob if isinstance(blob, bytes) else str(blob).encode("utf-8")  # replace() makes TEXT
            actual = hashlib.sha256(raw).hexdigest()
            if actual != digest:
                problems.append(Problem(where, f"stored JSON hashes to {actual[:16]}…, not its digest column "
                                        f"{str(digest)[:16]}… (the item was edited in the database)"))
            entry = ledgered.get(item_id)
            if entry is None:
                problems.append(Problem(where, "no item.created or item.received ledger entry records it"))
            elif entry[1] != actual:
                problems.append(Problem(where, f"stored JSON hashes to {actual[:16]}…, but ledger entry "
                                        f"{entry[0]} recorded {entry[1][:16]}… (the item was edited)"))
            try:
                item = Item.from_json(orjson.loads(raw), source=where)
            except (AccordError, orjson.JSONDecodeError) as exc:
                problems.append(Problem(where, f"stored JSON is not a valid item: {exc}"))
                continue
            columns = {"id": item_id, "kind": kind, "originator": originator, "created": created,
                       "classification": classification}
            want = {"id": item.id, "kind": item.kind, "originator": item.originator, "created": item.created_text(),
                    "classification": int(item.marking.classification)}
            wrong = [k for k in columns if columns[k] != want[k]]
            if wrong:
                problems.append(Problem(where, "column(s) " + ", ".join(f"{k}={columns[k]!r}" for k in wrong)
                                        + " disagree with its JSON (" + ", ".join(f"{k}={want[k]!r}" for k in wrong)
                                        + ")"))
    for item_id in sorted(set(ledgered) - held):
        problems.append(Problem(f"item {item_id}", f"recorded by ledger entry {ledgered[item_id][0]} but not "
                                "stored (the row was deleted)"))
    return count


def _agreements(node: Node, problems: list[Problem]) -> int:
    from accord.core.agreements import Agreement

    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for idx, data in _ledgered(node, AGREEMENT_EVENTS):
        if isinstance(data.get("agreement_id"), str):
            latest[data["agreement_id"]] = (idx, data)
    count = 0
    held = set()
    for agreement_id, version, digest, text in node.conn.execute("SELECT id, version, digest, yaml FROM agreements"):
        count += 1
        held.add(agreement_id)
        where = f"agreement {agreement_id}"
        try:
            agreement = Agreement.from_yaml(text, source=where)
        except AccordError as exc:
            problems.append(Problem(where, f"stored file does not parse: {exc}"))
            continue
        actual = hashlib.sha256(agreement.signing_bytes()).hexdigest()
        if actual != digest or agreement.id != agreement_id or agreement.version != version:
            problems.append(Problem(where, f"stored file (v{agreement.version}, digest {actual[:16]}…) disagrees "
                                    f"with its row (v{version}, digest {str(digest)[:16]}…)"))
        entry = latest.get(agreement_id)
        if entry is None:
            problems.append(Problem(where, "no agreement.added or agreement.changed ledger entry records it"))
        elif entry[1].get("digest") != actual or entry[1].get("version") != agreement.version:
            problems.append(Problem(where, f"stored v{agreement.version} digest {actual[:16]}…, but ledger entry "
                                    f"{entry[0]} recorded v{entry[1].get('version')} digest "
                                    f"{str(entry[1].get('digest'))[:16]}… (the agreement was edited)"))
    for agreement_id in sorted(set(latest) - held):
        problems.append(Problem(f"agreement {agreement_id}", f"recorded by ledger entry {latest[agreement_id][0]} "
                                "but not stored (the row was deleted)"))
    return count


def _table(node: Node, name: str) -> bool:
    return table_exists(node.conn, name)


def _intel_received(node: Node, problems: list[Problem]) -> int:
    if not (_table(node, "intel_received") and _table(node, "intel_objects")):
        return 0
    from accord.intel.sharing import DELETED_EVENT
    from accord.intel.store import ID_INDEXED, id_hash
    from accord.intel.validate import version_key

    # the received versions deleted through the API, each ledgered in its delete's transaction
    deleted = {(d.get("collection"), d.get("stix_id"), version_key(v) if v else "", d.get("originator"))
               for _, d in _ledgered(node, (DELETED_EVENT,)) if isinstance(v := d.get("version"), str)}
    count = 0
    rows = node.conn.execute("SELECT r.item_id, r.collection, r.stix_id, i.originator, i.json FROM intel_received r "
                             "LEFT JOIN items i ON i.id = r.item_id WHERE r.outcome = 'applied'").fetchall()
    for item_id, collection, stix_id, originator, item_json in rows:
        count += 1
        where = f"intel object {stix_id} in collection {collection}"
        if item_json is None:
            problems.append(Problem(where, f"the item {item_id} it was received in is not stored"))
            continue
        try:
            obj = orjson.loads(bytes(item_json))["body"]["object"]
            version = obj.get("modified") or obj.get("created") or ""
            vkey = version_key(version) if version else ""
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, AccordError) as exc:
            problems.append(Problem(where, f"its item {item_id} carries no STIX object: {exc}"))
            continue
        stored = node.conn.execute(f"SELECT body FROM {ID_INDEXED} WHERE idh = ? AND collection = ? AND stix_id = ? "
                                   "AND vkey = ? AND originator = ?",
                                   (id_hash(str(stix_id)), collection, stix_id, vkey, originator)).fetchone()
        if stored is None:
            if (collection, stix_id, vkey, originator) not in deleted:
                problems.append(Problem(where, f"received in item {item_id} but not stored, and no intel.deleted "
                                        "ledger entry records its deletion (the row was deleted)"))
        elif orjson.loads(stored[0]) != obj:
            problems.append(Problem(where, f"differs from the object item {item_id} carried (the object was "
                                    "edited)"))
    return count


def _outbox(node: Node, problems: list[Problem]) -> int:
    if not _table(node, "fed_outbox"):
        return 0
    from accord.core.envelopes import Envelope
    from accord.core.identity import verify_fast

    shared: dict[tuple[str, int], tuple[int, str]] = {}  # (recipient, seq) -> (ledger entry, item id)
    for idx, data in _ledgered(node, ("item.shared",)):
        to, seq, item_id = data.get("to"), data.get("seq"), data.get("item_id")
        if isinstance(to, str) and type(seq) is int and isinstance(item_id, str):
            shared[(to, seq)] = (idx, item_id)
    key = node.identity.public_key
    count = 0
    for recipient, seq, item_id, blob, digest in node.conn.execute(
            "SELECT o.recipient, o.seq, o.item_id, o.envelope, i.digest FROM fed_outbox o "
            "LEFT JOIN items i ON i.id = o.item_id ORDER BY o.recipient, o.seq"):
        count += 1
        where = f"queued envelope to {recipient} #{seq}"
        entry = shared.get((recipient, seq))
        if entry is None:
            problems.append(Problem(where, "no item.shared ledger entry records it (slipped into the queue)"))
        elif entry[1] != item_id:
            problems.append(Problem(where, f"row names item {item_id}, but ledger entry {entry[0]} shared "
                                    f"{entry[1]} under this number"))
        try:
            env = Envelope.from_bytes(bytes(blob), source=where)
            signed = verify_fast(key, env.signature, env.signing_bytes())
        except (AccordError, TypeError, ValueError) as exc:
            problems.append(Problem(where, f"not a sealed envelope: {exc}"))
            continue
        if not signed or (env.originator, env.recipient, env.seq) != (node.party, recipient, seq):
            problems.append(Problem(where, "its signature or addressing does not verify under this node's key "
                                    "(the envelope was altered)"))
        elif env.item.get("id") != item_id or hashlib.sha256(env.item_bytes).hexdigest() != digest:
            problems.append(Problem(where, f"carries {env.item.get('id')}, not item {item_id} as stored"))
    return count


def _dialogue(node: Node, problems: list[Problem]) -> int:
    if not _table(node, "dialogue_versions"):
        return 0
    from accord.dialogue.versions import SignedVersion

    count = 0
    with node.write_lock:
        rows = node.conn.execute("SELECT v.record_id, v.version, v.item_id, v.digest, v.body, i.json "
                                 "FROM dialogue_versions v LEFT JOIN items i ON i.id = v.item_id").fetchall()
    for record_id, version, item_id, digest, body, item_json in rows:
        count += 1
        where = f"dialogue version {record_id} v{version}"
        if item_json is None:
            problems.append(Problem(where, f"its item {item_id} is not stored"))
            continue
        try:
            item_body = orjson.loads(bytes(item_json))["body"]
            signed = SignedVersion.from_body(item_body, source=item_id)
        except (AccordError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(Problem(where, f"its item {item_id} holds no signed version: {exc}"))
            continue
        if (signed.record_id, signed.version, signed.digest()) != (record_id, version, digest) \
                or json.dumps(item_body, ensure_ascii=False, sort_keys=True) != body:
            problems.append(Problem(where, f"the index row disagrees with the signed version in item {item_id} "
                                    "(the index was edited)"))
    return count


def _receipts_pending(node: Node, problems: list[Problem]) -> None:
    """Each partner's count of waiting receipt checks against its rows (a partner with rows and no
    ``fed_partner_state`` row reads as a count of 0, as the cap reads it)."""
    if not (_table(node, "fed_partner_state") and _table(node, "fed_receipt_checks")):
        return
    if "receipts_pending" not in {r[1] for r in node.conn.execute("PRAGMA table_info(fed_partner_state)")}:
        return  # a database before federation schema step 10, which fills the count from the rows
    counted = dict(node.conn.execute("SELECT party, receipts_pending FROM fed_partner_state").fetchall())
    rows = dict(node.conn.execute("SELECT party, COUNT(*) FROM fed_receipt_checks GROUP BY party").fetchall())
    for party in sorted(set(counted) | set(rows)):
        pending, held = counted.get(party, 0), rows.get(party, 0)
        if pending != held:
            problems.append(Problem(f"partner {party}", f"fed_partner_state.receipts_pending is {pending}, but "
                                    f"fed_receipt_checks holds {held} row(s) for it (the cap on waiting receipt checks "
                                    "reads the count)"))
