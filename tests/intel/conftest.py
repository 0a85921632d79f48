"""Fixtures for the intel tests (helpers live in intel_testkit, a uniquely named module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intel_testkit import make_node


@pytest.fixture
def jpn(tmp_path: Path) -> Any:
    return make_node(tmp_path / "jpn", "JPN")
