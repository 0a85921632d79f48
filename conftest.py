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
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("soak", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def while_uncommitted() -> Callable[..., None]:
    """``run(lock, conn, write, action)``: run ``action`` in a thread while another thread — as
    the federation or an API request would on a node's shared connection — holds ``lock`` with
    ``write(conn)`` done inside an open transaction; that transaction is then rolled back.
    ``action`` gets half a second to (wrongly) run ahead of the lock before the rollback."""
    def run(lock: Any, conn: Any, write: Callable[[Any], Any], action: Callable[[], Any]) -> None:
        holding, release = threading.Event(), threading.Event()

        def writer() -> None:
            with lock:
                conn.execute("BEGIN IMMEDIATE")
                write(conn)
                holding.set()
                release.wait(10)
                conn.rollback()

        w = threading.Thread(target=writer)
        w.start()
        assert holding.wait(10)
        t = threading.Thread(target=action)
        t.start()
        t.join(timeout=0.5)  # it must wait for the writer's lock
        release.set()
        w.join(10)
        t.join(10)

    return run
