"""A node: one directory holding a party's key, configuration and database.

Kept as one module: `Node` is the library's entry point and its methods the surface
docs/architecture.md lists; the bus, schema, verification and demo are modules of their own.

Layout of a node directory::

    node.key     Ed25519 private key, PKCS#8 PEM, mode 0600 — never printed or logged
    node.yaml    party, name, created, and the pinned partners (key, optional url)
    accord.db    SQLite (WAL): items, partners, agreements, the ledger, and other areas' tables
                 — or, for a node made with ``--store postgresql://…``, a PostgreSQL database
                 named in ``node.yaml`` (``store:``); the key stays in the directory either way

``node.yaml`` is the configuration and the source of truth for pinned partners; the
``partners`` table mirrors it for SQL joins. Every write to the database is one transaction
that also appends its ledger event (``item.created``, ``agreement.added``,
``agreement.changed``), so a crash leaves either both or neither. Writes join a transaction the
caller already holds (so a pillar can store an item together with its own rows).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import Clock, SystemClock, parse_rfc3339, to_rfc3339
from accord.core.agreements import Agreement, agreement_problems, agreements_in_force, load_yaml_strict
from accord.core.checkpoint import origin_for
from accord.core.identity import Identity, public_key_from_b64, raw_public, verifier_key
from accord.core.input_files import closest
from accord.core.items import Item, stored_item
from accord.core.parties import is_party, party_problem
from accord.core.policy import Decision, decide
from accord.errors import AccordError, AgreementError, ConfigError, InputError, NotFoundError, StoreError
from accord.core.plain_http import EVENT as PLAIN_HTTP_EVENT
from accord.core.plain_http import partner_url_problem, plain_remote_host
from accord.node.bus import LEDGER as LEDGER_TOPIC
from accord.node.bus import CommitLock, EventBus
from accord.store.ledger import Ledger
from accord.store.protocol import Node as NodeProtocol
from accord.store.protocol import QUOTA_OPTIONS, Partner, quota_problem
from accord.store.migrations import migrate, versions
from accord.store.private_files import private_dir, write_private
from accord.store.base import (DatabaseError, Store, any_of, is_url, open_store, select_in, transaction, write,
                               write_refusal_advice)

log = logging.getLogger("accord.node")

KEY_FILE = "node.key"
CONFIG_FILE = "node.yaml"
DB_FILE = "accord.db"
UNDO_FILE = "node.yaml.undo"  # node.yaml as it was before a pin change whose transaction may not have committed
INIT_MARKER = "node.init"  # there while `node init` runs: a node directory without node.yaml beside it is half-made
#: The ledger event a changed partner pin appends (:meth:`Node.add_partner`).
PARTNER_ADDED_EVENT = "partner.added"
#: The ledger event a changed partner intake quota appends (:meth:`Node.add_partner`).
PARTNER_QUOTA_EVENT = "partner.quota"

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    originator     TEXT NOT NULL,
    created        TEXT NOT NULL,      -- RFC 3339
    classification INTEGER NOT NULL,   -- common scale, 0 (UNCLASSIFIED) … 4 (TOP SECRET)
    digest         TEXT NOT NULL,      -- Item.digest(): SHA-256 of RFC 8785 JSON
    json           BLOB NOT NULL,      -- RFC 8785 JSON of Item.to_json()
    stored         TEXT NOT NULL       -- when this node stored it
);
CREATE INDEX IF NOT EXISTS items_by_kind ON items(kind, created);
CREATE TABLE IF NOT EXISTS partners (
    party       TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,         -- base64 raw Ed25519
    fingerprint TEXT NOT NULL,
    url         TEXT
);
CREATE TABLE IF NOT EXISTS agreements (
    id      TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    digest  TEXT NOT NULL,             -- SHA-256 of the signed body's RFC 8785 JSON
    yaml    TEXT NOT NULL,             -- the agreement file, with its signatures
    added   TEXT NOT NULL
);
"""



def _partners_insecure(conn: Any) -> None:
    """Migration 2: ``partners.insecure`` (1: plain HTTP off loopback accepted, ``--insecure``),
    mirrored from ``node.yaml`` in the pin change's transaction like the key and URL, so that a
    pin change killed before its commit is settled on it too (:meth:`Node._settle_config`)."""
    if "insecure" not in {r[1] for r in conn.execute("PRAGMA table_info(partners)")}:
        conn.execute("ALTER TABLE partners ADD COLUMN insecure INTEGER NOT NULL DEFAULT 0")


#: Migration 4: the items in the order of their creation, so that the newest N (the console's
#: overview, every page load) are read from an index: ``ORDER BY created DESC, id DESC LIMIT N``
#: sorted every item the node ever stored (~0.2 s CPU for the 20 newest at 200,000 items).
_ITEMS_BY_CREATED = "CREATE INDEX IF NOT EXISTS items_by_created ON items(created, id);"

#: Migration 5: the items of one kind by originator, then creation: the newest N of a kind from
#: each originator (the console's alerts board and picture: alerts, radars) and the originators
#: of a kind (one index probe each, :meth:`Node.originators`) are read from it, so a party that
#: floods a kind neither costs every page a scan of its items nor pushes the others' off the page.
_ITEMS_BY_KIND_ORIGINATOR = "CREATE INDEX IF NOT EXISTS items_by_kind_originator ON items(kind, originator, created, id);"

#: Migration 6: how many items of each kind are stored, kept in the transaction that stores them
#: (:meth:`Node._insert_items`; items are never deleted), so that counting them (the console's
#: overview, every few seconds) reads a row per kind rather than every item.
_ITEM_COUNTS = """
CREATE TABLE IF NOT EXISTS item_counts (
    kind TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
DELETE FROM item_counts;
INSERT INTO item_counts(kind, n) SELECT kind, count(*) FROM items GROUP BY kind;
"""

#: Migration 3: whose node the database is — the party and key fingerprint of the node that made
#: it (or, for a database made before this step, of the first open after it). ``node.yaml``'s
#: party and ``node.key`` must match it at every open (:meth:`Node._check_identity`).
_NODE_IDENTITY = """
CREATE TABLE IF NOT EXISTS node_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    party       TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    recorded    TEXT NOT NULL          -- RFC 3339
);
"""

