"""Files a node writes are its owner's alone: mode 0600 (directories 0700), whatever the umask.

A node directory holds its private key, its configuration (partners' URLs), its database (items,
the ledger, hashed API tokens) with SQLite's ``-wal`` and ``-shm`` files, and its TLS key. The
process umask is the operator's (``umask 000`` in a container, ``002`` on a shared host), so
every file is created with an explicit mode, and the mode is set again with ``fchmod`` because
``open``'s mode is only an upper bound that the umask narrows further.

SQLite creates ``-wal`` and ``-shm`` with the mode of the database file itself (``unixOpen``
copies it and ``fchmod``s past the umask), so a database created here 0600 keeps its
companions 0600 too.

:func:`write_private` replaces a file whole or not at all through
:func:`accord.core.files.replace_file`, which also writes the files the operator names (an
export's ``--out``): those keep the mode they had (or get the umask's), as the operator chose it.
"""

from __future__ import annotations

import os
from pathlib import Path

from accord.core.files import FILE_MODE, replace_file

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
