"""Shared fixture for the alert tests: the packaged geography, loaded once."""

from __future__ import annotations

import pytest

from accord.warning.alerts import Geography


@pytest.fixture(scope="session")
def geo() -> Geography:
    return Geography.load()


@pytest.fixture(scope="session")
def geo_doc() -> dict:
    """The packaged geography file's raw JSON (for what the loader does not keep, e.g. the
    baselines it was built from)."""
    import gzip
    import json
    from importlib import resources

    ref = resources.files("accord.warning.alerts") / "data/geography.json.gz"
    return json.loads(gzip.decompress(ref.read_bytes()))
