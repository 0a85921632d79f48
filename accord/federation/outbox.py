"""Sharing: policy → sealed envelope → durable per-partner outbox row → ledger ``item.shared``.

Kept as one module: every way an item enters a partner's outbox (share, share_with,
standing rules, retraction, removal) goes through the same sequence counters in one transaction.

:func:`share` is the one way an item leaves a node. It refuses items that the node did not
originate (received items are never re-forwarded as the node's own, so no sync loop
A→B→C→A can form), asks the policy (default deny), takes the next sequence number for the
(originator, recipient) pair, seals the envelope, and writes the outbox row and the ledger event in
one transaction. Delivery (:mod:`accord.federation.service`) reads the outbox in sequence order and
marks rows delivered only after the partner's acknowledgement.

Standing sharing rules (:func:`add_rule`): "every item of kind pattern P goes to partner X (or to
every partner, ``*``) that the policy allows", applied by :func:`create_item` to the node's own
new items. Retractions (:func:`retract`) go to exactly the partners that were sent the item,
whatever the policy says now: a retraction reveals nothing new and must always propagate.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.clock import to_rfc3339
from accord.core.parties import party_problem
from accord.errors import AccordError, ConfigError, FederationError, InputError, NotFoundError, StoreError
from accord.federation import receipts, wire
from accord.federation.inbox import BatchAck
from accord.federation.schema import ensure_node_schema
from accord.federation.schema import write_lock
from accord.store.base import DatabaseError, select_in
from accord.store.base import transaction

if TYPE_CHECKING:
    from accord.store.protocol import Node


@dataclass(frozen=True)
class ShareResult:
    item_id: str
    to: str
    seq: int
    status: str          # "queued" | "already_queued" | "retracted" (never sent: seq 0)
    agreement: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "to": self.to, "seq": self.seq, "status": self.status,
                "agreement": self.agreement}


@dataclass(frozen=True)
class Created:
    item: Any
    shared_to: list[str]


_notifiers: dict[int, Any] = {}


def register_notifier(node: Node, callback: Any) -> None:
    """Let a running delivery service know when a partner's outbox grew."""
    _notifiers[id(node.conn)] = callback


def unregister_notifier(node: Node) -> None:
    _notifiers.pop(id(node.conn), None)


def _notify(node: Node, party: str) -> None:
    cb = _notifiers.get(id(node.conn))
    if cb is not None:
        cb(party)


def notify_queued(node: Node, results: list[ShareResult]) -> None:
    """Wake the delivery workers for the partners ``results`` queued something for: what
    :func:`share_many` does by itself, left to the caller with ``join=True`` (after its commit)."""
    for to in sorted({r.to for r in results if r.status == "queued"}):
        _notify(node, to)


@contextmanager
def _savepoint(conn: Any) -> Iterator[Any]:
    """Inside the caller's open transaction: this share's writes, or none of them (a failure
    rolls back to here and is raised; the caller's transaction decides the rest)."""
    if not conn.in_transaction:
        raise RuntimeError("join=True shares inside the caller's transaction, and none is open")
    conn.execute("SAVEPOINT accord_share")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled the whole transaction back itself
            conn.execute("ROLLBACK TO accord_share")
            conn.execute("RELEASE accord_share")
        raise
    conn.execute("RELEASE accord_share")


def _enqueue(node: Node, entries: list[tuple[Any, str, str | None]], *, store: bool = False,
             join: bool = False) -> list[ShareResult]:
    """Seal and queue ``(item, to, agreement)`` entries in ONE transaction (with the items
    themselves when ``store``): outbox rows, sequence counters and ``item.shared`` events commit
    together or not at all. ``join``: in the caller's open transaction (under the node's write
    lock), so the caller's own writes and the queueing commit together; the caller then wakes
    the workers (:func:`notify_queued`) once it has committed."""
    conn = node.conn
    now = node.clock.now()
    stamp = to_rfc3339(now)
    results: list[ShareResult] = []
    events: list[tuple[str, dict[str, Any], Any]] = []
    with write_lock(node):
        with (_savepoint(conn) if join else transaction(conn)):
            if store:
                node.put_items(list({id(i): i for i, _, _ in entries}.values()))
            last: dict[str, int] = {}
            # what is queued already, one query per recipient and 500 ids
            queued: dict[tuple[str, str], int] = {}
            wanted: dict[str, list[str]] = {}
            for item, to, _ in entries:
                wanted.setdefault(to, []).append(item.id)
            for to, ids in wanted.items():
                for item_id, seq in select_in(conn, "SELECT item_id, seq FROM fed_outbox WHERE recipient = ? "
                                              "AND item_id IN ({})", ids, to):
                    queued[(to, item_id)] = seq
            # an item retracted before it went anywhere (the rules scan comes up to half a second
            # after an item is stored) is never sent: its retraction went to nobody. Checked
            # under the lock retract() records under, so no order of the two lets it out.
            retracted = {r[0] for r in select_in(conn, "SELECT item_id FROM fed_retractions WHERE item_id IN ({})",
                                                 (i.id for i, _, _ in entries))}
            rows = []
            for item, to, agreement in entries:
                if item.id in retracted and (to, item.id) not in queued:
                    results.append(ShareResult(item.id, to, 0, "retracted", agreement))
                    continue
                seq = queued.get((to, item.id))
                if seq is not None:
                    results.append(ShareResult(item.id, to, seq, "already_queued", agreement))
                    continue
                if to not in last:
                    row = conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient = ?", (to,)).fetchone()
                    last[to] = row[0] if row else 0
                seq = last[to] = last[to] + 1
                queued[(to, item.id)] = seq
                envelope = wire.seal_envelope(node, item, to, seq, now)
                rows.append((to, seq, item.id, item.kind, envelope, stamp))
                events.append(("item.shared", {"item_id": item.id, "kind": item.kind, "to": to, "seq": seq,
                                               "agreement": agreement}, now))
                results.append(ShareResult(item.id, to, seq, "queued", agreement))
            conn.executemany("INSERT INTO fed_outbox(recipient, seq, item_id, kind, envelope, queued) "
                             "VALUES (?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO fed_out_seq(recipient, last_seq) VALUES (?, ?) ON CONFLICT(recipient) "
                             "DO UPDATE SET last_seq = excluded.last_seq", list(last.items()))
            if events:
                node.ledger.append_many(events)
    if not join:
        notify_queued(node, results)
    return results


