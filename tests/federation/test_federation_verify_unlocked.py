"""Receiving a batch verifies its Ed25519 signatures *before* taking the node's write lock.

The node's other writers (TAXII adds, refusal records, dialogue …) share its one SQLite
connection and its write lock; they must not wait for up to 10,000 signature checks. What a batch
does — receipts, codes, reasons, stored rows, ledger events — must be exactly what it did when
everything was verified under the lock: the differential tests below run each batch twice from
the same node state, once as now and once down the all-under-the-lock path (the one taken when a
partner key changes between the pre-check and the lock), and compare everything.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accord.federation.inbox as inbox
from accord.clock import ManualClock
from accord.core.envelopes import Envelope, seal
from accord.core.identity import Identity
from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.federation import receive_batch
from accord.federation.schema import write_lock
from accord.node import Node

from federation_harness import make_nodes, note

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BANNER = "RESTRICTED//REL TO JPN, KOR, USA"


def _pool(jpn: Node, first: dict, usa: Identity) -> dict[str, object]:
    """Envelopes from JPN to KOR (whose last accepted JPN number is 2) of every kind of outcome."""
    def env(item, seq, *, to="KOR", when=NOW, identity=None):
        return seal(item, to, seq, identity or jpn.identity, when).to_json()

    forged = env(note(jpn, 30), 3)
    forged["item"]["body"] = {"n": 666}                          # altered in transit
    stray = new_item("test.note", {"n": 1}, Marking.parse(BANNER), "KOR", NOW).to_json()
    wrong_orig = Envelope("JPN", "KOR", 3, NOW, stray, b"")   # item from KOR inside JPN's envelope
    wrong_orig = Envelope("JPN", "KOR", 3, NOW, stray, jpn.identity.sign(wrong_orig.signing_bytes())).to_json()
    held = Marking.parse(BANNER)
    conflicting = new_item("test.note", {"n": 999}, held, "JPN", NOW).to_json()
    conflicting["id"] = first["item"]["id"]                      # same id as #1's item, other content
    conflict = Envelope("JPN", "KOR", 3, NOW, conflicting, b"")
    conflict = Envelope("JPN", "KOR", 3, NOW, conflicting, jpn.identity.sign(conflict.signing_bytes())).to_json()
    retraction = new_item(inbox.RETRACTION_KIND, {"retracts": "KOR:x", "reason": "r"}, held, "JPN", NOW)
    return {
        "dup1": first,                                           # same bytes as #1: idempotent
        "replay1": env(note(jpn, 10), 1),                         # #1 again, other content
        "good3": env(note(jpn, 3), 3), "good4": env(note(jpn, 4), 4), "good5": env(note(jpn, 5), 5),
        "forged3": forged,
        "forged4": {**env(note(jpn, 41), 4), "signature": env(note(jpn, 42), 4)["signature"]},
        "impostor3": env(note(jpn, 31), 3, identity=Identity.generate("JPN")),
        "expired3": env(note(jpn, 32), 3, when=NOW - timedelta(days=8)),
        "future3": env(note(jpn, 33), 3, when=NOW + timedelta(hours=1)),
        "elsewhere3": env(note(jpn, 34), 3, to="USA"),
        "gap9": env(note(jpn, 9), 9),
        "usa1": seal(new_item("test.note", {}, held, "USA", NOW), "KOR", 1, usa, NOW).to_json(),
        "malformed": {"format": "accord-envelope/0"},
        "not_an_object": 5,
        "denied3": env(note(jpn, 35, kind="other.note"), 3),      # no agreement covers other.*
        "secret3": env(note(jpn, 36, banner="TOP SECRET//REL TO JPN, KOR"), 3),
        "conflict3": conflict,
        "same_item3": env(Item.from_json(first["item"]), 3),       # #1's item in a new envelope
        "bad_retraction3": env(retraction, 3),
        "wrong_orig3": wrong_orig,
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """JPN and KOR (KOR has JPN's #1 and #2), closed; the pool of envelopes to mix into batches."""
    root = tmp_path_factory.mktemp("unlocked")
    nodes = make_nodes(root, ("JPN", "KOR"), clock=ManualClock(NOW))
    jpn, kor = nodes["JPN"], nodes["KOR"]
    first = seal(note(jpn, 1), "KOR", 1, jpn.identity, NOW).to_json()
    ack = receive_batch(kor, [first, seal(note(jpn, 2), "KOR", 2, jpn.identity, NOW).to_json()], sender="JPN")
    assert [r.status for r in ack.receipts] == ["stored", "stored"]
    pool = _pool(jpn, first, Identity.generate("USA"))
    for n in nodes.values():
        n.close()
    return root / "KOR", pool


def _copy(src: Path, dst: Path) -> Node:
    shutil.copytree(src, dst)
    return Node.open(dst, clock=ManualClock(NOW))


def _state(node: Node) -> dict[str, list]:
    """Everything a batch may write: federation tables, items and the ledger."""
    out = {}
    for table in ("fed_inbox", "fed_received", "fed_rejections", "fed_retractions", "items"):
        out[table] = [tuple(r) for r in node.conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    out["ledger"] = [tuple(r) for r in node.conn.execute("SELECT * FROM ledger_leaves ORDER BY idx")]
    return out


def _run_both(kor_dir: Path, batch: list, sender: str | None, monkeypatch) -> tuple:
    """The batch applied as now and down the verify-everything-under-the-lock path, from the
    same node state: (ack now, ack locked, state now, state locked)."""
    with tempfile.TemporaryDirectory() as tmp:
        now_node, locked_node = _copy(kor_dir, Path(tmp) / "a"), _copy(kor_dir, Path(tmp) / "b")
        try:
            ack = receive_batch(now_node, batch, sender=sender)
            state = _state(now_node)
            with monkeypatch.context() as m:
                # (getattr: these tests also run against the code before this change, which
                # verified everything under the lock and has no _key_bytes)
                real, calls = getattr(inbox, "_key_bytes", dict), [0]

                def keys_changed(keys):  # the second look (under the lock) sees other keys
                    calls[0] += 1
                    got = real(keys)
                    return got if calls[0] == 1 else {**got, "ZZZ": b"changed"}

                m.setattr(inbox, "_key_bytes", keys_changed, raising=False)
                locked_ack = receive_batch(locked_node, batch, sender=sender)
            return ack, locked_ack, state, _state(locked_node)
        finally:
            now_node.close()
            locked_node.close()


def test_the_write_lock_is_free_while_a_batch_is_being_verified(base, tmp_path, monkeypatch):
    kor_dir, pool = base
    kor = _copy(kor_dir, tmp_path / "KOR")
    entered, release = threading.Event(), threading.Event()
    real, calls = inbox.authenticate, []

    def slow_verify(*args, **kwargs):  # the first signature check takes as long as we say
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            entered.set()
            release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox, "authenticate", slow_verify)
    batch = [pool["good3"], pool["good4"], pool["good5"]]
    result: dict[str, object] = {}

    def receive():
        try:
            result["ack"] = receive_batch(kor, batch, sender="JPN")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=receive, name="receiver")
    worker.start()
    try:
        assert entered.wait(30), "the batch never reached signature verification"
        got = []

        def other_writer():  # e.g. a TAXII add on the API's side
            lock = write_lock(kor)
            if lock.acquire(timeout=3):
                got.append(True)
                lock.release()

        other = threading.Thread(target=other_writer)
        other.start()
        other.join(10)
        assert got == [True], "another writer could not take the node's write lock during verification"
    finally:
        release.set()
        worker.join(30)
    try:
        assert "error" not in result, result.get("error")
        ack = result["ack"]
        assert [(r.seq, r.status, r.consumed) for r in ack.receipts] == [(3, "stored", True), (4, "stored", True),
                                                                          (5, "stored", True)]
        assert ack.next_seq == 6
        assert set(calls) == {"receiver"} and len(calls) == 3  # each envelope verified once
        assert [r[0] for r in kor.conn.execute("SELECT seq FROM fed_received WHERE originator='JPN' "
                                               "ORDER BY seq")] == [1, 2, 3, 4, 5]
        events = [r[0] for r in kor.conn.execute("SELECT type FROM ledger_leaves ORDER BY idx")]
        assert events.count("item.received") == 5
    finally:
        kor.close()


