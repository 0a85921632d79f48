"""What the CLI's command groups share: the ``--dir`` and ``--json`` options, opening the node a
command works on, and reading an item's ``--body``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from accord.node import Node

__all__ = ["DirOpt", "JsonOpt", "body_object", "open_node"]

DirOpt = Annotated[Path, typer.Option("--dir", help="node directory")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def open_node(directory: Path) -> Node:
    """The node in ``directory`` (:meth:`accord.node.Node.open`; imported late, so that ``--help``
    does not load it)."""
    from accord.node import Node

    return Node.open(directory)


def body_object(body: str) -> dict[str, Any]:
    """An item's ``--body``: a JSON object, given inline or as ``@FILE``."""
    from accord.core.canonical import parse_json_strict
    from accord.core.input_files import read_text_file
    from accord.errors import InputError

    text = read_text_file(body[1:], what="--body file") if body.startswith("@") else body
    data = parse_json_strict(text, source="--body")
    if not isinstance(data, dict):
        raise InputError("--body must be a JSON object", field="body")
    return data
