"""Node: directory layout, partners, agreements and items stored with their ledger events."""

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.errors import AgreementError, ConfigError, InputError, NotFoundError, StoreError
from accord.node import Node

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PINS = 1  # ledger entries the pair fixture leaves on jpn: its pin of KOR (partner.added)


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture
def pair(tmp_path, clock):
    jpn = Node.init(tmp_path / "jpn", "JPN", clock)
    kor = Node.init(tmp_path / "kor", "KOR", clock)
    jpn.add_partner("KOR", kor.identity.public_b64, "https://kor.example")
    kor.add_partner("JPN", jpn.identity.public_b64)
    yield jpn, kor
    jpn.close()
    kor.close()


def signed_agreement(jpn, kor, version=1, ceiling="SECRET", until=datetime(2027, 1, 1, tzinfo=UTC)):
    a = new_agreement("jpn-kor", ["JPN", "KOR"], {"JPN": jpn.identity.public_key, "KOR": kor.identity.public_key},
                      [("JPN", "KOR", ["warning.*"], ceiling)], T0, until, version=version)
    return sign_agreement(sign_agreement(a, jpn.identity), kor.identity)


@pytest.mark.sqlite_only  # accord.db made a directory
def test_init_that_cannot_make_its_database_leaves_no_half_node_and_can_be_run_again(tmp_path, clock):
    """A failed ``node init`` (here: ``accord.db`` is a directory; on PostgreSQL, a server or
    database not there yet) used to leave ``node.key`` alone in the directory: the next init
    refused it as "already a node directory", every other command as "not a node directory"."""
    d = tmp_path / "n"
    (d / "accord.db").mkdir(parents=True)
    with pytest.raises(StoreError, match=r"accord\.db: cannot create the node database"):
        Node.init(d, "JPN", clock)
    assert sorted(p.name for p in d.iterdir()) == ["accord.db"]
    (d / "accord.db").rmdir()
    node = Node.init(d, "JPN", clock)  # the same command again, once the cause is fixed
    assert (d / "node.yaml").is_file() and node.party == "JPN"
    node.close()


