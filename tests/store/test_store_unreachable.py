"""A command whose node database (PostgreSQL) cannot be reached says so in one line naming the
reason — the server refusing connections, a database that is not there — and nothing else: no
multi-line warning per connection attempt from psycopg's pool before it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
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


def test_a_running_node_whose_database_goes_away_names_the_reason_without_pool_noise(tmp_path, caplog):
    """A statement while the server is down fails with the reason of the pool's last connection
    attempt (not only "couldn't get a connection after 2.00 sec"), and psycopg's pool logs no
    warning per attempt meanwhile."""
    import logging

    from accord.errors import StoreUnavailable
    from pgserver import OwnServer

    server = OwnServer()
    server.start()
    try:
        node = Node.init(tmp_path / "jpn", party="JPN", store=server.url)
        try:
            caplog.set_level(logging.DEBUG, logger="psycopg")
            server.stop("immediate")
            time.sleep(1.5)  # the pool tries to reconnect meanwhile
            with pytest.raises(StoreUnavailable) as caught:
                for _ in range(3):  # the first statements may find the connection they held closed
                    try:
                        node.conn.execute("SELECT COUNT(*) FROM items").fetchone()
                    except StoreUnavailable as exc:
                        if "couldn't get a connection" in str(exc):
                            raise
            assert "last connection attempt" in str(caught.value), str(caught.value)
            assert "refused" in str(caught.value) or "No such file" in str(caught.value), str(caught.value)
            noise = [r.getMessage() for r in caplog.records
                     if r.name.startswith("psycopg") and r.levelno >= logging.WARNING]
            assert not noise, noise
            server.start()
            assert wait_until(lambda: _answers(node)), "the node did not reconnect"
        finally:
            node.close()
    finally:
        server.remove()


def _answers(node) -> bool:
    from accord.errors import StoreUnavailable

    try:
        return node.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    except StoreUnavailable:
        return False


def wait_until(pred, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_a_password_libpq_quotes_in_its_error_is_not_in_the_error_line(tmp_path):
    # a password with a bare '%' is a malformed URL: libpq's error quotes the token
    # ('invalid percent-encoded token: "s3%zzcret"'), and the cannot-connect line names that error
    from accord.errors import AccordError
    from accord.store.postgres import PostgresStore

    with pytest.raises(AccordError) as err:
        PostgresStore("postgresql://postgres:s3%zzcret@127.0.0.1:5432/test")
    assert "percent-encoded" in str(err.value)   # the reason is still named
    assert "s3%zzcret" not in str(err.value) and "zzcret" not in str(err.value)
    assert "***" in str(err.value)
