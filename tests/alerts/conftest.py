"""Shared fixture for the alert tests: the packaged geography, loaded once."""

from __future__ import annotations

import pytest

from accord.warning.alerts import Geography


@pytest.fixture(scope="session")
def geo() -> Geography:
    return Geography.load()
