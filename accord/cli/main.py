"""The ``accord`` command: a thin layer over the library.

Each area registers a Typer sub-app from its own module (``accord.cli.<area>``). Errors that
Accord raises on purpose (:class:`accord.errors.AccordError`) are printed on one line without a
traceback and exit with the error's ``exit_code``.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from accord.errors import AccordError

app = typer.Typer(
    name="accord",
    help="Accord: signed, policy-controlled sharing between allied nodes — early warning, "
    "intelligence, joint exercises and dialogue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def _root() -> None:
    """Accord: signed, policy-controlled sharing between allied nodes."""


@app.command()
def version() -> None:
    """Print Accord's version."""
    from accord import __version__

    typer.echo(__version__)


# (module, command name) — each module defines ``app = typer.Typer(...)``.
_SUBCOMMANDS = [
    ("node", "node"),
    ("agreement", "agreement"),
    ("policy", "policy"),
    ("ledger", "ledger"),
    ("share", None),  # top-level commands (accord share …)
    ("warning", "warning"),
    ("intel", "intel"),
    ("dialogue", "dialogue"),
    ("exercise", "exercise"),
    ("demo", None),
]

for _module, _name in _SUBCOMMANDS:
    try:
        _mod = importlib.import_module(f"accord.cli.{_module}")
    except ModuleNotFoundError as exc:  # an area not built yet in this checkout
        if exc.name != f"accord.cli.{_module}":
            raise
        continue
    if _name is None:
        for _cmd in getattr(_mod, "COMMANDS", []):
            app.command()(_cmd)
    else:
        app.add_typer(_mod.app, name=_name)


def main() -> None:
    try:
        app()
    except AccordError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