KILLED_INIT = """
import os, signal, sys
import accord.node.node as nn
from accord.core.identity import Identity

where, store = sys.argv[2], sys.argv[3] or None

def killed_after(f):
    def call(*a, **k):
        f(*a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    return call

if where == "key":
    Identity.save = killed_after(Identity.save)
else:
    nn._open_store = killed_after(nn._open_store)
nn.Node.init(sys.argv[1], "JPN", store=store)
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
@pytest.mark.parametrize("where", ["key", "database"])
def test_init_killed_midway_is_run_again_and_says_so_meanwhile(tmp_path, where, backend, request):
    """``kill -9`` (a power cut) of ``node init`` after it wrote the key (or also opened the
    database) left a directory that the next ``node init`` refused ("already a node directory")
    while every other command said "not a node directory … run `accord node init`"."""
    import subprocess
    import sys

    store = request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None
    d = tmp_path / "n"
    r = subprocess.run([sys.executable, "-c", KILLED_INIT, str(d), where, store or ""],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr
    assert (d / "node.key").exists() and not (d / "node.yaml").exists()
    with pytest.raises(ConfigError, match=r"`accord node init` was interrupted here.*run `accord node init` again"):
        Node.open(d)
    node = Node.init(d, "JPN", store=store)
    try:
        assert node.party == "JPN" and node.ledger.size == 0
    finally:
        node.close()
    (d / "node.init").write_text("")   # as an init killed just after node.yaml leaves it
    again = Node.open(d)
    assert again.fingerprint == node.fingerprint
    again.close()
    assert not (d / "node.init").exists()   # a whole node: a later init must never clear it


def test_init_on_a_database_not_there_removes_the_directory_it_made(tmp_path, clock):
    with pytest.raises(StoreError, match="cannot connect"):
        Node.init(tmp_path / "new", "JPN", clock, store="postgresql://postgres@127.0.0.1:1/accord_none")
    assert not (tmp_path / "new").exists()


@pytest.mark.sqlite_only  # the node's own database file
def test_init_beside_an_earlier_nodes_database_refuses_to_give_it_a_new_identity(tmp_path, clock):
    """A node whose node.yaml and key were lost left accord.db with its ledger and items; `node
    init` there made a new key and took them on as its own (ledger verify passed them under the
    new origin). It refuses, names the file, and leaves it as it was."""
    node = Node.init(tmp_path / "n", "JPN", clock)
    node.put_item(new_item("dialogue.note", {"t": 1}, Marking.parse("UNCLASSIFIED"), "JPN", clock.now()))
    node.close()
    (tmp_path / "n" / "node.yaml").unlink()
    for key in (tmp_path / "n").glob("*.key"):
        key.unlink()
    before = (tmp_path / "n" / "accord.db").read_bytes()
    with pytest.raises(ConfigError, match="accord.db: a node database is already here"):
        Node.init(tmp_path / "n", "JPN", clock)
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["accord.db"]
    assert (tmp_path / "n" / "accord.db").read_bytes() == before


@pytest.mark.postgresql
def test_a_second_init_on_a_postgresql_database_in_use_refuses_even_with_its_ledger_empty(tmp_path, clock,
                                                                                         pg_schemas):
    """Two `accord node init --store URL` with one URL (the deployment guide's command pasted for
    each nation): the second was accepted while the first node's ledger was still empty, and the two
    nodes then shared one database — each listed the other's items, and `ledger verify` passed on
    both. The second is refused; it leaves no directory, and the first node is as it was."""
    url = pg_schemas.make()
    Node.init(tmp_path / "jpn", "JPN", clock, store=url).close()
    with pytest.raises(ConfigError, match=r"already holds a node's ledger \(0 entries\).*a database of its own"):
        Node.init(tmp_path / "kor", "KOR", clock, store=url)
    assert not (tmp_path / "kor").exists()
    jpn = Node.open(tmp_path / "jpn", clock)
    try:
        assert jpn.party == "JPN" and jpn.ledger.size == 0 and jpn.items() == []
    finally:
        jpn.close()


@pytest.mark.postgresql
def test_init_on_a_postgresql_database_holding_a_nodes_ledger_refuses(tmp_path, clock, pg_schemas):
    """The same on PostgreSQL: a database (schema) an earlier node wrote is not taken on by a new
    identity; the refused init leaves no directory and the database as it was."""
    url = pg_schemas.make()
    node = Node.init(tmp_path / "n", "JPN", clock, store=url)
    node.put_item(new_item("dialogue.note", {"t": 1}, Marking.parse("UNCLASSIFIED"), "JPN", clock.now()))
    root = node.ledger.root()
    node.close()
    with pytest.raises(ConfigError, match="this database already holds a node's ledger"):
        Node.init(tmp_path / "again", "JPN", clock, store=url)
    assert not (tmp_path / "again").exists()
    again = Node.open(tmp_path / "n", clock)
    try:
        assert again.ledger.root() == root and again.ledger.size == 1
    finally:
        again.close()


@pytest.mark.sqlite_only  # the layout includes accord.db
def test_init_layout_and_secrets(tmp_path, clock):
    node = Node.init(tmp_path / "n", "JPN", clock)
    key = tmp_path / "n" / "node.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert node.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    pem = key.read_text()
    shown = repr(node) + repr(node.identity) + str(node.info())
    assert "PRIVATE" not in shown and pem.splitlines()[1] not in shown
    assert node.info()["verifier_key"].startswith(node.origin + "+")
    with pytest.raises(ConfigError, match="already a node directory"):
        Node.init(tmp_path / "n", "JPN", clock)
    node.close()
    again = Node.open(tmp_path / "n", clock)
    assert again.fingerprint == node.fingerprint and again.party == "JPN"


def test_open_rejects_bad_directories(tmp_path, clock):
    with pytest.raises(ConfigError, match="not a node directory"):
        Node.open(tmp_path)
    Node.init(tmp_path / "n", "JPN", clock).close()
    os.chmod(tmp_path / "n" / "node.key", 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        Node.open(tmp_path / "n")
    os.chmod(tmp_path / "n" / "node.key", 0o600)
    (tmp_path / "n" / "node.yaml").write_text("party: JPN\nparty: KOR\n")
    with pytest.raises(ConfigError, match="duplicate key 'party'"):
        Node.open(tmp_path / "n")
    with pytest.raises(InputError, match="ISO 3166-1"):
        Node.init(tmp_path / "m", "Japan", clock)


@pytest.mark.sqlite_only  # damages accord.db
@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_lost_database_is_not_replaced_by_an_empty_one(tmp_path, clock, damage):
    # SQLite made a fresh accord.db in its place: a node with an empty ledger that ledger verify passed
    node = Node.init(tmp_path / "n", "JPN", clock)
    node.put_item(new_item("test.note", {"n": 1}, Marking.parse("SECRET"), "JPN", clock.now()))
    node.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "n" / f"accord.db{suffix}").unlink(missing_ok=True)
    db = tmp_path / "n" / "accord.db"
    db.write_bytes(b"") if damage == "truncated" else db.unlink()
    word = "empty" if damage == "truncated" else "missing"
    for _ in range(2):  # and the refusal made no file either
        with pytest.raises(StoreError, match=f"accord.db: the node database is {word}; .*restore the file from a backup"):
            Node.open(tmp_path / "n")
    if damage == "truncated":
        assert db.stat().st_size == 0
    else:
        assert not db.exists()


def test_partners_are_pinned_and_persisted(pair, clock):
    jpn, kor = pair
    assert jpn.partners()["KOR"].url == "https://kor.example"
    assert jpn.partners()["KOR"].fingerprint == kor.fingerprint
    reopened = Node.open(jpn.dir, clock)
    assert reopened.partners() == jpn.partners()
    assert [r[0] for r in reopened.conn.execute("SELECT party FROM partners")] == ["KOR"]
    other = Node.init(jpn.dir.parent / "x", "KOR", clock)
    with pytest.raises(ConfigError, match="already pinned"):
        jpn.add_partner("KOR", other.identity.public_b64)
    jpn.add_partner("KOR", other.identity.public_b64, replace=True)
    assert jpn.partners()["KOR"].fingerprint == other.fingerprint


def _pins(node) -> list[dict]:
    return [e.data for e in node.ledger.entries() if e.type == "partner.added"]


def test_a_changed_pin_is_ledgered_and_an_identical_one_is_not(pair, clock):
    jpn, kor = pair
    first = {"party": "KOR", "fingerprint": kor.fingerprint, "url": "https://kor.example", "replaced": None,
             "insecure": False}
    assert _pins(jpn) == [first]
    size = jpn.ledger.size
    jpn.add_partner("KOR", kor.identity.public_b64, "https://kor.example")  # the same key and URL
    assert jpn.ledger.size == size and _pins(jpn) == [first]
    jpn.add_partner("KOR", kor.identity.public_b64, "https://kor2.example")  # a new URL, the same key
    other = Node.init(jpn.dir.parent / "x", "KOR", clock)
    jpn.add_partner("KOR", other.identity.public_b64, "https://kor2.example", replace=True)
    assert _pins(jpn)[1:] == [{**first, "url": "https://kor2.example"},
                              {**first, "url": "https://kor2.example", "fingerprint": other.fingerprint,
                               "replaced": kor.fingerprint}]
    assert jpn.ledger.size == size + 2
    jpn.ledger.verify()
    other.close()


def test_a_pin_changed_by_another_process_is_judged_against_the_file(pair, clock):
    """Another process (another Node on the same directory) moves KOR's URL; pinning the old URL
    here is a change of what node.yaml says, so it is ledgered, not judged against stale pins."""
    jpn, kor = pair
    elsewhere = Node.open(jpn.dir, clock)
    try:
        elsewhere.add_partner("KOR", kor.identity.public_b64, "https://kor2.example")
    finally:
        elsewhere.close()
    size = jpn.ledger.size
    jpn.add_partner("KOR", kor.identity.public_b64, "https://kor.example")
    assert jpn.ledger.size == size + 1 and _pins(jpn)[-1]["url"] == "https://kor.example"
    assert jpn.partners()["KOR"].url == "https://kor.example"


def test_a_plain_http_pin_ledgers_both_entries_and_a_failed_write_neither(pair, monkeypatch):
    import accord.node.node as node_module

    jpn, kor = pair
    size, before = jpn.ledger.size, (jpn.dir / "node.yaml").read_text()
    monkeypatch.setattr(node_module, "_write_config", lambda *_a, **_k: (_ for _ in ()).throw(OSError(28, "full")))
    with pytest.raises(OSError):
        jpn.add_partner("KOR", kor.identity.public_b64, "http://10.0.0.7:8443", insecure=True)
    assert jpn.ledger.size == size and (jpn.dir / "node.yaml").read_text() == before
    assert jpn.partners()["KOR"].url == "https://kor.example"
    assert [r[0] for r in jpn.conn.execute("SELECT url FROM partners")] == ["https://kor.example"]
    monkeypatch.undo()
    jpn.add_partner("KOR", kor.identity.public_b64, "http://10.0.0.7:8443", insecure=True)
    assert [e.type for e in jpn.ledger.entries(size)] == ["insecure.http", "partner.added"]
    assert jpn.ledger.entry(size + 1).data == {"party": "KOR", "fingerprint": kor.fingerprint,
                                               "url": "http://10.0.0.7:8443", "replaced": None, "insecure": True}


@pytest.mark.parametrize("party,key,match", [
    ("kor", None, "ISO 3166-1"), ("JPN", None, "own party"), ("USA", "not base64!", "not valid base64"),
    ("USA", "AAAA", "must be 32 bytes"),
])
def test_bad_partner_input(pair, party, key, match):
    jpn, kor = pair
    before = (jpn.dir / "node.yaml").read_text()
    with pytest.raises(InputError, match=match):
        jpn.add_partner(party, key or kor.identity.public_b64)
    assert (jpn.dir / "node.yaml").read_text() == before


def test_put_item_is_idempotent_and_ledgered(pair):
    jpn, _ = pair
    item = new_item("warning.track", {"t": 1}, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", jpn.clock.now())
    assert jpn.put_item(item) == item
    jpn.put_item(item)
    assert jpn.ledger.size == PINS + 1 and jpn.ledger.entry(PINS).type == "item.created"
    assert jpn.ledger.entry(PINS).data["digest"] == item.digest()
    assert jpn.get_item(item.id) == item and jpn.items("warning.track") == [item] and jpn.items("intel.stix") == []
    jpn.ledger.verify()


def test_same_id_different_content_is_refused_and_store_unchanged(pair):
    jpn, _ = pair
    item = new_item("test.note", {"v": 1}, Marking.parse("UNCLASSIFIED"), "JPN", jpn.clock.now())
    jpn.put_item(item)
    from dataclasses import replace
    with pytest.raises(StoreError, match="already stored"):
        jpn.put_item(replace(item, body={"v": 2}))
    assert jpn.get_item(item.id).body == {"v": 1} and jpn.ledger.size == PINS + 1


@pytest.mark.sqlite_only  # SQLite's BEGIN IMMEDIATE
def test_put_item_joins_callers_transaction(pair):
    jpn, _ = pair
    item = new_item("test.note", {}, Marking.parse("UNCLASSIFIED"), "JPN", jpn.clock.now())
    jpn.conn.execute("BEGIN IMMEDIATE")
    jpn.put_item(item)
    jpn.conn.rollback()
    with pytest.raises(NotFoundError):
        jpn.get_item(item.id)
    assert jpn.ledger.size == PINS


def test_agreements_are_verified_before_stored(pair, clock):
    jpn, kor = pair
    half = sign_agreement(signed_agreement(jpn, kor).__class__.from_yaml(signed_agreement(jpn, kor).to_yaml()),
                          jpn.identity)
    from dataclasses import replace
    unsigned = replace(half, signatures=tuple(s for s in half.signatures if s.party == "JPN"))
    with pytest.raises(AgreementError, match="missing signature of KOR"):
        jpn.add_agreement(unsigned)
    assert jpn.agreements() == [] and jpn.ledger.size == PINS
    a = signed_agreement(jpn, kor)
    assert jpn.add_agreement(a) == "added"
    assert jpn.add_agreement(a) == "unchanged"
    assert jpn.ledger.entry(PINS).type == "agreement.added"
    with pytest.raises(AgreementError, match="higher version"):
        jpn.add_agreement(signed_agreement(jpn, kor, ceiling="TOP SECRET"))
    assert jpn.add_agreement(signed_agreement(jpn, kor, version=2, ceiling="TOP SECRET")) == "changed"
    assert jpn.ledger.entry(PINS + 1).type == "agreement.changed" and jpn.get_agreement("jpn-kor").version == 2
    assert [x.id for x in jpn.agreements_in_force()] == ["jpn-kor"]
    assert jpn.agreements_in_force(datetime(2027, 2, 1, tzinfo=UTC)) == []


def test_expired_or_foreign_agreement_refused(pair, tmp_path, clock):
    jpn, kor = pair
    with pytest.raises(AgreementError, match="expired"):
        jpn.add_agreement(signed_agreement(jpn, kor, until=clock.now() - timedelta(days=1)))
    usa = Node.init(tmp_path / "usa", "USA", clock)
    ku = new_agreement("kor-usa", ["KOR", "USA"], {"KOR": kor.identity.public_key, "USA": usa.identity.public_key},
                       [], T0, datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(AgreementError, match="does not name this node's party JPN"):
        jpn.add_agreement(ku)


def test_agreement_with_unpinned_key_refused(pair, tmp_path, clock):
    jpn, kor = pair
    impostor = Node.init(tmp_path / "imp", "KOR", clock)
    a = new_agreement("jpn-kor", ["JPN", "KOR"], {"JPN": jpn.identity.public_key, "KOR": impostor.identity.public_key},
                      [("JPN", "KOR", ["*"], "SECRET")], T0, datetime(2027, 1, 1, tzinfo=UTC))
    a = sign_agreement(sign_agreement(a, jpn.identity), impostor.identity)
    with pytest.raises(AgreementError, match="pinned key is"):
        jpn.add_agreement(a)


def test_node_decide_uses_its_agreements(pair):
    jpn, kor = pair
    item = new_item("warning.track", {}, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", jpn.clock.now())
    assert not jpn.decide(item, "KOR").allowed
    jpn.add_agreement(signed_agreement(jpn, kor))
    d = jpn.decide(item, "KOR")
    assert d.allowed and d.agreement_id == "jpn-kor"
    kor.add_agreement(signed_agreement(jpn, kor))
    assert kor.decide(item, "KOR").allowed  # the receiver checks incoming items by the same rules
    ts = new_item("warning.track", {}, Marking.parse("TOP SECRET//REL TO JPN, KOR"), "JPN", jpn.clock.now())
    assert not kor.decide(ts, "KOR").allowed


def test_reads_never_see_another_threads_uncommitted_items(pair, clock, while_uncommitted):
    """A node has one connection shared by threads (API threadpool, federation, TAXII). A read
    beside another thread's open transaction would return items that are gone again when that
    transaction rolls back; reads wait for the node's lock instead."""
    jpn, _ = pair
    item = new_item("test.note", {"n": 1}, Marking.parse("UNCLASSIFIED"), "JPN", clock.now())
    seen: dict[str, object] = {}

    def reader():
        seen["items"] = [i.id for i in jpn.items(kind="test.note")]
        try:
            seen["get"] = jpn.get_item(item.id).id
        except NotFoundError:
            seen["get"] = None

    # the writer stores the item, then fails and rolls back
    while_uncommitted(jpn.write_lock, jpn.conn, lambda conn: jpn._insert_items(conn, [item]), reader)
    assert seen == {"items": [], "get": None}


