"""What every ``crm-connect`` command shares, wherever its module lives: the global options
(``--config``, ``--verbose``), the configuration they name, and how a command fails.

Command modules (:mod:`crm_connect.cli_runs`, :mod:`crm_connect.metrics.cli`, ...) import
these from here; :mod:`crm_connect.cli` builds the application on top of them and of those
modules, so no command module ever imports the application back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

import typer
from rich.markup import escape

from crm_connect.cli_output import err
from crm_connect.config import load_config
from crm_connect.errors import CrmConnectError

__all__ = ["CliState", "fail", "load_cli_config", "state"]


@dataclasses.dataclass
class CliState:
    """The global options of the current invocation."""

    config_path: str | None = None
    verbose: int = 0


state = CliState()
"""Set by the application's callback before any command runs."""


def fail(exc: CrmConnectError) -> NoReturn:
    """Print ``exc`` as an error (never a traceback) and exit with its exit code."""
    err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, markup=True)
    raise typer.Exit(exc.exit_code)


def load_cli_config(required: bool = True, keep_unusable: bool = False) -> Any:
    """The configuration ``--config`` (or the environment, or the working folder) names; a
    mistake in it ends the command through :func:`fail`."""
    try:
        return load_config(state.config_path, required=required, keep_unusable=keep_unusable)
    except CrmConnectError as exc:
        fail(exc)
