"""The API tests start nodes with the federation tests' harness (tests/federation/federation_harness.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "federation"))
