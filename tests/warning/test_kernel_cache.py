"""The numba kernels' on-disk cache follows edits of the files of ``accord.warning`` the kernels
carry code or constants from (:mod:`accord.warning.kernel_cache`), not only of the kernel's own
file."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_digest_follows_the_contents_of_what_the_kernels_import(tmp_path):
    # a package laid out as accord.warning: a kernel module, what it imports (directly, through a
    # parenthesised list naming a module, through another module), and a module no kernel reaches
    (tmp_path / "sub").mkdir()
    files = {
        "k.py": "from accord.warning.kernel_cache import njit\nfrom accord.warning.c import X\n"
                "from accord.warning.sub import (\n    d,\n)\n",
        "c.py": "import accord.warning.e\nX = 1\n",
        "e.py": "E = 5\n",
        "sub/__init__.py": "",
        "sub/d.py": "D = 2\n",
        "other.py": "from accord.warning.c import X\nY = 3\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert [p.relative_to(tmp_path).as_posix() for p in kernel_cache.kernel_sources(tmp_path, ("k",))] == \
        ["c.py", "e.py", "k.py", "sub/__init__.py", "sub/d.py"]
    before = kernel_cache.source_digest(tmp_path, ("k",))
    os.utime(tmp_path / "c.py", (0, 0))
    (tmp_path / "other.py").write_text("Y = 4\n")               # no kernel reaches it
    assert kernel_cache.source_digest(tmp_path, ("k",)) == before
    for name in ("e.py", "sub/d.py"):
        (tmp_path / name).write_text(files[name].replace("= ", "= 1"))
        assert kernel_cache.source_digest(tmp_path, ("k",)) != before, name
        (tmp_path / name).write_text(files[name])
        assert kernel_cache.source_digest(tmp_path, ("k",)) == before


def _imported(path: Path) -> set[str]:
    # the accord.warning modules a file imports, from its syntax tree (the library finds them
    # with a regular expression): a module, or a name of it that is a module, and their packages
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("accord.warning"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("accord.warning")}
    parts = [m.split(".") for m in found]
    return found | {".".join(p[:k]) for p in parts for k in range(2, len(p))}


def _file(module: str) -> Path | None:
    base = kernel_cache.PACKAGE.joinpath(*module.split(".")[2:])
    return next((f for f in (base / "__init__.py", base.with_suffix(".py")) if f.is_file()), None)


def test_the_kernel_modules_are_the_modules_that_decorate_kernels():
    # a module using kernel_cache.njit, by name or through the module, is listed (and only those)
    decorating = set()
    for path in kernel_cache.PACKAGE.rglob("*.py"):
        text = path.read_text()
        if "njit" not in text:   # names no njit: none of the below
            continue
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.ImportFrom) and node.module == "accord.warning.kernel_cache"
                    and "njit" in {a.name for a in node.names}) \
                    or (isinstance(node, ast.Attribute) and node.attr == "njit"
                        and isinstance(node.value, ast.Name) and node.value.id == "kernel_cache"):
                decorating.add(".".join(path.relative_to(kernel_cache.PACKAGE).with_suffix("").parts))
    assert decorating == set(kernel_cache.KERNEL_MODULES) - {"kernel_cache"}


def test_the_digest_covers_every_file_the_kernels_reach(tmp_path):
    # the closure of the kernel modules' imports, found apart from the library's own search; then
    # an edit of any one of those files (in a copy of the package) changes the digest
    reached: set[Path] = set()
    todo = [_file(f"accord.warning.{m}") for m in kernel_cache.KERNEL_MODULES]
    while todo:
        path = todo.pop()
        if path is not None and path not in reached:
            reached.add(path)
            todo += [_file(m) for m in _imported(path)]
    assert set(kernel_cache.kernel_sources()) == reached
    assert len(reached) < len(list(kernel_cache.PACKAGE.rglob("*.py")))

    copy = tmp_path / "warning"
    shutil.copytree(kernel_cache.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = kernel_cache.source_digest(copy)
    assert before == kernel_cache.source_digest()
    for path in sorted(reached):
        edited = copy / path.relative_to(kernel_cache.PACKAGE)
        text = edited.read_bytes()
        # the same length (the digest holds each file's length too): its last byte changed
        edited.write_bytes(text[:-1] + (b"#" if text[-1:] != b"#" else b" "))
        assert kernel_cache.source_digest(copy) != before, edited
        edited.write_bytes(text)
    (copy / "alerts" / "cap.py").write_bytes(b"# edited\n")     # reached by no kernel
    assert kernel_cache.source_digest(copy) == before


def test_njit_refuses_a_kernel_of_a_module_not_listed():
    # its file would be left out of the digest: an edit of it would leave the old code cached
    def kernel(x):
        return x

    kernel.__module__ = "accord.warning.alerts.cap"
    with pytest.raises(ValueError, match="KERNEL_MODULES"):
        kernel_cache.njit(cache=True)(kernel)


def test_the_digest_reads_only_the_files_it_digests_each_once(monkeypatch):
    # read twice, the digest could be of other bytes than the imports were found in (an edit in
    # between), and every process decorating a kernel paid for the second read
    digested = set(kernel_cache.kernel_sources())
    reads: dict[Path, int] = {}
    read_bytes, read_text = Path.read_bytes, Path.read_text

    def counted(read):
        def wrapper(self, *args, **kwargs):
            reads[self] = reads.get(self, 0) + 1
            return read(self, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(Path, "read_bytes", counted(read_bytes))
    monkeypatch.setattr(Path, "read_text", counted(read_text))
    kernel_cache.source_digest()
    # only the files digested: not every file of the package
    assert set(reads) == digested
    assert set(reads.values()) == {1}


def test_every_kernel_of_the_library_is_decorated_through_kernel_cache():
    # a kernel decorated with numba's own njit/jit would be cached by its own file only
    direct = []
    for path in sorted((REPO / "accord").rglob("*.py")):
        text = path.read_text()
        if path.name == "kernel_cache.py" or "numba" not in text:   # names no numba: none of the below
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
                direct += [f"{path.relative_to(REPO)}: {a.name}" for a in node.names
                           if a.name in {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit"}]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "numba" and node.attr in {"njit", "jit"}:
                direct.append(f"{path.relative_to(REPO)}:{node.lineno}: numba.{node.attr}")
    assert direct == []


def test_the_librarys_kernels_reach_the_tracker_and_boost_not_the_alerts():
    names = {p.relative_to(kernel_cache.PACKAGE).as_posix() for p in kernel_cache.kernel_sources()}
    assert {"frames.py", "tracking/kernels.py", "tracking/burnout.py", "boost/likelihood.py",
            "boost/predict.py", "prediction.py"} <= names
    assert not {n for n in names if n.startswith(("alerts/", "io/"))}


def test_has_compiled_code_tells_an_empty_or_half_filled_cache_from_a_warmed_one(tmp_path, monkeypatch):
    # the kernels decorated (and the boost bank's file named) before cache_dir is replaced: a
    # kernel module first imported below would put its cache in tmp_path, and the warm-up would
    # compile every kernel afresh (~90 s of CPU in a process that had not imported them yet)
    import importlib

    import accord.warning.boost  # noqa: F401 - the warm-up's bank, kept where cache_dir says
    for module in kernel_cache.KERNEL_MODULES:
        importlib.import_module(f"accord.warning.{module}")
    from accord.warning.tracking import warm_up

    monkeypatch.setattr(kernel_cache, "cache_dir", lambda package=kernel_cache.PACKAGE: str(tmp_path))
    assert not kernel_cache.has_compiled_code()
    (tmp_path / "tracking_x").mkdir()
    (tmp_path / "tracking_x" / "kernels.f-12.py311.nbi").write_bytes(b"")
    assert not kernel_cache.has_compiled_code()   # a first run stopped half-way: still compiling
    warm_up()   # the kernels are cached where they are; the mark goes where cache_dir says
    assert (tmp_path / kernel_cache.WARM_MARK).exists()
    assert kernel_cache.has_compiled_code()
    monkeypatch.setattr(kernel_cache, "cache_dir", lambda package=kernel_cache.PACKAGE: None)
    assert not kernel_cache.has_compiled_code()   # no writable cache: every run compiles


SENSOR = {"id": "R1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
          "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "scan_period_s": 1.0, "scan_offset_s": 0.0,
          "pd": 0.9, "clutter_per_scan": 5.0, "min_range_m": 50000.0, "max_range_m": 2000000.0,
          "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 260.0, "az_half_width_deg": 60.0}


def _track(tmp_path, *args):
    from typer.testing import CliRunner

    from accord.cli.main import app

    lines = [json.dumps({"format": "accord-detections/1", "sensors": [SENSOR]})]
    lines += [json.dumps({"t": float(t), "sensor": "R1", "range_m": 8e5, "az_rad": 4.5, "el_rad": 0.1})
              for t in range(3)]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return CliRunner().invoke(app, ["warning", "track", str(path), "--out", str(tmp_path / "o"), *args])


def test_warning_track_says_it_compiles_and_reports_the_compile_apart_from_tracking(tmp_path, monkeypatch):
    import sys

    import accord.warning.pipeline  # noqa: F401 - compiled (or loaded) before the clock of this test
    from accord.cli import warning_track

    # a fresh process after an install: the pipeline not yet imported, the cache empty
    monkeypatch.delitem(sys.modules, "accord.warning.pipeline")
    monkeypatch.setattr(kernel_cache, "has_compiled_code", lambda package=kernel_cache.PACKAGE: False)
    res = _track(tmp_path)
    assert res.exit_code == 0, res.output
    assert warning_track.COMPILE_NOTICE in res.stderr
    assert " s of tracking (" in res.stdout
    assert "compiling the tracker's kernels took" in res.stdout

    monkeypatch.delitem(sys.modules, "accord.warning.pipeline")
    res = _track(tmp_path, "--json")
    summary = json.loads(res.stdout)
    assert summary["kernels_compiled"] is True and summary["kernel_load_seconds"] >= 0


def test_warning_track_is_silent_about_compiling_when_the_cache_holds_the_kernels(tmp_path, monkeypatch):
    import sys

    import accord.warning.pipeline  # noqa: F401
    from accord.cli import warning_track

    monkeypatch.delitem(sys.modules, "accord.warning.pipeline")
    monkeypatch.setattr(kernel_cache, "has_compiled_code", lambda package=kernel_cache.PACKAGE: True)
    res = _track(tmp_path, "--json")
    assert res.exit_code == 0, res.output
    assert warning_track.COMPILE_NOTICE not in res.stderr
    assert json.loads(res.stdout)["kernels_compiled"] is False


def test_a_cache_directory_another_user_could_write_to_is_not_used(tmp_path, monkeypatch):
    """numba's cache holds pickled code: a directory made first by someone else in a shared root
    (a predictable name under /tmp), or opened to the group, is passed over for the next root."""
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    shared.mkdir()
    mine.mkdir()
    monkeypatch.setattr(kernel_cache, "cache_roots", lambda package=kernel_cache.PACKAGE: [str(shared), str(mine)])
    parent = "accord-" + hashlib.sha1(str(kernel_cache.PACKAGE).encode()).hexdigest()[:12]
    planted = shared / parent
    planted.mkdir()
    planted.chmod(0o777)
    got = kernel_cache.cache_dir.__wrapped__()
    assert got is not None and got.startswith(str(mine))
    planted.chmod(0o755)      # the same directory, no longer writable by others, is used again
    assert kernel_cache.cache_dir.__wrapped__().startswith(str(shared))
