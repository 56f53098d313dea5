"""``crm-connect new-plugin NAME``: write a new vendor plugin distribution to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm_connect.cli_context import fail
from crm_connect.cli_output import out

__all__ = ["register_commands"]


def register_commands(app: typer.Typer) -> None:
    @app.command("new-plugin")
    def new_plugin_command(
        name: Annotated[str, typer.Argument(
            metavar="NAME", show_default=False,
            help="The vendor's name in lowercase (acme, tiny_crm): the connector name, the "
            "module crm_connect_NAME and the distribution crm-connect-NAME.")],
        directory: Annotated[Path | None, typer.Option(
            "--dir", metavar="PATH", show_default=False,
            help="Where to create the crm-connect-NAME folder (default: here).")] = None,
    ) -> None:
        """Scaffold a vendor plugin: entry point, hooks, vendor profile, a connector with one
        incremental stream over a loopback sandbox, conformance tests, cassettes, README."""
        from crm_connect.errors import ConfigError
        from crm_connect.scaffold import scaffold_plugin

        try:
            plugin = scaffold_plugin(name, directory)
        except ConfigError as exc:
            fail(exc)
        out.print(f"Created {plugin.names['dist']} in {plugin.root}:", highlight=False,
                       markup=False)
        for relative in plugin.files:
            out.print(f"  {relative.as_posix()}", highlight=False, markup=False)
        out.print("\nNext:", highlight=False)
        for step in plugin.next_steps():
            out.print(f"  {step}", highlight=False, markup=False)