def test_node_decisions_follow_a_changed_agreement_and_a_repinned_key(pair, tmp_path):
    """Parsed agreements and their checks are remembered; a new version of the agreement (a
    lower ceiling), or the partner's key re-pinned (in node.yaml, by another process), changes
    the very next decision."""
    jpn, kor = pair
    item = new_item("warning.track", {}, Marking.parse("SECRET//REL TO JPN, KOR"), "JPN", jpn.clock.now())
    jpn.add_agreement(signed_agreement(jpn, kor))
    assert jpn.decide(item, "KOR").allowed and jpn.decide(item, "KOR").allowed
    jpn.add_agreement(signed_agreement(jpn, kor, version=2, ceiling="CONFIDENTIAL"))
    lowered = jpn.decide(item, "KOR")
    assert not lowered.allowed and any("ceiling CONFIDENTIAL" in r for r in lowered.lines)
    jpn.add_agreement(signed_agreement(jpn, kor, version=3))
    assert jpn.decide(item, "KOR").allowed
    other = Node.init(tmp_path / "kor2", "KOR", jpn.clock)
    try:
        again = Node.open(jpn.dir)  # another process's handle on JPN's node re-pins KOR's key
        try:
            again.remove_partner("KOR")
            again.add_partner("KOR", other.identity.public_b64, "https://kor.example")
        finally:
            again.close()
        repinned = jpn.decide(item, "KOR")
        assert not repinned.allowed and any("unknown key" in r for r in repinned.lines)
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_node_directory_given_another_party_or_key_is_refused_at_open(tmp_path, clock, backend, request):
    """A node directory copied and given another party (`cp -r jpn kor`, then `party: KOR` in
    node.yaml), or its key replaced, went on writing under the new name beside the database's
    items and ledger, and `ledger verify` passed. The database records whose node it is."""
    import shutil

    from accord.core.identity import Identity

    store = request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None
    jpn = Node.init(tmp_path / "jpn", "JPN", clock, store=store)
    fingerprint = jpn.identity.fingerprint
    jpn.close()
    shutil.copytree(tmp_path / "jpn", tmp_path / "kor")   # on PostgreSQL the copy names the same database
    cfg = tmp_path / "kor" / "node.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("party: JPN", "party: KOR"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"this node is KOR .* but its database .* is JPN's, key {fingerprint}"):
        Node.open(tmp_path / "kor", clock)
    if store is not None:   # a password in a hand-edited node.yaml's URL (trust auth ignores it) is not printed
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("postgresql://postgres@", "postgresql://postgres:hunter2@"),
                       encoding="utf-8")
        assert "hunter2" in cfg.read_text(encoding="utf-8")
        with pytest.raises(ConfigError, match="but its database .* is JPN's") as refused:
            Node.open(tmp_path / "kor", clock)
        assert "hunter2" not in str(refused.value)
    # the same party with another key (node.key replaced, its fingerprint taken out of node.yaml)
    other = Identity.generate("JPN")
    (tmp_path / "jpn" / "node.key").unlink()
    other.save(tmp_path / "jpn" / "node.key")
    cfg = tmp_path / "jpn" / "node.yaml"
    cfg.write_text("".join(line for line in cfg.read_text(encoding="utf-8").splitlines(keepends=True)
                           if not line.startswith("fingerprint:")), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"this node is JPN with key {other.fingerprint}.* is JPN's, key {fingerprint}"):
        Node.open(tmp_path / "jpn", clock)