#: The node's schema, step by step (:func:`accord.store.migrations.migrate`).
NODE_STEPS = (SCHEMA, _partners_insecure, _NODE_IDENTITY, _ITEMS_BY_CREATED, _ITEMS_BY_KIND_ORIGINATOR, _ITEM_COUNTS)


def _mirror_rows(partners: dict[str, Partner]) -> list[tuple[str, str, str, str | None, int]]:
    """The ``partners`` table's rows for ``partners``, in party order."""
    return sorted((p.party, p.public_key_b64, p.fingerprint, p.url, int(p.insecure)) for p in partners.values())

def check_store_url(url: str) -> None:
    """Refuse a store URL that is not PostgreSQL's or that carries a password (``node.yaml``
    would keep it: the password belongs in ``~/.pgpass`` or ``PGPASSWORD``)."""
    from urllib.parse import parse_qsl, urlsplit

    from accord.logs import without_passwords

    if not is_url(url):
        raise InputError(f"--store {without_passwords(url)!r}: give a postgresql://user@host:port/database URL "
                         "(without it the node uses SQLite in its directory)", field="store")
    parts = urlsplit(url)
    query = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.password is not None or query & {"password", "sslpassword"}:
        raise InputError("--store: the URL carries a password, which node.yaml would keep; put it "
                         "in ~/.pgpass or PGPASSWORD instead", field="store")


