"""The federation tables in a node's database, and the node-wide write lock.

Tables (all created with :func:`accord.store.base.ensure_schema`):

* ``fed_outbox`` — one row per (recipient, seq): the sealed envelope bytes, kept after delivery
  (``state`` ``queued`` → ``delivered`` | ``rejected``) for the retention window
  (:mod:`accord.federation.retention`) so a partner that lost data can be re-sent everything
  from the sequence number it asks for; then pruned. Catch-up is keyed on ``seq``, never on a
  timestamp.
  ``resealed`` is 1 for a row sealed under a number the partner had just asked for (moved there
  by a renumbering, or sealed again by a refill): a "replay" answer for it is not renumbered
  again (:func:`accord.federation.outbox.apply_ack`).
* ``fed_out_seq`` — the last sequence number used per recipient (a counter that survives rows
  being pruned).
* ``fed_inbox`` — one row per accepted (originator, seq): the envelope digest, so an exact
  duplicate is acknowledged idempotently and a different envelope under a used seq is a replay;
  pruned past the envelopes' freshness limit, each originator's last row kept
  (:func:`accord.federation.retention.prune_inbox`).
* ``fed_received`` — (originator, item id) → digest: the same item arriving twice (two paths,
  two sequence numbers) is stored once.
* ``fed_rejections`` — every refused envelope or request, with its code and reason; pruned after
  a retention window (:func:`accord.federation.retention.prune_rejections`), how many in
  ``fed_rejections_pruned`` (so the status total survives it).
* ``fed_partner_state`` — per partner: last contact, last error, consecutive failures and since
  when they have lasted (``failing_since``), the next sequence number the partner asked for, the
  last verified checkpoint (``head_note``: the signed note byte for byte as the partner sent it,
  which :mod:`accord.federation.gossip` relays to the other partners), an inconsistency flag, and how many acknowledged outbox rows
  retention has pruned (``pruned_delivered``, ``pruned_rejected``: status totals survive it),
  and when its current pin was made (``pinned_at``: the time of its latest ``partner.added``,
  written in that entry's transaction by :meth:`accord.node.node.Node.add_partner`; null for a
  partner pinned before the column existed).
* ``fed_rules`` — standing sharing rules (kind pattern → partner or ``*``).
* ``fed_retractions`` — items withdrawn by their originator.
* ``fed_cursor`` — how far the standing rules have scanned the ledger's ``item.created`` events.
* ``fed_removals`` — a partner removal whose database part (and ``partner.removed`` entry, at
  ``leaf``) is committed but whose ``node.yaml`` rewrite is not yet confirmed
  (:func:`accord.federation.outbox.remove_partner`).
* ``fed_quota`` — per partner and quota window (an hour): the envelopes and bytes taken from it
  and whether its refusal is ledgered (:mod:`accord.federation.quota`); the newest window's row and
  the one before are kept (and the two newest rows whatever their age).
* ``partner_leases`` — which delivery worker drains each partner's outbox, until when
  (:mod:`accord.federation.leases`).
* ``fed_receipt_checks`` — a partner's ``stored``/``duplicate`` receipt that named the ledger
  index of its ``item.received`` entry, not yet proven against the partner's signed ledger
  (:mod:`accord.federation.receipts`); ``fed_received.ledger_idx`` is that index on the
  receiving side, and ``fed_partner_state.receipts_proven`` / ``receipts_false`` /
  ``receipts_unindexed`` count the outcomes; ``fed_partner_state.receipts_pending`` is the
  partner's number of rows here, changed in every transaction that inserts or deletes them.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from accord.store.migrations import migrate

if TYPE_CHECKING:
    from accord.store.protocol import Node

FEDERATION_DDL = """
CREATE TABLE IF NOT EXISTS fed_outbox (
  recipient TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  item_id   TEXT NOT NULL,
  kind      TEXT NOT NULL,
  envelope  BLOB NOT NULL,
  queued    TEXT NOT NULL,
  state     TEXT NOT NULL DEFAULT 'queued',
  attempts  INTEGER NOT NULL DEFAULT 0,
  acked     TEXT,
  reason    TEXT,
  PRIMARY KEY (recipient, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS fed_outbox_item ON fed_outbox(recipient, item_id);
CREATE INDEX IF NOT EXISTS fed_outbox_state ON fed_outbox(recipient, state, seq);
CREATE TABLE IF NOT EXISTS fed_out_seq (
  recipient TEXT PRIMARY KEY,
  last_seq  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fed_inbox (
  originator TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  item_id    TEXT,
  digest     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  reason     TEXT,
  received   TEXT NOT NULL,
  PRIMARY KEY (originator, seq)
);
CREATE TABLE IF NOT EXISTS fed_received (
  originator TEXT NOT NULL,
  item_id    TEXT NOT NULL,
  digest     TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  received   TEXT NOT NULL,
  PRIMARY KEY (originator, item_id)
);
CREATE TABLE IF NOT EXISTS fed_rejections (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,
  sender  TEXT,
  seq     INTEGER,
  code    TEXT NOT NULL,
  reason  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fed_rejections_seq ON fed_rejections(sender, seq);
CREATE TABLE IF NOT EXISTS fed_partner_state (
  party        TEXT PRIMARY KEY,
  last_contact TEXT,
  last_error   TEXT,
  failures     INTEGER NOT NULL DEFAULT 0,
  peer_next_seq INTEGER,
  head_size    INTEGER,
  head_root    TEXT,
  head_note    TEXT,
  head_checked TEXT,
  inconsistent TEXT,
  failing_since TEXT,
  pruned_delivered INTEGER NOT NULL DEFAULT 0,
  pruned_rejected  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fed_rules (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  kinds    TEXT NOT NULL,
  to_party TEXT NOT NULL DEFAULT '*',
  UNIQUE (kinds, to_party)
);
CREATE TABLE IF NOT EXISTS fed_cursor (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fed_retractions (
  item_id    TEXT PRIMARY KEY,
  originator TEXT NOT NULL,
  reason     TEXT NOT NULL,
  at         TEXT NOT NULL
);
"""

LEASES_DDL = """
CREATE TABLE IF NOT EXISTS partner_leases (
  partner TEXT PRIMARY KEY,
  holder  TEXT NOT NULL,
  expires INTEGER NOT NULL       -- milliseconds since the Unix epoch (wall clock)
);
"""

REJECTIONS_PRUNED_DDL = """
CREATE TABLE IF NOT EXISTS fed_rejections_pruned (
  name  TEXT PRIMARY KEY,        -- 'total'
  pruned INTEGER NOT NULL DEFAULT 0
);
"""

REMOVALS_DDL = """
CREATE TABLE IF NOT EXISTS fed_removals (
  party TEXT PRIMARY KEY,
  leaf  INTEGER NOT NULL         -- the partner.removed ledger entry
);
"""

QUOTA_DDL = """
CREATE TABLE IF NOT EXISTS fed_quota (
  partner      TEXT NOT NULL,
  window_start INTEGER NOT NULL,   -- Unix seconds, a multiple of the quota window
  items        INTEGER NOT NULL DEFAULT 0,
  bytes        INTEGER NOT NULL DEFAULT 0,
  ledgered     INTEGER NOT NULL DEFAULT 0,  -- 1: partner.over_quota appended for this window
  PRIMARY KEY (partner, window_start)
);
"""

_guard = threading.Lock()
_locks: dict[int, threading.RLock] = {}


_ADDED_COLUMNS = (
    # (table, column, its declaration): columns added after databases were made without them
    ("fed_partner_state", "failing_since", "TEXT"),
    ("fed_partner_state", "pruned_delivered", "INTEGER NOT NULL DEFAULT 0"),
    ("fed_partner_state", "pruned_rejected", "INTEGER NOT NULL DEFAULT 0"),
)


def _missing_columns(conn: Any) -> list[tuple[str, str, str]]:
    return [(t, c, d) for t, c, d in _ADDED_COLUMNS if c not in {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}]


def _add_columns(conn: Any) -> None:
    """Migration 2: a database made before these columns gets them (in the step's transaction)."""
    for t, c, d in _missing_columns(conn):
        conn.execute(f"ALTER TABLE {t} ADD COLUMN {c} {d}")


def _add_pinned_at(conn: Any) -> None:
    """Migration 6: ``fed_partner_state.pinned_at`` (when the partner's current pin was made).
    Partners pinned before it keep a null pin time: ``accord node status --check`` treats them
    as pinned long ago."""
    if "pinned_at" not in {r[1] for r in conn.execute("PRAGMA table_info(fed_partner_state)")}:
        conn.execute("ALTER TABLE fed_partner_state ADD COLUMN pinned_at TEXT")


RECEIPT_CHECKS_DDL = """
CREATE TABLE IF NOT EXISTS fed_receipt_checks (
  party     TEXT NOT NULL,
  ledger_idx INTEGER NOT NULL,     -- the index the partner's receipt named
  item_id   TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  acked     TEXT NOT NULL,
  tries     INTEGER NOT NULL DEFAULT 0,
  refused_since TEXT,              -- first time a proof was asked for and not given
  PRIMARY KEY (party, seq)         -- one check per envelope sent: the first index named for it
);
CREATE INDEX IF NOT EXISTS fed_receipt_checks_next ON fed_receipt_checks(party, tries, ledger_idx);
"""

_RECEIPT_COLUMNS = (
    ("fed_received", "ledger_idx", "INTEGER"),
    ("fed_partner_state", "receipts_proven", "INTEGER NOT NULL DEFAULT 0"),
    ("fed_partner_state", "receipts_false", "INTEGER NOT NULL DEFAULT 0"),
    ("fed_partner_state", "receipts_unindexed", "INTEGER NOT NULL DEFAULT 0"),
)


def _add_receipt_columns(conn: Any) -> None:
    """Migration 8: the ledger index of each received item's entry (null for items received
    before it) and the per-partner counts of receipt proofs."""
    for t, c, d in _RECEIPT_COLUMNS:
        if c not in {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}:
            conn.execute(f"ALTER TABLE {t} ADD COLUMN {c} {d}")


def _add_receipts_pending(conn: Any) -> None:
    """Migration 10: ``fed_partner_state.receipts_pending``, each partner's count of rows in
    ``fed_receipt_checks`` (what the cap on them reads, instead of counting them at every
    acknowledgement), filled from the rows there."""
    if "receipts_pending" not in {r[1] for r in conn.execute("PRAGMA table_info(fed_partner_state)")}:
        conn.execute("ALTER TABLE fed_partner_state ADD COLUMN receipts_pending INTEGER NOT NULL DEFAULT 0")
    conn.execute("UPDATE fed_partner_state SET receipts_pending = (SELECT COUNT(*) FROM fed_receipt_checks c "
                 "WHERE c.party = fed_partner_state.party)")
    conn.execute("INSERT INTO fed_partner_state(party, receipts_pending) SELECT c.party, COUNT(*) FROM "
                 "fed_receipt_checks c WHERE c.party NOT IN (SELECT party FROM fed_partner_state) GROUP BY c.party")


def _add_resealed(conn: Any) -> None:
    """Migration 11: ``fed_outbox.resealed`` (rows renumbered or refilled before it count as not)."""
    if "resealed" not in {r[1] for r in conn.execute("PRAGMA table_info(fed_outbox)")}:
        conn.execute("ALTER TABLE fed_outbox ADD COLUMN resealed INTEGER NOT NULL DEFAULT 0")


def ensure_federation_schema(conn: Any) -> None:
    migrate(conn, "federation", [FEDERATION_DDL, _add_columns, LEASES_DDL, REJECTIONS_PRUNED_DDL, REMOVALS_DDL,
                                 _add_pinned_at, RECEIPT_CHECKS_DDL, _add_receipt_columns, QUOTA_DDL,
                                 _add_receipts_pending, _add_resealed])


def write_lock(node: Node) -> Any:  # a threading.RLock, or the node's CommitLock (the same interface)
    """The lock that serialises this process's writes on ``node.conn``.

    A node has one SQLite connection; Python's ``with conn:`` transactions on a shared connection
    would interleave across threads (the API's thread pool, delivery workers), so every
    federation write takes this lock first.
    """
    lock = getattr(node, "write_lock", None)
    if lock is not None:
        return lock
    with _guard:
        return _locks.setdefault(id(node.conn), threading.RLock())


_schema_ready: "weakref.WeakSet[Any]" = weakref.WeakSet()


def ensure_node_schema(node: Node) -> None:
    """Create (or migrate) the federation tables in ``node``'s database, once per node object:
    what every federation entry point (outbox, inbox, status, retention …) calls first.

    It runs under the node's write lock: the schema step's executescript first COMMITs any
    transaction open on the shared connection, which could be another thread's, half done.
    """
    try:
        if node in _schema_ready:
            return
    except TypeError:  # pragma: no cover - a node type without weak references
        with write_lock(node):
            ensure_federation_schema(node.conn)
        return
    with write_lock(node):
        ensure_federation_schema(node.conn)
    _schema_ready.add(node)
