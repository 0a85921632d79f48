"""What the docs name exists: module paths, repository files, CLI commands and flags, item kinds,
ledger events.

docs/*.md and the README are read as text: a fully qualified ``accord.x.y`` must import (and
its attributes resolve), a backticked short form such as ``store.base.transaction`` or
``federation.outbox.apply_ack`` too once its first two parts name a module of ``accord``, a
repository path (``accord/…``, ``tests/…``, ``bench/…`` …) must exist, and an ``accord …``
invocation (a ``$ accord …`` line of a code block, or a backticked ``accord …``) must name a
command and only options that command has. What looks like a dotted name but is not code (NATS
subjects, a CAP sender, an item kind) is told apart by shape or named in :data:`NOT_CODE`.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import accord

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

# dotted names that start with ``accord.`` but are not Python: a file name, the CAP sender, the
# retraction item kind
NOT_CODE = {"accord.env", "accord.jpn.example", "accord.retraction"}

TOP = {m.name for m in pkgutil.iter_modules(accord.__path__)}
DOTTED = re.compile(r"(?<![\w./-])accord(?:\.[A-Za-z_]\w*)+")
SHORT = re.compile(r"(?<![\w.])[a-z_]+(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w./-])(?:accord|tests|scripts|bench|deploy|examples|docs|tools)/[\w./{},*-]*\w[}]?")


def doc_lines():
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            yield f"{doc.relative_to(ROOT)}:{number}", line


def module(name: str):
    """The module ``name``, or None if there is none (an import error inside it still fails)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def unresolved(parts: list[str], *, least: int = 0) -> str | None:
    """Why ``accord.<parts>`` does not resolve (None: it does). The longest prefix that is a
    module (``accord`` itself, or at least ``least`` parts below it) is imported, the rest looked up as attributes."""
    for k in range(len(parts), least - 1, -1):
        obj = module(".".join(["accord", *parts[:k]]))
        if obj is None:
            continue
        for i, attr in enumerate(parts[k:], k):
            if not hasattr(obj, attr):
                return f"accord.{'.'.join(parts[:i])} has no {attr!r}"
            obj = getattr(obj, attr)
        return None
    return "no such module"


def test_every_accord_dotted_name_in_the_docs_resolves():
    problems = []
    for where, line in doc_lines():
        for match in DOTTED.finditer(line):
            name = match.group(0)
            parts = name.split(".")[1:]
            if name in NOT_CODE or parts[0][0].isupper():  # NATS subjects: accord.JPN.radar …
                continue
            if parts[-1] in ("py", "md", "json", "yaml", "db"):
                continue
            why = unresolved(parts)
            if why:
                problems.append(f"{where}: {name}: {why}")
    assert not problems, "\n".join(problems)


def test_every_short_module_path_in_the_docs_resolves():
    """``store.base.transaction``, ``api.deps.read_body_capped`` …: names whose first two parts
    are a module under ``accord`` (``node.conn``, an attribute of a node, is not one)."""
    problems = []
    for where, line in doc_lines():
        for span in re.findall(r"`([^`\n]+)`", line):
            for match in SHORT.finditer(span):
                parts = match.group(0).split(".")
                if parts[0] not in TOP or len(parts) < 3 or module("accord." + ".".join(parts[:2])) is None:
                    continue
                why = unresolved(parts, least=2)
                if why:
                    problems.append(f"{where}: {match.group(0)}: {why}")
    assert not problems, "\n".join(problems)


