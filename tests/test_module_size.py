"""Every module of ``accord/`` is under about 400 lines, or says at the top of its docstring why
it stays whole (a paragraph starting ``Kept as one module:``) — issue #24's rule for a codebase a
newcomer can find their way in."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "accord"
LIMIT = 400


def test_long_modules_say_why_they_stay_whole():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        paragraphs = doc.split("\n\n")
        if not any(p.startswith("Kept as one module: ") for p in paragraphs[:2]):
            unexplained.append(f"{path.relative_to(PACKAGE.parent)} ({len(text.splitlines())} lines)")
    assert unexplained == [], "split these modules or say why they stay whole:\n" + "\n".join(unexplained)