def _check_share(node: Node, item: Any, to: str) -> None:
    if item.originator != node.party:
        raise FederationError(f"item {item.id} originates at {item.originator}, not {node.party}: a node "
                              "shares only its own items (received items are never re-forwarded)")
    problem = party_problem(to, what="recipient")
    if problem is not None:
        raise InputError(problem, field="to")
    if to == node.party:
        raise InputError(f"cannot share with this node's own party {to}", field="to")
    if to not in node.partners():
        raise NotFoundError(f"{to} is not a pinned partner of {node.party} (accord node partner add)")


def share(node: Node, item: Any, to: str) -> ShareResult:
    """Share ``item`` (originated by this node) with partner ``to`` if the policy allows.

    Raises :class:`PolicyDenied` with the policy's reasons, :class:`FederationError` for an item
    this node did not originate, :class:`NotFoundError` for a partner that is not pinned.
    Sharing the same item with the same partner twice is a no-op (``already_queued``); an item
    this node has retracted and not yet sent to ``to`` is not sent (``retracted``). The item
    is stored (``item.created``) in the same transaction if the node did not hold it yet.
    """
    return enqueue(node, plan_share(node, [item], to))[0]


def ready(node: Node) -> None:
    """Create the federation's tables on ``node`` if they are not there yet. It must not run
    inside an open transaction, so a caller that shares with ``join=True`` calls it before
    opening its own."""
    ensure_node_schema(node)


def plan_share(node: Node, items: list[Any], to: str) -> list[tuple[Any, str, str | None]]:
    """What :func:`share_many` would queue for ``to``, checked and decided, nothing written: the
    entries for :func:`enqueue`. Raises as :func:`share` does (:class:`PolicyDenied` for any
    item the policy refuses, so a batch is all or none)."""
    ensure_node_schema(node)
    decisions: dict[tuple[str, str], Any] = {}
    entries = []
    for item in items:
        _check_share(node, item, to)
        key = (item.kind, str(item.marking))
        if key not in decisions:
            decisions[key] = node.decide(item, to)
        decisions[key].raise_if_denied(item, to)
        entries.append((item, to, decisions[key].agreement_id))
    return entries


def enqueue(node: Node, entries: list[tuple[Any, str, str | None]], *, join: bool = False) -> list[ShareResult]:
    """Store, seal and queue what :func:`plan_share` returned (see :func:`_enqueue`)."""
    return _enqueue(node, entries, store=True, join=join)


def share_many(node: Node, items: list[Any], to: str, *, join: bool = False) -> list[ShareResult]:
    """Share several own items with ``to`` in one transaction (all allowed, or none queued).

    The policy is asked once per distinct (kind, marking): :func:`accord.core.policy.decide`
    depends on nothing else of an item for a given originator, recipient and time. A denial is
    raised before anything is written. ``join=True``: queue inside the caller's open
    transaction (see :func:`_enqueue`; call :func:`ready` before opening it and
    :func:`notify_queued` after committing it). A caller that treats refusals as answers but
    any other failure as a failure of its own write calls :func:`plan_share` and
    :func:`enqueue` instead.
    """
    return enqueue(node, plan_share(node, items, to), join=join)