def expand(path: str) -> list[str]:
    """``deploy/systemd/accord-backup.{service,timer}`` → both files (a ``*`` is a glob: it must
    match a file)."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in expand(path[:m.start()] + alt + path[m.end():])]


def test_every_repository_path_in_the_docs_exists():
    problems = []
    for where, line in doc_lines():
        for match in PATH.finditer(line):
            for path in expand(match.group(0).rstrip(".,")):
                if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
                    problems.append(f"{where}: {path}")
    assert not problems, "\n".join(problems)


def invocations():
    """``accord …`` as the docs run it: ``$ accord …`` in a code block (up to a pipe, ``;``,
    ``&&`` or a comment) and backticked ``accord …`` in the text."""
    for doc in DOCS:
        in_code = False
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{doc.relative_to(ROOT)}:{number}"
            if line.lstrip().startswith("```"):
                in_code = not in_code
            elif in_code:
                if line.startswith("$ "):
                    for part in re.split(r"\s(?:\||;|&&|&)\s|\s+#\s", line[2:]):
                        if part.strip().startswith("accord "):
                            yield where, part.strip()
            else:
                for span in re.findall(r"`(accord [^`]+)`", line):
                    yield where, span


def test_every_command_and_option_the_docs_run_exists():
    import typer

    from accord.cli.main import app

    root = typer.main.get_command(app)
    problems, seen = [], 0
    for where, text in invocations():
        words = text.split()[1:]
        if words[0] not in root.commands:  # `accord 0.1.0` (output), `accord Item, …` (prose)
            continue
        seen += 1
        cmd, i = root, 0
        while hasattr(cmd, "commands") and i < len(words) and words[i] in cmd.commands:
            cmd, i = cmd.commands[words[i]], i + 1
        if hasattr(cmd, "commands"):
            if i < len(words) and re.fullmatch(r"[a-z][a-z-]*", words[i]):
                problems.append(f"{where}: accord {' '.join(words[:i])} has no command {words[i]!r}")
            continue
        options = {"--help"} | {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for word in words[i:]:
            flag = word.split("=", 1)[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", flag) and flag not in options:
                problems.append(f"{where}: accord {' '.join(words[:i])} has no option {flag}: {text}")
    assert seen > 100  # the docs' commands were found at all
    assert not problems, "\n".join(problems)


def architecture_bullet(title: str) -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text.split(f"- **{title}**", 1)[1].split("\n- **", 1)[0]


def test_the_item_kinds_architecture_md_names_are_core_items_kinds():
    from accord.core.items import KINDS

    named = re.findall(r"`([a-z]+\.[a-z_]+)`", architecture_bullet("Item kinds"))
    assert sorted(named) == sorted(KINDS)


def test_every_ledger_event_architecture_md_names_is_one_the_code_writes():
    """An event named in the docs is a string literal somewhere under accord/ other than in a
    docstring or comment: something appends it."""
    literals: set[str] = set()
    for path in (ROOT / "accord").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        literals |= {node.value for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}
    bullet = architecture_bullet("Ledger events").split("Event data", 1)[0]
    named = {e for e in re.findall(r"`([a-z]+\.[a-z_]+)`", bullet)}
    assert len(named) >= 12
    assert not named - literals, f"named in docs/architecture.md, written nowhere: {sorted(named - literals)}"


@pytest.mark.parametrize("name", ["accord.store.base.transaction", "accord.nosuch", "accord.store.base.nosuch"])
def test_the_resolver_tells_names_apart(name):
    assert (unresolved(name.split(".")[1:]) is None) == (name == "accord.store.base.transaction")


def test_every_package_and_module_of_accord_is_on_the_architecture_map():
    """docs/architecture.md names each package (``accord/x/``, a file in it, or ``x/``) and each module (its name
    in a backticked span: ``scoring``, ``tracks.Tracks``, ``accord/api/taxii.py``)."""
    spans: set[str] = set()
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("```"):
            spans |= set(re.findall(r"`([^`\n]+)`", line))
    words = {w for span in spans for w in re.findall(r"\w+", span)}
    missing = []
    for init in sorted((ROOT / "accord").rglob("__init__.py")):
        package = init.parent.relative_to(ROOT)
        if package.name != "accord" and not any(span == f"{package.name}/" or span.startswith(f"{package}/")
                                                for span in spans):
            missing.append(f"package {package}/")
        missing += [f"module {m.relative_to(ROOT)}" for m in sorted(init.parent.glob("*.py"))
                    if m.stem not in ("__init__", "__main__") and m.stem not in words]
    assert not missing, "\n".join(missing)


def test_every_test_the_docs_cite_exists():
    """The docs cite tests as evidence: a backticked ``test_x.py`` is a file under tests/, a
    ``test_name`` (or ``test_name_prefix…``) a test function, or a module of that name."""
    files = {p.name for p in (ROOT / "tests").rglob("test_*.py")}
    functions = set()
    for path in (ROOT / "tests").rglob("*.py"):
        functions |= set(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    problems = []
    for where, line in doc_lines():
        for span in re.findall(r"`([^`\n]+)`", line):
            for name in re.findall(r"(?<![\w/.])(test_[\w*]+\.py)\b", span):  # test_sim_*.py: a glob
                if not fnmatch.filter(files, name):
                    problems.append(f"{where}: {name}")
            for name, cut in re.findall(r"(?<![\w/.:])(test_\w+)(…|\.\.\.)?(?![\w.*])", span):
                known = functions | {f[:-3] for f in files}
                if not (any(f.startswith(name) for f in known) if cut else name in known):
                    problems.append(f"{where}: {name}{cut}")
    assert not problems, "\n".join(problems)
