"""C2SP signed notes, tlog-checkpoints and cosignatures, against the PUBLISHED examples.

Sources (copied verbatim):
* Go ``golang.org/x/mod/sumdb/note`` tests, https://go.googlesource.com/mod/+/refs/heads/master/sumdb/note/note_test.go
  (BSD-3-Clause, The Go Authors): the PeterNeumann / EnochRoot keys and signed texts.
* C2SP specs https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint and
  https://c2sp.org/tlog-cosignature (CC-BY-4.0): the example note, checkpoint and cosignature.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.core import merkle
from accord.core.checkpoint import (
    Checkpoint,
    NoteSignature,
    Verifier,
    cosign,
    cosigner_key,
    open_checkpoint,
    open_note,
    origin_for,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_consistency,
)
from accord.core.identity import Identity, verifier_key
from accord.errors import CheckpointError, ConsistencyProofError
from accord.store.ledger import Ledger
from accord.store.sqlite import connect

# --- golang.org/x/mod/sumdb/note/note_test.go -------------------------------------------------
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = ("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBw"
             "JnAM=\n")
ENOCH_SIG = ("— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+"
             "QQ=\n")

# --- C2SP examples ----------------------------------------------------------------------------
C2SP_NOTE = ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
             "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99"
             "ihAQwaqP3ZekRwNtIc=\n")
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+"
    "zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe"
    "+mbIUBkBIfZ+qnA==\n")


def _go_signer_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """Go's ``PRIVATE+KEY+name+hash+base64(0x01 || seed)`` signer key format (test helper)."""
    _, _, name, _, b64 = skey.split("+", 4)
    raw = base64.b64decode(b64)
    assert raw[0] == 0x01
    return name, Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_go_verifier_key_parses_and_matches_the_private_key():
    v = parse_verifier_key(PETER_VKEY)
    assert (v.name, v.key_hash.hex(), v.alg) == ("PeterNeumann", "c74f20a3", 0x01)
    name, key = _go_signer_key(PETER_SKEY)
    assert verifier_key(name, key.public_key()) == PETER_VKEY  # accord.core.identity agrees
    assert v.vkey() == PETER_VKEY


def test_go_verifier_key_manglings_are_rejected():
    """Every proper substring and every single-byte increment of the key must fail (as Go's test)."""
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(CheckpointError):
                    parse_verifier_key(b[i:j])
    for i in range(len(b)):
        mangled = b[:i] + chr(ord(b[i]) + 1) + b[i + 1:]
        with pytest.raises(CheckpointError):
            parse_verifier_key(mangled)
    with pytest.raises(CheckpointError, match="32 bytes"):  # wrong length key, with adjusted key hash
        parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(CheckpointError, match="unknown signature algorithm"):  # unknown alg, adjusted hash
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_go_sign_produces_the_published_signature_and_replaces_an_old_one():
    name, key = _go_signer_key(PETER_SKEY)
    want = TEXT + "\n" + PETER_SIG
    assert sign_note(TEXT, key, name) == want
    bad = NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), b"\x05\xd0\x1c\x88\x27")
    assert sign_note(TEXT, key, name, existing=[bad]) == want
    with pytest.raises(CheckpointError, match="newline"):
        sign_note("abc", key, name)
    with pytest.raises(CheckpointError, match="key name"):
        sign_note(TEXT, key, "a+b")


def test_go_open_one_verified_one_unknown():
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY])
    assert note.text == TEXT
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]


def test_go_open_both_verified():
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY])
    assert [(s.name, s.key_hash.hex()) for s in note.verified] == [("PeterNeumann", "c74f20a3"),
                                                                   ("EnochRoot", "af0cfe78")]


def test_go_open_with_no_known_key_fails():
    with pytest.raises(CheckpointError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_open_ambiguous_and_duplicate_verifiers():
    enoch = parse_verifier_key(ENOCH_VKEY)
    other = Verifier(enoch.name, enoch.key_hash, enoch.alg, bytes(32))  # same name+hash, other key
    with pytest.raises(CheckpointError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, PETER_VKEY, other])
    open_note(TEXT + "\n" + PETER_SIG, [enoch, PETER_VKEY, other])  # unused ambiguity is fine


