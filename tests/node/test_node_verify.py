"""`accord ledger verify` covers the node, not only the ledger tables: SQLite's integrity check,
every stored item against the digest its ledger entry recorded, agreements and the dialogue
index. Each tampering below passes `--quick` (the ledger alone) and fails the full check,
which names what is wrong and where."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.dialogue.store import DialogueStore
from accord.errors import NodeIntegrityError
from accord.node import Node
from accord.node.verify import verify_node

T0 = datetime(2026, 3, 1, tzinfo=UTC)
runner = CliRunner()
PINS = 1  # the jpn fixture's ledger: its pin of KOR (partner.added), then one agreement, then three items
SIZE = PINS + 1 + 3


@pytest.fixture
def jpn(tmp_path):
    clock = ManualClock(T0)
    node = Node.init(tmp_path / "jpn", party="JPN", clock=clock)
    kor = Node.init(tmp_path / "kor", party="KOR", clock=clock)
    node.add_partner("KOR", kor.identity.public_b64)
    ag = new_agreement("jk", ["JPN", "KOR"], {"JPN": node.identity.public_key, "KOR": kor.identity.public_key},
                       [("JPN", "KOR", ["test.*"], "SECRET")], T0 - timedelta(days=1), T0 + timedelta(days=9))
    node.add_agreement(sign_agreement(sign_agreement(ag, node.identity), kor.identity))
    kor.close()
    for n in range(3):
        node.put_item(new_item("test.note", {"text": f"note-{n}-marker"}, Marking.parse("SECRET//REL TO JPN, KOR"),
                               "JPN", clock.now()))
    yield node
    node.close()


def _item_id(node, n):
    return next(i.id for i in node.items() if i.body["text"] == f"note-{n}-marker")


def _problems(node):
    node.ledger.verify()  # the ledger alone (--quick) sees nothing wrong …
    with pytest.raises(NodeIntegrityError) as err:  # … the full check does
        verify_node(node)
    assert "\n" not in str(err.value)
    return [str(p) for p in err.value.problems]


def test_an_untouched_node_verifies_and_says_what_it_checked(jpn):
    result = verify_node(jpn)
    assert result.head.size == jpn.ledger.size == SIZE
    assert result.checked == {"items": 3, "agreements": 1, "dialogue versions": 0, "received intel objects": 0,
                              "queued envelopes": 0}


def test_every_check_reads_one_snapshot_while_another_process_writes(jpn, tmp_path):
    """An item and its ledger entry written by another connection in the middle of the check
    (here: once the log is verified) are seen by no part of it, so nothing disagrees."""
    other = Node.open(tmp_path / "jpn")

    def write_meanwhile(done, total):
        if done == total and other.ledger.size == SIZE:
            other.put_item(new_item("test.note", {"text": "meanwhile"}, Marking.parse("UNCLASSIFIED"), "JPN", T0))

    result = verify_node(jpn, progress=write_meanwhile)
    assert other.ledger.size == SIZE + 1
    assert (result.head.size, result.checked["items"]) == (SIZE, 3)
    assert verify_node(jpn).checked["items"] == 4
    other.close()


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_an_item_body_edited_with_raw_sql_is_named(jpn):
    item_id = _item_id(jpn, 1)
    jpn.conn.execute("UPDATE items SET json = replace(json, 'note-1-marker', 'note-1-MARKER') WHERE id = ?",
                     (item_id,))
    jpn.conn.commit()
    problems = _problems(jpn)
    assert any(p.startswith(f"item {item_id}: stored JSON hashes to") and "digest column" in p for p in problems)
    assert any(p.startswith(f"item {item_id}:") and "but ledger entry" in p for p in problems)
    assert all(item_id in p for p in problems)


def test_an_item_edited_together_with_its_digest_column_is_caught_by_the_ledger(jpn):
    import hashlib

    from accord.core.canonical import canonical_json

    item = jpn.get_item(_item_id(jpn, 2))
    forged = {**item.to_json(), "body": {"text": "forged"}}
    blob = canonical_json(forged)
    jpn.conn.execute("UPDATE items SET json = ?, digest = ? WHERE id = ?",
                     (blob, hashlib.sha256(blob).hexdigest(), item.id))
    jpn.conn.commit()
    problems = _problems(jpn)
    assert len(problems) == 1 and problems[0].startswith(f"item {item.id}:") and "ledger entry" in problems[0]


def test_a_deleted_item_row_and_an_edited_column_are_named(jpn):
    gone, other = _item_id(jpn, 0), _item_id(jpn, 1)
    jpn.conn.execute("DELETE FROM items WHERE id = ?", (gone,))
    jpn.conn.execute("UPDATE items SET classification = 0 WHERE id = ?", (other,))
    jpn.conn.commit()
    problems = _problems(jpn)
    first_item = PINS + 1  # after the pin and the agreement
    assert f"item {gone}: recorded by ledger entry {first_item} but not stored (the row was deleted)" in problems
    assert any(p.startswith(f"item {other}: column(s) classification=0 disagree") for p in problems)


def test_an_edited_agreement_is_named(jpn):
    text = jpn.conn.execute("SELECT yaml FROM agreements").fetchone()[0]
    jpn.conn.execute("UPDATE agreements SET yaml = ?", (text.replace("SECRET", "TOP_SECRET"),))
    jpn.conn.commit()
    problems = _problems(jpn)
    assert problems and all(p.startswith("agreement jk:") for p in problems)


def test_an_edited_dialogue_index_row_is_named(jpn):
    store = DialogueStore(jpn)
    store.create_series({"id": "S1", "title": "Talks", "parties": ["JPN", "KOR"], "level": "working-level",
                         "cadence_months": 6, "first_meeting": "2026-04-01", "host_rotation": ["JPN", "KOR"],
                         "venues": {"JPN": "Tokyo", "KOR": "Seoul"}}, share=False)
    assert verify_node(jpn).checked["dialogue versions"] == 1
    jpn.conn.execute("UPDATE dialogue_versions SET body = replace(body, 'Talks', 'Other talks')")
    jpn.conn.commit()
    assert _problems(jpn) == ["dialogue version S1 v1: the index row disagrees with the signed version in item "
                              f"{jpn.conn.execute('SELECT item_id FROM dialogue_versions').fetchone()[0]} "
                              "(the index was edited)"]


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_a_byte_flipped_in_an_item_in_the_database_file_is_named(jpn, tmp_path):
    item_id = _item_id(jpn, 2)
    jpn.close()  # the last connection checkpoints the WAL into accord.db
    db = tmp_path / "jpn" / "accord.db"
    assert not (tmp_path / "jpn" / "accord.db-wal").exists() or (tmp_path / "jpn" / "accord.db-wal").stat().st_size == 0
    raw = db.read_bytes()
    at = raw.index(b"note-2-marker")
    assert raw.count(b"note-2-marker") == 1
    _flip(db, at)
    with Node.open(tmp_path / "jpn") as node:
        problems = _problems(node)
    assert any(p.startswith(f"item {item_id}: stored JSON hashes to") for p in problems)


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_a_byte_flipped_in_a_btree_page_fails_sqlites_integrity_check(jpn, tmp_path):
    page_size = jpn.conn.execute("PRAGMA page_size").fetchone()[0]
    root = jpn.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items_by_kind'").fetchone()[0]
    jpn.close()
    db = tmp_path / "jpn" / "accord.db"
    _flip(db, (root - 1) * page_size + 4)  # the page's number of cells (b-tree page header, bytes 3–4)
    with Node.open(tmp_path / "jpn") as node:
        with pytest.raises(NodeIntegrityError) as err:
            verify_node(node)
    assert any(p.where == "sqlite" for p in err.value.problems), err.value.problems


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_any_flipped_bit_is_caught_in_an_item_and_never_crashes_elsewhere(jpn, tmp_path):
    """Seeded sweep: a bit flipped anywhere in accord.db either leaves the node verifying (free
    or unused space) or fails with an Accord error — never a traceback; a bit flipped inside a
    stored item's JSON is always caught and names that item."""
    import random
    import shutil

    from accord.errors import AccordError

    item_id = _item_id(jpn, 0)
    jpn.close()
    src = tmp_path / "jpn"
    raw = (src / "accord.db").read_bytes()
    start = raw.index(b'{"body":{"text":"note-0-marker"')
    end = raw.index(b"}", raw.index(b'"originator":"JPN"', start))
    rnd = random.Random(16)
    offsets = [rnd.randrange(start, end + 1) for _ in range(8)] + [rnd.randrange(len(raw)) for _ in range(24)]
    for n, offset in enumerate(offsets):
        copy = tmp_path / f"c{n}"
        shutil.copytree(src, copy)
        data = bytearray(raw)
        data[offset] ^= 1 << rnd.randrange(8)
        (copy / "accord.db").write_bytes(bytes(data))
        try:
            with Node.open(copy) as node:
                verify_node(node)
            caught = None
        except AccordError as exc:
            caught = exc
        if n < 8:
            assert isinstance(caught, NodeIntegrityError) and any(p.where == f"item {item_id}"
                                                                 for p in caught.problems), (offset, caught)
        shutil.rmtree(copy)


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_cli_lists_every_problem_and_exits_non_zero_and_quick_checks_the_ledger_alone(jpn, tmp_path):
    item_id = _item_id(jpn, 1)
    jpn.conn.execute("UPDATE items SET json = replace(json, 'note-1-marker', 'note-1-MARKER') WHERE id = ?",
                     (item_id,))
    jpn.conn.commit()
    d = str(tmp_path / "jpn")
    quick = runner.invoke(app, ["ledger", "verify", "--dir", d, "--quick"])
    assert quick.exit_code == 0 and quick.stdout.startswith(f"ledger OK: {SIZE} entries")
    r = runner.invoke(app, ["ledger", "verify", "--dir", d, "--json"])
    assert isinstance(r.exception, NodeIntegrityError)
    out = json.loads(r.stdout)
    assert out["ok"] is False and {p["where"] for p in out["problems"]} == {f"item {item_id}"}
    proc = subprocess.run([sys.executable, "-m", "accord.cli.main", "ledger", "verify", "--dir", d],
                          capture_output=True, text=True)
    assert proc.returncode == NodeIntegrityError.exit_code != 0
    assert f"FAIL item {item_id}: stored JSON hashes to" in proc.stdout
    assert proc.stderr.startswith("error: node verification failed, 2 problem(s): item ")  # piped: no progress bar and "Traceback" not in proc.stderr


