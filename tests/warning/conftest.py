"""Fixtures shared by the tracker tests."""

from __future__ import annotations

import pytest

from accord.warning.sim import random_scenario, simulate


@pytest.fixture(scope="module")
def one_missile():
    """One missile, every scan detects it, no clutter (seed 5), first 200 s."""
    return simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))
