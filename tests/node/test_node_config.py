"""node.yaml edited by hand: a misspelt key is refused in one line naming it, never ignored
(a typo'd ``partners:`` would unpin every partner; a typo'd ``to:`` in a sharing rule would
widen the rule to every partner). And node.yaml rewritten by a pin change that is killed, or
meets a full disk, before its transaction commits."""

import os
from datetime import UTC, datetime

import pytest

from accord.clock import ManualClock
from accord.errors import ConfigError
from accord.federation.outbox import unpinned_config_rules
from accord.node import Node


@pytest.fixture
def jpn(tmp_path):
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    kor = Node.init(tmp_path / "kor", "KOR", clock)
    node = Node.init(tmp_path / "jpn", "JPN", clock)
    node.add_partner("KOR", kor.identity.public_b64, "https://kor.example")
    kor.close()
    node.close()
    return tmp_path / "jpn"


def edit(directory, old, new):
    path = directory / "node.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new, match", [
    ("partners:", "partnres:", r"node.yaml: unknown key 'partnres' \(did you mean 'partners'\?\)"),
    ("    url:", "    ulr:", r"node.yaml: partners.KOR: unknown key 'ulr' \(did you mean 'url'\?\)"),
])
def test_a_misspelt_key_is_refused_naming_it(jpn, old, new, match):
    edit(jpn, old, new)
    with pytest.raises(ConfigError, match=match):
        Node.open(jpn)


def test_every_documented_section_is_accepted(jpn):
    with open(jpn / "node.yaml", "a") as f:
        f.write("sharing:\n  - {kinds: warning.track, to: KOR}\nalerts:\n  margin_m: 5000\n")
    node = Node.open(jpn)
    try:
        assert "KOR" in node.partners()
    finally:
        node.close()


def test_a_sharing_rule_with_a_misspelt_key_is_refused_not_widened(jpn):
    with open(jpn / "node.yaml", "a") as f:
        f.write("sharing:\n  - {kinds: warning.track, too: KOR}\n")
    with pytest.raises(ConfigError, match=r"node.yaml: sharing\[0\]: unknown key 'too' \(did you mean 'to'\?\)"):
        Node.open(jpn)
    (jpn / "node.yaml").write_text((jpn / "node.yaml").read_text().replace("too:", "to:"))
    node = Node.open(jpn)
    try:
        assert unpinned_config_rules(node) == []
    finally:
        node.close()


def test_two_processes_pinning_at_once_keep_both_pins(tmp_path, monkeypatch):
    """``accord node partner add`` run twice at once (two processes: two connections) lost one
    pin from node.yaml — each read the file, then rewrote it with its own pin only — while the
    ledger recorded both. The file is now read under the database's write lock: B reads it only
    once A's pin is in it."""
    import threading

    from accord.node import node as node_module

    clock, keys, a, b = _jpn_opened_twice(tmp_path)
    b_read, b_thread = threading.Event(), None
    read_config, write_config = node_module._read_config, node_module._write_config

    def reading(path):
        if threading.current_thread() is b_thread:
            b_read.set()
        return read_config(path)

    def writing(path, config):
        nonlocal b_thread
        if b_thread is None:  # A, about to write: B pins meanwhile, as far as it can get
            b_thread = threading.Thread(target=b.add_partner, args=("USA", keys["USA"]))
            b_thread.start()
            b_read.wait(1)  # B reads node.yaml at once if nothing holds it back
        write_config(path, config)

    monkeypatch.setattr(node_module, "_read_config", reading)
    monkeypatch.setattr(node_module, "_write_config", writing)
    try:
        a.add_partner("KOR", keys["KOR"])
        b_thread.join(60)
        monkeypatch.undo()
        with Node.open(tmp_path / "jpn", clock) as reopened:
            assert sorted(reopened.partners()) == ["KOR", "USA"]
            assert [e.data["party"] for e in reopened.ledger.entries() if e.type == "partner.added"] == ["KOR", "USA"]
    finally:
        a.close()
        b.close()


def test_an_unquoted_star_says_to_quote_it(jpn):
    """``to: *`` (every partner, as ``node rule add --to '*'`` takes it) is YAML's alias marker
    unquoted: the refusal was PyYAML's "expected alphabetic or numeric character, but found '}'"."""
    star_line = len((jpn / "node.yaml").read_text().splitlines()) + 2  # PostgreSQL: one line more (store:)
    with open(jpn / "node.yaml", "a") as f:
        f.write("sharing:\n  - {kinds: warning.track, to: *}\n")
    with pytest.raises(ConfigError, match=rf'line {star_line}: not valid YAML: a \* must be quoted \("\*"\): unquoted, it '
                                          r"starts a YAML alias"):
        Node.open(jpn)


