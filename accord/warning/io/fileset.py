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
the ``.tmp`` files of an interrupted earlier write) or be one its writer recognises as its own
(``owns``: an earlier alert directory, whose file names change from run to run): anything else is
refused, never deleted.

**Files that share their directory** (:func:`write_files_beside`): the tracker's ``tracks.jsonl``
and ``predictions.jsonl`` are written into whatever directory ``--out`` names, often a scenario's
own directory beside its detections, so that directory cannot be swapped for another. There the
set is committed through a small manifest beside the files (``tracker-set.json``): each new file
is written under a staged name (``.tracks.jsonl.<pid>-<random>.accord-partial``) and flushed to
disk, then the manifest naming each file's SHA-256 and staged name is renamed over the old one —
the commit point — and only then are the staged files renamed to their own names, one after the
other. A run interrupted before the commit leaves the old files and the old manifest as they
were; interrupted between the renames it leaves a committed manifest some of whose files are
still under their staged names. Readers go through :func:`committed_files`, which takes for each
name the staged file while it is there and otherwise the file itself, and checks it against the
manifest's digest: they get the old set or the new one, never new tracks beside old predictions,
and a file changed by hand since the set was written is refused with one line instead of being
paired without a word. The next run finishes an interrupted commit's renames before writing its
own set. A tool that reads ``tracks.jsonl`` by name, without the manifest, can still find a mixed
pair after a kill between the two renames — a window of two system calls. A directory without a
manifest (files written before it existed, or copied without it) is read as it is. The guarantee is
about interruptions: a reader running while a writer replaces the set is not protected.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from accord.core.files import follow_links
from accord.core.processes import pid_alive
from accord.errors import InputError

PARTIAL = ".accord-partial"  # the new set being written
OLD = ".accord-old"  # the old set renamed aside (no directory exchange)
SET_FORMAT = "accord-file-set/1"  # the manifest of files that share their directory
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def write_file_set(directory: str | Path, writers: Mapping[str, Callable[[Path], None]], *,
                   what: str, owns: Callable[[Path], bool] | None = None) -> Path:
    """Write one file per ``writers`` entry (file name → a function writing that path) into
    ``directory`` as one set, replacing an earlier set there whole; ``what`` names the set in
    errors ("scenario"). An existing directory holding other files is replaced only when
    ``owns(directory)`` says it is an earlier set of this writer's. Returns the directory."""
    out = Path(directory)
    if out.is_symlink():  # the directory it points to is the one replaced, not the link
        try:
            out = follow_links(out)
        except PermissionError as exc:  # as the kernel's protected_symlinks would refuse it
            raise InputError("is a symbolic link another user made in a shared directory; give the "
                             "directory itself", source=str(exc.filename)) from None
    _check_replaceable(out, set(writers), what, owns)
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


def _check_replaceable(out: Path, names: set[str], what: str, owns: Callable[[Path], bool] | None) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    others = sorted(n for n in os.listdir(out) if n not in names and n.removesuffix(".tmp") not in names)
    if others and not (owns is not None and owns(out)):
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
        if not (name.startswith(prefix) and name.removesuffix(".tmp").endswith((PARTIAL, OLD))):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            _remove(out.parent / name)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


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


def write_files_beside(directory: str | Path, writers: Mapping[str, Callable[[Path], None]], *,
                       manifest: str) -> Path:
    """Write one file per ``writers`` entry into ``directory`` as one set committed through the
    ``manifest`` file beside them (see the module's docstring), leaving every other file of the
    directory alone. Returns the directory."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / manifest
    _finish_commit(out, mpath)
    for name in (*writers, manifest):
        _remove_leftovers(out / name)
    staged = {name: _sibling(out / name, PARTIAL) for name in writers}
    pending = _sibling(mpath, PARTIAL)
    try:
        for name, write in writers.items():
            write(staged[name])
        files = {}
        for name, path in staged.items():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            files[name] = {"sha256": _sha256(path), "staged": path.name}
        with open(pending, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"format": SET_FORMAT, "files": files}, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_path(out)  # the staged files' names are on disk before the manifest names them
        commit_file(pending, mpath)  # the commit point
    except BaseException:
        for p in (*staged.values(), pending):
            p.unlink(missing_ok=True)
        raise
    _fsync_path(out)
    for name, path in staged.items():
        commit_file(path, out / name)
    _fsync_path(out)
    return out


def commit_file(src: Path, dst: Path) -> None:
    """Rename ``src`` over ``dst`` (one step of :func:`write_files_beside`'s commit)."""
    os.replace(src, dst)


def committed_files(directory: str | Path, names: tuple[str, ...], *, manifest: str) -> dict[str, Path]:
    """The path to read for each of ``names`` in ``directory``: as the ``manifest`` there last
    committed it (its staged file while an interrupted commit left it so), checked against the
    manifest's digest; without a manifest, the files as they are. :class:`InputError` for a file
    that is not the one the manifest names, or a manifest that cannot be read."""
    out = Path(directory)
    mpath = out / manifest
    if not mpath.exists():
        return {name: out / name for name in names}
    files = _read_manifest(mpath)
    found = {}
    for name in names:
        entry = files.get(name)
        if entry is None:
            found[name] = out / name
            continue
        for path in (out / entry["staged"], out / name):
            if path.is_file() and _sha256(path) == entry["sha256"]:
                found[name] = path
                break
        else:
            raise InputError(f"is not the file {manifest} names beside it (changed since it was written, or "
                             f"from another run): write the set again, or remove {manifest} to read the files "
                             "as they are", source=str(out / name))
    return found


def _finish_commit(out: Path, mpath: Path) -> None:
    """Rename into place the staged files of a committed set whose run was interrupted first."""
    if not mpath.exists():
        return
    try:
        files = _read_manifest(mpath)
    except InputError:
        return  # replaced by the set about to be written
    for name, entry in files.items():
        staged = out / entry["staged"]
        if staged.is_file():
            commit_file(staged, out / name)
    _fsync_path(out)


def _read_manifest(mpath: Path) -> dict[str, dict[str, str]]:
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
        files = doc["files"] if doc.get("format") == SET_FORMAT else None
        if not isinstance(files, dict):
            raise ValueError
        for name, entry in files.items():
            staged = entry["staged"]
            if not (isinstance(entry["sha256"], str) and isinstance(staged, str)
                    and staged == Path(staged).name and staged.startswith(f".{name}.")):
                raise ValueError
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InputError(f"is not a readable {SET_FORMAT} manifest", source=str(mpath)) from None
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
