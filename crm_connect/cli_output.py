"""Where the command line writes, and the table every listing uses.

Output fits the terminal; off a terminal it is ``$COLUMNS`` wide, else 160.  Tables fold a
cell onto more lines rather than cut it.  Every string a user or a vendor supplied is escaped
before rich sees it (:func:`rich.markup.escape`), so ``[bold]`` in a connection name or ``[/]``
in an error message is printed as written, never read as markup.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["QUARANTINED", "cell", "err", "escape", "out", "plain_table", "reset_consoles"]

QUARANTINED = "quaran-\ntined"
"""The header of quarantine counts, on two lines: numeric columns stay narrow in 80."""


def _width(stream: TextIO) -> int | None:
    """The terminal's width; off a terminal ``$COLUMNS``, else 160: cron mail and CI logs are
    read by people too, and wide KPI tables stay whole there."""
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 160


out = Console(soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))


def reset_consoles() -> None:
    """Set :data:`out` and :data:`err` up again for the streams and the environment as they
    are now (terminal or not, ``$COLUMNS``), as a new process does on import: for running
    commands in-process after swapping the standard streams (tests, embedding)."""
    Console.__init__(out, soft_wrap=True, width=_width(sys.stdout))
    Console.__init__(err, stderr=True, soft_wrap=True, width=_width(sys.stderr))


def plain_table(*headers: str, title: str | None = None, numeric: tuple[str, ...] = (),
                fixed: tuple[str, ...] = ()) -> Table:
    """A table that fits the console: ``numeric`` columns align right and, like ``fixed``
    ones (short values such as a status or a date), keep their width; the other columns fold
    their cells onto more lines instead of cutting them: no value is ever shortened with an
    ellipsis."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, collapse_padding=True)
    for header in headers:
        keep = header in numeric or header in fixed
        table.add_column(header, overflow="fold", no_wrap=keep,
                         justify="right" if header in numeric else "left")
    return table


def cell(value: Any) -> str:
    """A user- or vendor-supplied value, escaped for a table cell."""
    return escape("-" if value is None else str(value))
