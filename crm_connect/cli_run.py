"""``crm-connect run``: the one command a scheduler calls (sync, KPI snapshot, report).

The work is :func:`crm_connect.runner.run_connections`; this module reads the options, shows
progress, prints the outcome, writes ``--summary`` (on failure too) and exits with the run's
:class:`~crm_connect.exit_codes.ExitCode`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crm_connect.cli_context import fail, state
from crm_connect.cli_output import cell, err, escape, out, plain_table
from crm_connect.errors import ConfigError
from crm_connect.exit_codes import ExitCode, exit_code_of
from crm_connect.run_summary import RunSummary, write_summary

__all__ = ["register_commands"]

LOG_FORMATS = ("text", "json")
_COLOURS = {"succeeded": "green", "deferred": "yellow", "skipped": "cyan"}


def _summary_table(summary: RunSummary) -> Any:
    table = plain_table("connection/stream", "status", "records", "upserted", "requests",
                        "seconds", title=f"crm-connect run: {summary.status}",
                        fixed=("status",), numeric=("records", "upserted", "requests",
                                                    "seconds"))
    for name, connection in summary.connections.items():
        colour = _COLOURS.get(connection.status, "red")
        table.add_row(cell(name), f"[{colour}]{escape(connection.status)}[/]",
                      "", "", "", f"{connection.duration_s:.1f}")
        for stream_name, stream in connection.streams.items():
            colour = _COLOURS.get(stream.status, "red")
            table.add_row(cell(f"  {stream_name}"), f"[{colour}]{escape(stream.status)}[/]",
                          f"{stream.records_read:,}", f"{stream.upserted:,}",
                          f"{sum(stream.requests.values()):,}", f"{stream.duration_s:.1f}")
    return table


def _print_outcome(summary: RunSummary) -> None:
    if summary.connections:
        out.print(_summary_table(summary))
    kpis = summary.kpis
    if kpis.status == "succeeded":
        span = f" ({kpis.periods[0]} to {kpis.periods[-1]})" if kpis.periods else ""
        out.print(f"KPI snapshot: {kpis.rows_written:,} rows saved for {len(kpis.periods)} "
                  f"period(s){span}.", highlight=False)
    for name, connection in summary.connections.items():
        if connection.error:
            err.print(f"[bold red]{escape(name)}:[/] {escape(connection.error)}",
                      highlight=False)
        for stream_name, stream in connection.streams.items():
            if stream.error:
                err.print(f"[bold red]{escape(name)}/{escape(stream_name)}:[/] "
                          f"{escape(stream.error)}", highlight=False)
    if kpis.error:
        err.print(f"[bold red]KPI snapshot:[/] {escape(kpis.error)}", highlight=False)
    if summary.error:
        err.print(f"[bold red]Error:[/] {escape(summary.error)}", highlight=False)
    if summary.retry_after is not None:
        err.print(f"Deferred: a daily quota is spent; progress is saved. Run again after "
                  f"{summary.retry_after:%Y-%m-%d %H:%M} UTC.", highlight=False)


def register_commands(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        connections: Annotated[list[str] | None, typer.Argument(
            help="Connections to sync (default: all).", show_default=False)] = None,
        wait: Annotated[float, typer.Option(
            "--wait", metavar="SECONDS", min=0,
            help="Seconds to wait for another run holding the store or a connection "
            "(then exit code 73).")] = 0.0,
        skip_kpis: Annotated[bool, typer.Option(
            "--skip-kpis", help="Run the syncs only.")] = False,
        kpis_only: Annotated[bool, typer.Option(
            "--kpis-only", help="Only save the KPI snapshot of what earlier syncs "
            "changed.")] = False,
        report: Annotated[Path | None, typer.Option(
            "--report", metavar="FILE", show_default=False,
            help="Then write the HTML report to FILE.")] = None,
        parallel: Annotated[int, typer.Option(
            "--parallel", metavar="N", help="Sync up to N connections at once, each in its "
            "own process (Postgres store only; DuckDB syncs one at a time).")] = 1,
        summary_file: Annotated[Path | None, typer.Option(
            "--summary", metavar="FILE", show_default=False,
            help="Write the run summary (JSON) to FILE, on failure too.")] = None,
        log_format: Annotated[str, typer.Option(
            "--log-format", metavar="FORMAT",
            help="text, or json: one JSON object per line on stderr.")] = "text",
    ) -> None:
        """Sync, then save the KPI snapshot of the periods the new data touches, then (with
        --report) the report: the command for cron and orchestrators.

        Exit codes: 0 succeeded, 1 some streams or connections failed (the others are kept),
        2 usage or configuration error, 73 another run holds the lock, 75 deferred (a daily
        quota is spent: run again after the summary's retry_after).
        """
        from crm_connect.run_log import configure_run_logging
        from crm_connect.runner import RunOptions, run_connections

        if log_format not in LOG_FORMATS:
            fail(ConfigError(f"unknown --log-format {log_format!r}; choose text or json"))
        configure_run_logging(log_format, state.verbose)
        options = RunOptions(wait=wait, skip_kpis=skip_kpis, kpis_only=kpis_only,
                             report=report, parallel=parallel, log_format=log_format,
                             verbose=state.verbose)
        config = _config_or_summary(summary_file)
        display, bars = _display(log_format)
        if bars is not None:
            with bars:
                summary = run_connections(config, connections, options, display)
        else:
            summary = run_connections(config, connections, options, display)
        if summary_file is not None:
            write_summary(summary_file, summary)
        if log_format == "text":
            _print_outcome(summary)
        if summary.exit_code != ExitCode.OK:
            raise typer.Exit(int(summary.exit_code))


def _config_or_summary(summary_file: Path | None) -> Any:
    """The configuration; a mistake in it still writes the summary (status usage_error)."""
    import datetime as dt

    from crm_connect.config import load_config
    from crm_connect.errors import CrmConnectError

    try:
        return load_config(state.config_path)
    except CrmConnectError as exc:
        if summary_file is not None:
            now = dt.datetime.now(dt.UTC)
            write_summary(summary_file, RunSummary(
                started_at=now, finished_at=now, exit_code=exit_code_of(exc.exit_code),
                error=str(exc)))
        fail(exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _display(log_format: str) -> tuple[Any, Any]:
    """The progress display: bars on a terminal, lines elsewhere, none in JSON mode (stderr
    is for the JSON lines)."""
    from crm_connect.cli_progress import LogLines, ProgressBars, new_progress

    if log_format == "json":
        return None, None
    if err.is_terminal:
        bars = new_progress(err)
        return ProgressBars(bars), bars
    return LogLines(err, bool(state.verbose)), None