@pytest.mark.sqlite_only
def test_a_database_from_before_the_identity_record_takes_its_first_opener(tmp_path, clock):
    import sqlite3

    Node.init(tmp_path / "jpn", "JPN", clock).close()
    with sqlite3.connect(tmp_path / "jpn" / "accord.db") as db:   # as the schema had it before step 3
        db.execute("DROP TABLE node_identity")
        db.execute("UPDATE schema_version SET version = 2 WHERE component = 'node'")
    db.close()
    node = Node.open(tmp_path / "jpn", clock)
    node.close()
    cfg = tmp_path / "jpn" / "node.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("party: JPN", "party: KOR"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"this node is KOR .* is JPN's"):
        Node.open(tmp_path / "jpn", clock)


@pytest.mark.postgresql
def test_two_inits_of_one_postgresql_url_at_once_leave_one_node(tmp_path, clock, pg_schemas, monkeypatch):
    """Two `node init --store URL` at the same moment both found no tables; the second then failed
    the database's identity check with its node.yaml written and its store open: a directory that
    never opens. It now leaves nothing, and the first node is as it was."""
    from accord.node import node as node_module

    url = pg_schemas.make()
    write_config, raced = node_module._write_config, []

    def first_the_other_init(path, config):   # kor's init, between its table check and its node.yaml
        if config["party"] == "KOR" and not raced:
            raced.append(True)
            Node.init(tmp_path / "jpn", "JPN", clock, store=url).close()
        write_config(path, config)

    monkeypatch.setattr(node_module, "_write_config", first_the_other_init)
    with pytest.raises(ConfigError, match=r"this node is KOR .* is JPN's"):
        Node.init(tmp_path / "kor", "KOR", clock, store=url)
    assert raced and not (tmp_path / "kor").exists()
    jpn = Node.open(tmp_path / "jpn", clock)
    try:
        assert jpn.party == "JPN"
    finally:
        jpn.close()