def retract(node: Node, item_id: str, reason: str) -> list[ShareResult]:
    """Withdraw an own item: store a retraction item and send it to every partner sent the item."""
    ensure_node_schema(node)
    item = node.get_item(item_id)
    if item.originator != node.party:
        raise FederationError(f"item {item_id} originates at {item.originator}: only its originator "
                              "may retract it")
    retraction = wire.make_retraction(node, item, reason)
    node.put_item(retraction)
    now = node.clock.now()
    with write_lock(node):
        with transaction(node.conn):
            node.conn.execute("INSERT OR IGNORE INTO fed_retractions(item_id, originator, reason, at) "
                              "VALUES (?,?,?,?)", (item_id, node.party, reason[:500], to_rfc3339(now)))
            node.ledger.append("item.retracted", {"item_id": item_id, "by": node.party,
                                                  "retraction": retraction.id}, time=now)
    return _enqueue(node, [(retraction, p, None) for p in sent_to(node, item_id)])


def sent_to(node: Node, item_id: str) -> list[str]:
    """Every partner ``item_id`` was queued for: its outbox rows, and — for rows retention has
    pruned (:mod:`accord.federation.retention`) — the ledger's ``item.shared`` events, which
    outlive them. The ledger is searched for the item's id as its canonical JSON writes it."""
    from accord.core.canonical import canonical_json, parse_json_strict

    needle = b'"item_id":' + canonical_json(item_id)
    with write_lock(node):
        parties = {r[0] for r in node.conn.execute("SELECT DISTINCT recipient FROM fed_outbox WHERE item_id = ?",
                                                   (item_id,))}
        leaves = node.conn.execute("SELECT leaf FROM ledger_leaves WHERE type = 'item.shared' AND instr(leaf, ?) > 0",
                                   (needle,)).fetchall()
    for (leaf,) in leaves:
        data = parse_json_strict(bytes(leaf)).get("data") or {}
        if data.get("item_id") == item_id and isinstance(data.get("to"), str):
            parties.add(data["to"])
    return sorted(parties)


def retraction_of(node: Node, item_id: str) -> dict[str, Any] | None:
    ensure_node_schema(node)
    with write_lock(node):  # not beside another thread's open transaction on the shared connection
        row = node.conn.execute("SELECT originator, reason, at FROM fed_retractions WHERE item_id = ?",
                                (item_id,)).fetchone()
    return None if row is None else {"by": row[0], "reason": row[1], "at": row[2]}


# --- standing rules ---------------------------------------------------------------------------
def add_rule(node: Node, kinds: str, to: str = "*") -> bool:
    """Standing rule: share every own item whose kind matches ``kinds`` to ``to`` (or ``*``).
    True if it was added, False if the same rule was there already (nothing changed).

    ``to`` must be a pinned partner: a rule only ever sends to pinned partners, and unpinning one
    deletes the rules naming it (:func:`remove_partner`), so a rule to a party not pinned — a
    typo, or a partner not yet added — did nothing and was taken without a word. ``*`` covers
    the partners pinned later too."""
    ensure_node_schema(node)
    if not kinds or any(c.isspace() for c in kinds):
        raise InputError(f"kind pattern {kinds!r} must be non-empty without spaces", field="kinds")
    problem = None if to == "*" else party_problem(to, what="rule recipient")
    if problem is not None:
        raise InputError(problem + " (or '*' for every partner)", field="to")
    if to != "*" and to not in node.partners():
        raise InputError(f"{to} is not a pinned partner of {node.party}: pin it first with `accord node partner "
                         f"add --party {to} --key KEY`, then add the rule (or use --to '*' for every partner)",
                         field="to")
    with write_lock(node):
        with transaction(node.conn):
            _start_cursor(node)
            added = node.conn.execute("INSERT OR IGNORE INTO fed_rules(kinds, to_party) VALUES (?, ?)",
                                      (kinds, to)).rowcount
    return added > 0


def remove_rule(node: Node, kinds: str, to: str = "*") -> None:
    """Delete the standing rule ``kinds`` → ``to`` that :func:`add_rule` stored (what is already
    queued stays queued). Rules in ``node.yaml`` are edited there."""
    ensure_node_schema(node)
    with write_lock(node):
        with transaction(node.conn):
            gone = node.conn.execute("DELETE FROM fed_rules WHERE kinds = ? AND to_party = ?", (kinds, to)).rowcount
    if not gone:
        listed = ", ".join(f"{k} → {t}" for k, t in rules(node)) or "none"
        raise NotFoundError(f"no standing rule {kinds} → {to} on node {node.party} (rules: {listed})")


