"""`accord warning alerts` replaces an earlier alert directory as one set: killed at any point,
``--out`` still holds a whole alert sequence (the earlier one or the new one) — never no directory
between two renames — and what a killed run left beside it is removed by the next run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_alerts_cli import hokkaido_preds, write_preds

from alerts_helpers import make_pred


def _alerts(src: Path, out: Path, hook: str = "") -> subprocess.CompletedProcess:
    """The real command in a child process, with ``hook`` run first (to kill it at some point)."""
    code = textwrap.dedent("""
        import os, pathlib, signal, sys
        out = sys.argv[2]
    """) + textwrap.dedent(hook) + textwrap.dedent("""
        from accord.cli.main import app
        sys.argv = ["accord", "warning", "alerts", sys.argv[1], "--party", "JPN", "--out", out]
        app()
    """)
    return subprocess.run([sys.executable, "-c", code, str(src), str(out)], capture_output=True, text=True,
                          timeout=300)


def _whole(out: Path) -> dict[str, bytes]:
    """The alert directory's files, checked to be one sequence (the index names exactly its files)."""
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert sorted(os.listdir(out)) == sorted([m["file"] for m in index["messages"]] + ["index.json"])
    return {name: (out / name).read_bytes() for name in os.listdir(out)}


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    write_preds(old, hokkaido_preds())
    write_preds(new, [make_pred(300, 43.3, 140.0, 8_000, 4_000, 90, impact_t=400, track="T7"),
                      make_pred(320, 43.3, 140.05, 6_000, 3_000, 90, impact_t=400, track="T7")])
    return old, new


def test_a_kill_when_the_earlier_alerts_would_be_moved_aside_leaves_a_whole_alert_directory(tmp_path):
    old_src, new_src = _sources(tmp_path)
    out = tmp_path / "alerts"
    assert _alerts(old_src, out).returncode == 0
    before = _whole(out)
    # killed (SIGKILL) once the earlier directory is renamed away from --out, if it ever is: a
    # writer doing so leaves no --out at all from there until its second rename
    r = _alerts(new_src, out, """
        real = os.rename
        def rename(src, dst, *a, **k):
            real(src, dst, *a, **k)
            if os.fspath(src) == out:
                os.kill(os.getpid(), signal.SIGKILL)
        os.rename = rename
    """)
    assert r.returncode in (0, -9), r.stderr
    after = _whole(out)  # a whole sequence: here the new one, swapped in with the old in one step
    assert after != before and "T7" in after["index.json"].decode()
    assert sorted(os.listdir(tmp_path)) == ["alerts", "new.jsonl", "old.jsonl"]


def test_a_kill_at_the_second_file_leaves_the_earlier_alerts_and_the_next_run_cleans_up(tmp_path):
    old_src, new_src = _sources(tmp_path)
    out = tmp_path / "alerts"
    assert _alerts(old_src, out).returncode == 0
    before = _whole(out)
    r = _alerts(new_src, out, """
        real = pathlib.Path.write_bytes
        written = []
        def write_bytes(self, data):
            written.append(self)
            if len(written) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, data)
        pathlib.Path.write_bytes = write_bytes
    """)
    assert r.returncode == -9, r.stderr
    assert _whole(out) == before
    assert len(os.listdir(tmp_path)) == 4  # the killed run's partial directory beside it
    assert _alerts(new_src, out).returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["alerts", "new.jsonl", "old.jsonl"]  # the leftover removed
    assert "T7" in _whole(out)["index.json"].decode()
