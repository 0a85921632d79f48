"""CLI: a directory, an existing file, non-UTF-8 bytes or an out-of-range number where a command
expects something else fails in one line (exit 2), never a traceback, and stores nothing; so does
an unreachable NATS server."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import InputError
from accord.exercise.scenario import parse_scenario
from accord.node import Node

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


def accord_cmd(*args, cwd=None):
    """``python -m accord ARGS`` in a subprocess: what a user sees on stderr, and the exit status."""
    return subprocess.run([sys.executable, "-m", "accord", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def one_line(out):
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    return out.stderr.strip()


@pytest.fixture
def node(tmp_path):
    assert run("node", "init", "--party", "JPN", "--dir", tmp_path / "jpn").exit_code == 0
    return tmp_path / "jpn"


def test_file_system_refusals_are_one_line(tmp_path):
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("x")
    out = accord_cmd("agreement", "show", tmp_path / "a-dir")  # read through the input-file reader
    assert out.returncode == 2 and one_line(out).endswith("a-dir: is a directory, not an agreement file")
    out = accord_cmd("node", "init", "--party", "JPN", "--dir", tmp_path / "a-file")  # was "file exists"
    assert out.returncode == 2 and one_line(out) == (f"error: {tmp_path / 'a-file'}: a file, not a directory: "
                                                     "give a new (or empty) directory for the node")
    out = accord_cmd("warning", "score", tmp_path / "a-file", tmp_path / "a-file")  # was "a-file/detections…"
    assert out.returncode == 2 and one_line(out) == (f"error: {tmp_path / 'a-file'}: a file; give the scenario "
                                                     f"directory that holds detections.jsonl and truth.jsonl ({tmp_path})")


def test_directories_and_non_utf8_files_name_the_file(node, tmp_path):
    (tmp_path / "a-dir").mkdir()
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"series:\n  title: \xe9t\xe9\n")
    for args, text in [
        (("agreement", "verify", tmp_path / "a-dir", "--dir", node), "is a directory, not an agreement file"),
        (("dialogue", "load", bad, "--dir", node), "dialogue file is not UTF-8 text (byte 17)"),
        (("dialogue", "load", tmp_path / "a-dir", "--dir", node), "is a directory, not a dialogue file"),
        (("exercise", "validate", tmp_path / "a-dir"), "is a directory, not a scenario file"),
        (("node", "item", "add", "--dir", node, "--kind", "test.note", "--marking", "SECRET", "--body", f"@{bad}"),
         "--body file is not UTF-8 text"),
    ]:
        r = run(*args)
        assert isinstance(r.exception, InputError), (args, r.exception)
        assert text in str(r.exception) and str(r.exception).startswith(str(args[2] if args[0] != "node" else bad))


def test_item_add_refuses_an_unwritable_out_before_storing(node, tmp_path):
    (tmp_path / "a-dir").mkdir()
    size = Node.open(node).ledger.size
    for out in (tmp_path / "a-dir", tmp_path / "nowhere" / "item.json"):
        r = run("node", "item", "add", "--dir", node, "--kind", "test.note", "--marking", "SECRET",
                "--body", '{"n": 1}', "--out", out)
        assert isinstance(r.exception, InputError) and str(out) in str(r.exception), r.exception
    after = Node.open(node)
    assert after.ledger.size == size and after.items() == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e300", "21601"])
def test_simulate_duration_is_bounded(tmp_path, value):
    r = run("warning", "simulate", "--seed", 1, "--missiles", 1, "--duration", value, "--out", tmp_path / "s")
    assert isinstance(r.exception, InputError) and "field 'duration'" in str(r.exception), r.output
    assert not (tmp_path / "s").exists()


def test_negative_seeds_are_refused_up_front(tmp_path):
    for args in (("warning", "simulate", "--seed", -1, "--out", tmp_path / "s"),
                 ("exercise", "run", "--seed", -1, "--out", tmp_path / "x")):
        r = run(*args)
        assert r.exit_code == 2 and "--seed" in r.output and r.exception is not None
        assert not isinstance(r.exception, ValueError)
    drill = (ROOT / "tests" / "exercise" / "data" / "small-drill.yaml").read_text()
    assert "\nseed: 5\n" in drill
    with pytest.raises(InputError, match="line 5, field 'seed': Input should be greater than or equal to 0"):
        parse_scenario(drill.replace("\nseed: 5\n", "\nseed: -5\n"), source="s.yaml")
    generated = drill.replace("\nlaunches:\n", "\nlaunches:\n  generated: {count: 1, seed: -1, lat_deg: [39, 40], "
                              "lon_deg: [127, 128], aim_lat_deg: [38, 39], aim_lon_deg: [130, 131]}\n", 1)
    with pytest.raises(InputError, match="field 'launches.generated.seed': Input should be greater than or equal"):
        parse_scenario(generated, source="s.yaml")


def test_an_unreachable_nats_server_is_one_line(tmp_path):
    # nats-py's default error callback logged each failed attempt with a traceback first
    out = accord_cmd("warning", "watch", "--nats", "nats://127.0.0.1:1", "--party", "JPN",
                     "--key", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert out.returncode == 2
    assert one_line(out) == "error: cannot connect to NATS at nats://127.0.0.1:1: nats: no servers available for connection"


REFUSED_WRITE = """
import sqlite3, sys
from accord.node import node
reason = sys.argv.pop()
def refuse(self, items):
    raise sqlite3.OperationalError(reason)
