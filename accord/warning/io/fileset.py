"""Files that belong together — a scenario's ``detections.jsonl``, ``truth.jsonl`` and
``events.jsonl`` — written into their directory as one set (:func:`write_file_set`).

Each file on its own is all or nothing (:func:`accord.warning.io.jsonl.write_lines`), but a set
written file by file and interrupted between two files (Ctrl-C, a kill, a full disk) would leave
the new detections beside the old truth, a pair that scoring would use without a word. So the set
is written into a fresh sibling directory (``.<name>.<pid>-<random>.accord-partial``), flushed to
disk (each file, then the directory), and only then put in the directory's place: on Linux by
exchanging the two directories in one step (``renameat2(RENAME_EXCHANGE)``), so a reader sees the
old set or the new one, and an interruption at any point leaves the old complete set or the new
one. Where the system cannot exchange two directories (not Linux, or a file system without the
operation) the old directory is renamed aside (``….accord-old``) and the new one renamed in: a
reader between the two renames finds no directory, never a mixed set.

What an interrupted run leaves beside the directory is named ``.<name>.<pid>-….accord-partial``
(or ``….accord-old``); the next run into the same directory removes those whose process is gone.

The directory is replaced whole, so an existing one must hold nothing but the set's files (and
the ``.tmp`` files of an interrupted earlier write): anything else is refused, never deleted.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from accord.errors import InputError

PARTIAL = ".accord-partial"  # the new set being written
OLD = ".accord-old"  # the old set renamed aside (no directory exchange)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def write_file_set(directory: str | Path, writers: Mapping[str, Callable[[Path], None]], *,
                   what: str) -> Path:
    """Write one file per ``writers`` entry (file name → a function writing that path) into
    ``directory`` as one set, replacing an earlier set there whole; ``what`` names the set in
    errors ("scenario"). Returns the directory."""
    out = Path(directory)
    if out.is_symlink():  # the directory it points to is the one replaced, not the link
        out = Path(os.path.realpath(out))
    _check_replaceable(out, set(writers), what)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    staged = _sibling(out, PARTIAL)
    os.mkdir(staged)  # the mode the umask gives a new directory
    holds_old = staged
    try:
        if out.exists():
            os.chmod(staged, stat.S_IMODE(out.stat().st_mode))  # an existing directory's mode kept
        for name, write in writers.items():
            write(staged / name)
        _sync_tree(staged)
        if out.exists():
            holds_old = _exchange(staged, out)
        else:
            os.rename(staged, out)
        _fsync_path(out.parent)
    finally:
        shutil.rmtree(holds_old, ignore_errors=True)  # the old set, or the new one if it failed
    return out


def _check_replaceable(out: Path, names: set[str], what: str) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    others = sorted(n for n in os.listdir(out) if n not in names and n.removesuffix(".tmp") not in names)
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise InputError(f"holds files that are not a {what}'s ({shown}); the {what} replaces its "
                         f"directory whole, so give a new directory or one that holds only a {what}",
                         source=str(out))
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current directory is gone: it is not this one
        return
    if here == out.resolve() or out.resolve() in here.parents:
        raise InputError(f"is the current directory or holds it; the {what} replaces its directory "
                         "whole, so give it from outside (e.g. ../" + out.resolve().name + ")", source=str(out))


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _remove_leftovers(out: Path) -> None:
    """Remove what runs into ``out`` that are gone left beside it (see the module's docstring)."""
    prefix = f".{out.name}."
    for name in os.listdir(out.parent):
        if not (name.startswith(prefix) and name.endswith((PARTIAL, OLD))):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(out.parent / name, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's
        return True
    except (ProcessLookupError, OverflowError):  # gone, or a number no process has
        return False
    return True


def _sync_tree(d: Path) -> None:
    for f in d.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_path(d)


def _fsync_path(d: Path) -> None:
    """Flush a directory's entries (not every system can open a directory: then nothing)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(new: Path, out: Path) -> Path:
    """Put ``new`` in ``out``'s place; returns where the old directory now is."""
    if _renameat2(new, out, _RENAME_EXCHANGE):
        return new
    old = _sibling(out, OLD)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)  # the old set back in its place
        raise
    return old


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(2)``; False where the system or the file system does not have it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))
