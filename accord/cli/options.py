"""What the CLI's command groups share: the ``--dir`` and ``--json`` options, and opening the
node a command works on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from accord.node import Node

__all__ = ["DirOpt", "JsonOpt", "open_node"]

DirOpt = Annotated[Path, typer.Option("--dir", help="node directory")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def open_node(directory: Path) -> Node:
    """The node in ``directory`` (:meth:`accord.node.Node.open`; imported late, so that ``--help``
    does not load it)."""
    from accord.node import Node

    return Node.open(directory)