def _clear_interrupted_init(directory: Path) -> None:
    """Remove what a killed ``node init`` left: its marker without ``node.yaml`` beside it. The
    key it made was never shown (the fingerprint is printed once init returns), and the
    database file (SQLite) holds no schema yet (it is made after ``node.yaml``), so nothing is
    lost; left there, the key made ``node init`` refuse ("already a node directory") while every
    other command said "run `accord node init`"."""
    if not (directory / INIT_MARKER).exists() or (directory / CONFIG_FILE).exists():
        return
    for name in (KEY_FILE, KEY_FILE + ".tmp", DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", INIT_MARKER):
        (directory / name).unlink(missing_ok=True)


def _open_store(directory: Path, config: dict[str, Any], *, existing: bool = True) -> Store:
    url = config.get("store")
    if url is None:
        db = directory / DB_FILE
        if existing and (not db.is_file() or db.stat().st_size == 0):
            # SQLite would make an empty database in its place: a node with no ledger, no items,
            # that ledger verify passes
            raise StoreError(f"{db}: the node database is {'empty' if db.is_file() else 'missing'}; the node's "
                             "ledger and items are not there (restore the file from a backup, docs/deployment.md)")
        return open_store(db)
    if not isinstance(url, str):
        raise ConfigError(f"{directory / CONFIG_FILE}: store must be a postgresql:// URL")
    return open_store(url)


def open_database(directory: str | Path) -> Any:
    """A connection of its own to the node database of ``directory`` (SQLite or PostgreSQL), for
    tools that read it beside a running node; ``close()`` it."""
    directory = Path(directory)
    config = _read_config(directory / CONFIG_FILE)
    store = _open_store(directory, config)
    conn = store.conn
    if store.dialect == "sqlite":
        conn.row_factory = None  # plain tuples
    else:
        conn.on_close = store.close  # the pool goes with the connection
    return conn


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _not_a_node(directory: Path) -> str:
    """Why ``directory`` is not a node: it does not exist, or it holds node directories (the
    parent ``dialogue load-example --dir``, ``demo --dir`` and ``exercise run --out`` made, a
    natural slip for the node itself), named so the user can give one; else no ``node.yaml``."""
    if not directory.exists():
        return f"{directory}: not a node directory: it does not exist (`accord node init` makes one)"
    found: list[Path] = []
    with suppress(OSError):
        for child in sorted(islice(directory.iterdir(), 200)):  # a large directory is not read whole
            grandchildren = sorted(islice(child.iterdir(), 50)) if child.is_dir() else []
            found.extend(c for c in (child, *grandchildren) if (c / CONFIG_FILE).is_file())
    if found:
        named = ", ".join(str(p) for p in found[:6]) + (", …" if len(found) > 6 else "")
        return (f"{directory}: not a node directory, but it holds node directories: {named}; "
                "give one of them")
    return f"{directory}: not a node directory (no {CONFIG_FILE}; run `accord node init`)"


class Node:
    """A party's node (see the module docstring). Use :meth:`init` or :meth:`open`."""

    def __init__(self, directory: Path, identity: Identity, config: dict[str, Any],
                 store: Store, clock: Clock) -> None:
        self.dir = Path(directory)
        self.identity = identity
        self.party = identity.party
        self.name: str = config.get("name") or f"{self.party} node"
        self.created: datetime = parse_rfc3339(config["created"], field="created")
        self.store = store
        self.conn: Any = store.conn
        self.clock = clock
        # The store's write lock becomes a CommitLock: an RLock that, when its outermost holder
        # releases it (after the commit), publishes what the write appended on the bus.
        store.lock = CommitLock()
        self.write_lock: CommitLock = store.lock
        self.bus = EventBus()  # "the ledger grew", after the commit (accord.node.bus)
        self._grown: list[int] | None = None  # ledger leaves appended but not yet published
        self._grown_guard = threading.Lock()
        self._partners: dict[str, Partner] = {}
        self._config_stamp = _stamp(self.dir / CONFIG_FILE)
        self._pins_guard = threading.Lock()  # one thread rereads a changed node.yaml, the others wait for it
        self._agreements: dict[str, tuple[str, Agreement]] = {}
        self.schema_at_open = versions(self.conn)  # each part's schema version before this open
        migrate(self.conn, "node", NODE_STEPS, lock=self.write_lock)
        self._check_identity()
        # partners.insecure just added (0 for every partner) and not yet mirrored from node.yaml:
        # until it is, the recovery of a killed pin change cannot go by it (_settle_config)
        self._insecure_unmirrored = self.schema_at_open.get("node") == 1
        self.origin = origin_for(self.party, identity.public_key)
        self.ledger = Ledger(self.conn, identity, self.origin, on_append=self._ledger_grew)
        self._load_partners(config.get("partners") or {})

    def __repr__(self) -> str:
        return f"Node(party={self.party!r}, dir={str(self.dir)!r})"

    def _check_identity(self) -> None:
        """Refuse a ``node.yaml`` party or ``node.key`` that is not the database's node's. Its
        items and ledger are that party's, signed by that key: a node directory copied and given
        another party (``cp -r jpn kor``, then ``party: KOR``), or a key replaced, would go on
        writing under the new name beside them, and ``accord ledger verify`` would not say so.
        The first open of a database without the record (made before it) records this node."""
        row = self.conn.execute("SELECT party, fingerprint FROM node_identity WHERE id = 1").fetchone()
        if row is None:
            with self.write_lock, transaction(self.conn):
                self.conn.execute("INSERT INTO node_identity(id, party, fingerprint, recorded) VALUES (1, ?, ?, ?) "
                                  "ON CONFLICT(id) DO NOTHING",
                                  (self.party, self.identity.fingerprint, to_rfc3339(self.clock.now())))
            row = self.conn.execute("SELECT party, fingerprint FROM node_identity WHERE id = 1").fetchone()
        party, fingerprint = str(row[0]), str(row[1])
        if (party, fingerprint) != (self.party, self.identity.fingerprint):
            where = self.store.location  # a URL without its password
            raise ConfigError(f"{self.dir / CONFIG_FILE}: this node is {self.party} with key {self.identity.fingerprint}, "
                              f"but its database ({where}) is {party}'s, key {fingerprint}: each node keeps its own "
                              f"party and key (restore {CONFIG_FILE} and {KEY_FILE} from that node's backup, or "
                              "`accord node init` a new node with a database of its own)")

    # --- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: str | Path, party: str, clock: Clock | None = None, *,
             name: str | None = None, store: str | None = None) -> "Node":
        """Create a node directory: a new key (0600), ``node.yaml`` and ``accord.db`` (WAL) — or
        the node's tables in the PostgreSQL database ``store`` names (``postgresql://…``)."""
        if not is_party(party):
            raise InputError(str(party_problem(party)), field="party")
        if store is not None:
            check_store_url(store)
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise InputError("a file, not a directory: give a new (or empty) directory for the node",
                             source=str(directory))
        _clear_interrupted_init(directory)
        if (directory / CONFIG_FILE).exists() or (directory / KEY_FILE).exists():
            raise ConfigError(f"{directory}: already a node directory; refusing to overwrite its identity")
        if store is None and any((directory / (DB_FILE + end)).is_file() for end in ("", "-wal")):
            # an earlier node's database (its node.yaml and key gone): a new identity would take on
            # its ledger and items as its own, and ledger verify would pass them
            raise ConfigError(f"{directory / DB_FILE}: a node database is already here without its node.yaml and "
                              "key; refusing to give it a new identity (move it away, or restore the node's "
                              "node.yaml and key from a backup)")
        existed = directory.exists()
        private_dir(directory)
        clock = clock or SystemClock()
        identity = Identity.generate(party)
        # node.yaml, written last, is what makes the directory a node; until then the marker says
        # that what is here is a `node init` under way (or killed: the next one clears it)
        write_private(directory / INIT_MARKER, b"accord node init under way\n")
        identity.save(directory / KEY_FILE)
        config = {"party": party, "name": name or f"{party} node", "created": to_rfc3339(clock.now()),
                  "fingerprint": identity.fingerprint, "partners": {}}
        if store is not None:
            config["store"] = store
        try:
            the_store = _open_store(directory, config, existing=False)
            # A new database has no node tables: they are made after node.yaml, so not even a killed
            # init of this directory left them. Tables there are another node's, its ledger empty
            # or not (a second `node init --store` of the same URL shared the first node's items
            # and ledger, both verifying): refused either way.
            if the_store.conn.execute("PRAGMA table_info(ledger_leaves)").fetchall():
                size = the_store.conn.execute("SELECT COUNT(*) FROM ledger_leaves").fetchone()[0]
                the_store.close()  # a database an earlier node wrote (in use, or its node.yaml and key gone)
                raise ConfigError(f"{store or directory / DB_FILE}: this database already holds a node's ledger "
                                  f"({size} entr{'y' if size == 1 else 'ies'}); refusing to give it a new identity: "
                                  "each node needs a database of its own (init with an empty database, or restore "
                                  "that node's node.yaml and key from a backup)")
        except BaseException as exc:
            # No half-made node: a new key without node.yaml made the next `node init` refuse
            # ("already a node directory") and every other command too ("not a node directory").
            # The key was made just now and never shown, so nothing is lost with it.
            (directory / KEY_FILE).unlink(missing_ok=True)
            (directory / INIT_MARKER).unlink(missing_ok=True)
            if not existed:
                with suppress(OSError):
                    directory.rmdir()  # only if empty
            if isinstance(exc, DatabaseError) and not isinstance(exc, AccordError):
                raise StoreError(f"{config.get('store') or directory / DB_FILE}: cannot create the node "
                                 f"database: {exc}") from None
            raise
        _write_config(directory / CONFIG_FILE, config)
        (directory / INIT_MARKER).unlink()
        try:
            return cls(directory, identity, config, the_store, clock)
        except ConfigError:
            # another `node init --store` of the same URL, run at the same moment, made its tables
            # and identity first (Node._check_identity): this one made no node, and what it wrote
            # goes (its key was never shown); a directory of its own, so nothing else is touched
            the_store.close()
            if store is not None:
                (directory / CONFIG_FILE).unlink(missing_ok=True)
                (directory / KEY_FILE).unlink(missing_ok=True)
                if not existed:
                    with suppress(OSError):
                        directory.rmdir()  # only if empty
            raise

    @classmethod
    def open(cls, directory: str | Path, clock: Clock | None = None) -> "Node":
        """Open an existing node directory; errors name the file at fault."""
        directory = Path(directory)
        cfg_path = directory / CONFIG_FILE
        if not cfg_path.exists():
            if (directory / INIT_MARKER).exists():
                raise ConfigError(f"{directory}: an `accord node init` was interrupted here before it wrote "
                                  f"{CONFIG_FILE}; run `accord node init` again")
            raise ConfigError(_not_a_node(directory))
        config = _read_config(cfg_path)
        # an init killed after it wrote node.yaml left its marker: the node is whole, and a marker
        # left beside it would have a later init (were node.yaml lost) clear a node in use
        (directory / INIT_MARKER).unlink(missing_ok=True)
        identity = Identity.load(config["party"], directory / KEY_FILE)
        if config.get("fingerprint") not in (None, identity.fingerprint):
            raise ConfigError(f"{cfg_path}: fingerprint {config['fingerprint']} does not match the key in "
                              f"{KEY_FILE} ({identity.fingerprint})")
        store = None
        try:
            store = _open_store(directory, config)
            try:
                return cls(directory, identity, config, store, clock or SystemClock())
            except (ConfigError, StoreError):  # not this node's database (Node._check_identity), or
                store.close()                   # one a newer Accord migrated: nothing is left open
                raise
        except DatabaseError as exc:  # a damaged file: say which, in one line
            where = store.location if store is not None else config.get("store") or directory / DB_FILE
            if store is not None:
                store.close()
            advice = write_refusal_advice(exc)
            raise StoreError(f"{where}: cannot open the node database: {exc}"
                             + (f": {advice}" if advice else "")) from None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction (or join the caller's), under the node's write lock."""
        with write(self.store) as conn:
            yield conn

    def _ledger_grew(self, first: int, count: int) -> None:
        """Ledger leaves ``first`` … ``first + count - 1`` were appended: publish one ``ledger``
        event on :attr:`bus` once the write commits (one per outermost write-lock release, however
        many appends the write made)."""
        with self._grown_guard:
            grown = self._grown
            queued = grown is not None
            self._grown = [first, first + count] if grown is None else \
                [min(grown[0], first), max(grown[1], first + count)]
        if not queued:
            self.write_lock.after_release(self._publish_growth)

    def _publish_growth(self) -> None:
        with self._grown_guard:
            grown, self._grown = self._grown, None
        if grown is not None:
            self.bus.publish(LEDGER_TOPIC, {"first": grown[0], "count": grown[1] - grown[0]})

    # --- identity ----------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    @property
    def verifier_key(self) -> str:
        """The signed-note verifier key of this node's checkpoints (key name = ledger origin)."""
        return verifier_key(self.origin, self.identity.public_key)

    def info(self) -> dict[str, Any]:
        """What ``accord node show`` prints: nothing secret."""
        return {"party": self.party, "name": self.name, "dir": str(self.dir), "created": to_rfc3339(self.created),
                "fingerprint": self.fingerprint, "public_key": self.identity.public_b64,
                "ledger_origin": self.origin, "verifier_key": self.verifier_key,
                "ledger_size": self.ledger.size,
                "partners": {p: v.to_json() for p, v in sorted(self.partners().items())},
                "agreements": [f"{a.id} v{a.version}" for a in self.agreements()],
                "items": self.conn.execute("SELECT count(*) FROM items").fetchone()[0]}

    # --- partners ----------------------------------------------------------------------------
    def _load_partners(self, raw: Any, *, mirror: bool = True) -> None:
        cfg = self.dir / CONFIG_FILE
        if not isinstance(raw, dict):
            raise ConfigError(f"{cfg}: partners must be a mapping of party → {{key, url}}")
        partners = {}
        for party, entry in raw.items():
            if not is_party(party) or party == self.party:
                raise ConfigError(f"{cfg}: partners: {party_problem(party) or f'{party} is this node itself'}")
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise ConfigError(f"{cfg}: partners.{party} needs a base64 'key'")
            try:
                public_key_from_b64(entry["key"])
            except InputError as exc:
                raise ConfigError(f"{cfg}: partners.{party}.key: {exc.detail}") from None
            url = entry.get("url")
            if url is not None and not isinstance(url, str):
                raise ConfigError(f"{cfg}: partners.{party}.url must be a string")
            insecure = entry.get("insecure", False)
            if not isinstance(insecure, bool):
                raise ConfigError(f"{cfg}: partners.{party}.insecure must be true or false")
            limits = {name: entry.get(name) for name in QUOTA_OPTIONS}
            for name, value in limits.items():
                problem = quota_problem(value) if value is not None else None
                if problem is not None:
                    raise ConfigError(f"{cfg}: partners.{party}.{name} {problem}")
            partners[party] = Partner(party, entry["key"], url, insecure, **limits)
        self._partners = partners
        if mirror:
            self._mirror_partners()

    def _mirror_partners(self) -> None:
        rows = _mirror_rows(self._partners)
        stored = [tuple(r) for r in self.conn.execute(
            "SELECT party, public_key, fingerprint, url, insecure FROM partners ORDER BY party")]
        if stored != rows:  # mirror node.yaml; no write (and no lock wait) when already in step
            with self._write() as conn:
                if self._settle_config():   # node.yaml was a killed pin change's: back as it was
                    self._load_partners(_read_config(self.dir / CONFIG_FILE).get("partners") or {}, mirror=False)
                    self._config_stamp = _stamp(self.dir / CONFIG_FILE)
                    rows = _mirror_rows(self._partners)
                conn.execute("DELETE FROM partners")
                conn.executemany("INSERT INTO partners(party, public_key, fingerprint, url, insecure) "
                                 "VALUES (?,?,?,?,?)", rows)
        self._insecure_unmirrored = False

    def add_partner(self, party: str, public_key_b64: str, url: str | None = None, *,
                    replace: bool = False, insecure: bool = False, max_items_per_hour: int | None = None,
                    max_bytes_per_hour: int | None = None) -> Partner:
        """Pin ``party``'s public key (and URL). Re-pinning a different key needs ``replace=True``.

        A plain ``http://`` URL to a host other than loopback is refused unless ``insecure``:
        then the acceptance is ledgered (``insecure.http``) and kept in ``node.yaml``.

        A pin that changes (a new party, a replaced key, a changed URL) is ledgered as
        ``partner.added`` — ``{party, fingerprint, url, replaced, insecure}``, ``replaced`` the
        old key's fingerprint when the key changed, else null — in the transaction that mirrors
        it, before ``node.yaml`` is rewritten; re-pinning the same key and URL appends nothing.
        The same transaction stamps the entry's time as the partner's pin time
        (``fed_partner_state.pinned_at``): every pin change, a replaced key or a changed URL too,
        starts it again, since the node has not yet reached the partner as now pinned.

        ``max_items_per_hour`` / ``max_bytes_per_hour`` set the partner's intake quota
        (:mod:`accord.federation.quota`; 0: unlimited); None keeps what its entry has (the node's
        default for a new partner). A quota that changes is ledgered ``partner.quota``.
        """
        limits = {"max_items_per_hour": max_items_per_hour, "max_bytes_per_hour": max_bytes_per_hour}
        for name, value in limits.items():
            problem = quota_problem(value) if value is not None else None
            if problem is not None:
                raise InputError(f"--{name.replace('_', '-')} {problem}")
        if not is_party(party):
            raise InputError(str(party_problem(party, what="partner party")), field="party")
        if party == self.party:
            raise InputError(f"{party} is this node's own party, not a partner", field="party")
        key = public_key_from_b64(public_key_b64.strip() if isinstance(public_key_b64, str) else public_key_b64,
                                  field="key")
        if raw_public(key) == raw_public(self.identity.public_key):
            raise InputError("that is this node's own public key, not the partner's", field="key")
        problem = partner_url_problem(url) if url is not None else None
        if problem is not None:
            raise InputError(problem, field="url")
        remote = plain_remote_host(url) if url is not None else None
        if remote is not None and not insecure:
            raise InputError(f"{url} is plain HTTP to {remote}, not loopback: envelopes and tokens would cross "
                             "the network unencrypted; use https:// (accord node tls pin) or pass --insecure "
                             "(recorded in the ledger)", field="url")
        partner = Partner(party, base64.b64encode(raw_public(key)).decode(), url, remote is not None)
        cfg_path = self.dir / CONFIG_FILE
        before = self._partners
        from accord.federation.schema import ensure_node_schema
        ensure_node_schema(self)  # fed_partner_state, for the pin time (before the write: it may migrate)
        try:
            # node.yaml is read under the write lock, which every pin change takes: two
            # processes pinning at once each see the other's pin, and neither drops it
            with self._write() as conn:  # on the record before it takes effect, in one transaction
                self._settle_config()
                self._refresh_partners()
                old = self._partners.get(party)  # node.yaml as it is now (another process may have changed it)
                twin = next((p for p in self._partners.values()
                             if p.party != party and p.public_key_b64 == partner.public_key_b64), None)
                if twin is not None:  # a key pasted twice: the twin could sign as either party
                    raise InputError(f"that key is already pinned for {twin.party} ({twin.fingerprint}); each "
                                     f"party has its own key: check that it is {party}'s", field="key")
                if old is not None and old.public_key_b64 != partner.public_key_b64 and not replace:
                    raise ConfigError(f"{party} is already pinned with key {old.fingerprint}; re-pinning a "
                                      "different key must be deliberate (--replace)")
                config = _read_config(cfg_path)
                kept = {name: value if value is not None else getattr(old, name, None)
                        for name, value in limits.items()}
                partner = Partner(partner.party, partner.public_key_b64, url, partner.insecure, **kept)
                config.setdefault("partners", {})[party] = {
                    "key": partner.public_key_b64, "fingerprint": partner.fingerprint,
                    **({"url": url} if url else {}), **({"insecure": True} if partner.insecure else {}),
                    **{name: value for name, value in kept.items() if value is not None}}
                changed = old is None or (old.public_key_b64, old.url) != (partner.public_key_b64, url)
                if partner.insecure:
                    self.record_plain_http({"use": "partner", "party": party, "url": url})
                if changed:
                    replaced = old.fingerprint if old is not None and old.public_key_b64 != partner.public_key_b64 \
                        else None
                    at = self.clock.now()
                    self.ledger.append(PARTNER_ADDED_EVENT, {
                        "party": party, "fingerprint": partner.fingerprint, "url": url, "replaced": replaced,
                        "insecure": partner.insecure}, time=at)
                    conn.execute("INSERT INTO fed_partner_state(party, pinned_at) VALUES (?, ?) ON CONFLICT(party) "
                                 "DO UPDATE SET pinned_at = excluded.pinned_at", (party, to_rfc3339(at)))
                if {n: getattr(old, n, None) for n in kept} != kept:  # after partner.added: pinned, then limited
                    self.ledger.append(PARTNER_QUOTA_EVENT, {"party": party, **kept}, time=self.clock.now())
                self._load_partners(config["partners"])
                self._write_pins(cfg_path, config)
                # stamped while the lock keeps other pin changes out: stamped after its release,
                # another process's node.yaml written meanwhile would pass for this one
                self._config_stamp = _stamp(cfg_path)
        except BaseException:
            self._partners = before  # the mirror rolls back with the transaction; so does this,
            self._config_stamp = None  # and node.yaml is read again at the next look
            with suppress(Exception):  # the store away: settled at the next pin change or open
                self._pins_committed()
            raise
        self._pins_committed()
        return partner

    def record_plain_http(self, detail: dict[str, Any]) -> int:
        """Ledger an operator's ``--insecure``: plain HTTP accepted off loopback (``detail`` says
        for what and where). Returns the leaf index."""
        with self._write():
            return self.ledger.append(PLAIN_HTTP_EVENT, detail, time=self.clock.now())

    def pinned_partner(self, party: str) -> Partner:
        """The partner pinned as ``party``; an InputError for a code that is not a party, a
        NotFoundError for a party that is not pinned."""
        problem = party_problem(party, what="partner party")
        if problem is not None:
            raise InputError(problem, field="party")
        partner = self.partners().get(party)
        if partner is None:
            raise NotFoundError(f"{party} is not a pinned partner of {self.party}")
        return partner

    def remove_partner(self, party: str) -> Partner:
        """Unpin ``party``: drop it from ``node.yaml`` and the ``partners`` table (joining the
        caller's transaction if there is one). Returns the partner as it was pinned. What else
        a removal means (rules, queue, ledger) is :func:`accord.federation.remove_partner`'s."""
        cfg_path = self.dir / CONFIG_FILE
        before = self._partners
        from accord.federation.schema import ensure_node_schema
        ensure_node_schema(self)  # fed_partner_state, for the pin time (before the write: it may migrate)
        try:
            with self._write():  # node.yaml read under the write lock, as in add_partner
                self._settle_config()
                old = self.pinned_partner(party)
                config = _read_config(cfg_path)
                (config.get("partners") or {}).pop(party, None)
                self._load_partners(config.get("partners") or {})
                # no copy kept: the removal is ledgered (and its tokens revoked) in a transaction
                # of its own before this one, which a rerun completes (federation.remove_partner)
                _write_config(cfg_path, config)
                self._config_stamp = _stamp(cfg_path)  # under the lock, as in add_partner
        except BaseException:
            self._partners = before  # the mirror rolls back with the transaction; so does this,
            self._config_stamp = None  # and node.yaml is read again at the next look
            raise
        return old

    def _settle_config(self) -> bool:
        """Under the write lock: settle a pin change that a killed process (``kill -9``, a power
        cut, a full disk at the commit) left half done. A pin change saves ``node.yaml`` as it
        was (``node.yaml.undo``) before it rewrites it in its transaction, and removes that copy
        once the transaction has committed; a copy still there was either committed (the
        ``partners`` mirror, written in the same transaction, matches ``node.yaml``: the copy
        goes) or not (``node.yaml`` goes back to the copy: it pinned a key, or accepted plain
        HTTP, that its ledger entry, rolled back, never recorded). Returns whether ``node.yaml``
        went back."""
        undo, cfg = self.dir / UNDO_FILE, self.dir / CONFIG_FILE
        if not undo.exists():
            return False
        raw = _read_config(cfg).get("partners") or {}
        known = not self._insecure_unmirrored  # (a column just added says nothing yet)
        pins = sorted((str(party), e.get("key"), e.get("url"), int(known and e.get("insecure") is True))
                      for party, e in raw.items() if isinstance(e, dict)) if isinstance(raw, dict) else None
        stored = [tuple(r) for r in self.conn.execute(
            f"SELECT party, public_key, url, {'insecure' if known else '0'} FROM partners ORDER BY party")]
        if pins == stored:
            undo.unlink()
            return False
        os.replace(undo, cfg)
        log.warning("%s: a pin change was interrupted before its ledger entry was committed; %s is back as it was "
                    "before it", self.dir, CONFIG_FILE, extra={"event": "node.config_restored"})
        return True

    def _write_pins(self, cfg_path: Path, config: dict[str, Any]) -> None:
        """Rewrite ``node.yaml`` inside the pin change's transaction, its old text kept first
        (:meth:`_settle_config`)."""
        write_private(self.dir / UNDO_FILE, cfg_path.read_bytes())
        _write_config(cfg_path, config)

    def _pins_committed(self) -> None:
        """After a pin change's ``with`` block: once no transaction is open, it has committed
        (the copy kept for it goes) or rolled back (``node.yaml`` goes back to the copy). Inside
        a caller's transaction, its commit decides, and the next :meth:`_settle_config` settles it."""
        if not self.conn.in_transaction and (self.dir / UNDO_FILE).exists():
            with self._write():
                self._settle_config()

    def _refresh_partners(self) -> None:
        """Re-read the pins when ``node.yaml`` changed since this node read it (another process —
        ``accord node partner add/remove`` beside a running ``node serve`` — rewrote it): a
        removed partner is refused at once, not at the next restart. One ``stat`` per call; a
        file that no longer parses leaves the pins as they were (and is reported when the node
        is next opened). Threads looking at once while it is reread wait for what it says, not
        the pins it replaces (no lock but this one is taken meanwhile; the mirror in the database
        is written after)."""
        path = self.dir / CONFIG_FILE
        if _stamp(path) == self._config_stamp:
            return
        with self._pins_guard:
            stamp = _stamp(path)
            if stamp == self._config_stamp:  # reread by another thread meanwhile
                return
            try:
                self._load_partners(_read_config(path).get("partners") or {}, mirror=False)
            except ConfigError:
                self._config_stamp = stamp
                return
            self._config_stamp = stamp
        self._mirror_partners()

    def partners(self) -> dict[str, Partner]:
        self._refresh_partners()
        return dict(self._partners)

    def partner_keys(self) -> dict[str, Ed25519PublicKey]:
        """Pinned partner keys (not this node's own): what envelopes are verified against."""
        self._refresh_partners()
        return {p: v.public_key for p, v in self._partners.items()}

    def pinned_keys(self) -> dict[str, Ed25519PublicKey]:
        """Partner keys plus this node's own: what agreements are verified against."""
        return {**self.partner_keys(), self.party: self.identity.public_key}

    # --- agreements --------------------------------------------------------------------------
    def add_agreement(self, agreement: Agreement) -> str:
        """Verify and store ``agreement``; ledger ``agreement.added`` / ``agreement.changed``.

        Must name this node's party, carry every party's valid signature under the pinned keys,
        and not be expired (an agreement not yet valid may be stored in advance). Returns
        ``"added"``, ``"changed"`` (a higher version replaced an older) or ``"unchanged"``.
        """
        if self.party not in agreement.parties:
            raise AgreementError(f"agreement {agreement.id} does not name this node's party {self.party}")
        now = self.clock.now()
        problems = agreement_problems(agreement, self.pinned_keys(), max(now, agreement.valid_from))
        if problems:
            raise AgreementError(f"agreement {agreement.id} v{agreement.version} refused: " + "; ".join(problems))
        digest = _sha256_hex(agreement.signing_bytes())
        with self._write() as conn:
            row = conn.execute("SELECT version, digest FROM agreements WHERE id = ?", (agreement.id,)).fetchone()
            if row is not None:
                if row["digest"] == digest:
                    if agreement.to_yaml() != conn.execute("SELECT yaml FROM agreements WHERE id = ?",
                                                           (agreement.id,)).fetchone()[0]:
                        conn.execute("UPDATE agreements SET yaml = ? WHERE id = ?", (agreement.to_yaml(), agreement.id))
                    return "unchanged"
                if agreement.version <= row["version"]:
                    raise AgreementError(f"agreement {agreement.id}: version {agreement.version} differs from the "
                                         f"stored version {row['version']}; a change needs a higher version")
            conn.execute("INSERT INTO agreements(id, version, digest, yaml, added) VALUES (?,?,?,?,?) "
                         "ON CONFLICT(id) DO UPDATE SET version = excluded.version, digest = excluded.digest, "
                         "yaml = excluded.yaml, added = excluded.added",
                         (agreement.id, agreement.version, digest, agreement.to_yaml(), to_rfc3339(now)))
            event = "agreement.added" if row is None else "agreement.changed"
            self.ledger.append(event, {"agreement_id": agreement.id, "version": agreement.version,
                                       "digest": digest, "parties": list(agreement.parties),
                                       **({"previous_version": row["version"]} if row is not None else {})}, time=now)
            return "added" if row is None else "changed"

    def agreements(self) -> list[Agreement]:
        """Stored agreements (latest version of each id), parsed once and cached by digest."""
        out = []
        seen = set()
        for r in self.conn.execute("SELECT id, digest, yaml FROM agreements ORDER BY id"):
            seen.add(r["id"])
            cached = self._agreements.get(r["id"])
            if cached is None or cached[0] != r["digest"]:
                cached = (r["digest"], Agreement.from_yaml(r["yaml"], source=f"stored agreement {r['id']}"))
                self._agreements[r["id"]] = cached
            out.append(cached[1])
        for gone in set(self._agreements) - seen:
            del self._agreements[gone]
        return out

    def get_agreement(self, agreement_id: str) -> Agreement:
        for a in self.agreements():
            if a.id == agreement_id:
                return a
        raise NotFoundError(f"no agreement {agreement_id!r} on node {self.party}")

    def agreements_in_force(self, now: datetime | None = None) -> list[Agreement]:
        return agreements_in_force(self.agreements(), self.pinned_keys(), now or self.clock.now())

    def decide(self, item: Item, recipient: str) -> Decision:
        """Policy for sharing ``item`` with ``recipient`` now, under this node's agreements and pins."""
        return decide(item, recipient, self.agreements(), self.clock.now(), pinned_keys=self.pinned_keys())

    # --- items -------------------------------------------------------------------------------
    def _insert_items(self, conn: Any, items: list[Item]) -> list[Item]:
        """Insert the items not stored yet (one query per 500 ids to find those); return them.

        The same id with another digest — stored already, or twice in ``items`` — is an error
        (an item id names one content only) and nothing is inserted.
        """
        for item in items:
            if not isinstance(item, Item):
                raise InputError(f"put_item needs an Item, got {type(item).__name__}")
        held: dict[str, str] = dict(select_in(conn, "SELECT id, digest FROM items WHERE id IN ({})",
                                              (item.id for item in items)))
        stored = to_rfc3339(self.clock.now())
        rows, new = [], []
        for item in items:
            digest = item.digest()
            have = held.get(item.id)
            if have is not None:
                if have != digest:
                    raise StoreError(f"item {item.id} is already stored with digest {have[:16]}…, not "
                                     f"{digest[:16]}…; an item id names one content only")
                continue
            held[item.id] = digest
            rows.append((item.id, item.kind, item.originator, item.created_text(),
                         int(item.marking.classification), digest, item.canonical(), stored))
            new.append(item)
        conn.executemany("INSERT INTO items(id, kind, originator, created, classification, digest, json, stored) "
                         "VALUES (?,?,?,?,?,?,?,?)", rows)
        added: dict[str, int] = {}
        for item in new:
            added[item.kind] = added.get(item.kind, 0) + 1
        conn.executemany("INSERT INTO item_counts(kind, n) VALUES (?, ?) "
                         "ON CONFLICT(kind) DO UPDATE SET n = item_counts.n + excluded.n", sorted(added.items()))
        return new

    def put_item(self, item: Item) -> Item:
        """Store ``item`` and ledger ``item.created`` in one transaction; idempotent on (id, digest)."""
        if not isinstance(item, Item):
            raise InputError(f"put_item needs an Item, got {type(item).__name__}")
        self.put_items([item])
        return item

    def put_items(self, items: list[Item]) -> list[Item]:
        """Store own or local ``items`` and ledger ``item.created`` for each new one, all in one
        transaction (all or nothing); idempotent on (id, digest). Returns the newly stored."""
        with self._write() as conn:
            new = self._insert_items(conn, list(items))
            now = self.clock.now()
            self.ledger.append_many([("item.created", {"item_id": item.id, "kind": item.kind,
                                                       "originator": item.originator, "digest": item.digest(),
                                                       "classification": item.marking.classification.name}, now)
                                     for item in new])
        for item in new:
            if item.kind == ALERT_KIND and item.originator == self.party:
                _log_alert(item)
        return new

    def store_received(self, items: list[Item]) -> None:
        """Store partner items in the caller's transaction (the caller ledgers ``item.received``)."""
        with self._write() as conn:
            self._insert_items(conn, list(items))

    def get_item(self, item_id: str) -> Item:
        # reads take the write lock too: on the shared connection a read beside another thread's
        # open transaction would see its uncommitted items (gone again if it rolls back)
        with self.write_lock:
            row = self.conn.execute("SELECT json FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no item {item_id!r} on node {self.party}")
        return stored_item(row[0], source=f"stored item {item_id}")

    def get_items(self, ids: list[str]) -> dict[str, Item]:
        """The stored items among ``ids``, by id (one query per 500 ids; a missing id is absent)."""
        with self.write_lock:  # see get_item
            rows = list(select_in(self.conn, "SELECT id, json FROM items WHERE id IN ({})", ids))
        return {r[0]: stored_item(r[1], source=f"stored item {r[0]}") for r in rows}

    def items(self, kind: str | None = None, *, originator: str | None = None, since: datetime | None = None,
              until: datetime | None = None, newest: int | None = None, after: str | None = None,
              limit: int | None = None, containing: tuple[bytes, ...] = ()) -> list[Item]:
        """Stored items, oldest first, optionally of one ``kind`` and/or ``originator``, created
        from ``since`` to ``until`` (both included), or only the ``newest`` so many of them.
        ``after``: only those after the item of that id in this order (creation time, then id;
        :class:`NotFoundError` if there is none); ``limit``: the first so many. ``containing``: only
        those whose stored (canonical) JSON holds one of these byte strings — a pre-filter the
        store runs on the rows, so that they are not all decoded; the caller checks what it meant."""
        q = "SELECT id, json FROM items WHERE 1=1"
        args: list[Any] = []
        for cond, value in (("kind = ?", kind), ("originator = ?", originator),
                            ("created >= ?", since and to_rfc3339(since)), ("created <= ?", until and to_rfc3339(until))):
            if value is not None:
                q += f" AND {cond}"
                args.append(value)
        if containing:
            q += " AND " + any_of(["instr(json, ?) > 0"] * len(containing))
            args += list(containing)
        if after is not None:
            q += " AND (created > (SELECT created FROM items WHERE id = ?) OR (created = (SELECT created FROM " \
                 "items WHERE id = ?) AND id > ?))"
            args += [after, after, after]
        q += " ORDER BY created, id" if newest is None else f" ORDER BY created DESC, id DESC LIMIT {int(newest)}"
        if limit is not None and newest is None:
            q += f" LIMIT {int(limit)}"
        with self.write_lock:  # see get_item
            if after is not None and self.conn.execute("SELECT 1 FROM items WHERE id = ?", (after,)).fetchone() is None:
                raise NotFoundError(f"no item {after!r} on node {self.party}")
            rows = self.conn.execute(q, args).fetchall()
        if newest is not None:
            rows.reverse()
        return [stored_item(r["json"], source=f"stored item {r['id']}") for r in rows]

    def count_items(self) -> dict[str, int]:
        """How many items of each kind are stored (kept per kind as they are stored: one row a
        kind is read, not every item)."""
        with self.write_lock:  # see get_item
            return {r[0]: int(r[1]) for r in
                    self.conn.execute("SELECT kind, n FROM item_counts WHERE n > 0 ORDER BY kind").fetchall()}

    def originators(self, kind: str, limit: int) -> list[str]:
        """The first ``limit`` originators (in order) of the stored items of ``kind``: one index
        probe each (``items_by_kind_originator``), however many items each has."""
        q = ("WITH RECURSIVE o(x, k) AS (SELECT (SELECT min(originator) FROM items WHERE kind = ?), 1 UNION ALL "
             "SELECT (SELECT min(originator) FROM items WHERE kind = ? AND originator > o.x), o.k + 1 FROM o "
             f"WHERE o.x IS NOT NULL AND o.k < {int(limit)}) SELECT x FROM o WHERE x IS NOT NULL")
        with self.write_lock:  # see get_item
            return [r[0] for r in self.conn.execute(q, (kind, kind)).fetchall()]


ALERT_KIND = "warning.alert"


def _log_alert(item: Item) -> None:
    """One line per own CAP alert stored (issued, updated or cancelled): operators act on them."""
    body = item.body
    areas = [str(a) for a in body.get("areas") or []]
    log.warning("alert issued: %s %s%s%s", body.get("msgType") or "alert", body.get("identifier") or item.id,
                f" for {', '.join(areas)}" if areas else "", f": {body['reason']}" if body.get("reason") else "",
                extra={"event": "alert.issued", "item_id": item.id, "msg_type": body.get("msgType"),
                       "identifier": body.get("identifier"), "areas": areas})


# --- node.yaml ------------------------------------------------------------------------------
def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml_strict(path.read_text(encoding="utf-8"), source=str(path))
    except AccordError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping")
    for fld in ("party", "created"):
        if fld not in data:
            raise ConfigError(f"{path}: missing field {fld!r}")
    if not is_party(data["party"]):
        raise ConfigError(f"{path}: {party_problem(data['party'])}")
    _refuse_unknown_keys(path, "", data, CONFIG_KEYS)
    partners, sharing = data.get("partners"), data.get("sharing")
    for party, entry in (partners.items() if isinstance(partners, dict) else ()):
        if isinstance(entry, dict):
            _refuse_unknown_keys(path, f"partners.{party}: ", entry, PARTNER_KEYS)
    for n, rule in enumerate(sharing if isinstance(sharing, list) else ()):
        if isinstance(rule, dict):
            _refuse_unknown_keys(path, f"sharing[{n}]: ", rule, SHARING_KEYS)
    try:
        parse_rfc3339(data["created"], field="created")
    except InputError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return data


# what node.yaml may hold; anything else is a typo that would otherwise be ignored (``partnres:``
# unpinning every partner, a sharing rule's ``too:`` widening it to every partner)
CONFIG_KEYS = ("party", "name", "created", "fingerprint", "store", "partners", "sharing", "alerts")
PARTNER_KEYS = ("key", "fingerprint", "url", "insecure", *QUOTA_OPTIONS)
SHARING_KEYS = ("kinds", "to")


def _refuse_unknown_keys(path: Path, where: str, data: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            near = closest(key, known)
            hint = f"did you mean {near!r}?" if near else f"known keys: {', '.join(known)}"
            raise ConfigError(f"{path}: {where}unknown key {key!r} ({hint})")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells that ``node.yaml`` was rewritten: inode (it is replaced, never edited in
    place, by :func:`_write_config`), size and modification time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _write_config(path: Path, config: dict[str, Any]) -> None:
    """Write ``node.yaml`` atomically (temp file, fsync, rename), mode 0600."""
    text = ("# Accord node configuration. Partners are pinned with `accord node partner add`.\n"
            + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    write_private(path, text.encode("utf-8"))


if TYPE_CHECKING:  # the concrete node is what the layers below it take as protocol.Node
    def _conforms(node: Node) -> NodeProtocol:
        return node
