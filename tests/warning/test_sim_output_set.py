"""`accord warning simulate` replaces a scenario directory's files as one set: interrupted
between two files (an error, a kill), the earlier scenario stays whole — never new detections
beside old truth, which scoring would pair without a word."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.errors import InputError
from accord.warning import sim
from accord.warning.io import fileset
from accord.warning.sim import random_scenario, simulate, write_scenario

FILES = ("detections.jsonl", "truth.jsonl", "events.jsonl")


@pytest.fixture(scope="module")
def runs():
    """Two different scenarios: the earlier run's and the one that replaces it."""
    return simulate(random_scenario(2, 1, duration=60.0)), simulate(random_scenario(3, 2, duration=60.0))


def _contents(d: Path) -> dict[str, bytes]:
    return {name: (d / name).read_bytes() for name in FILES}


def test_a_write_that_fails_after_the_first_file_leaves_the_earlier_scenario_whole(tmp_path, runs, monkeypatch):
    old, new = runs
    out = write_scenario(tmp_path / "sc", old)
    before = _contents(out)

    def disk_full(path, truth):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(sim, "write_truth", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_scenario(out, new)
    assert _contents(out) == before  # the detections too, not the new run's beside the old truth
    assert sorted(os.listdir(tmp_path)) == ["sc"] and sorted(os.listdir(out)) == sorted(FILES)

    monkeypatch.undo()
    write_scenario(out, new)
    after = _contents(out)
    assert all(after[name] != before[name] for name in FILES)


def test_a_simulate_killed_between_its_files_leaves_the_earlier_scenario_and_the_next_run_cleans_up(
        tmp_path, runs):
    old, _ = runs
    out = write_scenario(tmp_path / "sc", old)
    before = _contents(out)
    # the real command, killed (SIGKILL: nothing of it runs after) once the detections are written
    killed = textwrap.dedent("""
        import os, signal, sys
        from accord.cli.main import app
        from accord.warning import sim
        def killed(path, truth):
            os.kill(os.getpid(), signal.SIGKILL)
        sim.write_truth = killed
        sys.argv = ["accord", "warning", "simulate", "--seed", "3", "--missiles", "2", "--duration", "60",
                    "--out", sys.argv[1]]
        app()
    """)
    r = subprocess.run([sys.executable, "-c", killed, str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr
    assert _contents(out) == before
    leftovers = [n for n in os.listdir(tmp_path) if n != "sc"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".sc.") and leftovers[0].endswith(".accord-partial")
    assert (tmp_path / leftovers[0] / "detections.jsonl").is_file()  # what the killed run had written

    from accord.cli.main import app
    res = CliRunner().invoke(app, ["warning", "simulate", "--seed", "3", "--missiles", "2", "--duration", "60",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert os.listdir(tmp_path) == ["sc"]  # the dead run's leftover removed
    assert all(_contents(out)[name] != before[name] for name in FILES)


def test_a_leftover_named_by_a_number_no_process_has_is_removed(tmp_path, runs):
    """``….0-….accord-partial`` counted as a run still going (``kill(0, 0)`` asks about this
    process's group), so it was never removed."""
    old, _ = runs
    out = write_scenario(tmp_path / "sc", old)
    (tmp_path / ".sc.0-0a1b2c3d.accord-partial").mkdir()
    (tmp_path / ".sc.99999999999999999999-0a1b2c3d.accord-old").mkdir()
    write_scenario(out, old)
    assert os.listdir(tmp_path) == ["sc"]


def test_without_a_directory_exchange_the_set_is_still_replaced_whole(tmp_path, runs, monkeypatch):
    old, new = runs
    out = write_scenario(tmp_path / "sc", old)
    os.chmod(out, 0o750)
    monkeypatch.setattr(fileset, "_renameat2", lambda *a: False)  # a system without renameat2
    write_scenario(out, new)
    assert _contents(out) == _contents(write_scenario(tmp_path / "fresh", new))
    assert (out.stat().st_mode & 0o777) == 0o750  # the directory's mode kept
    assert sorted(os.listdir(tmp_path)) == ["fresh", "sc"]


def test_a_directory_holding_other_files_is_refused_and_left_alone(tmp_path, runs):
    old, _ = runs
    out = tmp_path / "work"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds files that are not a scenario's \(notes.txt\)"):
        write_scenario(out, old)
    assert os.listdir(out) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"

    r = subprocess.run([sys.executable, "-m", "accord", "warning", "simulate", "--seed", "3", "--missiles", "1",
                        "--duration", "60", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "holds files that are not a scenario's (notes.txt)" in r.stderr
    assert os.listdir(out) == ["notes.txt"]


def test_the_current_directory_is_refused_since_it_would_be_replaced_under_the_shell(tmp_path, runs, monkeypatch):
    old, new = runs
    out = write_scenario(tmp_path / "sc", old)
    before = _contents(out)
    monkeypatch.chdir(out)
    with pytest.raises(InputError, match=r"is the current directory or holds it.*\(e\.g\. \.\./sc\)"):
        write_scenario(".", new)
    assert _contents(out) == before and os.listdir(tmp_path) == ["sc"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a link another user owns needs root (lchown)")
def test_another_users_link_in_a_shared_directory_is_not_followed_but_ones_own_is(tmp_path, runs):
    """The set is written where a symlinked --out points; in a sticky world-writable directory
    (/tmp) a link another user made would choose that place, so it is refused, as the kernel's
    protected_symlinks refuses to follow it."""
    old, _ = runs
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 54321, 54321)  # a /tmp is owned by another user than the one writing
    target = tmp_path / "elsewhere"
    link = shared / "sc"
    link.symlink_to(target)
    os.lchown(link, 12345, 12345)
    with pytest.raises(InputError, match="symbolic link another user made"):
        write_scenario(link, old)
    assert not target.exists()
    os.lchown(link, os.geteuid(), os.getegid())  # one's own link is followed
    write_scenario(link, old)
    assert _contents(target) and link.is_symlink()


def test_a_link_of_ones_own_through_another_users_link_is_not_followed(tmp_path, runs):
    """Every link along the way is checked, as the kernel checks each it follows: one's own link
    in /tmp pointing at another user's link there would let that user choose the place."""
    old, _ = runs
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 54321, 54321)
    target = tmp_path / "elsewhere"
    theirs = shared / "theirs"
    theirs.symlink_to(target)
    os.lchown(theirs, 12345, 12345)
    mine = shared / "sc"
    mine.symlink_to(theirs)
    with pytest.raises(InputError, match="symbolic link another user made") as raised:
        write_scenario(mine, old)
    assert str(theirs) in str(raised.value)
    assert not target.exists()
