"""The numba kernels' on-disk cache follows edits of any file of ``accord.warning``
(:mod:`accord.warning.kernel_cache`), not only of the kernel's own file."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from accord.warning import kernel_cache

REPO = Path(__file__).resolve().parents[2]

# flight.fly starts every motor at x = frames.EARTH_RADIUS_M: numba compiles that constant of
# another file into fly's cached code
FLY = ("import numpy as np\n"
       "from accord.warning.boost.flight import fly\n"
       "one = np.ones(1)\n"
       "out, burn = fly(20.0 * one, 5.0 * one, 10.0 * one, 0.5 * one, 0.5, 10.0 * one, 1.0, 0.5, 1.0)\n"
       "print(repr(float(out[0, 0, 0])), fly.stats.cache_hits.total() > 0)\n")


def _run(tree: Path, cache: Path) -> tuple[float, bool]:
    env = {"PYTHONPATH": str(tree), "PATH": "", "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", FLY], cwd=tree, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    radius, hit = out.stdout.split()
    return float(radius), hit == "True"


def test_an_edit_of_another_file_reaches_a_cached_kernel(tmp_path):
    # a copy of the package (the cache of the repository's own kernels is left alone): run,
    # edit frames.py (not flight.py), run in a fresh process. numba's own cache key (fly's file)
    # would hand back the code compiled with the old radius.
    tree = tmp_path / "src"
    shutil.copytree(REPO / "accord" / "warning", tree / "accord" / "warning",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "accord" / "__init__.py", tree / "accord" / "__init__.py")
    cache = tmp_path / "cache"
    assert _run(tree, cache) == (6_371_000.0, False)
    assert _run(tree, cache) == (6_371_000.0, True)          # cached, and loaded from the cache

    frames = tree / "accord" / "warning" / "frames.py"
    text = frames.read_text()
    assert "EARTH_RADIUS_M = 6_371_000.0\n" in text
    frames.write_text(text.replace("EARTH_RADIUS_M = 6_371_000.0\n", "EARTH_RADIUS_M = 6_378_137.0\n"))
    assert _run(tree, cache) == (6_378_137.0, False)
    assert _run(tree, cache) == (6_378_137.0, True)
    # below the user's NUMBA_CACHE_DIR, one directory per source: the old one is gone
    (package_dir,) = cache.iterdir()
    assert [p.name for p in package_dir.iterdir()] == [kernel_cache.source_digest(tree / "accord" / "warning")]


def test_the_digest_follows_contents_not_times(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("X = 1\n")
    (tmp_path / "sub" / "b.py").write_text("Y = 2\n")
    before = kernel_cache.source_digest(tmp_path)
    os.utime(tmp_path / "a.py", (0, 0))
    assert kernel_cache.source_digest(tmp_path) == before
    (tmp_path / "sub" / "b.py").write_text("Y = 3\n")
    assert kernel_cache.source_digest(tmp_path) != before
    (tmp_path / "sub" / "b.py").write_text("Y = 2\n")
    assert kernel_cache.source_digest(tmp_path) == before
    (tmp_path / "sub" / "b.py").rename(tmp_path / "b.py")       # same bytes, another module
    assert kernel_cache.source_digest(tmp_path) != before


def test_every_kernel_of_the_library_is_decorated_through_kernel_cache():
    # a kernel decorated with numba's own njit/jit would be cached by its own file only
    direct = []
    for path in sorted((REPO / "accord").rglob("*.py")):
        if path.name == "kernel_cache.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
                direct += [f"{path.relative_to(REPO)}: {a.name}" for a in node.names
                           if a.name in {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit"}]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "numba" and node.attr in {"njit", "jit"}:
                direct.append(f"{path.relative_to(REPO)}:{node.lineno}: numba.{node.attr}")
    assert direct == []
