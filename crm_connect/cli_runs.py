"""``crm-connect runs``: the history of syncs, from the store's ``sync_runs`` log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_connect.cli_context import fail, load_cli_config
from crm_connect.cli_output import QUARANTINED, cell, escape, out, plain_table
from crm_connect.config import open_store
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.history import list_runs
from crm_connect.store_contract import Store

__all__ = ["register_commands"]

FormatOption = Annotated[str, typer.Option(
    "--format", "-f", metavar="FORMAT", help="table or json (for scripts).")]
WaitOption = Annotated[float, typer.Option(
    "--wait", metavar="SECONDS", help="Seconds to wait for a sync holding the store.")]


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def open_history_store(wait: float) -> Store:
    """The configured store, read-only (nothing synced yet: an empty one)."""
    config = load_cli_config(keep_unusable=True)
    return open_store(config.store.url, base_dir=config.base_dir, read_only=True,
                      wait_seconds=wait, memory_limit=config.store.memory_limit)


def register_commands(app: typer.Typer) -> None:
    @app.command("runs")
    def runs_command(
        connection: Annotated[str | None, typer.Option(
            "--connection", metavar="NAME", show_default=False,
            help="Only the runs that synced this connection.")] = None,
        limit: Annotated[int, typer.Option(
            "--limit", "-n", min=1, metavar="N", help="How many runs, newest first.")] = 20,
        output: FormatOption = "table",
        wait: WaitOption = 0.0,
    ) -> None:
        """History of syncs: status, records read, changed, deleted and quarantined,
        duration and error of each run, newest first."""
        if output not in ("table", "json"):
            fail(ConfigError(f"unknown --format {output!r}; choose table or json"))
        try:
            store = open_history_store(wait)
            try:
                runs = list_runs(store, limit=limit, connection=connection)
            finally:
                store.close()
        except CrmConnectError as exc:
            fail(exc)
        if output == "json":
            print(json.dumps([run.to_dict() for run in runs], indent=2))
            return
        if not runs:
            out.print("No sync runs yet: `crm-connect sync` starts one.", highlight=False)
            return
        table = plain_table("run", "started", "status", "connections", "records",
                            "changed", "deleted", QUARANTINED, "took",
                            title="sync runs, newest first (times in UTC)",
                            fixed=("started", "status"),
                            numeric=("run", "records", "changed", "deleted", QUARANTINED,
                                     "took"))
        for run in runs:
            colour = {"succeeded": "green", "running": "cyan"}.get(run.status, "red")
            if run.status == "stopped":
                colour = "yellow"
            table.add_row(str(run.run_id), run.started_at.strftime("%Y-%m-%d\n%H:%M:%S"),
                          f"[{colour}]{escape(run.status)}[/]",
                          cell(", ".join(run.connections)), _count(run.total("records")),
                          _count(run.total("changed")), _count(run.total("deleted")),
                          _count(run.total("quarantined")), _duration(run.seconds))
        out.print(table)
        for run in runs:
            if run.error:
                out.print(f"[bold]run {run.run_id}:[/] {escape(run.error)}",
                          highlight=False, soft_wrap=False)
