"""The ``accord`` command: a thin layer over the library.

Each area registers a Typer sub-app from its own module (``accord.cli.<area>``). Errors that
Accord raises on purpose (:class:`accord.errors.AccordError`) are printed on one line without a
traceback and exit with the error's ``exit_code``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import re
import sys
from typing import Annotated, Any

import typer
import typer.core
import typer.rich_utils
from rich.console import Console

from accord.errors import AccordError, InputError

app = typer.Typer(
    name="accord",
    help="Accord: signed, policy-controlled sharing between allied nodes — early warning, "
    "intelligence, joint exercises and dialogue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

def _version_line() -> str:
    from accord import __version__

    return f"accord {__version__}"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print Accord's version and exit.")] = False) -> None:
    """Accord: signed, policy-controlled sharing between allied nodes."""


@app.command()
def version() -> None:
    """Print Accord's version (as --version does)."""
    typer.echo(_version_line())


# Each area's CLI lives in its own module ``accord.cli.<name>``. A module that defines ``app``
# (a ``typer.Typer``) becomes the sub-command ``accord <name>``; a module may also define
# ``register(root)`` to add commands to the root app or to another area's app (for example
# ``accord node serve`` from the federation module). Areas not present in a checkout are skipped.
_AREAS = [
    "node", "agreement", "policy", "ledger", "federation",
    "warning", "warning_track", "warning_alerts", "warning_feed",
    "intel", "dialogue", "exercise", "demo", "tak",
]

for _area in _AREAS:
    try:
        _mod = importlib.import_module(f"accord.cli.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"accord.cli.{_area}":
            raise
        continue
    if hasattr(_mod, "app") and not _area.startswith(("warning_",)) and _area != "federation":
        app.add_typer(_mod.app, name=_area)
    if hasattr(_mod, "register"):
        _mod.register(app)


def one_line_summaries(typer_app: typer.Typer) -> None:
    """Make each docstring paragraph of every command of ``typer_app`` and its sub-apps one text,
    wrapped at the terminal: its ``short_help`` (what a group's command list shows) is the first
    paragraph, its ``help`` every paragraph, their line breaks made spaces. Typer's rich help kept
    the docstring's line breaks, so help text broke mid-sentence (``never an`` /
    ``unacknowledged one`` in ``accord node --help``; ``"serving on …" once`` / ``bound and
    started`` in ``accord node serve --help``). Paragraphs stay apart. A docstring's reST literal
    (two backquotes each side) is shown as the help's own literals are, in one backquote each side:
    help printed the doubled ones as they are (``accord ledger verify --help``)."""
    for info in typer_app.registered_commands:
        doc = info.help or (inspect.getdoc(info.callback) if info.callback else None) or ""
        doc = re.sub(r"``(.+?)``", r"`\1`", doc, flags=re.S)
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")]
        if info.short_help is None and doc:
            info.short_help = paragraphs[0]
        if doc:
            info.help = "\n\n".join(paragraphs)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            one_line_summaries(group.typer_instance)


one_line_summaries(app)


def usage_error_line(exc: Exception) -> str:
    """One line for a command line the parser refused (an unknown or missing option, a bad value,
    an extra argument): the command, the parser's reason, and where the command's options are
    listed (``accord node show: No such option: --dri (Possible options: --dir) (`accord node show
    --help` lists its options)``)."""
    message = " ".join(str(getattr(exc, "format_message", lambda: exc)()).split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    what = "commands" if hasattr(ctx.command, "commands") else "options"
    return f"{ctx.command_path}: {message} (`{ctx.command_path} --help` lists its {what})"


def _print_usage_error(exc: Exception) -> None:
    """Typer's renderer of a refused command line, replaced: it drew the usage line, a hint and the
    reason in a box (five lines for a mistyped option), where every other error is one ``error:``
    line. A command given no arguments has printed its help instead, and prints nothing more."""
    from accord.cli.output import literal

    if type(exc).__name__ == "NoArgsIsHelpError":
        return
    Console(stderr=True).print(f"[bold red]error:[/] {literal(usage_error_line(exc))}", highlight=False,
                               soft_wrap=True)


setattr(typer.rich_utils, "rich_format_error", _print_usage_error)  # Typer looks it up at each error


def _flag_help_type(display_type_rich: Any) -> Any:
    """Typer's rich help wrote a type after every option, a flag's too (``--json <bool>``), as if
    it took a value; ``--json true`` is refused. A flag (or a counter) shows none, as Typer's
    plain help and Click's already do."""
    @functools.wraps(display_type_rich)
    def display(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return display_type_rich(self, ctx)

    return display


_TyperOption = getattr(typer.core, "TyperOption", None)
if _TyperOption is not None and hasattr(_TyperOption, "display_type_rich"):  # Typer's own option class
    setattr(_TyperOption, "display_type_rich", _flag_help_type(_TyperOption.display_type_rich))


def os_error_line(exc: OSError) -> str:
    """One line for a file-system refusal: the path(s) it names and the system's reason
    (``jpn.yaml: is a directory``)."""
    reason = (exc.strerror or str(exc)).strip()
    reason = reason[:1].lower() + reason[1:]
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' → '.join(paths)}: {reason}" if paths else reason


def _fail(line: str, code: int) -> None:
    """The command's one ``error:`` line, and its exit code; a log record instead once the command
    set up JSON logs (``node serve --log-format json``): every line on stderr is then one object."""
    from accord import logs
    from accord.cli.output import literal

    if logs.configured_format == "json":
        logging.getLogger("accord").critical(line, extra={"event": "command.failed", "exit_code": code})
    else:
        Console(stderr=True).print(f"[bold red]error:[/] {literal(line)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def refused_write_line(exc: Exception) -> str | None:
    """One line for a write the database refused (a read-only mount, a full or failing disk):
    the transaction rolls back. None for any other database error."""
    from accord.store.base import write_refusal_advice

    advice = write_refusal_advice(exc)
    if advice is None:
        return None
    return f"the node database refused a write ({exc}), which was rolled back: {advice}, then run the command again"


def main() -> None:
    from accord.store.base import OperationalError  # the drivers' own, named by the store layer

    try:
        app()
    except AccordError as exc:   # first: PostgreSQL's unavailable store is one
        _fail(str(exc), exc.exit_code)
    except OperationalError as exc:
        line = refused_write_line(exc)
        if line is None:
            raise
        _fail(line, 1)
    except OSError as exc:  # a path that is a directory, already exists, cannot be written, ...
        _fail(os_error_line(exc), InputError.exit_code)
    except SystemError as exc:
        # Ctrl-C inside a compiled (numba) kernel, `warning track`'s: the kernel returns with the
        # KeyboardInterrupt pending and Python raises SystemError from it, which Typer (which
        # exits 130 on a KeyboardInterrupt, silently) does not know; it printed a traceback
        if not any(isinstance(e, KeyboardInterrupt) for e in (exc.__cause__, exc.__context__)):
            raise
        sys.exit(130)


if __name__ == "__main__":
    main()