node.Node.put_items = refuse
from accord.cli.main import main
main()
"""


@pytest.mark.parametrize("reason, advice", [
    ("attempt to write a readonly database", "make the node directory and its file system writable"),
    ("database or disk is full", "free space on the disk that holds the node directory"),
    ("disk I/O error", "check the disk and the file system that hold the node directory (is it full?)"),
])
def test_a_database_that_refuses_a_write_is_one_line_saying_what_to_do(node, reason, advice):
    """A read-only mount, a full disk or a failing one: SQLite refuses the write. That was a
    traceback ending in ``sqlite3.OperationalError``; it is one line that says the write was
    rolled back and what to do."""
    out = subprocess.run([sys.executable, "-c", REFUSED_WRITE, "node", "item", "add", "--dir", node,
                          "--kind", "test.note", "--marking", "UNCLASSIFIED", "--body", "{}", reason],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert one_line(out) == (f"error: the node database refused a write ({reason}), which was rolled back: "
                             f"{advice}, then run the command again")


@pytest.mark.skipif(shutil.which("fiu-run") is None, reason="libfiu (Debian fiu-utils) not installed")
def test_a_node_on_a_full_disk_says_so(node):
    """Every write SQLite makes fails with ENOSPC (libfiu): one line that says what to do, not a
    traceback ending in ``sqlite3.OperationalError``."""
    out = subprocess.run(["fiu-run", "-x", "-c", "enable name=posix/io/rw/pwrite,failinfo=28",
                          sys.executable, "-m", "accord", "node", "item", "add", "--dir", node, "--kind", "test.note",
                          "--marking", "UNCLASSIFIED", "--body", "{}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert one_line(out) == ("error: the node database refused a write (database or disk is full), which was rolled "
                             "back: free space on the disk that holds the node directory, then run the command again")


@pytest.mark.skipif(shutil.which("fiu-run") is None, reason="libfiu (Debian fiu-utils) not installed")
def test_signing_an_agreement_on_a_full_disk_keeps_the_file_and_its_signatures(tmp_path):
    """``accord agreement sign`` rewrites the file in place: every write failing with ENOSPC
    (libfiu) left it empty, the other parties' signatures gone with it."""
    for party in ("JPN", "KOR"):
        assert run("node", "init", "--party", party, "--dir", tmp_path / party).exit_code == 0
    kor = Node.open(tmp_path / "KOR")
    key = kor.identity.public_b64
    kor.close()
    jpn = Node.open(tmp_path / "JPN")
    jpn.add_partner("KOR", key)
    jpn.close()
    ag = tmp_path / "jpn-kor.yaml"
    assert run("agreement", "create", "--dir", tmp_path / "JPN", "--id", "jpn-kor", "--party", "KOR",
               "--rule", "JPN<->KOR:test.*:SECRET", "--out", ag).exit_code == 0
    assert run("agreement", "sign", ag, "--dir", tmp_path / "JPN").exit_code == 0
    signed = ag.read_bytes()
    out = subprocess.run(["fiu-run", "-x", "-c", "enable name=posix/io/rw/write,failinfo=28",
                          sys.executable, "-m", "accord", "agreement", "sign", ag, "--dir", tmp_path / "KOR"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert ag.read_bytes() == signed   # JPN's signature still there
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["jpn-kor.yaml"]
