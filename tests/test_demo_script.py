"""scripts/demo.sh installs Accord only when pyproject.toml changed since the last install (issue
#16, item 12). Run against a copy of the script in a scratch checkout, with stand-ins for
python3, the venv's python (pip) and accord that only log how they were called."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LOGGER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$LOG"
"""
# python3 -m venv .venv: make the venv's python; its "-m pip install -e ." makes .venv/bin/accord
PYTHON3 = LOGGER + """[ "$1 $2" = "-m venv" ] || exit 0
mkdir -p "$3/bin"
cat > "$3/bin/python" <<'PY'
#!/bin/sh
echo "python $*" >> "$LOG"
[ "$1" = "-" ] && cat > /dev/null
[ -n "$FAIL_PIP" ] && [ "$2" = "pip" ] && exit 1
[ "$2 $3" = "pip install" ] && [ "$5" = "-e" ] && printf '#!/bin/sh\\necho "accord $*" >> "$LOG"\\n' > .venv/bin/accord \
  && chmod +x .venv/bin/accord
exit 0
PY
chmod +x "$3/bin/python"
"""


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "python3").write_text(PYTHON3)
    (fake / "python3").chmod(0o755)
    return tmp_path


def demo(checkout: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = checkout / "calls.log"
    log.unlink(missing_ok=True)
    r = subprocess.run(["bash", str(checkout / "scripts" / "demo.sh"), "--no-progress"], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, "PATH": f"{checkout / 'fakebin'}:{os.environ['PATH']}", "LOG": str(log),
                            **env})
    return r, log.read_text().splitlines() if log.exists() else []


def installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("python3 -m venv") or " -m pip " in f" {c} "]


def test_demo_installs_once_then_only_when_pyproject_changes(checkout):
    r, calls = demo(checkout)
    assert r.returncode == 0, r.stderr
    assert installs(calls) == ["python3 -m venv .venv", "python -m pip install -q --upgrade pip",
                               "python -m pip install -q -e ."]
    assert calls[-1] == "accord exercise run --no-progress"
    stamp = checkout / ".venv" / "accord-install.stamp"
    assert stamp.read_text().strip() == hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()

    r, calls = demo(checkout)  # nothing changed: straight to the exercise
    assert r.returncode == 0 and installs(calls) == [] and calls[-1] == "accord exercise run --no-progress"
    assert "Accord is installed in .venv (pyproject.toml unchanged since" in r.stdout

    with open(checkout / "pyproject.toml", "a") as fh:
        fh.write("# a new dependency, say\n")
    r, calls = demo(checkout)
    assert r.returncode == 0 and len(installs(calls)) == 3 and "installing Accord" in r.stdout


def test_a_failed_install_leaves_no_stamp_so_the_next_run_installs_again(checkout):
    r, calls = demo(checkout, FAIL_PIP="1")
    assert r.returncode == 1 and "error: pip install" in r.stderr
    assert not (checkout / ".venv" / "accord-install.stamp").exists()
    assert not any(c.startswith("accord ") for c in calls)
    r, calls = demo(checkout)
    assert r.returncode == 0 and len(installs(calls)) == 3
