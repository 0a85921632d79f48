"""A file the operator names with ``--out`` is replaced whole or not at all: a disk that fills
(or a kill) midway through the write leaves the earlier export as it was and no temporary file
beside it; written in place, it left the first part of the new one where the good file was."""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

import accord.core.files as files
from accord.cli.main import app
from accord.node import Node

runner = CliRunner()
EARLIER = "the earlier, good export\n"


class _HalfWritten:
    """A file opened for writing that takes half of what it is given, then says the disk is full."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data):
        self._fh.write(data[: len(data) // 2])
        self._fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __getattr__(self, name):
        return getattr(self._fh, name)


class _HalfWrittenOs:
    """``os`` for :mod:`accord.core.files`: ``write`` takes half, then the disk is full."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def disk_fills_midway(monkeypatch, tmp_path):
    """Every write of a file under ``tmp_path`` (by ``open``/``Path.write_text`` or by ``os.write``
    in :mod:`accord.core.files`) stops half way with ENOSPC."""
    real_open = io.open

    def half_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        under = isinstance(file, int) or str(os.path.abspath(file)).startswith(str(tmp_path))
        return _HalfWritten(fh) if under and any(c in mode for c in "wax") else fh

    def fill():
        monkeypatch.setattr(io, "open", half_open)
        monkeypatch.setattr(files, "os", _HalfWrittenOs())
    return fill


