"""An exercise's output directory: whose run it holds, and when it may be replaced.

The directory carries a marker (:data:`MARKER`) naming the run that wrote it (scenario, seed,
transport). A directory Accord did not make is never touched; another run's output is replaced
only with ``force``, so one run cannot silently overwrite the report of another.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from accord.errors import InputError
from accord.exercise.report import replace_text

MARKER = ".accord-exercise"
FORMAT = "accord-exercise-output/1"


def claim_out_dir(out: Path, run: dict[str, Any], *, force: bool = False) -> None:
    """Make ``out`` the output directory of ``run``: empty or new, or the output of the same run
    (replaced); another run's output only with ``force``."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError(f"{out} exists and is not an exercise output directory; choose another --out",
                             field="out")
        before = read_marker(marker)
        if before != run and not force:
            raise InputError(f"{out} holds the output of another run ({describe_run(before)}; this run: "
                             f"{describe_run(run)}); choose another --out, or pass --force to replace it",
                             field="out")
        # the marker goes last: a run killed while it clears the directory (``kill -9``, a power
        # cut) leaves it still Accord's, which the same command clears again (removing the
        # marker first left a directory refused ever after as "not an exercise output directory")
        for entry in out.iterdir():
            if entry.name != MARKER:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    replace_text(marker, json.dumps({"format": FORMAT, **run}) + "\n")


def read_marker(path: Path) -> dict[str, Any] | None:
    """The run identity an output directory's marker records (None: unknown, an older marker)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return {k: data.get(k) for k in ("scenario", "seed", "transport")}


def describe_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "a run that did not record its scenario, seed and transport"
    return f"scenario {run['scenario']}, seed {run['seed']}, transport {run['transport']}"
