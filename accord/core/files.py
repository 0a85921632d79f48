"""Replacing a file whole or not at all, below every layer that writes one.

:func:`replace_file` is what an export's ``--out``, a signed agreement and a node's private files
(:mod:`accord.store.private_files`) are written through: a temporary file beside the target,
fsynced, renamed over it. :func:`follow_links` resolves the links on the way as the kernel's
``protected_symlinks`` would. :func:`write_runtime_file` replaces a file that matters only while
a process runs (no fsync).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

from accord.core.processes import pid_alive

FILE_MODE = 0o600
"""The mode of a file that is its owner's alone (a node's key, configuration, database)."""


def replace_file(path: str | Path, data: bytes, *, mode: int | None = None, follow: bool = True) -> None:
    """Replace ``path`` with ``data`` whole or not at all: a temporary file beside it
    (``.NAME.<pid>.<random>.tmp``, its own to each write: :func:`temporary_names`) is written,
    fsynced and renamed over it. A write that fails (a full disk) or is interrupted (Ctrl-C)
    leaves ``path`` as it was and no temporary file, and its error names ``path``. Two writes at
    once (two ``agreement sign`` of one file) each rename their own whole file: the last one
    renamed stays, never part of either. What a killed writer left is removed by the next write
    (:func:`remove_stale_temporaries`).

    ``mode``: the file's mode, whatever the umask. None (a file the operator names, such as an
    export's ``--out``): an existing file keeps its mode and group (its owner too, as root), a new
    one gets the umask's mode, as writing it in place did; a symbolic link keeps pointing where it did and its target is replaced (not one
    :func:`follow_links` refuses: another user's in ``/tmp``). A
    device or a pipe (``--out /dev/stdout``) has no file to replace: it is written to as it is.

    ``follow=False``: ``path`` itself is replaced, whatever is there now — a link is not followed
    and nothing is written through it — for a file read from ``path`` (its links resolved before
    it was read) and written back: someone who may write its directory and swaps it for a link
    once it was read does not choose which file is written."""
    path = Path(path)
    try:
        st: os.stat_result | None = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        st = None
    if not follow and st is not None and not stat.S_ISREG(st.st_mode):
        st = None   # a link (or anything but a file) found there: the entry is replaced as it is
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        with open(path, "wb") as fh:   # renamed over, /dev/null would become a file
            fh.write(data)
        return
    if follow and mode is None and os.path.islink(path):
        path = follow_links(path)
    tmp: Path | None = None
    try:
        kept = st if mode is None else None   # an operator's file: its mode, group and owner kept
        if mode is None and st is not None:
            mode = stat.S_IMODE(st.st_mode)   # a new file: the umask's mode, from os.open below
        tmp, fd = _new_temporary(path, FILE_MODE if mode is not None else 0o666)
        try:
            if kept is not None:
                _keep_owner(fd, kept)
            if mode is not None:
                os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename) == str(tmp)):
            raise OSError(exc.errno, exc.strerror, str(path)) from None   # the file asked for, not its temporary
        raise
    remove_stale_temporaries(path)


_SUFFIX = ".tmp"
STALE_AFTER = 60.0
"""Seconds since its last write past which a temporary file of a writer that is gone is removed."""


def _short(name: str) -> str:
    return name[:200]   # a name near the 255-byte limit still has room for the rest


def temporary_names(path: str | Path) -> re.Pattern[str]:
    """The names of :func:`replace_file`'s temporary files for ``path`` (group 1: the writer's PID)."""
    return re.compile(rf"\.{re.escape(_short(Path(path).name))}\.(\d+)\.[0-9a-f]{{16}}{re.escape(_SUFFIX)}")


def _new_temporary(path: Path, mode: int) -> tuple[Path, int]:
    """A temporary file beside ``path`` made new (``O_EXCL``: never opened through a link or a
    file another user put there), under a name no other write uses."""
    for _ in range(100):
        tmp = path.with_name(f".{_short(path.name)}.{os.getpid()}.{secrets.token_hex(8)}{_SUFFIX}")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        except FileExistsError:
            continue   # someone put something under this name: another name
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None   # the file asked for
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", str(path))


def remove_stale_temporaries(path: str | Path, *, older_than: float = STALE_AFTER) -> None:
    """Remove the temporary files that writers of ``path`` killed midway left beside it: those
    whose process is gone and that were not written to for ``older_than`` seconds (a writer on
    another machine or in another PID namespace sharing the directory is not deleted under
    itself while it writes; 0 where no such writer can be, as after a killed ``node init``). A name is unlinked, never followed; what this user
    may not remove (another user's, in ``/tmp``) is left."""
    path = Path(path)
    names = temporary_names(path)
    now = time.time()
    try:
        entries = os.listdir(path.parent)
    except OSError:
        return
    for name in entries:
        found = names.fullmatch(name)
        if found is None or pid_alive(int(found.group(1))):
            continue
        leftover = path.with_name(name)
        try:
            if now - os.lstat(leftover).st_mtime >= older_than:
                leftover.unlink()
        except OSError:
            pass


def _keep_owner(fd: int, st: os.stat_result) -> None:
    """Give the new file the group (and, as root, the owner) of the one it replaces, as writing
    in place kept them: a report shared through its group (0640, group ``ops``) stays readable
    by that group. What this user may not give is left as it is."""
    if (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, st.st_uid if os.geteuid() == 0 else -1, st.st_gid)
    except PermissionError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:   # os.write may write less than asked
        view = view[os.write(fd, view):]


def follow_links(path: str | Path) -> Path:
    """``path`` with every symbolic link along it resolved, as ``os.path.realpath`` does, but
    refusing (:class:`PermissionError` naming the link) a link the kernel's ``protected_symlinks``
    would not follow: one in a sticky, world-writable directory (``/tmp``) owned by neither this
    user nor the directory's owner. Resolving a path ourselves skips the kernel's check, so
    another user's link in ``/tmp`` — the one named, or one that a link of ours points through —
    would choose where a file is written."""
    todo = [] if os.path.isabs(path) else list(Path(os.getcwd()).parts[1:])
    todo += [p for p in Path(path).parts if p != os.sep]
    done, hops = Path(os.sep), 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            done = done.parent
            continue
        step = done / name
        if not os.path.islink(step):
            done = step
            continue
        hops += 1
        if hops > 40:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
        parent = os.stat(done)
        if parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH \
                and os.lstat(step).st_uid not in (os.geteuid(), parent.st_uid):
            raise PermissionError(errno.EACCES, "a symbolic link another user made in a shared directory "
                                  "is not followed", str(step))
        target = os.readlink(step)
        if os.path.isabs(target):
            done = Path(os.sep)
        todo = [p for p in Path(target).parts if p != os.sep] + todo
    return done


def write_runtime_file(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, mode 0600: a temporary file beside it
    (``.NAME.<pid>``, which readers of the directory pass over) renamed over it, so a reader
    finds the old content or the new, never part of it.

    No fsync, unlike :func:`replace_file`: for files that matter only while a process runs (a
    server's URL, the counts of ``node serve --workers N``'s workers), written often or on
    every start. After a crash of the machine such a file may be empty or old, and the next run
    writes it again; an fsync would put a disk flush on each write for nothing."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