def remove_partner(node: Node, party: str) -> dict[str, Any]:
    """Unpin partner ``party`` and ledger ``partner.removed``: the database part first, then
    ``node.yaml``; rerunning it after an interruption completes it.

    What a removal means:

    * its key is no longer pinned: envelopes and requests it signs are refused (unknown key),
      and agreements naming it no longer verify, so the policy refuses every share to it;
    * the standing rules that name it (``accord node rule add --to PARTY``) are deleted — rules
      to ``*`` stay and apply to the partners still pinned;
    * the API tokens issued to it (``accord intel token --party``) are revoked;
    * its undelivered outbox rows are **held**, not deleted: no worker delivers to an unpinned
      party (a running service's worker for it retires, :mod:`accord.federation.service`; a
      batch already sent is settled), and the rows keep their sequence numbers, so if the party
      is pinned again its node receives them in order with no gap (a deleted number would stall
      its inbox for ever).
      ``accord node status`` no longer lists the party; the count held is returned and ledgered.

    A file rewrite cannot join a database transaction, so the removal is two steps, each
    all-or-nothing (``node.yaml`` is replaced by an atomic rename):

    1. one transaction deletes the rules, revokes the tokens, appends ``partner.removed`` and
       records the removal as pending (``fed_removals``: its ledger leaf);
    2. ``node.yaml`` is rewritten without the party, then the pending mark is cleared (with the
       ``partners`` table's mirror, in one transaction).

    The tokens are revoked before anything can report success. After a failure at any point,
    calling this again completes the removal: a party that is still pinned, or no longer pinned
    but still holding a pending mark, live tokens or rules naming it, is acted on; a pending
    removal is not ledgered twice (only a rule or token that appeared since is, in a new entry),
    and the result is the recorded one with ``resumed: True``. A pending removal followed in the
    ledger by a ``partner.added`` for the party (pinned again since) is stale: the removal is a
    new one, ledgered as such. A party with none of these is
    :class:`NotFoundError`. A party unpinned without the database part (``node.yaml`` edited by
    hand) is cleaned up the same way, ledgered with ``fingerprint: None``.

    Returns ``{party, fingerprint, rules_removed, tokens_revoked, queue_held}`` (the ledgered data).
    """
    from accord.federation.tokens import ensure_tokens, revoke_party_tokens

    problem = party_problem(party, what="partner party")
    if problem is not None:
        raise InputError(problem, field="party")
    if party == node.party:  # its own tokens are not a partner's leftovers
        raise InputError(f"{party} is this node's own party, not a partner", field="party")
    ensure_node_schema(node)
    pinned = node.partners().get(party)
    again = f"run `accord node partner remove --party {party}` again"
    with write_lock(node), _failing_as(f"removing {party}: nothing was removed ({{}}); {again}"):
        ensure_tokens(node.conn)  # (under the lock: never inside another thread's open transaction)
        with transaction(node.conn):
            rules_removed = node.conn.execute("DELETE FROM fed_rules WHERE to_party = ?", (party,)).rowcount
            tokens = revoke_party_tokens(node.conn, party)
            # its receipts waiting for a proof: no head of it is checked any more to prove them against
            node.conn.execute("DELETE FROM fed_receipt_checks WHERE party = ?", (party,))
            node.conn.execute("UPDATE fed_partner_state SET receipts_pending = 0 WHERE party = ?", (party,))
            pending = node.conn.execute("SELECT leaf FROM fed_removals WHERE party = ?", (party,)).fetchone()
            if pending is not None and _added_since(node, party, pending[0]):
                pending = None  # re-pinned after that removal: this removal is a new one
            if pending is None and pinned is None and not (rules_removed or tokens):
                raise NotFoundError(f"{party} is not a pinned partner of {node.party}")
            if pending is None or rules_removed or tokens:
                out = {"party": party, "fingerprint": pinned.fingerprint if pinned else None,
                       "rules_removed": rules_removed, "tokens_revoked": tokens, "queue_held": queue_depth(node, party)}
                leaf = node.ledger.append("partner.removed", out, time=node.clock.now())
                node.conn.execute("DELETE FROM fed_removals WHERE party = ?", (party,))
                node.conn.execute("INSERT INTO fed_removals(party, leaf) VALUES (?, ?)", (party, leaf))
            else:
                out = {**node.ledger.entry(pending[0]).data, "resumed": True}
    with write_lock(node), _failing_as(f"removing {party}: its tokens are revoked and its rules deleted (ledgered), "
                                       f"but node.yaml was not confirmed unpinned ({{}}); {again} to complete it"):
        with transaction(node.conn):
            if party in node.partners():
                node.remove_partner(party)  # node.yaml replaced; the partners mirror commits with the mark's end
            node.conn.execute("DELETE FROM fed_removals WHERE party = ?", (party,))
    return out


def _added_since(node: Node, party: str, leaf: int) -> bool:
    """Whether ``party`` was pinned again (``partner.added``, :meth:`accord.node.Node.add_partner`)
    after ledger leaf ``leaf``. The ledger is searched for the party as its canonical JSON writes it."""
    from accord.core.canonical import canonical_json, parse_json_strict

    needle = b'"party":' + canonical_json(party)
    rows = node.conn.execute("SELECT leaf FROM ledger_leaves WHERE idx > ? AND type = 'partner.added' "
                             "AND instr(leaf, ?) > 0", (leaf, needle)).fetchall()
    return any((parse_json_strict(bytes(raw)).get("data") or {}).get("party") == party for (raw,) in rows)