def _refused_and_intact(args, out: Path, fill) -> None:
    out.write_text(EARLIER)
    fill()
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code != 0, r.output
    assert out.read_text() == EARLIER, "the earlier export was replaced by part of the new one"
    assert sorted(p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")) == []


@pytest.fixture(scope="module")
def dialogue_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("dialogue")
    r = runner.invoke(app, ["dialogue", "load-example", "--dir", str(d), "--json"])
    assert r.exit_code == 0, r.output
    return d / "jpn"


@pytest.mark.parametrize("args", [["ical", "JPN-KOR-DMM"], ["report", "--format", "html"], ["report"]],
                         ids=["ical", "report html", "report md"])
def test_a_dialogue_export_cut_short_leaves_the_earlier_one(dialogue_dir, tmp_path, disk_fills_midway, args):
    out = tmp_path / "export"
    _refused_and_intact(["dialogue", *args, "--dir", dialogue_dir, "--out", out], out, disk_fills_midway)


def test_a_cosigned_checkpoint_cut_short_leaves_the_earlier_one(tmp_path, disk_fills_midway):
    with Node.init(tmp_path / "kor", party="KOR") as kor, Node.init(tmp_path / "jpn", party="JPN") as jpn:
        kor.add_partner("JPN", jpn.identity.public_b64)
    cp = tmp_path / "jpn.cp"
    r = runner.invoke(app, ["ledger", "checkpoint", "--dir", str(tmp_path / "jpn")])
    assert r.exit_code == 0, r.output
    cp.write_text(r.output)
    out = tmp_path / "cosigned.cp"
    _refused_and_intact(["ledger", "cosign", "--dir", tmp_path / "kor", "--party", "JPN", cp, "--out", out], out,
                        disk_fills_midway)


def test_an_intel_export_cut_short_leaves_the_earlier_one(tmp_path, disk_fills_midway):
    Node.init(tmp_path / "jpn", party="JPN").close()
    out = tmp_path / "bundle.json"
    _refused_and_intact(["intel", "export", "--dir", tmp_path / "jpn", "--out", out], out, disk_fills_midway)


def test_an_item_file_cut_short_leaves_the_earlier_one(tmp_path, disk_fills_midway):
    Node.init(tmp_path / "jpn", party="JPN").close()
    out = tmp_path / "item.json"
    _refused_and_intact(["node", "item", "add", "--dir", tmp_path / "jpn", "--kind", "test.note", "--marking",
                         "UNCLASSIFIED", "--out", out], out, disk_fills_midway)


def test_an_exercise_report_cut_short_leaves_the_earlier_one(tmp_path, disk_fills_midway):
    from accord.exercise.report import replace_text

    out = tmp_path / "report.html"
    out.write_text(EARLIER)
    disk_fills_midway()
    with pytest.raises(OSError) as raised:
        replace_text(out, "<html>" + "x" * 10_000)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(out)
    assert out.read_text() == EARLIER
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_export_keeps_the_mode_it_had_and_a_new_one_gets_the_umasks(tmp_path):
    from accord.core.files import replace_file

    old = tmp_path / "shared.ics"
    old.write_text(EARLIER)
    os.chmod(old, 0o640)
    replace_file(old, b"new\n")
    assert old.read_bytes() == b"new\n" and stat.S_IMODE(old.stat().st_mode) == 0o640
    mask = os.umask(0o022)
    try:
        replace_file(tmp_path / "new.ics", b"new\n")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.ics").stat().st_mode) == 0o644
    link = tmp_path / "latest.ics"
    link.symlink_to(old)
    replace_file(link, b"newer\n")
    assert link.is_symlink() and old.read_bytes() == b"newer\n"
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(IsADirectoryError) as raised:   # one line naming it (accord.cli.main.os_error_line)
        replace_file(tmp_path / "a-directory", b"new\n")
    assert raised.value.filename == str(tmp_path / "a-directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory", "latest.ics", "new.ics", "shared.ics"]
    fifo = tmp_path / "pipe"   # as --out /dev/stdout or /dev/null: written to, never renamed over
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        replace_file(fifo, b"through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _shared_dir(tmp_path: Path) -> Path:
    """A directory like /tmp: sticky, world-writable, owned by another user than the writer."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 54321, 54321)
    return shared


def test_another_users_link_in_a_shared_directory_is_not_followed(tmp_path):
    """An --out in /tmp that another user made a symbolic link (to a file not there yet, or
    through a link of one's own) would choose where the export is written: it is refused, as the
    kernel's protected_symlinks refuses to follow it, naming the link."""
    from accord.core.files import replace_file

    shared = _shared_dir(tmp_path)
    target = tmp_path / "home" / "chosen-by-another"
    target.parent.mkdir()
    theirs = shared / "report.ics"
    theirs.symlink_to(target)
    os.lchown(theirs, 12345, 12345)
    with pytest.raises(PermissionError) as raised:
        replace_file(theirs, b"new\n")
    assert raised.value.filename == str(theirs)
    mine = shared / "mine.ics"   # one's own link, pointing through theirs
    mine.symlink_to(theirs)
    with pytest.raises(PermissionError):
        replace_file(mine, b"new\n")
    assert not target.exists()
    os.lchown(theirs, os.geteuid(), os.getegid())   # one's own links are followed
    replace_file(mine, b"new\n")
    assert target.read_bytes() == b"new\n" and mine.is_symlink() and theirs.is_symlink()


def test_a_link_put_under_the_temporary_name_meanwhile_is_not_written_through(tmp_path, monkeypatch):
    """The temporary file is made new: a link another user puts under the name the write picked
    before it opens it (in /tmp, where anyone may) is not opened, so what it points to is left
    alone; the write takes another name."""
    from accord.core.files import replace_file

    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched\n")
    out = tmp_path / "report.ics"
    real_token = files.secrets.token_hex
    planted = []

    def pick_then_plant(n):
        token = real_token(n)
        if not planted:
            planted.append(tmp_path / f".report.ics.{os.getpid()}.{token}.tmp")
            planted[0].symlink_to(victim)
        return token

    monkeypatch.setattr(files.secrets, "token_hex", pick_then_plant)
    replace_file(out, b"new\n")
    assert victim.read_bytes() == b"untouched\n" and out.read_bytes() == b"new\n"
    assert planted[0].is_symlink()


def test_an_export_keeps_the_group_and_owner_of_the_file_it_replaces(tmp_path):
    """Written in place, a file kept its owner and group; replaced through a rename it became the
    writer's: a report shared through its group (0640, group ops) was no longer readable by it."""
    from accord.core.files import replace_file

    if os.geteuid() != 0:
        pytest.skip("giving a file another owner needs root")
    shared = tmp_path / "latest.ics"
    shared.write_text(EARLIER)
    os.chown(shared, 12345, 54321)
    os.chmod(shared, 0o640)
    replace_file(shared, b"new\n")
    st = shared.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 54321, 0o640)
    assert shared.read_bytes() == b"new\n"
