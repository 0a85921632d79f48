"""Where the numba kernels of ``accord.warning`` keep their compiled code: a cache keyed by the
source of the whole package.

numba's ``cache=True`` checks a cached function against its own source file only. A kernel that
calls a kernel of another file (``burnout`` calling ``kernels.imm_predict``, ``boost.predict``
calling ``likelihood.log_like``) or reads another module's constant (``frames.MU``) has that
code compiled into its own, so after an edit of the other file it would go on running the old
code from the cache until the cache was cleared. The kernels are therefore decorated with
:func:`njit` below, which puts their cache in a directory named by a digest of the files the
kernels can carry code or constants from (:func:`kernel_sources`: the kernels' modules, listed in
:data:`KERNEL_MODULES`, and what they import from the package; contents, not times): an edit of
one of them starts a fresh cache, and the directories of other digests are removed when it is
made.

The directory is below ``NUMBA_CACHE_DIR`` when that is set, else in the package's
``__pycache__``, else (a read-only install) in numba's user-wide cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numba.core.config
from numba.misc.appdirs import AppDirs

# numba's settings module: it sets its names (CACHE_DIR …) at run time, from the environment
config: Any = numba.core.config
PACKAGE = Path(__file__).resolve().parent

_decorating = threading.Lock()


_IMPORTED = re.compile(r"^[ \t]*from[ \t]+(accord\.warning[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n]*))"
                       r"|^[ \t]*import[ \t]+(accord\.warning[\w.]*)", re.M)


def _module_file(package: Path, module: str) -> Path | None:
    """The file of ``accord.warning.<…>`` ``module`` below ``package``, if it is one."""
    parts = module.split(".")[2:]
    base = package.joinpath(*parts)
    for path in (base / "__init__.py", base.with_suffix(".py") if parts else None):
        if path is not None and path.is_file():
            return path
    return None


# The modules (below accord.warning) that decorate kernels with :func:`njit`, where the search
# for what the kernels carry starts. Listed rather than found, so that only the files digested are
# read (finding them meant reading every file of the package); :func:`njit` refuses a kernel of a
# module not listed, so the list cannot fall behind the code. This module is listed too: an edit
# of how the kernels are decorated starts a fresh cache as well.
KERNEL_MODULES = ("kernel_cache", "prediction", "boost.flight", "boost.likelihood", "boost.predict",
                  "sim_kernels", "tracking.burnout", "tracking.filters", "tracking.history", "tracking.kernels")


def kernel_sources(package: Path = PACKAGE, modules: tuple[str, ...] = KERNEL_MODULES) -> list[Path]:
    """The files whose code or constants a kernel can carry: the kernels' ``modules`` and every
    module of the package they import, directly or not (what numba compiles into a kernel is
    called or read through such imports). Edits elsewhere in the package (``alerts``, ``io`` …)
    leave the cache as it is."""
    return list(_kernel_contents(package, modules))


def _kernel_contents(package: Path, modules: tuple[str, ...]) -> dict[Path, bytes]:
    """:func:`kernel_sources` (in that order) with their contents: each file read once, and only
    those files; the digest is of the bytes the imports were found in."""
    todo = []
    for module in modules:
        path = _module_file(package, f"accord.warning.{module}")
        if path is None:
            raise FileNotFoundError(f"kernel module accord.warning.{module} not found below {package}")
        todo.append(path)
    data: dict[Path, bytes] = {}
    while todo:
        path = todo.pop()
        if path in data:
            continue
        data[path] = raw = path.read_bytes()
        # decoded as read_text would (UTF-8, universal newlines)
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        for frm, listed, names, imp in _IMPORTED.findall(text):
            module, names = frm or imp, listed or names
            found = [_module_file(package, module)]
            found += [_module_file(package, f"{module}.{name}") for name in re.split(r"[\s,]+", names) if name]
            # a package's __init__ comes with any of its modules
            found += [_module_file(package, ".".join(module.split(".")[:k])) for k in range(2, module.count(".") + 1)]
            todo += [f for f in found if f is not None and f not in data]
    return dict(sorted(data.items()))


def source_digest(package: Path = PACKAGE, modules: tuple[str, ...] = KERNEL_MODULES) -> str:
    """A digest of the names and contents of :func:`kernel_sources`."""
    digest = hashlib.sha256()
    for path, data in _kernel_contents(package, modules).items():
        digest.update(f"{path.relative_to(package).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def cache_roots(package: Path = PACKAGE) -> list[str]:
    """The directories tried, in order, for the cache: ``NUMBA_CACHE_DIR`` if set, the
    package's ``__pycache__``, numba's user-wide cache directory."""
    user_wide = AppDirs(appname="numba", appauthor=False).user_cache_dir
    return ([config.CACHE_DIR] if config.CACHE_DIR else []) + [str(package / "__pycache__"), user_wide]


@functools.cache
def cache_dir(package: Path = PACKAGE) -> str | None:
    """The cache directory of this source of ``package`` (created), the other digests' directories
    of the same package removed; None if no root is writable (numba then decides)."""
    # one parent per installed copy of the package, so that two checkouts sharing a cache root
    # do not remove each other's caches
    parent = "accord-" + hashlib.sha1(str(package).encode()).hexdigest()[:12]
    digest = source_digest(package)
    for root in cache_roots(package):
        path = os.path.join(root, parent, digest)
        try:
            os.makedirs(path, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()   # writable (numba's own test)
        except OSError:
            continue
        if not (_own(os.path.join(root, parent)) and _own(path)):
            continue   # another user could put code in it (numba's cache is pickled)
        for stale in os.scandir(os.path.join(root, parent)):
            if stale.name != digest:
                # a process still running that source recreates its directory when it saves
                shutil.rmtree(stale.path, ignore_errors=True)
        return path
    return None


def _own(path: str) -> bool:
    """Whether ``path`` is this user's and no one else may write to it: numba's cache holds
    pickled code and the boost bank, so a directory another user can write to (made first in a
    shared root such as ``/tmp``, or opened to the group) is not used."""
    try:
        return owned_alone(os.stat(path))
    except OSError:
        return False


def owned_alone(st: os.stat_result) -> bool:
    """Whether a file or directory with status ``st`` is this user's and writable by no one else."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


