"""``replace_file``'s temporary file is its own to each write: under the fixed name ``NAME.tmp``
two writers of one file at once (two ``agreement sign``) removed each other's temporary file, and
one could rename the other's half-written file into place."""

from __future__ import annotations

import os
import threading
import time

import accord.core.files as files
from accord.core.files import STALE_AFTER, remove_stale_temporaries, replace_file, temporary_names

GONE = 99_999_999   # a PID no process has


def test_two_writes_at_once_each_put_their_whole_file_in_place(tmp_path, monkeypatch):
    """A writes its file and stops before its rename; B starts, writes half of its own and
    stops; A renames: ``a.yaml`` must be A's whole file, then B's once B is done — never half
    of B's (with one ``NAME.tmp``, A renamed B's half-written file into place and B failed)."""
    out = tmp_path / "a.yaml"
    first, second = b"A" * 4096, b"B" * 4096
    b_go, b_half, a_done = threading.Event(), threading.Event(), threading.Event()
    real_write_all = files._write_all
    main = threading.current_thread()
    b_error: list[BaseException] = []

    def interleaved(fd, data):
        if threading.current_thread() is main:
            real_write_all(fd, data)
            b_go.set()
            assert b_half.wait(10)
        else:
            real_write_all(fd, data[: len(data) // 2])
            b_half.set()
            a_done.wait(10)
            real_write_all(fd, data[len(data) // 2:])

    def writer_b():
        assert b_go.wait(10)
        try:
            replace_file(out, second)
        except BaseException as exc:   # noqa: BLE001 - reported below
            b_error.append(exc)
            b_half.set()

    monkeypatch.setattr(files, "_write_all", interleaved)
    b = threading.Thread(target=writer_b)
    b.start()
    try:
        replace_file(out, first)
        assert out.read_bytes() == first
    finally:
        a_done.set()
        b.join(10)
    assert b_error == [] and out.read_bytes() == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """What a writer killed midway left (its process gone, not written to for a while) is removed
    by the next write; a fresh one (a writer elsewhere still writing) and a live process's are
    left, and another file's are not touched."""
    out = tmp_path / "a.yaml"
    stale = tmp_path / f".a.yaml.{GONE}.{'0' * 16}.tmp"
    fresh = tmp_path / f".a.yaml.{GONE}.{'1' * 16}.tmp"
    live = tmp_path / f".a.yaml.{os.getpid()}.{'2' * 16}.tmp"
    other = tmp_path / f".b.yaml.{GONE}.{'3' * 16}.tmp"
    for p in (stale, fresh, live, other):
        p.write_bytes(b"half")
    old = time.time() - STALE_AFTER - 5
    for p in (stale, live, other):
        os.utime(p, (old, old))
    replace_file(out, b"new\n")
    assert out.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.yaml", fresh.name, live.name, other.name])
    remove_stale_temporaries(out, older_than=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.yaml", live.name, other.name])


def test_a_stale_link_under_a_temporary_name_is_removed_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched\n")
    link = tmp_path / f".a.yaml.{GONE}.{'0' * 16}.tmp"
    link.symlink_to(victim)
    old = time.time() - STALE_AFTER - 5
    os.utime(link, (old, old), follow_symlinks=False)
    replace_file(tmp_path / "a.yaml", b"new\n")
    assert victim.read_bytes() == b"untouched\n" and not link.is_symlink()


def test_the_temporary_names_match_what_a_write_makes(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    replace_file(tmp_path / ("x" * 250), b"new\n")   # a long name still leaves room for the rest
    assert len(seen) == 1 and temporary_names(tmp_path / ("x" * 250)).fullmatch(seen[0])
    assert temporary_names(tmp_path / ("x" * 250)).fullmatch(seen[0]).group(1) == str(os.getpid())
