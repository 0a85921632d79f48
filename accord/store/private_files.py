"""Files a node writes are its owner's alone: mode 0600 (directories 0700), whatever the umask.

A node directory holds its private key, its configuration (partners' URLs), its database (items,
the ledger, hashed API tokens) with SQLite's ``-wal`` and ``-shm`` files, and its TLS key. The
process umask is the operator's (``umask 000`` in a container, ``002`` on a shared host), so
every file is created with an explicit mode, and the mode is set again with ``fchmod`` because
``open``'s mode is only an upper bound that the umask narrows further.

SQLite creates ``-wal`` and ``-shm`` with the mode of the database file itself (``unixOpen``
copies it and ``fchmod``s past the umask), so a database created here 0600 keeps its
companions 0600 too.

Files the operator names (an export's ``--out``) are replaced the same way, whole or not at all,
by :func:`replace_file`, but keep the mode they had (or get the umask's): the operator chose it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Make directory ``path`` (and its parents) if missing; set its mode to 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def write_private(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename), mode 0600. A write
    that fails (a full disk) leaves ``path`` as it was and no temporary file, and its error
    names ``path``."""
    replace_file(path, data, mode=FILE_MODE)


def replace_file(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` whole or not at all: ``NAME.tmp`` beside it is written,
    fsynced and renamed over it. A write that fails (a full disk) or is interrupted (Ctrl-C)
    leaves ``path`` as it was and no temporary file, and its error names ``path``.

    ``mode``: the file's mode, whatever the umask. None (a file the operator names, such as an
    export's ``--out``): an existing file keeps its mode and group (its owner too, as root), a new
    one gets the umask's mode, as writing it in place did; a symbolic link keeps pointing where it did and its target is replaced (not one
    :func:`follow_links` refuses: another user's in ``/tmp``). A
    device or a pipe (``--out /dev/stdout``) has no file to replace: it is written to as it is."""
    path = Path(path)
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        with open(path, "wb") as fh:   # renamed over, /dev/null would become a file
            fh.write(data)
        return
    if mode is None and os.path.islink(path):
        path = follow_links(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        kept = st if mode is None else None   # an operator's file: its mode, group and owner kept
        if mode is None and st is not None:
            mode = stat.S_IMODE(st.st_mode)   # a new file: the umask's mode, from os.open below
        tmp.unlink(missing_ok=True)   # a stale one would lend the new file its mode
        # made new, never opened through a link or a file another user put there meanwhile
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     FILE_MODE if mode is not None else 0o666)
        try:
            if kept is not None:
                _keep_owner(fd, kept)
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:   # os.write may write less than asked
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename) == str(tmp)):
            raise OSError(exc.errno, exc.strerror, str(path)) from None   # the file asked for, not NAME.tmp
        raise


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


def make_private(path: str | Path) -> None:
    """Create ``path`` empty if it does not exist; give it mode 0600 if this process owns it.

    For files another program fills in (SQLite's database): an existing file made looser by an
    earlier umask is narrowed too, by path. An existing file is never opened here: closing any
    descriptor of a file drops every POSIX lock this process holds on it, and SQLite's locks on
    a database that another connection of this process has open are exactly such locks.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow_private(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def narrow_private(path: str | Path) -> None:
    """Set an existing file's mode to 0600 (by path, never opening it) if this process owns it."""
    st = os.stat(path)
    if st.st_mode & 0o777 != FILE_MODE and st.st_uid == os.geteuid():
        os.chmod(path, FILE_MODE)
