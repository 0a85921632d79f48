"""The README's tour works from a scratch directory (issue #16, item 12): it names every file it
takes from the checkout through ``$ACCORD``, those files exist, and the commands that read them
run, as written in the README, from an empty directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tour_commands() -> list[str]:
    """The ``$ `` commands of the README's tour, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = text[text.index("## A tour, command by command"):text.index("## Measured")]
    commands: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", tour, flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("$ "):
                cmd = lines[i][2:]
                while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
                commands.append(cmd)
            i += 1
    return commands


def test_tour_names_checkout_files_through_accord_and_they_exist():
    commands = tour_commands()
    assert len(commands) > 40
    for cmd in commands:
        for path in re.findall(r"\$ACCORD/([^\s:;]+)", cmd):
            assert path.startswith(".venv/") or (ROOT / path).exists(), cmd
        code = re.sub(r"\s#\s.*$", "", cmd)  # a comment may name checkout files
        bare = re.findall(r"(?<![\w$/.-])((?:tests|accord|docs|bench|scripts)/\S+)", code)
        assert not bare, f"a path relative to the checkout, which a scratch directory lacks: {cmd}"


def test_tour_commands_that_read_checkout_files_run_from_an_empty_directory(tmp_path):
    wanted = ("accord node init", "key()", "accord node partner add", "accord intel add-collection",
              "accord intel import", "accord exercise validate")
    # (the --skip-invalid import exits 2 on purpose: it skipped objects; its path is checked above)
    script = "\n".join(c for c in tour_commands() if c.startswith(wanted) and "--skip-invalid" not in c)
    assert script.count("\n") + 1 == 8, script
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "ACCORD": str(ROOT),
                                         "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pinned KOR" in r.stdout and "pinned JPN" in r.stdout
    assert "ok: " in r.stdout and "small-drill" in r.stdout