#: written into :func:`cache_dir` once the tracker's warm-up has run every kernel there
#: (:func:`mark_warm`): numba writes each kernel's cache file as it compiles it, so cache files
#: alone may be those of a first run stopped half-way
WARM_MARK = "warmed-up"


def mark_warm(package: Path = PACKAGE) -> None:
    """Record that every kernel of this source of ``package`` is compiled in :func:`cache_dir`
    (called at the end of :func:`accord.warning.tracking.warm_up`); nothing if none is writable."""
    path = cache_dir(package)
    if path is not None:
        try:
            Path(path, WARM_MARK).touch()
        except OSError:
            pass   # the next run says it compiles, and loads what is cached


def has_compiled_code(package: Path = PACKAGE) -> bool:
    """Whether :func:`cache_dir` holds the compiled kernels of this source of ``package`` (the
    warm-up finished there, :func:`mark_warm`): False after an install or an edit of a kernel's
    source, when the first use compiles them (about a minute on two cores), after a first run
    stopped before its warm-up ended, and when no cache directory is writable."""
    path = cache_dir(package)
    return path is not None and Path(path, WARM_MARK).exists()


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` with the function's cache (``cache=True``) in :func:`cache_dir`.

    numba picks a function's cache directory once, when it is decorated, from
    ``numba.config.CACHE_DIR``: that is set for the decoration only, so other code's numba
    caches stay where they were."""

    def decorate(func: Callable[..., Any]) -> Any:
        module = func.__module__.removeprefix("accord.warning.")
        if module not in KERNEL_MODULES:
            # its file would not be in the digest: an edit of it would leave stale cached code
            raise ValueError(f"kernel {func.__module__}.{func.__qualname__}: its module is not in "
                             "accord.warning.kernel_cache.KERNEL_MODULES")
        with _decorating:
            previous = config.CACHE_DIR
            if options.get("cache"):
                config.CACHE_DIR = cache_dir() or previous
            try:
                return numba.njit(**options)(func)
            finally:
                config.CACHE_DIR = previous

    return decorate
