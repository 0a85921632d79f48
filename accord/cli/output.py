"""What the CLI prints besides plain lines: tables that keep every value whole, and warnings.

Rich fits a table to the console's width, which is the terminal's, or 80 columns when there is
no terminal (a pipe, a file, a CI log), and cuts what does not fit with "…": ``accord node
status | cat`` printed "conta…" for "last contact" and "deliv…" for "delivered". So:

* into a pipe or a file, a table is printed at its natural width, however wide, so that
  scripts, ``grep`` and ``less`` see whole values;
* on a terminal narrower than the table, each column folds a value that does not fit onto
  further lines instead of cutting it;
* a title is never folded narrower than the console allows: a table is made at least as wide
  as its title (a long path in a title over a narrow table came out a few letters a line);
* text that came from elsewhere (a partner's signed record, a file) goes through :func:`plain`
  (or :func:`literal`, inside a markup string):
  a string cell or line is read as Rich markup, so ``[/]`` in it failed the command and
  ``[link=…]`` made a hidden hyperlink, and an escape sequence in it reached the terminal.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

_UNBOUNDED = 1 << 16


_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object) -> Text:
    """``value`` as Rich text that is only ever text: no markup read in it, and no control
    character (C0 but tab and line feed, DEL, C1: ESC or CSI would start a terminal sequence)."""
    return Text(_TERMINAL_CONTROL.sub("", str(value)))


def literal(value: object) -> str:
    """``value`` to put inside a markup string (a table title, a line with ``[green]ok[/]``):
    its own brackets escaped, its control characters left out, as :func:`plain` does."""
    return escape(_TERMINAL_CONTROL.sub("", str(value)))


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console`` with no value cut (see the module docstring)."""
    for column in table.columns:
        column.overflow = "fold"
    title = console.render_str(table.title).cell_len if isinstance(table.title, str) else 0
    if console.is_terminal:
        table.min_width = min(title, console.width)
        console.print(table)
        return
    table.min_width = title
    natural = Measurement.get(console, console.options.update(width=_UNBOUNDED), table).maximum
    Console(file=console.file, width=natural, color_system=console.color_system,  # type: ignore[arg-type]
            no_color=console.no_color).print(table)


def warn(message: str) -> None:
    """One line on stderr: ``warning: …``."""
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {literal(message)}", highlight=False)


def noun_for(n: int, noun: str, plural_form: str | None = None) -> str:
    """``noun`` if ``n`` is 1, else its plural (``noun + "s"`` unless given)."""
    return noun if n == 1 else (plural_form or noun + "s")


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` (thousands separated) and ``noun`` agreeing with it: ``plural(1, "entry", "entries")``
    is "1 entry", ``plural(2, "scan")`` "2 scans", ``plural(0, "scan")`` "0 scans"."""
    return f"{n:,} {noun_for(n, noun, plural_form)}"
