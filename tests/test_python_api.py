"""The public Python API: ``import accord`` names, lazily imported, and the README's quickstart."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import accord

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_to_the_object_its_module_defines():
    import importlib
    for name in accord.__all__:
        if name == "__version__":
            continue
        obj = getattr(accord, name)
        assert obj is getattr(importlib.import_module(accord._API[name]), name), name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nod'"):
        accord.Nod  # noqa: B018


def test_import_accord_does_not_import_the_pillars():
    code = "import sys, accord; print(sorted(m for m in sys.modules if m.startswith('accord.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_readme_quickstart_is_the_example_file_and_prints_what_the_readme_shows():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code, shown = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)[:2]
    example = (ROOT / "examples" / "quickstart.py").read_text()
    assert code.strip() == example.split('"""', 2)[2].strip()
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert shown.split("\n", 1)[1].strip() == run.stdout.strip()


def test_all_lists_exactly_the_lazy_names():
    assert sorted(accord.__all__) == sorted(["__version__", *accord._API])
