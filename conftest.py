"""Test-run settings shared by every area.

Hypothesis profiles: ``dev`` (the default) draws fresh random examples on every run, so local
runs keep exploring; ``ci`` (``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``) is derandomized, so a
CI result depends on the code alone and never on a lucky or unlucky draw. ``soak``
(``scripts/property-soak.sh``) draws fresh random examples round after round and prints a
reproduction blob on failure. A failure found locally is fixed and, where it was subtle, kept
as an explicit test.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings

from accord.store.base import begin_write

# tests/ on the import path for every area: its helper modules (loopback.py: ports for the
# servers the tests start) are imported by name from each directory's tests
sys.path.insert(0, str(Path(__file__).parent / "tests"))

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("soak", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def while_uncommitted() -> Callable[..., None]:
    """``run(lock, conn, write, action)``: run ``action`` in a thread while another thread — as
    the federation or an API request would on a node's shared connection — holds ``lock`` with
    ``write(conn)`` done inside an open transaction; that transaction is then rolled back.
    ``action`` gets half a second to (wrongly) run ahead of the lock before the rollback.
    An exception in either thread is raised again in the test (a thread's exception would
    otherwise only be a warning, and the test would pass on whatever it asserts afterwards)."""
    def run(lock: Any, conn: Any, write: Callable[[Any], Any], action: Callable[[], Any]) -> None:
        holding, release = threading.Event(), threading.Event()
        raised: list[BaseException] = []

        def writer() -> None:
            try:
                with lock:
                    begin_write(conn)
                    write(conn)
                    holding.set()
                    release.wait(10)
                    conn.rollback()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test below
                raised.append(exc)
                holding.set()

        def acting() -> None:
            try:
                action()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test below
                raised.append(exc)

        w = threading.Thread(target=writer)
        w.start()
        assert holding.wait(10)
        t = threading.Thread(target=acting)
        t.start()
        t.join(timeout=0.5)  # it must wait for the writer's lock
        release.set()
        w.join(10)
        t.join(10)
        assert not w.is_alive() and not t.is_alive(), "a thread of while_uncommitted did not finish"
        if raised:
            raise raised[0]

    return run


# --- the store the suite runs on -------------------------------------------------------------
# ACCORD_TEST_STORE=postgresql (scripts/test.sh's second pass) runs the store-touching tests on
# PostgreSQL: every node a test makes gets a schema of its own in ACCORD_TEST_PG's database,
# dropped after the test. Tests of SQLite itself (its file, WAL, PRAGMAs) are marked
# ``sqlite_only`` and left out of that pass by ``-m 'not sqlite_only'``.
TEST_STORE = os.environ.get("ACCORD_TEST_STORE", "sqlite")
TEST_PG = os.environ.get("ACCORD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite itself (not run on PostgreSQL)")
    config.addinivalue_line("markers", "postgresql: needs the PostgreSQL server (fails without it)")
    if TEST_STORE not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"ACCORD_TEST_STORE={TEST_STORE!r}: use sqlite or postgresql")


@pytest.fixture
def pg_schemas() -> Any:
    """``make()`` → the URL of a new, empty schema in ACCORD_TEST_PG's database; every schema
    made, and every store opened on one, is dropped and closed after the test. Fails (never
    skips) when PostgreSQL cannot be reached."""
    # by file, not as ``tests.pgtest``: taky installs a top-level ``tests`` package into
    # site-packages, which would shadow this checkout's tests directory
    import importlib.util

    spec = importlib.util.spec_from_file_location("accord_pgtest", Path(__file__).parent / "tests" / "pgtest.py")
    assert spec is not None and spec.loader is not None
    pgtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgtest)
    SchemaFactory = pgtest.SchemaFactory

    factory = SchemaFactory(TEST_PG)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def pg_server() -> Any:
    """A PostgreSQL server of the test's own (tests/pgserver.py), started, removed after the
    test: for tests that stop and restart it, which the shared server serves other runs."""
    from pgserver import OwnServer  # tests/ is on the import path (above)

    server = OwnServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(autouse=True)
def _suite_store(request: Any, monkeypatch: Any) -> Any:
    if TEST_STORE != "postgresql":
        yield
        return
    factory = request.getfixturevalue("pg_schemas")
    from accord.node.node import Node

    original = Node.init.__func__  # type: ignore[attr-defined]

    def init(cls: Any, directory: Any, party: str, clock: Any = None, *, name: Any = None,
             store: Any = None) -> Any:
        return original(cls, directory, party, clock, name=name, store=store or factory.make())

    monkeypatch.setattr(Node, "init", classmethod(init))
    yield


# --- where the suite's time goes (ACCORD_TEST_CPU_LOG=FILE) ----------------------------------
# One line a test appended to FILE: CPU seconds of the pytest process, CPU seconds of the
# subprocesses it waited for (servers, CLIs, browsers), wall seconds, the store, the test's id,
# then when it ended (Unix time) and which pytest process ran it — to see what runs last.
# The suite is bounded by CPU on a 2-core machine, so this, not --durations (wall time, which
# counts waiting for a busy core), says which tests to make cheaper.
_CPU_LOG = os.environ.get("ACCORD_TEST_CPU_LOG")
if _CPU_LOG:
    import resource
    import time

    def _cpu() -> tuple[float, float]:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
        (own0, kids0), wall0 = _cpu(), time.monotonic()
        yield
        (own1, kids1), wall = _cpu(), time.monotonic() - wall0
        with open(_CPU_LOG, "a", encoding="utf-8") as log:  # one short line: an atomic append
            log.write(f"{own1 - own0:.2f}\t{kids1 - kids0:.2f}\t{wall:.2f}\t{TEST_STORE}\t{item.nodeid}"
                      f"\t{time.time():.1f}\t{os.environ.get('PYTEST_XDIST_WORKER', '-')}\n")