def test_a_forged_envelope_among_good_ones_gets_the_same_receipts(base, monkeypatch):
    kor_dir, pool = base
    batch = [pool["good3"], pool["forged4"], pool["good5"], pool["good4"], pool["dup1"], pool["replay1"]]
    ack, locked_ack, state, locked_state = _run_both(kor_dir, batch, "JPN", monkeypatch)
    got = [(r.seq, r.status, r.code, r.consumed) for r in ack.receipts]
    assert got == [(3, "stored", None, True), (4, "rejected", "forged", False),
                   (5, "rejected", "sequence_gap", False), (4, "stored", None, True),
                   (1, "duplicate", None, True), (1, "rejected", "replay", False)]
    assert "signature does not verify" in ack.receipts[1].reason
    assert ack.receipts[2].reason == ("envelope JPN→KOR #5 is beyond the out-of-order window of 1 after #3 "
                                      "(expected '<= 4', got 5)")
    assert ack.receipts[5].reason == ("envelope JPN→KOR #1 replayed: sequence already accepted up to 4 "
                                      "(expected '> 4', got 1)")
    assert ack.next_seq == 5
    assert ack == locked_ack and state == locked_state


def test_a_key_re_pinned_after_the_pre_check_is_what_counts(base, tmp_path, monkeypatch):
    """An envelope verified against a key that is no longer pinned when the lock is taken is
    refused: the pre-check is thrown away and the batch verified against the keys in force."""
    kor_dir, pool = base
    kor = _copy(kor_dir, tmp_path / "KOR")
    try:
        impostor = Identity.generate("JPN")
        real = inbox._pre_verify

        def pre_verify_then_repin(*args, **kwargs):  # the operator re-pins JPN meanwhile
            out = real(*args, **kwargs)
            kor.add_partner("JPN", impostor.public_b64, replace=True)
            return out

        monkeypatch.setattr(inbox, "_pre_verify", pre_verify_then_repin)
        ack = receive_batch(kor, [pool["good3"]], sender="JPN")
        assert [(r.status, r.code, r.consumed) for r in ack.receipts] == [("rejected", "forged", False)]
        assert impostor.fingerprint in ack.receipts[0].reason
        assert kor.conn.execute("SELECT count(*) FROM fed_received WHERE seq = 3").fetchone()[0] == 0
    finally:
        kor.close()


