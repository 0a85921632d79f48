from pathlib import Path

import pytest

from accord.exercise.runner import run_exercise
from accord.exercise.scenario import load_scenario

DRILL = Path(__file__).parent / "data" / "small-drill.yaml"


@pytest.fixture(scope="session")
def drill(tmp_path_factory):
    """One run of the small drill, shared by the exercise tests (it takes a few seconds)."""
    return run_exercise(load_scenario(DRILL), tmp_path_factory.mktemp("drill"), progress=False)
