"""``crm-connect quarantine [list | show ID]``: the records a sync could not store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_connect.cli_context import fail
from crm_connect.cli_output import cell, out, plain_table
from crm_connect.cli_runs import FormatOption, WaitOption, open_history_store
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.history import count_quarantine, get_quarantined, list_quarantine

__all__ = ["register_commands"]

quarantine_app = typer.Typer(
    help="Records a sync could not store: the reason, where each came from, its raw payload.",
    invoke_without_command=True)


@quarantine_app.callback()
def quarantine_default(ctx: typer.Context) -> None:
    """Records a sync could not store (without a subcommand: list them)."""
    if ctx.invoked_subcommand is None:
        quarantine_list(connection=None, limit=50, output="table", wait=0.0)


@quarantine_app.command("list")
def quarantine_list(
    connection: Annotated[str | None, typer.Option(
        "--connection", metavar="NAME", show_default=False,
        help="Only the records of this connection.")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", "-n", min=1, metavar="N", help="How many records, newest first.")] = 50,
    output: FormatOption = "table",
    wait: WaitOption = 0.0,
) -> None:
    """List quarantined records with their id, origin and reason, newest first."""
    if output not in ("table", "json"):
        fail(ConfigError(f"unknown --format {output!r}; choose table or json"))
    try:
        store = open_history_store(wait)
        try:
            entries = list_quarantine(store, connection=connection, limit=limit)
            total = count_quarantine(store, connection=connection)
        finally:
            store.close()
    except CrmConnectError as exc:
        fail(exc)
    if output == "json":
        print(json.dumps([entry.to_dict() for entry in entries], indent=2, default=str))
        return
    if not entries:
        out.print("No quarantined records.", highlight=False)
        return
    table = plain_table("id", "connection/stream", "record", "reason")
    for entry in entries:
        table.add_row(entry.id, cell(f"{entry.source}/{entry.stream}"),
                      cell(entry.record_id or entry.location), cell(entry.reason))
    out.print(table)
    more = f"Showing {len(entries)} of {total}; --limit N shows more. " if total > len(
        entries) else ""
    out.print(f"{more}`crm-connect quarantine show ID` prints a record's raw payload.",
                   highlight=False)


@quarantine_app.command("show")
def quarantine_show(
    quarantine_id: Annotated[str, typer.Argument(
        help="The record's id from `quarantine list` (a prefix will do).",
        show_default=False)],
    output: FormatOption = "table",
    wait: WaitOption = 0.0,
) -> None:
    """Show one quarantined record: why it was refused, where it came from, and its raw
    payload as the vendor sent it."""
    from rich.json import JSON

    if output not in ("table", "json"):
        fail(ConfigError(f"unknown --format {output!r}; choose table or json"))
    try:
        store = open_history_store(wait)
        try:
            entry = get_quarantined(store, quarantine_id)
        finally:
            store.close()
    except CrmConnectError as exc:
        fail(exc)
    if output == "json":
        print(json.dumps(entry.to_dict(), indent=2, default=str))
        return
    quarantined_at = entry.quarantined_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    for label, value in (("id", entry.id), ("connection", entry.source),
                         ("stream", entry.stream), ("entity", entry.entity),
                         ("record", entry.record_id), ("location", entry.location),
                         ("run", entry.run_id), ("quarantined", quarantined_at),
                         ("reason", entry.reason)):
        out.print(f"[bold]{label + ':':<12}[/] {cell(value)}", highlight=False,
                  soft_wrap=False)
    out.print("[bold]raw payload:[/]")
    # Wrapped to the terminal for people; `--format json` gives the payload to scripts whole.
    out.print(JSON(json.dumps(entry.raw, default=str), indent=2), soft_wrap=False)


def register_commands(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
