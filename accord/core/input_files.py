"""One way to read an input file: safe YAML (:mod:`accord.core.safe_yaml`) into a pydantic
model, every error one line naming the file, the YAML line and the dotted field path, e.g.
``trilateral.yaml: line 42: field 'radars[1].pd': Input should be less than or equal to 1``.

:func:`load_model` serves agreements, the exercise's scenario files and the dialogue files;
:func:`check_model` validates a value already parsed from a line of JSON (the sensors of an
early-warning ``detections.jsonl`` header), its errors naming the file and that line;
:func:`validation_error` and :func:`located` turn a pydantic error, or a check made after
validation, into that one-line :class:`~accord.errors.InputError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from accord.core.safe_yaml import mark_line, parse_yaml
from accord.errors import InputError

M = TypeVar("M", bound=BaseModel)

#: a cross-field check names its own location at the start of its message: "radars[1].owner: …"
_WHERE = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): ")


def read_text_file(path: str | Path, *, what: str, missing: str | None = None) -> str:
    """A UTF-8 input file's text, or one :class:`InputError` naming it: not there (``missing``,
    else "WHAT not found"), a directory, not UTF-8, or unreadable."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(missing or f"{what} not found", source=source) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not {'an' if what[:1] in 'aeiou' else 'a'} {what}", source=source) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror or exc}", source=source) from None


def dotted(loc: tuple[Any, ...]) -> str:
    """A pydantic location as a field path: ``("radars", 1, "pd")`` → ``radars[1].pd``."""
    out = ""
    for key in loc:
        if isinstance(key, int):
            out += f"[{key}]"
        elif isinstance(key, str) and not key.startswith(("function-", "tagged-union")):
            out += ("." if out else "") + key
    return out


def undotted(path: str) -> tuple[Any, ...]:
    """The inverse of :func:`dotted`."""
    out: list[Any] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        for idx in filter(None, rest.replace("]", "").split("[")) if rest else ():
            out.append(int(idx))
    return tuple(out)


def yaml_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (a pydantic error location)."""
    node = root
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return mark_line(node.start_mark) if node is not None else None


def closest(name: object, known: Iterable[str]) -> str | None:
    """The one of ``known`` that ``name`` (a misspelt key or field) is closest to, or None: what
    a refusal of an unknown key suggests (node.yaml, alert rules, a model's fields)."""
    near = difflib.get_close_matches(str(name), list(known), n=1)
    return near[0] if near else None


def _first_problem(errors: list[Any]) -> tuple[Any, str]:
    """The problem to report first, and a hint to add to it: a misspelt field makes two, the
    required field missing and an unknown one beside it; the unknown one is the line to change,
    so it comes first, naming the field it is close to."""
    missing: dict[tuple[Any, ...], list[str]] = {}
    for e in errors:
        if e["type"] == "missing" and e["loc"]:
            missing.setdefault(tuple(e["loc"][:-1]), []).append(str(e["loc"][-1]))
    for e in errors:
        if e["type"] == "extra_forbidden" and e["loc"] and tuple(e["loc"][:-1]) in missing:
            near = closest(e["loc"][-1], missing[tuple(e["loc"][:-1])])
            if near:
                return e, f" (did you mean {near!r}?)"
    return errors[0], ""


def validation_error(exc: ValidationError, *, source: str | None, root: yaml.Node | None = None,
                     prefix: tuple[Any, ...] = (), where_in_message: bool = False,
                     line: int | None = None, what: str | None = None,
                     messages: Mapping[str, str] | None = None) -> InputError:
    """The first problem of ``exc`` (and how many more) as one :class:`InputError`; with
    ``where_in_message``, a message that starts with a field path (``radars[1].owner: …``) is
    located there. The line is found in ``root`` (a YAML node tree), else it is ``line``;
    ``messages`` words pydantic's own errors by their type (``{"missing": …}``), and ``what``
    starts the message (``sensor 'R1': …``)."""
    err, hint = _first_problem(exc.errors())
    loc = prefix + tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    msg = ((messages or {}).get(err["type"]) or err["msg"].removeprefix("Value error, ")) + hint
    m = _WHERE.match(msg) if where_in_message else None
    if m:
        loc = loc + undotted(m.group(1))
        msg = msg[m.end():]
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    if what:
        msg = f"{what}: {msg}"
    return InputError(msg, source=source, line=yaml_line(root, loc) if root is not None else line,
                      field=dotted(loc) or None)


def located(exc: InputError, *, source: str | None, root: yaml.Node | None, prefix: tuple[Any, ...]) -> InputError:
    """A check made after validation (``exc`` names a field relative to ``prefix``) as an error
    naming the file, the line and the full field path."""
    loc = prefix + (undotted(exc.field) if exc.field else ())
    return type(exc)(exc.detail, source=source, line=yaml_line(root, loc) if root is not None else None,
                     field=dotted(loc) or None)


def load_model(model: type[M], text: str, *, source: str | None, not_a_mapping: str,
               where_in_message: bool = False,
               messages: Mapping[str, str] | None = None) -> tuple[M, yaml.Node | None]:
    """Parse ``text`` (safe YAML) and validate it as ``model``; return the model and the YAML
    node tree (for locating later checks). A document that is not a mapping is refused with
    ``not_a_mapping``; ``messages`` as in :func:`validation_error`."""
    data, root = parse_yaml(text, source=source)
    if not isinstance(data, dict):
        raise InputError(not_a_mapping, source=source, line=1)
    try:
        return model.model_validate(data), root
    except ValidationError as exc:
        raise validation_error(exc, source=source, root=root, where_in_message=where_in_message,
                               messages=messages) from None


def check_model(model: type[M], data: Any, *, source: str | None, line: int | None,
                where_in_message: bool = False, what: str | None = None,
                messages: Mapping[str, str] | None = None) -> M:
    """Validate ``data``, a value already parsed from line ``line`` of ``source`` (a line of
    JSON), as ``model``; a problem is one :class:`InputError` naming the file, that line and the
    field (see :func:`validation_error` for ``what`` and ``messages``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=source, line=line, where_in_message=where_in_message,
                               what=what, messages=messages) from None