def test_go_open_too_many_signatures_is_malformed():
    with pytest.raises(CheckpointError, match="more than 100"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [PETER_VKEY])


def test_go_open_invalid_signature_is_rejected():
    with pytest.raises(CheckpointError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [PETER_VKEY])


def test_go_open_duplicated_verified_and_unverified_signatures():
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = open_note(msg, [PETER_VKEY])
    assert [s.name for s in note.verified] == ["PeterNeumann"]


@pytest.mark.parametrize("msg", [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6"
                   "RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
], ids=["no-sigs", "blank-only", "no-final-newline", "control-char", "bad-utf8", "bad-name", "junk-line"])
def test_go_open_malformed_notes(msg):
    with pytest.raises(CheckpointError, match="malformed note"):
        open_note(msg, [PETER_VKEY])


def test_go_open_misnamed_or_rehashed_signature_is_not_accepted():
    with pytest.raises(CheckpointError, match="no verifiable"):
        open_note(TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), [PETER_VKEY])
    with pytest.raises(CheckpointError, match="no verifiable"):
        open_note(TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx"), [PETER_VKEY])


def test_c2sp_note_splits_at_the_last_blank_line():
    note = parse_note(C2SP_NOTE)
    assert note.text == "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    assert [s.name for s in note.signatures] == ["quasimodo.example/salvatore"]
    assert len(note.signatures[0].signature) == 64  # Ed25519
    with pytest.raises(CheckpointError, match="no verifiable"):  # unknown keys are ignored, not trusted
        open_note(C2SP_NOTE, [PETER_VKEY])


def test_c2sp_checkpoint_and_cosignature_example():
    note = parse_note(C2SP_CHECKPOINT)
    cp = Checkpoint.parse(note.text)
    assert (cp.origin, cp.size, base64.b64encode(cp.root_hash).decode()) == (
        "example.com/behind-the-sofa", 20852163, "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.text() == note.text
    log_sig, witness_sig = note.signatures
    assert log_sig.name == "example.com/behind-the-sofa" and len(log_sig.signature) == 64
    assert witness_sig.name == "witness.example.com/w1"
    assert witness_sig.timestamp == 1679315147  # the "time 1679315147" of the spec's signed message


# --- our own signing, checkpoints and cosigning -----------------------------------------------
def test_checkpoint_body_round_trips_and_rejects_malformed_bodies():
    cp = Checkpoint("accord.node/JPN/0123456789abcdef", 5, bytes(range(32)), ("ext line",))
    assert Checkpoint.parse(cp.text()) == cp
    root = base64.b64encode(bytes(32)).decode()
    for bad, why in [("o\n5\n", "origin, size and root"), ("o\n05\n" + root + "\n", "leading zeroes"),
                     ("o\n-1\n" + root + "\n", "decimal"), ("o\n5\nAAAA\n", "32 bytes"),
                     ("o\n5\n" + root, "newline"), ("o\n5\n" + root + "\n\n", "empty"),
                     ("\n5\n" + root + "\n", "origin is empty"), ("o\n5\n!!\n", "base64")]:
        with pytest.raises(CheckpointError, match=why):
            Checkpoint.parse(bad)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 2**64) | st.integers(0, 10**30))
