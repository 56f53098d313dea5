"""``crm-connect export --format parquet DIR``: the store's canonical tables as Parquet files,
partitioned by source, for Spark and other engines that read a lake."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from crm_connect.cli_context import fail, load_cli_config
from crm_connect.cli_output import cell, err, escape, out, plain_table
from crm_connect.errors import ConfigError, CrmConnectError

__all__ = ["register_commands"]

FORMATS = ("parquet",)


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return f"{count} B"  # pragma: no cover - the loop always returns


def register_commands(app: typer.Typer) -> None:
    """Attach ``export`` to the ``crm-connect`` command line."""

    @app.command("export")
    def export_command(
        directory: Annotated[Path, typer.Argument(
            metavar="DIR", help="The folder to write the tables into (empty or new).")],
        output: Annotated[str, typer.Option(
            "--format", "-f", metavar="FORMAT", help="parquet (partitioned by source).")
        ] = "parquet",
        overwrite: Annotated[bool, typer.Option(
            "--overwrite", help="Replace the tables already in DIR.")] = False,
        wait: Annotated[float, typer.Option(
            "--wait", metavar="SECONDS",
            help="Seconds to wait for a sync holding the store.")] = 0.0,
    ) -> None:
        """Write the store's canonical tables as Parquet, one folder per entity."""
        from crm_connect.config import open_store
        from crm_connect.export import export_parquet

        if output not in FORMATS:
            fail(ConfigError(f"unknown --format {output!r}; the export writes: "
                             f"{', '.join(FORMATS)}"))
        config = load_cli_config(required=False)
        try:
            store = open_store(config.store.url, base_dir=config.base_dir, read_only=True,
                               wait_seconds=wait, memory_limit=config.store.memory_limit)
        except CrmConnectError as exc:
            fail(exc)
        progress = Progress(SpinnerColumn(), TextColumn("{task.description:<22}"),
                            BarColumn(bar_width=20), TextColumn("{task.completed:>11,} rows"),
                            console=err, transient=True, disable=not err.is_terminal)
        task = progress.add_task("exporting", total=store.total_records())

        def advance(entity: str, rows: int) -> None:
            progress.update(task, description=entity, advance=rows)

        try:
            with progress:
                summary = export_parquet(store, directory, overwrite=overwrite,
                                         progress=advance)
        except CrmConnectError as exc:
            fail(exc)
        except OSError as exc:
            fail(ConfigError(f"cannot write the Parquet tables into {directory}: "
                             f"{exc.strerror or exc}"))
        finally:
            store.close()
        table = plain_table("table", "rows", "sources", "size", title="exported",
                            numeric=("rows", "sources", "size"))
        for item in summary.tables:
            table.add_row(cell(item.entity), f"{item.rows:,}", f"{len(item.sources):,}",
                          _size(item.bytes))
        out.print(table)
        out.print(f"Wrote {summary.rows:,} rows in {len(summary.tables)} tables "
                  f"({_size(summary.bytes)}) to {escape(str(directory))}, partitioned by "
                  "source.", highlight=False)