@pytest.mark.sqlite_only  # SQLite's integrity check is part of what it says (PostgreSQL: docs/deployment.md)
def test_cli_on_an_untouched_node_says_what_it_checked(jpn, tmp_path):
    r = runner.invoke(app, ["ledger", "verify", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0, r.output
    assert ("database OK: SQLite integrity check passed; stored rows match their ledger entries (items 3, "
            "agreements 1, dialogue versions 0, received intel objects 0, queued envelopes 0)") in r.stdout
    sqlite3.connect(tmp_path / "jpn" / "accord.db").close()


def test_queued_envelopes_are_checked_against_their_item_shared_entries(jpn):
    from accord import federation

    item = jpn.items()[0]
    federation.share(jpn, item, "KOR")
    federation.share(jpn, jpn.items()[1], "KOR")
    assert verify_node(jpn).checked["queued envelopes"] == 2
    blob = bytes(jpn.conn.execute("SELECT envelope FROM fed_outbox WHERE seq = 1").fetchone()[0])
    # a body altered inside a queued envelope (its signature no longer verifies) …
    altered = blob.replace(item.body["text"].encode(), b"altered-marker")
    jpn.conn.execute("UPDATE fed_outbox SET envelope = ? WHERE seq = 1", (altered,))
    # … and an envelope slipped into the queue under a number no ledger entry records
    jpn.conn.execute("INSERT INTO fed_outbox(recipient, seq, item_id, kind, envelope, queued) "
                     "SELECT recipient, 7, ?, kind, envelope, queued FROM fed_outbox WHERE seq = 2",
                     (jpn.items()[2].id,))
    jpn.conn.commit()
    problems = _problems(jpn)
    assert problems == [
        "queued envelope to KOR #1: its signature or addressing does not verify under this node's key "
        "(the envelope was altered)",
        "queued envelope to KOR #7: no item.shared ledger entry records it (slipped into the queue)",
        "queued envelope to KOR #7: its signature or addressing does not verify under this node's key "
        "(the envelope was altered)"]


def test_a_pending_receipt_count_that_is_not_its_rows_is_named_with_both_numbers(jpn, tmp_path):
    """``fed_partner_state.receipts_pending`` is the count the cap on waiting receipt checks reads
    instead of counting the rows; nothing compared it with them."""
    from accord import federation
    from accord.federation import Receipt, receipts
    from accord.store.base import transaction

    sent = [federation.share(jpn, item, "KOR") for item in jpn.items()[:2]]
    with jpn.write_lock, transaction(jpn.conn):
        receipts.record(jpn.conn, "KOR", tuple(Receipt("JPN", s.seq, s.item_id, "stored", consumed=True,
                                                       ledger_index=40 + s.seq) for s in sent), "2026-03-01T00:00:00Z")
    verify_node(jpn)                                    # the count is its rows: nothing to say
    jpn.conn.execute("UPDATE fed_partner_state SET receipts_pending = 7 WHERE party = 'KOR'")
    jpn.conn.commit()
    line = ("partner KOR: fed_partner_state.receipts_pending is 7, but fed_receipt_checks holds 2 row(s) for it "
            "(the cap on waiting receipt checks reads the count)")
    assert _problems(jpn) == [line]
    r = runner.invoke(app, ["ledger", "verify", "--dir", str(tmp_path / "jpn")])
    assert isinstance(r.exception, NodeIntegrityError) and f"FAIL {line}\n" in r.stdout