@example(size=0).via("the empty tree")
@example(size=1).via("one entry")
@example(size=2**63 - 1).via("the largest a BIGINT holds")
@example(size=2**63).via("one past it: no store could keep the head")
@example(size=2**64 - 1).via("C2SP's uint64 maximum")
@example(size=10**4300 - 1).via("4,300 digits, the most int() reads")
@example(size=10**4300).via("4,301 digits: int() itself raised ValueError")
def test_a_checkpoint_size_parses_iff_a_signed_64_bit_index_holds_it(size):
    """A partner's checkpoint of 5,000 digits was a bare ValueError out of int(); one of 2**64
    parsed, and storing it as the partner's head was an OverflowError. Both are one line now."""
    root = base64.b64encode(bytes(32)).decode()
    digits = "1" + "0" * 4300 if size == 10**4300 else str(size)  # str() stops at 4,300 digits too
    if size <= 2**63 - 1:
        assert Checkpoint.parse(f"o\n{digits}\n{root}\n").size == size
        return
    with pytest.raises(CheckpointError) as exc:
        Checkpoint.parse(f"o\n{digits}\n{root}\n")
    assert "past 2**63-1" in str(exc.value) and len(str(exc.value)) < 200
    with pytest.raises(CheckpointError, match="from 0 to 2\\*\\*63-1") as exc:
        Checkpoint("o", size, bytes(32))
    assert len(str(exc.value)) < 200


@pytest.mark.parametrize("size", [-1, True, 1.0, "5"])
def test_a_checkpoint_size_of_another_type_is_refused(size):
    with pytest.raises(CheckpointError, match="tree size"):
        Checkpoint("o", size, bytes(32))


def test_origin_for_names_party_and_key():
    ident = Identity.generate("JPN")
    origin = origin_for("JPN", ident.public_key)
    assert origin == "accord.node/JPN/" + ident.fingerprint.removeprefix("SHA256:")[:16]
    assert verifier_key(origin, ident.public_key).startswith(origin + "+")
    with pytest.raises(CheckpointError, match="alpha-3"):
        origin_for("japan", ident.public_key)


def test_signed_checkpoint_fails_under_another_key_or_when_altered():
    ident, other = Identity.generate("JPN"), Identity.generate("JPN")
    cp = Checkpoint(origin_for("JPN", ident.public_key), 3, merkle.EMPTY_ROOT)
    signed = sign_checkpoint(cp, ident)
    assert open_checkpoint(signed, [verifier_key(cp.origin, ident.public_key)])[0] == cp
    # an impostor key under the same name has another key hash: ignored → nothing verifies
    with pytest.raises(CheckpointError, match="no verifiable"):
        open_checkpoint(signed, [verifier_key(cp.origin, other.public_key)])
    altered = signed.replace("\n3\n", "\n4\n")
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(altered, [verifier_key(cp.origin, ident.public_key)])
    with pytest.raises(CheckpointError, match="expected"):
        open_checkpoint(signed, [verifier_key(cp.origin, ident.public_key)], origin="accord.node/KOR/x")


def test_witness_cosignature_verifies_with_its_cosigner_key_and_carries_time():
    log, witness = Identity.generate("JPN"), Identity.generate("KOR")
    origin = origin_for("JPN", log.public_key)
    wname = origin_for("KOR", witness.public_key)
    signed = sign_checkpoint(Checkpoint(origin, 9, bytes(32)), log)
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cosigned = cosign(signed, witness, wname, time=when, log_verifiers=[verifier_key(origin, log.public_key)])
    note = open_note(cosigned, [verifier_key(origin, log.public_key), cosigner_key(wname, witness.public_key)])
    assert [s.name for s in note.verified] == [origin, wname]
    assert note.verified[1].timestamp == int(when.timestamp())
    # the witness signature alone verifies (a partner may trust only the witness)
    open_note(cosigned, [cosigner_key(wname, witness.public_key)])
    # the cosignature binds the checkpoint: moving it onto another head fails
    other = sign_checkpoint(Checkpoint(origin, 10, bytes(32)), log)
    forged = other + cosigned.splitlines(keepends=True)[-1]
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_note(forged, [cosigner_key(wname, witness.public_key)])
    # the witness refuses to cosign a head whose log signature does not verify
    with pytest.raises(CheckpointError):
        cosign(signed.replace("\n9\n", "\n8\n"), witness, wname, time=when,
               log_verifiers=[verifier_key(origin, log.public_key)])
    # re-cosigning replaces the witness's earlier cosignature instead of piling up
    again = cosign(cosigned, witness, wname, time=when + timedelta(minutes=5))
    assert len(parse_note(again).signatures) == 2