def test_a_pin_written_just_after_this_one_is_seen(tmp_path, monkeypatch):
    """Another process pinning between this one's commit and its next look at node.yaml: the
    file that node.yaml then is was taken for this process's own (its stamp recorded after the
    write lock was released), so the other pin went unseen until node.yaml changed again."""
    from accord.node import node as node_module

    clock, keys, a, b = _jpn_opened_twice(tmp_path)
    write_config = node_module._write_config

    def writing(path, config):
        write_config(path, config)
        if "USA" not in config["partners"]:  # A's write: B pins USA once A's write lock is released
            a.write_lock.after_release(lambda: b.add_partner("USA", keys["USA"]))

    monkeypatch.setattr(node_module, "_write_config", writing)
    try:
        a.add_partner("KOR", keys["KOR"])
        assert sorted(b.partners()) == ["KOR", "USA"]
        assert sorted(a.partners()) == ["KOR", "USA"]
    finally:
        a.close()
        b.close()


def _jpn_opened_twice(tmp_path):
    """KOR's and USA's keys, and JPN's node opened twice (two processes' ``Node`` on one
    directory), on one manual clock: ``(clock, keys, a, b)``."""
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    keys = {}
    for party in ("KOR", "USA"):
        other = Node.init(tmp_path / party.lower(), party, clock)
        keys[party] = other.identity.public_b64
        other.close()
    Node.init(tmp_path / "jpn", "JPN", clock).close()
    return clock, keys, Node.open(tmp_path / "jpn", clock), Node.open(tmp_path / "jpn", clock)


