"""The ``taky`` fixture: a real TAK server on loopback for one test (helpers in tak_world.py)."""

from __future__ import annotations

import pytest

from tak_world import start_taky, stop_taky


@pytest.fixture
def taky(tmp_path):
    t = start_taky(tmp_path / "taky")
    yield t
    stop_taky(t)
