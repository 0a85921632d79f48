"""A command whose node database (PostgreSQL) cannot be reached says so in one line naming the
reason — the server refusing connections, a database that is not there — and nothing else: no
multi-line warning per connection attempt from psycopg's pool before it."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from accord.node import Node

from loopback import free_port

pytestmark = pytest.mark.postgresql


def _accord(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accord", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _point_at(node_dir: Path, url: str) -> None:
    yaml = node_dir / "node.yaml"
    yaml.write_text(re.sub(r"(?m)^store: .*$", f"store: {url}", yaml.read_text()))


@pytest.mark.parametrize("fault", ["port", "database"])
def test_an_unreachable_database_is_one_error_line_with_its_reason(tmp_path, pg_schemas, fault):
    d = tmp_path / "jpn"
    Node.init(d, party="JPN", store=pg_schemas.make()).close()
    if fault == "port":
        _point_at(d, f"postgresql://postgres@127.0.0.1:{free_port()}/test")
        reason = "Connection refused"
    else:
        missing = f"accord_missing_{uuid.uuid4().hex[:8]}"
        _point_at(d, f"postgresql://postgres@127.0.0.1:5432/{missing}")
        reason = f'database "{missing}" does not exist'
    for args in (("node", "status"), ("ledger", "verify"), ("node", "prune", "--keep", "0")):
        done = _accord(*args, "--dir", d)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ") and "cannot connect" in lines[0]
        assert reason in lines[0], lines[0]