KILLED_PIN = """
import os, signal, sys
import accord.node.node as nn

def written(*a, **k):
    write(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)   # node.yaml replaced, the transaction not committed

write, nn._write_config = nn._write_config, written
node = nn.Node.open(sys.argv[1])
node.add_partner("USA", sys.argv[2], url=sys.argv[3] or None, replace=True)
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
@pytest.mark.parametrize("change", ["new party", "key replaced"])
def test_a_pin_killed_before_its_commit_is_not_in_force_without_its_ledger_entry(tmp_path, backend, change,
                                                                                  request):
    """``kill -9`` (or a full disk at the commit) of ``node partner add`` after it replaced
    ``node.yaml`` but before its transaction committed: the key was pinned — a partner's key
    replaced — with no ``partner.added`` in the ledger, ``ledger verify`` content, and pinning it
    again appended nothing (node.yaml already said so). Now the pin is not in force, and
    pinning it again is ledgered."""
    import subprocess
    import sys

    store = request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    usa = [Node.init(tmp_path / f"usa{i}", "USA", clock) for i in range(2)]
    keys = [n.identity.public_b64 for n in usa]
    for n in usa:
        n.close()
    node = Node.init(tmp_path / "jpn", "JPN", clock, store=store)
    if change == "key replaced":
        node.add_partner("USA", keys[0])
    before = dict(node.partners())
    entries = node.ledger.size
    node.close()
    r = subprocess.run([sys.executable, "-c", KILLED_PIN, str(tmp_path / "jpn"), keys[1], ""],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr
    node = Node.open(tmp_path / "jpn", clock)
    try:
        assert node.ledger.size == entries
        assert node.partners() == before, "a pin in force that the ledger does not record"
        node.add_partner("USA", keys[1], replace=True)   # the same command again
        assert node.ledger.size == entries + 1
        assert node.ledger.entry(entries).type == "partner.added"
        assert node.partners()["USA"].public_key_b64 == keys[1]
    finally:
        node.close()
    assert not (tmp_path / "jpn" / "node.yaml.undo").exists()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_plain_http_accepted_by_a_killed_pin_change_is_not_in_force_without_its_ledger_entry(tmp_path, backend,
                                                                                             request):
    """``node partner add --insecure`` for a pin whose key and URL stay as they are, only its
    ``insecure`` turned on again (an operator had taken it out of ``node.yaml``), killed after it
    replaced ``node.yaml`` but before its transaction committed: the recovery compared only keys
    and URLs with the ``partners`` table, so it kept plain HTTP off loopback accepted with no
    ``insecure.http`` in the ledger. Now node.yaml goes back, and accepting it again is ledgered."""
    import subprocess
    import sys

    store = request.getfixturevalue("pg_schemas").make() if backend == "postgresql" else None
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    usa = Node.init(tmp_path / "usa", "USA", clock)
    key = usa.identity.public_b64
    usa.close()
    url = "http://10.0.0.5:8000"
    node = Node.init(tmp_path / "jpn", "JPN", clock, store=store)
    node.add_partner("USA", key, url, insecure=True)
    node.close()
    edit(tmp_path / "jpn", "    insecure: true\n", "")   # plain HTTP to USA no longer accepted
    node = Node.open(tmp_path / "jpn", clock)
    assert node.partners()["USA"].insecure is False
    entries = node.ledger.size
    node.close()
    script = KILLED_PIN.replace("replace=True)", "replace=True, insecure=True)")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "jpn"), key, url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr
    node = Node.open(tmp_path / "jpn", clock)
    try:
        assert node.ledger.size == entries
        assert node.partners()["USA"].insecure is False, "plain HTTP accepted that the ledger does not record"
        node.add_partner("USA", key, url, insecure=True)   # the same command again
        assert node.ledger.size == entries + 1 and node.ledger.entry(entries).type == "insecure.http"
        assert node.partners()["USA"].insecure is True
    finally:
        node.close()
    assert not (tmp_path / "jpn" / "node.yaml.undo").exists()


def test_a_full_disk_while_pinning_leaves_node_yaml_and_the_ledger_as_they_were(jpn, monkeypatch):
    """ENOSPC while ``node.yaml`` is rewritten: the error named no file ("no space left on
    device"), and ``node.yaml.tmp`` was left behind."""
    import errno

    import accord.core.files as files

    class FullDisk:
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    usa = Node.init(jpn.parent / "usa", "USA")
    key = usa.identity.public_b64
    usa.close()
    before = (jpn / "node.yaml").read_bytes()
    node = Node.open(jpn)
    try:
        entries = node.ledger.size
        monkeypatch.setattr(files, "os", FullDisk())
        with pytest.raises(OSError) as raised:
            node.add_partner("USA", key)
        assert raised.value.errno == errno.ENOSPC and str(jpn) in str(raised.value.filename)
        monkeypatch.undo()
        assert (jpn / "node.yaml").read_bytes() == before
        assert sorted(p.name for p in jpn.iterdir() if p.name.endswith(".tmp")) == []
        assert node.ledger.size == entries and "USA" not in node.partners()
        node.add_partner("USA", key)   # space again
        assert "USA" in node.partners() and node.ledger.size == entries + 1
    finally:
        node.close()


@pytest.mark.sqlite_only  # makes the earlier schema by altering accord.db with sqlite3
def test_a_committed_pin_change_left_with_its_undo_copy_survives_the_upgrade_adding_insecure(tmp_path):
    """A node of the schema before ``partners.insecure`` (the column added reads 0 for every
    partner), opened with ``node.yaml.undo`` still there from a pin change that had committed
    (killed before the copy was removed) while another partner's plain HTTP is accepted: the
    recovery compared node.yaml's ``insecure: true`` with the column's 0, judged the change not
    committed and put node.yaml back — a pin the ledger records, gone."""
    import sqlite3

    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    keys = {}
    for party in ("USA", "KOR"):
        other = Node.init(tmp_path / party.lower(), party, clock)
        keys[party] = other.identity.public_b64
        other.close()
    node = Node.init(tmp_path / "jpn", "JPN", clock)
    node.add_partner("USA", keys["USA"], "http://10.0.0.5:8000", insecure=True)
    before = (tmp_path / "jpn" / "node.yaml").read_bytes()
    node.add_partner("KOR", keys["KOR"])   # committed: in the ledger and the partners table
    node.close()
    (tmp_path / "jpn" / "node.yaml.undo").write_bytes(before)   # its copy, left by a kill
    with sqlite3.connect(tmp_path / "jpn" / "accord.db") as db:   # as the earlier schema had it
        db.execute("ALTER TABLE partners DROP COLUMN insecure")
        db.execute("UPDATE schema_version SET version = 1 WHERE component = 'node'")
    db.close()
    node = Node.open(tmp_path / "jpn", clock)
    try:
        assert sorted(node.partners()) == ["KOR", "USA"]
        assert node.partners()["USA"].insecure is True
    finally:
        node.close()
    assert not (tmp_path / "jpn" / "node.yaml.undo").exists()
