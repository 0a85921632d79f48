"""The one YAML loader for every file Accord reads: agreements, node configuration (``node.yaml``,
its ``sharing:`` and ``alerts:`` sections), exercise scenarios and dialogue files.

YAML 1.1 has features that turn a small file into a large or surprising value, and that no
Accord file needs; this loader refuses them while the document is being composed, before
anything is built, with a one-line :class:`~accord.errors.InputError` naming the file and line:

* **anchors and aliases** (``&a`` / ``*a``): nested aliases ("billion laughs") make a 1.5 KB
  file expand into gigabytes, and an error message that formats the value takes a minute;
* **merge keys** (``<<:``), which copy mappings into others (they also ride on aliases);
* **complex keys** (``? [a]``, ``{[a]: 1}``): a list or mapping as a key is unhashable, and
  PyYAML answers with a bare ``TypeError``;
* **duplicate keys**, which PyYAML resolves silently to the last value — compared as constructed
  values, as the resulting dict compares them, so ``1:`` / ``0x1:``, ``yes:`` / ``true:``,
  ``~:`` / ``null:`` — and ``1:`` / ``true:`` / ``1.0:``, one key to Python — are duplicates too;
* the **``!!binary``, ``!!set``, ``!!omap`` and ``!!pairs``** tags: bytes, sets and lists of pairs
  are values no Accord model takes;
* **integers past the interpreter's digit limit** (4,300 decimal digits), which PyYAML answers
  with a bare ``ValueError`` — or, written in hex, octal, binary or base 60, builds without a
  bound into an integer no ``str()`` can write back;
* **lone surrogates** (``"\\ud800"``, an escape only a double-quoted scalar can write): no
  UTF-8 encoder, store or canonical JSON takes such a string, so it failed later, far from its
  line (an agreement's title at signing time);
* nesting deeper than :data:`MAX_DEPTH` (the composer recurses: ``[[[[…]]]]`` 100,000 deep is a
  ``RecursionError``).

Timestamps stay strings (PyYAML raises a bare ``ValueError`` on ``2026-02-30``); each format's
own model parses them and names the field.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from accord.errors import InputError

MAX_DEPTH = 64
"""The deepest nesting of lists and mappings accepted (Accord's files nest five or six deep)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_REFUSED_TAGS = {f"tag:yaml.org,2002:{t}": f"!!{t}" for t in ("binary", "set", "omap", "pairs")}


class _Refused(yaml.YAMLError):
    """A YAML feature Accord files do not use, found at ``mark``."""

    def __init__(self, problem: str, mark: yaml.Mark | None, field: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark, self.field = problem, mark, field


class SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without aliases, anchors, merge keys, complex or duplicate keys, or
    deep nesting (see the module docstring); timestamps stay strings."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"YAML aliases (*{event.anchor}) are not accepted", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"YAML anchors (&{event.anchor}) are not accepted", event.start_mark)
        if getattr(event, "tag", None) in _REFUSED_TAGS:
            raise _Refused(f"the YAML tag {_REFUSED_TAGS[event.tag]} is not accepted", event.start_mark)
        if isinstance(event, yaml.ScalarEvent) and not event.value.isascii():
            bad = next((c for c in event.value if "\ud800" <= c <= "\udfff"), None)
            if bad is not None:
                raise _Refused(f"a string holds a lone surrogate (\\u{ord(bad):04x}): YAML text must be Unicode",
                               event.start_mark)
        if not isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"YAML nested deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise _Refused("complex YAML keys (a list or mapping used as a key) are not accepted",
                               key.start_mark)
            if key.tag == _MERGE_TAG:
                raise _Refused("YAML merge keys (<<) are not accepted", key.start_mark)
            line = key.start_mark.line + 1
            # the key as the dict will compare it: "1", "0x1" and "true" are all the key 1
            value = self.construct_object(key)
            same = ("nan",) if isinstance(value, float) and value != value else value
            if same in seen:
                raise _Refused(f"duplicate key {key.value[:40]!r} (first on line {seen[same]})",
                               key.start_mark, field=key.value[:40])
            seen[same] = line
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # past sys.get_int_max_str_digits()
            raise _Refused(f"integer of {len(node.value)} characters is too large", node.start_mark) from None
        # int() bounds decimal digits only: 0x…, 0b…, 0… (octal) and 1:2:3 (base 60) are built
        # without a bound, and no str() or json.dumps could write such an integer back
        limit = sys.get_int_max_str_digits()
        if limit and value.bit_length() > 3 * limit and abs(value) >= 10 ** limit:
            raise _Refused(f"integer of {len(node.value)} characters is too large", node.start_mark)
        return value


SafeLoader.add_constructor("tag:yaml.org,2002:int", SafeLoader.construct_yaml_int)


SafeLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, *, source: str | None = None) -> tuple[Any, yaml.Node | None]:
    """``(value, root node)`` of a one-document YAML text: the node tree gives line numbers to
    errors found later (pydantic's locations). Raises :class:`InputError` naming ``source`` and
    the line; the message never quotes the document."""
    loader = SafeLoader(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except _Refused as exc:
        raise InputError(exc.problem, source=source, line=mark_line(exc.problem_mark), field=exc.field) from None
    except ValueError as exc:  # a value PyYAML could not build (the first line of its reason)
        raise InputError(f"not valid YAML: {' '.join(str(exc).split())[:200]}", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if getattr(exc, "context", None) == "while scanning an alias":  # a bare * (to: *, not to: "*")
            problem = 'a * must be quoted ("*"): unquoted, it starts a YAML alias'
        raise InputError(f"not valid YAML: {' '.join(str(problem).split())}", source=source,
                         line=mark_line(mark)) from None
    finally:
        loader.dispose()


def mark_line(mark: yaml.Mark | None) -> int | None:
    """The 1-based line of a YAML mark (PyYAML counts from 0); every YAML line number Accord
    reports comes from here."""
    return mark.line + 1 if mark is not None else None


def load_yaml(text: str, *, source: str | None = None) -> Any:
    """The value of a YAML text, read by :class:`SafeLoader` (see :func:`parse_yaml`)."""
    return parse_yaml(text, source=source)[0]