_REMOVAL_FAULTS: tuple[type[Exception], ...] = (OSError, StoreError, *DatabaseError)


@contextmanager
def _failing_as(message: str) -> Iterator[None]:
    """A database, store or file error in the block as one :class:`StoreError` line, ``message``
    with ``{}`` for the reason (what was done and how to finish it); other errors pass as they are."""
    try:
        yield
    except _REMOVAL_FAULTS as exc:
        raise StoreError(message.format(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)) from exc


def _start_cursor(node: Node) -> None:
    """Rules apply to items created from now on (not to the node's whole history)."""
    node.conn.execute("INSERT OR IGNORE INTO fed_cursor(name, value) VALUES ('rules', ?)", (node.ledger.size,))


def rules(node: Node) -> list[tuple[str, str]]:
    ensure_node_schema(node)
    return [(r[0], r[1]) for r in node.conn.execute("SELECT kinds, to_party FROM fed_rules ORDER BY id")]


_config_cache: dict[str, tuple[float, list[tuple[str, str]]]] = {}


def _config_rules(node: Node) -> list[tuple[str, str]]:
    """Rules from the node's ``node.yaml``::

        sharing:
          - {kinds: warning.track, to: "*"}
          - {kinds: "intel.*", to: KOR}

    Read when the file changes (its mtime), so an edit applies without a restart.
    """
    from accord.core.agreements import load_yaml_strict

    path = Path(node.dir) / "node.yaml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return []
    cached = _config_cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        raw = (load_yaml_strict(path.read_text(encoding="utf-8"), source=str(path)) or {}).get("sharing") or []
    except AccordError as exc:
        raise ConfigError(f"{path}: sharing rules: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'sharing' must be a list of {{kinds, to}} rules")
    out = []
    for n, rule in enumerate(raw):
        if not isinstance(rule, dict) or not isinstance(rule.get("kinds"), str):
            raise ConfigError(f"{path}: sharing[{n}] needs a 'kinds' pattern (and optionally 'to')")
        to = str(rule.get("to", "*"))
        problem = None if to == "*" else party_problem(to, what=f"sharing[{n}].to")
        if problem is not None:
            raise ConfigError(f"{path}: {problem}")
        out.append((rule["kinds"], to))
    _config_cache[str(path)] = (mtime, out)
    # once a read of the file (an edit, or a pin added or removed, rewrites it), not once an item
    for problem in _unpinned(node, out):
        logging.getLogger("accord.federation").warning("%s", problem)
    return out


def _unpinned(node: Node, config_rules: list[tuple[str, str]]) -> list[str]:
    pinned = node.partners()
    return [f"{Path(node.dir) / 'node.yaml'}: sharing[{n}] (kinds {kinds}) names {to}, which is not a pinned "
            f"partner: the rule shares nothing until {to} is pinned (accord node partner add)"
            for n, (kinds, to) in enumerate(config_rules) if to != "*" and to not in pinned]


def unpinned_config_rules(node: Node) -> list[str]:
    """A line for each ``sharing:`` rule of ``node.yaml`` naming a party that is not a pinned
    partner (such a rule shares nothing; `accord node rule add` refuses such a party)."""
    return _unpinned(node, _config_rules(node))


def rule_entries(node: Node, item: Any) -> list[tuple[Any, str, str | None]]:
    """The ``(item, partner, agreement)`` entries the standing rules would queue for ``item``:
    every partner a matching rule names and the policy allows (nothing written)."""
    if item.originator != node.party:
        return []
    entries: list[tuple[Any, str, str | None]] = []
    partners = sorted(node.partners())
    for kinds, to in rules(node) + _config_rules(node):
        if not fnmatch.fnmatchcase(item.kind, kinds):
            continue
        for party in partners if to == "*" else [to]:
            if party in partners and party not in {e[1] for e in entries}:
                decision = node.decide(item, party)
                if decision.allowed:
                    entries.append((item, party, decision.agreement_id))
    return entries


def apply_rules(node: Node, item: Any) -> list[str]:
    """Share ``item`` to every partner a matching standing rule names and the policy allows."""
    entries = rule_entries(node, item)
    if entries:
        _enqueue(node, entries, store=True)
    return [to for _, to, _ in entries]


