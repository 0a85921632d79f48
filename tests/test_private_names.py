"""Private names (``_name``) stay in the module that defines them.

A name with a leading underscore is the module's own business: another module of the library
that needs it asks for it to be made public there (named and documented) instead of reaching in.
The check reads the source of ``accord/`` (no import runs) and flags, per module:

* ``from <accord module> import _name`` from another module (relative imports too), and
  ``import accord.x._y`` (a private module);
* ``mod._name`` where ``mod`` is an accord module imported under that name;
* ``obj._name`` (an attribute or method) and ``f(_name=…)`` (a keyword) where the module defines
  no ``_name`` of its own — no function, class, parameter, assignment or attribute of that name:
  it is then another module's private name, reached through one of its objects.

Third-party private names that are those libraries' documented API (``os._exit``, a namedtuple's
``_replace``, lxml's ``etree._Element``) are allowed by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "accord"
THIRD_PARTY = {"_exit", "_replace", "_asdict", "_fields", "_make", "_Element"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _defined_here(tree: ast.AST) -> set[str]:
    """Every name the module itself gives a meaning: functions, classes, parameters, assignment
    targets (names and attributes), ``object.__setattr__(self, "_x", …)`` strings."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _private(node.value):
            names.add(node.value)
    return names


def crossings(path: Path, root: Path = ROOT) -> list[str]:
    """Where the module at ``path`` (below ``root``) uses another module's private name
    (``file:line: what``)."""
    mod = _module_name(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(root)
    found: list[str] = []
    modules: dict[str, str] = {}  # local name -> the accord module (or name) it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "accord":
                continue
            for alias in node.names:
                if _private(alias.name) and source != mod:
                    found.append(f"{where}:{node.lineno}: from {source} import {alias.name}")
                modules[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "accord":
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:  # `import accord.x.y` binds `accord`
                        modules["accord"] = "accord"
    own = _defined_here(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in THIRD_PARTY:
            base = node.value
            chain: list[str] = []
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                target = ".".join([modules[base.id], *reversed(chain)])
                if target != mod:
                    found.append(f"{where}:{node.lineno}: {target}.{node.attr}")
            elif node.attr not in own:
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.keyword) and node.arg and _private(node.arg) and node.arg not in own:
            found.append(f"{where}:{node.lineno}: keyword {node.arg}=")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in crossings(path)]
    assert found == [], "private names used outside their module:\n" + "\n".join(found)


def test_the_check_sees_each_kind_of_crossing(tmp_path):
    """The check would fail on each way of reaching into another module."""
    pkg = tmp_path / "accord" / "federation"
    pkg.mkdir(parents=True)
    cases = {
        "from accord.federation.inbox import _ready": "from accord.federation.inbox import _ready",
        "from .inbox import _ready": "from accord.federation.inbox import _ready",
        "import accord.federation.inbox as inbox\ninbox._ready(node)": "accord.federation.inbox._ready",
        "import accord.federation.inbox\naccord.federation.inbox._ready(node)": "accord.federation.inbox._ready",
        "from accord.warning import prediction\nprediction._fit(x)": "accord.warning.prediction._fit",
        "def f(store):\n    return store._definitions(refs, {})": "store._definitions",
        "Item(kind, _checked=True)": "keyword _checked=",
    }
    for source, expected in cases.items():
        path = pkg / "status.py"
        path.write_text(source + "\n")
        got = crossings(path, tmp_path)
        assert len(got) == 1 and got[0].endswith(expected), (source, got)
    # a module's own private names are its own
    (pkg / "status.py").write_text("def _ready(node):\n    return node._cache\n\n_ready(x)\nx._cache = 1\n"
                                   "def g(_checked=False):\n    return g(_checked=True)\n")
    assert crossings(pkg / "status.py", tmp_path) == []