NEWEST = "SELECT id, json FROM items WHERE 1=1 ORDER BY created DESC, id DESC LIMIT 20"  # Node.items(newest=20)


def test_the_newest_items_are_read_from_an_index_not_a_sort_of_every_item(tmp_path, clock):
    """``Node.items(newest=N)`` (the console's overview, for every page load) sorted every item the
    node ever stored to find the newest: its cost grew with the node's history (~0.2 s CPU for
    the 20 newest at 200,000 items, under the node's lock). An index on (created, id) gives
    them in order."""
    from accord.store.base import SQLITE, dialect_of, transaction

    node = Node.init(tmp_path / "jpn", "JPN", clock)
    try:
        for k in range(30):
            node.put_item(new_item("warning.track", {"t": float(k)}, Marking.parse("SECRET"), "JPN",
                                   clock.now() + timedelta(seconds=k)))
        if dialect_of(node.conn) == SQLITE:
            plan = [str(r[-1]) for r in node.conn.execute("EXPLAIN QUERY PLAN " + NEWEST).fetchall()]
            assert not any("TEMP B-TREE" in step for step in plan), plan
        else:  # on 30 rows the planner would rather sort them: forbid sorting, as on a large table
            with node.write_lock, transaction(node.conn):
                node.conn.execute("SET LOCAL enable_sort = off")
                plan = [str(r[0]) for r in node.conn.execute("EXPLAIN " + NEWEST).fetchall()]
            assert not any("Sort" in step for step in plan), plan
        assert [i.body["t"] for i in node.items(newest=3)] == [27.0, 28.0, 29.0]
    finally:
        node.close()