def apply_rules_to_new_items(node: Node, *, limit: int = 2000) -> int:
    """Apply the standing rules to own items stored since the last scan, by any part of Accord.

    Pillars store items with ``node.put_item`` (ledger ``item.created``); this reads those
    events after a cursor kept in ``fed_cursor`` and shares each own item as the rules and the
    policy allow. Crash-safe and idempotent: sharing an item already queued to a partner is a
    no-op, so a rescan after a crash shares nothing twice. Only `item.created` leaves are read;
    with no rules the cursor just moves on. Returns the number of ledger entries passed.
    """
    ensure_node_schema(node)
    with write_lock(node):
        row = node.conn.execute("SELECT value FROM fed_cursor WHERE name='rules'").fetchone()
        active = bool(rules(node) or _config_rules(node))
        if row is None:
            if not active:
                return 0
            with transaction(node.conn):
                _start_cursor(node)
            return 0
        start = row[0]
        end = node.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves").fetchone()[0]
        if end <= start:
            return 0
        if not active:  # no rules: nothing to apply, just move past these events
            with transaction(node.conn):
                node.conn.execute("UPDATE fed_cursor SET value = ? WHERE name='rules' AND value < ?", (end, end))
            return end - start
        # only item.created events matter (received items, shares, acks … are passed over unread)
        events = node.conn.execute(
            "SELECT idx, leaf FROM ledger_leaves WHERE idx >= ? AND idx < ? AND type = 'item.created' "
            "ORDER BY idx LIMIT ?", (start, end, limit)).fetchall()
        stop = events[-1][0] + 1 if len(events) == limit else end
    from accord.core.canonical import parse_json_strict

    for idx, leaf in events:
        entry = parse_json_strict(bytes(leaf))
        data = entry.get("data") or {}
        if entry.get("type") == "item.created" and data.get("originator") == node.party:
            try:
                apply_rules(node, node.get_item(data["item_id"]))
            except NotFoundError:  # pragma: no cover - an item.created without its item
                continue
    with write_lock(node):
        with transaction(node.conn):  # never backwards: another process serving the node may have passed it
            node.conn.execute("UPDATE fed_cursor SET value = ? WHERE name='rules' AND value < ?", (stop, stop))
    return stop - start


def create_item(node: Node, item: Any) -> Created:
    """Store an own new item (ledger ``item.created``) and apply the standing sharing rules."""
    _, by_rule = share_with(node, item, [], standing=True)
    return Created(item, [r.to for r in by_rule])


def share_with(node: Node, item: Any, to: list[str], *,
               standing: bool = False) -> tuple[list[ShareResult], list[ShareResult]]:
    """Share an own ``item`` with every party in ``to`` (and, with ``standing``, with the partners
    the standing rules name): all or nothing.

    Every recipient in ``to`` is checked first — a pinned partner that the policy allows the
    item to reach — and the first refusal is raised (:class:`PolicyDenied`,
    :class:`NotFoundError` …) before anything is written: the item is not stored and no
    standing rule sends it anywhere. Then the item (if the node did not hold it yet), its
    ``item.created`` event, the outbox rows and the ``item.shared`` events commit in one
    transaction. Returns ``(results for to, results for the standing rules)``; the rules'
    results leave out the parties already in ``to``.
    """
    ensure_node_schema(node)
    entries: list[tuple[Any, str, str | None]] = []
    for party in dict.fromkeys(to):
        entries += plan_share(node, [item], party)
    named = {e[1] for e in entries}
    by_rule = [e for e in rule_entries(node, item) if e[1] not in named] if standing else []
    if not entries and not by_rule:
        node.put_item(item)
        return [], []
    results = _enqueue(node, entries + by_rule, store=True)
    return results[:len(entries)], results[len(entries):]


# --- delivery bookkeeping --------------------------------------------------------------------
def pending(node: Node, party: str, limit: int, *, after: int = 0, conn: Any = None) -> list[tuple[int, bytes]]:
    """Queued envelopes for ``party`` numbered above ``after``, lowest sequence number first,
    read on ``conn`` (default: the node's own connection)."""
    return [(r[0], bytes(r[1])) for r in (conn or node.conn).execute(
        "SELECT seq, envelope FROM fed_outbox WHERE recipient = ? AND state = 'queued' AND seq > ? "
        "ORDER BY seq LIMIT ?", (party, after, limit))]


def queue_depth(node: Node, party: str) -> int:
    return node.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE recipient = ? AND state = 'queued'",
                             (party,)).fetchone()[0]


MAX_NEXT_SEQ = 2 ** 52
"""The highest ``next_seq`` a partner may answer. Above this node's counter it is what a partner
says to a node restored from a backup (replayed rows are renumbered from there), so it cannot be
held to the counter; the bound leaves 2**52 numbers below the ledger's JSON limit (2**53 - 1), so no
answer can push the counter where the next share to that partner would fail."""