NAMES = ["dup1", "replay1", "good3", "good4", "good5", "forged3", "forged4", "impostor3", "expired3", "future3",
         "elsewhere3", "gap9", "usa1", "malformed", "not_an_object", "denied3", "secret3", "conflict3",
         "same_item3", "bad_retraction3", "wrong_orig3"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=10), st.sampled_from(["JPN", None]))
def test_any_batch_gives_what_verifying_under_the_lock_gave(base, monkeypatch, names, sender):
    kor_dir, pool = base
    ack, locked_ack, state, locked_state = _run_both(kor_dir, [pool[n] for n in names], sender, monkeypatch)
    assert ack == locked_ack
    assert state == locked_state


def test_the_pool_covers_every_outcome(base, monkeypatch):
    """The differential test above is only as good as its pool: one batch of each envelope alone
    reaches every code the inbox gives."""
    kor_dir, pool = base
    codes = set()
    for name in NAMES:
        ack, locked_ack, state, locked_state = _run_both(kor_dir, [pool[name]], None if name == "usa1" else "JPN",
                                                         monkeypatch)
        assert ack == locked_ack and state == locked_state, name
        codes.add(ack.receipts[0].code or ack.receipts[0].status)
    ack, *_ = _run_both(kor_dir, [pool["usa1"]], "JPN", monkeypatch)
    codes.add(ack.receipts[0].code)
    assert codes >= {"duplicate", "replay", "stored", "forged", "expired", "wrong_recipient", "sequence_gap",
                     "unknown_key", "malformed", "policy_denied", "conflict", "bad_retraction", "wrong_party"}


def test_a_resent_batch_is_answered_without_checking_signatures_again(base, tmp_path, monkeypatch):
    """A lost acknowledgement makes the sender send the batch again: its numbers are accepted
    already, so the inbox answers from what it recorded, verifying nothing (the pre-check skips
    numbers accepted before the batch, as verifying under the lock did)."""
    import accord.core.envelopes as envelopes

    kor_dir, pool = base
    kor = _copy(kor_dir, tmp_path / "KOR")
    try:
        batch = [pool["good3"], pool["good4"], pool["good5"]]
        assert [r.status for r in receive_batch(kor, batch, sender="JPN").receipts] == ["stored"] * 3
        real, calls = envelopes.verify_fast, [0]

        def counting(*args, **kwargs):
            calls[0] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(envelopes, "verify_fast", counting)
        again = receive_batch(kor, [pool["dup1"], *batch], sender="JPN")
        assert [r.status for r in again.receipts] == ["duplicate"] * 4
        assert calls[0] == 0
        assert [r.status for r in receive_batch(kor, [pool["gap9"]], sender="JPN").receipts] == ["rejected"]
        assert calls[0] == 1  # a number not accepted yet is still verified (once)
    finally:
        kor.close()


def test_a_failure_that_is_not_a_refusal_is_not_turned_into_one(base, tmp_path, monkeypatch):
    """Verifying can fail with something other than a refusal (a RecursionError canonicalising a
    deeply nested item, say). Where that falls in the order of checks is unknown, so the envelope
    is verified under the lock as before and the failure propagates as it did there: it is never
    recorded as the replay or gap refusal of an envelope whose signature was never checked."""
    import accord.core.envelopes as envelopes

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    kor_dir, pool = base
    for name in ("replay1", "gap9", "good3"):
        kor = _copy(kor_dir, tmp_path / name)
        try:
            before = _state(kor)
            with monkeypatch.context() as m:
                m.setattr(envelopes, "verify_fast", broken)
                with pytest.raises(RecursionError):
                    receive_batch(kor, [pool[name]], sender="JPN")
            assert _state(kor) == before, name
        finally:
            kor.close()
