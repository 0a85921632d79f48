"""``accord ledger …``: thin commands over the node's ledger, with real output checked."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.core import merkle
from accord.core.checkpoint import open_checkpoint
from accord.node import DB_FILE, Node

runner = CliRunner()


@pytest.fixture()
def node_dir(tmp_path):
    d = tmp_path / "jpn"
    with Node.init(d, party="JPN") as node:
        node.ledger.append_many([("item.created", {"item_id": f"JPN:test.note:{i}"}, node.clock.now())
                                 for i in range(11)])
    return d


def _run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_verify_reports_size_and_root(node_dir):
    r = _run("ledger", "verify", "--dir", str(node_dir), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    with Node.open(node_dir) as node:
        assert out == {"ok": True, "origin": node.origin, "tree_size": 11,
                       "root_hash": base64.b64encode(node.ledger.root()).decode(), "quick": False,
                       "checked": {"items": 0, "agreements": 0, "dialogue versions": 0,
                                   "received intel objects": 0, "queued envelopes": 0}}
    r = _run("ledger", "verify", "--dir", str(node_dir))
    assert r.exit_code == 0 and "ledger OK: 11 entries" in r.output


@pytest.mark.sqlite_only  # SQLite's own file and SQL
def test_verify_fails_on_a_tampered_database(node_dir):
    conn = sqlite3.connect(node_dir / DB_FILE)
    conn.execute("UPDATE ledger_leaves SET leaf = CAST(replace(leaf, 'note:3', 'note:X') AS BLOB) WHERE idx = 3")
    conn.commit()
    conn.close()
    r = _run("ledger", "verify", "--dir", str(node_dir))
    assert r.exit_code != 0
    assert "ledger entry 3 does not match its stored leaf hash" in str(r.exception)


def test_checkpoint_prints_a_note_signed_with_the_node_verifier_key(node_dir):
    r = _run("ledger", "checkpoint", "--dir", str(node_dir))
    assert r.exit_code == 0, r.output
    with Node.open(node_dir) as node:
        cp, note = open_checkpoint(r.output, [node.verifier_key], origin=node.origin)
        assert (cp.size, cp.root_hash) == (11, node.ledger.root())


def test_proof_json_verifies_independently(node_dir):
    r = _run("ledger", "proof", "--dir", str(node_dir), "--index", "6", "--json")
    assert r.exit_code == 0, r.output
    p = json.loads(r.output)
    dec = base64.b64decode
    merkle.verify_inclusion(p["index"], p["tree_size"], dec(p["leaf_hash"]), [dec(h) for h in p["path"]],
                            dec(p["root_hash"]))
    assert p["entry"]["data"] == {"item_id": "JPN:test.note:6"}
    r = _run("ledger", "proof", "--dir", str(node_dir), "--index", "6")
    assert r.exit_code == 0 and "inclusion proof: 4 hashes (verified)" in r.output


def test_proof_of_a_missing_entry_is_a_clear_error(node_dir):
    r = _run("ledger", "proof", "--dir", str(node_dir), "--index", "11")
    assert r.exit_code != 0 and "no leaf 11 in a tree of size 11" in str(r.exception)


def test_consistency_json_verifies_independently(node_dir):
    r = _run("ledger", "consistency", "--dir", str(node_dir), "--old", "5", "--json")
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)
    dec = base64.b64decode
    merkle.verify_consistency(c["old_size"], c["new_size"], [dec(h) for h in c["proof"]], dec(c["old_root"]),
                              dec(c["new_root"]))


@pytest.mark.parametrize("args, said", [(["--old", "999"], "--old 999 is past the newer size 11"),
                                        (["--old", "3", "--new", "40"], "--new 40 is past the ledger's size 11"),
                                        (["--old", "9", "--new", "4"], "--old 9 is past the newer size 4")])
def test_consistency_sizes_out_of_range_are_bad_input_not_a_failed_verification(node_dir, args, said):
    """Exit 2 and the option named: it exited 4, the code of a ledger that failed verification."""
    from accord.errors import InputError

    r = _run("ledger", "consistency", "--dir", str(node_dir), *args)
    assert isinstance(r.exception, InputError) and r.exception.exit_code == 2, r.output
    assert said in str(r.exception)


def test_show_lists_entries(node_dir):
    r = _run("ledger", "show", "--dir", str(node_dir), "--json", "--limit", "3")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["tree_size"] == 11 and [e["index"] for e in out["entries"]] == [8, 9, 10]
    r = _run("ledger", "show", "--dir", str(node_dir), "--start", "0", "--limit", "2")
    assert r.exit_code == 0 and "item.created" in r.output and "11 entries" in r.output


@pytest.mark.parametrize("start", [str(2**63), str(10**30)])
def test_show_from_an_index_past_64_bits_lists_nothing(node_dir, start):
    """An OverflowError traceback out of the database driver before."""
    r = _run("ledger", "show", "--dir", str(node_dir), "--start", start, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["entries"] == []


def test_not_a_node_directory(tmp_path):
    r = _run("ledger", "verify", "--dir", str(tmp_path / "nope"))
    assert r.exit_code != 0 and "not a node directory" in str(r.exception)


def test_partner_cosigns_a_checkpoint_and_both_signatures_verify(tmp_path, node_dir):
    kor_dir = tmp_path / "kor"
    with Node.init(kor_dir, party="KOR") as kor, Node.open(node_dir) as jpn:
        kor.add_partner("JPN", jpn.identity.public_b64)
        jpn.add_partner("KOR", kor.identity.public_b64)
        kor_origin = kor.origin
    cp = tmp_path / "jpn.cp"
    cp.write_text(_run("ledger", "checkpoint", "--dir", str(node_dir)).output)
    cosigned = tmp_path / "jpn-cosigned.cp"
    r = _run("ledger", "cosign", "--dir", str(kor_dir), "--party", "JPN", str(cp), "--out", str(cosigned))
    assert r.exit_code == 0, r.output
    r = _run("ledger", "open", "--dir", str(node_dir), str(cosigned), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [s["name"] for s in out["verified_signatures"]][1] == kor_origin
    size = 11 + 1  # node_dir's items, and JPN's pin of KOR (partner.added)
    assert out["verified_signatures"][1]["cosigned_at"] is not None and out["tree_size"] == size
    # a witness refuses a head whose log signature fails, and an unpinned party
    cp.write_text(cp.read_text().replace(f"\n{size}\n", f"\n{size + 1}\n"))
    r = _run("ledger", "cosign", "--dir", str(kor_dir), "--party", "JPN", str(cp))
    assert r.exit_code != 0 and "invalid signature" in str(r.exception)
    r = _run("ledger", "cosign", "--dir", str(kor_dir), "--party", "USA", str(cp))
    assert r.exit_code != 0 and "not pinned" in str(r.exception)


def test_cosign_says_what_it_wrote_and_a_file_that_is_no_checkpoint_is_named(tmp_path, node_dir):
    kor_dir = tmp_path / "kor"
    with Node.init(kor_dir, party="KOR") as kor, Node.open(node_dir) as jpn:
        kor.add_partner("JPN", jpn.identity.public_b64)
        jpn.add_partner("KOR", kor.identity.public_b64)
    cp = tmp_path / "jpn.cp"
    cp.write_text(_run("ledger", "checkpoint", "--dir", str(node_dir)).output)
    cosigned = tmp_path / "jpn-cosigned.cp"
    r = _run("ledger", "cosign", "--dir", str(kor_dir), "--party", "JPN", str(cp), "--out", str(cosigned))
    assert r.exit_code == 0, r.output
    assert r.output == f"KOR cosigned JPN's checkpoint (tree size 12); wrote {cosigned}\n"
    not_a_note = tmp_path / "track.json"
    not_a_note.write_text('{"kind": "warning.track"}\n')
    for args in (("cosign", "--party", "JPN"), ("open",)):
        r = _run("ledger", *args, "--dir", str(kor_dir), str(not_a_note))
        assert r.exit_code != 0 and str(r.exception).startswith(f"{not_a_note}: malformed note"), r.exception


def test_cosign_with_the_wrong_party_names_the_log_the_checkpoint_is_from(tmp_path, node_dir):
    """``--party USA`` on JPN's checkpoint answered "note has no verifiable signatures"; and a
    node asked to witness its own log answered that its own party "is not pinned"."""
    kor_dir, usa_dir = tmp_path / "kor", tmp_path / "usa"
    with Node.init(kor_dir, party="KOR") as kor, Node.init(usa_dir, party="USA") as usa, Node.open(node_dir) as jpn:
        kor.add_partner("JPN", jpn.identity.public_b64)
        kor.add_partner("USA", usa.identity.public_b64)
    cp = tmp_path / "jpn.cp"
    cp.write_text(_run("ledger", "checkpoint", "--dir", str(node_dir)).output)
    r = _run("ledger", "cosign", "--dir", str(kor_dir), "--party", "USA", str(cp))
    assert r.exit_code != 0
    assert str(r.exception) == f"{cp}: this checkpoint is JPN's log, not USA's: give --party JPN"
    r = _run("ledger", "cosign", "--dir", str(node_dir), "--party", "JPN", str(cp))
    assert str(r.exception) == "JPN is this node's own party: a partner witnesses a node's checkpoints, not the node"


@pytest.mark.parametrize("ts", [2**62, 2**63 - 1, 253402300800])   # the last: 10000-01-01T00:00:00Z
def test_open_shows_a_witness_time_past_the_year_9999_as_unix_time(tmp_path, node_dir, ts):
    """A pinned witness's cosignature may carry any time below 2**63 (C2SP tlog-cosignature):
    printing one past the year 9999 was a traceback out of datetime.fromtimestamp (OSError or ValueError)."""
    import struct

    from accord.core.checkpoint import COSIGNATURE_ALG, NoteSignature, Verifier, parse_note

    kor_dir = tmp_path / "kor"
    with Node.init(kor_dir, party="KOR") as kor, Node.open(node_dir) as jpn:
        jpn.add_partner("KOR", kor.identity.public_b64)
        witness, name = kor.identity, kor.origin
        note = parse_note(jpn.ledger.checkpoint())
    key_hash = Verifier.from_key(name, witness.public_key, COSIGNATURE_ALG).key_hash
    sig = witness.sign(f"cosignature/v1\ntime {ts}\n".encode() + note.text.encode())
    line = NoteSignature(name, key_hash, struct.pack(">Q", ts) + sig).line()
    cosigned = tmp_path / "far.cp"
    cosigned.write_text(note.encode() + line)
    r = _run("ledger", "open", "--dir", str(node_dir), str(cosigned))
    assert r.exit_code == 0, (r.output, r.exception)
    assert f"witness cosignature at {ts} (Unix time, past the year 9999)" in r.output
    r = _run("ledger", "open", "--dir", str(node_dir), str(cosigned), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["verified_signatures"][1]["cosigned_at"] == ts