def check_ack(ack: BatchAck, party: str, sent: list[int] | None) -> None:
    """Refuse (:class:`InputError`, nothing applied) an acknowledgement that lies about what it
    answers: ``next_seq`` below 1 or above :data:`MAX_NEXT_SEQ`, a receipt for a number not in the
    batch ``sent`` (when given) or below 1, or a consumed receipt for a number at or above the
    ``next_seq`` it says it still expects. Such an answer would mark rows delivered that the
    partner was never sent."""
    nxt = ack.next_seq
    if nxt is not None and not 1 <= nxt <= MAX_NEXT_SEQ:
        raise InputError(f"acknowledgement from {party} refused: next_seq {nxt} is outside 1..{MAX_NEXT_SEQ}",
                         source="ack")
    batch = set(sent) if sent is not None else None
    for r in ack.receipts:
        if r.seq is None:
            continue
        if r.seq < 1 or (batch is not None and r.seq not in batch):
            raise InputError(f"acknowledgement from {party} refused: a receipt for #{r.seq}, which was not "
                             "in the batch sent", source="ack")
        if r.consumed and nxt is not None and r.seq >= nxt:
            raise InputError(f"acknowledgement from {party} refused: #{r.seq} consumed, yet next_seq is {nxt}",
                             source="ack")


def apply_ack(node: Node, party: str, ack: BatchAck, sent: list[int] | None = None) -> tuple[int, int]:
    """Mark rows the partner acknowledged; return (delivered, rejected) — rejected counting the
    rows renumbered after replays, or settled as replays of a number already renumbered
    (:func:`_renumber`), which are settled for this round too.

    A consumed receipt (stored, duplicate, or rejected by the partner's checks) ends that row's
    life: ``delivered`` or ``rejected`` with the partner's reason. A receipt that did not consume
    its number (gap, transient refusal) leaves the row queued. If the partner asks for a number
    below rows already marked delivered (it lost them), those rows are queued again: catch-up is
    keyed on the partner's sequence number. ``sent``: the numbers of the batch this answers; an
    answer that lies about them is refused whole (:func:`check_ack`).
    """
    check_ack(ack, party, sent)
    when = node.clock.now()
    now = to_rfc3339(when)
    with write_lock(node):
        with transaction(node.conn):
            done = [(now, party, r.seq) for r in ack.receipts
                    if r.seq is not None and r.consumed and r.status in ("stored", "duplicate")]
            refused = [(now, f"{r.code}: {r.reason}"[:500], party, r.seq) for r in ack.receipts
                       if r.seq is not None and r.consumed and r.status not in ("stored", "duplicate")]
            node.conn.executemany("UPDATE fed_outbox SET state='delivered', acked=? WHERE recipient=? "
                                  "AND seq=? AND state='queued'", done)
            node.conn.executemany("UPDATE fed_outbox SET state='rejected', acked=?, reason=? WHERE "
                                  "recipient=? AND seq=? AND state='queued'", refused)
            delivered, rejected = len(done), len(refused)
            if ack.next_seq is not None:
                replayed = [r.seq for r in ack.receipts if r.code == "replay" and not r.consumed
                            and r.seq is not None and r.seq < ack.next_seq]
                rejected += _renumber(node, party, replayed, ack.next_seq, when)
                # the partner lost what it had acknowledged (restored from a backup?): send it all
                # again from its next_seq, including rows it had refused, or it would wait for
                # those numbers for ever
                node.conn.execute("UPDATE fed_outbox SET state='queued' WHERE recipient=? AND seq>=? "
                                  "AND state IN ('delivered', 'rejected')", (party, ack.next_seq))
                # … and if retention pruned some of those rows, seal them again from the ledger
                held = node.conn.execute("SELECT MIN(seq) FROM fed_outbox WHERE recipient=? AND seq>=?",
                                         (party, ack.next_seq)).fetchone()[0]
                if held != ack.next_seq:
                    last = node.conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient=?",
                                             (party,)).fetchone()
                    top = (held - 1) if held is not None else (last[0] if last else 0)
                    if ack.next_seq <= top:
                        from accord.federation.retention import refill
                        refill(node, party, ack.next_seq, top)
            # the receipts naming the partner's ledger entries, proven later (accord.federation.receipts)
            unindexed = receipts.record(node.conn, party, ack.receipts, now)
            node.conn.execute(
                "INSERT INTO fed_partner_state(party, last_contact, last_error, failures, peer_next_seq, "
                "receipts_unindexed) VALUES (?,?,NULL,0,?,?) ON CONFLICT(party) DO UPDATE SET "
                "last_contact=excluded.last_contact, last_error=NULL, failures=0, failing_since=NULL, "
                "peer_next_seq=excluded.peer_next_seq, "
                "receipts_unindexed=fed_partner_state.receipts_unindexed+excluded.receipts_unindexed",
                (party, now, ack.next_seq, unindexed))
    return delivered, rejected


REPLAY_AGAIN_LOG_EVERY = timedelta(hours=1)
"""A partner answering "replay" for resealed rows (:func:`_renumber`) is logged at most this often."""

_replay_again_logged: dict[tuple[str, str], Any] = {}