# --- partner checks: a rewritten history is caught --------------------------------------------
def _ledger(tmp_path, name: str, ident: Identity) -> Ledger:
    return Ledger(connect(tmp_path / f"{name}.db"), ident, origin_for(ident.party, ident.public_key))


T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_partner_accepts_an_honest_extension(tmp_path):
    ident = Identity.generate("USA")
    log = _ledger(tmp_path, "usa", ident)
    log.append_many([("item.shared", {"n": i}, T0) for i in range(6)])
    keys = [verifier_key(log.origin, ident.public_key)]
    old, _ = open_checkpoint(log.checkpoint(), keys)
    log.append_many([("item.shared", {"n": i}, T0) for i in range(6, 11)])
    new, _ = open_checkpoint(log.checkpoint(), keys)
    verify_consistency(old, new, log.consistency_proof(old.size, new.size))
    verify_consistency(new, new, [])
    verify_consistency(Checkpoint(log.origin, 0, merkle.EMPTY_ROOT), new, [])


def test_partner_catches_a_rewritten_history(tmp_path):
    """USA shows KOR a head, then rebuilds its log with entry 2 changed: the old head is not a
    prefix of the new one, and no proof the rewritten log can produce links them."""
    ident = Identity.generate("USA")
    honest = _ledger(tmp_path, "honest", ident)
    honest.append_many([("item.shared", {"n": i}, T0) for i in range(5)])
    keys = [verifier_key(honest.origin, ident.public_key)]
    seen, _ = open_checkpoint(honest.checkpoint(), keys)

    rewritten = _ledger(tmp_path, "rewritten", ident)
    rewritten.append_many([("item.shared", {"n": i if i != 2 else 99}, T0) for i in range(8)])
    new, _ = open_checkpoint(rewritten.checkpoint(), keys)  # validly signed by the same key
    with pytest.raises(ConsistencyProofError, match="not consistent with tree head 5 seen before"):
        verify_consistency(seen, new, rewritten.consistency_proof(seen.size, new.size))
    # and the honest log's proof does not help the rewritten head either
    honest.append_many([("item.shared", {"n": i}, T0) for i in range(5, 8)])
    with pytest.raises(ConsistencyProofError):
        verify_consistency(seen, new, honest.consistency_proof(5, 8))


def test_partner_catches_a_shrunk_log_or_a_fork_at_the_same_size(tmp_path):
    ident = Identity.generate("USA")
    log = _ledger(tmp_path, "usa", ident)
    log.append_many([("e", {"n": i}, T0) for i in range(4)])
    big = log.checkpoint_body()
    small = Checkpoint(log.origin, 3, log.root(3))
    with pytest.raises(ConsistencyProofError, match="shrank"):
        verify_consistency(big, small, [])
    fork = Checkpoint(log.origin, 4, merkle.hash_leaf(b"fork"))
    with pytest.raises(ConsistencyProofError, match="different roots"):
        verify_consistency(big, fork, [])
    with pytest.raises(ConsistencyProofError, match="different logs"):
        verify_consistency(big, Checkpoint("accord.node/KOR/0", 4, big.root_hash), [])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.data())
def test_any_change_to_seen_history_is_caught(m, extra, data):
    hashes = [merkle.hash_leaf(bytes([i])) for i in range(m + extra)]
    seen = Checkpoint("o", m, merkle.mth(hashes[:m]))
    i = data.draw(st.integers(0, m - 1))
    forged = list(hashes)
    forged[i] = merkle.hash_leaf(b"forged")
    new = Checkpoint("o", m + extra, merkle.mth(forged))
    proof = merkle.consistency_proof(m, forged) if extra else []
    with pytest.raises(ConsistencyProofError):
        verify_consistency(seen, new, proof)
