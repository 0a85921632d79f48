"""The bench scripts that borrow the tests' helpers (``sys.path`` into tests/) still import: a
helper moved or given a new import (tests/loopback.py) broke three of them unseen, since the suite
runs no bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
BORROWING = sorted(p.name for p in BENCH.glob("*.py") if '"tests"' in p.read_text())


def test_the_borrowing_benches_are_found():
    assert {"console.py", "federation.py", "tak.py", "taxii.py"} <= set(BORROWING)


@pytest.mark.parametrize("name", BORROWING)
def test_a_bench_borrowing_the_tests_helpers_imports_and_answers_help(name):
    done = subprocess.run([sys.executable, str(BENCH / name), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