def _renumber(node: Node, party: str, replayed: list[int], next_seq: int, when: Any) -> int:
    """Seal again, under new numbers, the queued envelopes ``party`` refused as replays: numbers
    it had already received from this node with other content, which only a node restored from a
    backup sends (the history after the backup, and what it sent then, is lost to it but not to
    its partners). The numbers go on from the partner's ``next_seq`` (or this node's counter, if
    higher), so they never go behind what the partner holds; the items keep their order. Each
    row moves to its new number, ledgered ``item.shared`` with ``renumbered_from`` the old one, so
    ``ledger verify`` matches every row with its entry. Runs in the caller's transaction; returns
    the rows renumbered or settled (counted with the batch's settled rows: the delivery goes on).

    A row is renumbered at most once: it is then ``resealed`` (so is a row a refill sealed again,
    :func:`accord.federation.retention.refill`), under a number the partner had just said it did
    not hold, and this node seals nothing else under it. A "replay" answer for such a row is
    therefore not a restore: either the partner took the envelope and has since pruned its record
    of it (its inbox retention), so it holds the item, or it does not tell the truth. The row is
    settled ``rejected`` (reason ``replay: …``) without a ledger entry, and a warning says so at
    most once per :data:`REPLAY_AGAIN_LOG_EVERY` per partner. A partner answering "replay" for
    ever thus costs one ``item.shared`` entry per item shared, never one per round trip."""
    if not replayed:
        return 0
    conn = node.conn
    rows = sorted((r[0], r[1], r[2], r[3]) for r in select_in(
        conn, "SELECT seq, item_id, kind, resealed FROM fed_outbox WHERE recipient = ? AND state = 'queued' "
        "AND seq IN ({})", replayed, party))
    stamp = to_rfc3339(when)
    again = [s for s, _, _, resealed in rows if resealed]
    if again:
        conn.executemany("UPDATE fed_outbox SET state='rejected', acked=?, reason=? WHERE recipient=? AND seq=? "
                         "AND state='queued'",
                         [(stamp, f"replay: refused as a replay after {party} had asked for #{s} (this node sealed "
                                  "nothing else under it): not renumbered again", party, s) for s in again])
        key = (str(getattr(node, "dir", id(node))), party)
        if key not in _replay_again_logged or when - _replay_again_logged[key] >= REPLAY_AGAIN_LOG_EVERY:
            _replay_again_logged[key] = when
            logging.getLogger("accord.federation").warning(
                "%s refused %d envelope(s) as replays under numbers it had asked for, #%d first (it holds them "
                "already, or does not tell the truth): settled as rejected, not renumbered again", party,
                len(again), again[0], extra={"event": "outbox.replay_again", "partner": party,
                                             "count": len(again), "first": again[0]})
    rows = [r for r in rows if not r[3]]
    if not rows:
        return len(again)
    last = conn.execute("SELECT last_seq FROM fed_out_seq WHERE recipient = ?", (party,)).fetchone()
    seq = max(last[0] if last else 0, next_seq - 1)
    items = node.get_items([r[1] for r in rows])
    moved, events = [], []
    for old, item_id, kind, _ in rows:
        item = items.get(item_id)
        if item is None:  # not held any more: nothing to send again
            continue
        seq += 1
        moved.append((seq, wire.seal_envelope(node, item, party, seq, when), stamp, party, old))
        events.append(("item.shared", {"item_id": item_id, "kind": kind, "to": party, "seq": seq,
                                       "renumbered_from": old}, when))
    if not moved:
        return len(again)
    # the row moves to its new number (one row per recipient and item); every new number is above
    # every old one, so no two rows ever share one
    conn.executemany("UPDATE fed_outbox SET seq=?, envelope=?, queued=?, resealed=1 WHERE recipient=? AND seq=? "
                     "AND state='queued'", moved)
    conn.execute("INSERT INTO fed_out_seq(recipient, last_seq) VALUES (?, ?) ON CONFLICT(recipient) "
                 "DO UPDATE SET last_seq = excluded.last_seq", (party, seq))
    node.ledger.append_many(events)
    logging.getLogger("accord.federation").warning(
        "%s refused %d envelope(s) as replays of numbers this node has no record of sending (restored from a "
        "backup?): sent again as #%d..#%d", party, len(moved), seq - len(moved) + 1, seq)
    return len(again) + len(moved)


def record_failure(node: Node, party: str, error: str) -> int:
    """Count a failed delivery attempt; return the number of consecutive failures. The first of
    a run stamps ``failing_since`` (cleared by the next acknowledgement, :func:`apply_ack`)."""
    now = to_rfc3339(node.clock.now())
    with write_lock(node):
        with transaction(node.conn):
            node.conn.execute(
                "INSERT INTO fed_partner_state(party, last_error, failures, failing_since) VALUES (?,?,1,?) "
                "ON CONFLICT(party) DO UPDATE SET last_error=excluded.last_error, failures=fed_partner_state.failures+1, "
                "failing_since=COALESCE(fed_partner_state.failing_since, excluded.failing_since)",
                (party, error[:500], now))
        return node.conn.execute("SELECT failures FROM fed_partner_state WHERE party=?", (party,)).fetchone()[0]
