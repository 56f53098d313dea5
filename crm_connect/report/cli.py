"""``crm-connect report``: write the HTML KPI report.  The command only wires options to
:func:`crm_connect.report.write_report` and shows its progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from crm_connect.cli_context import fail, load_cli_config
from crm_connect.cli_output import err
from crm_connect.errors import CrmConnectError

__all__ = ["register_commands"]


def register_commands(app: typer.Typer) -> None:
    """Attach ``report`` to the ``crm-connect`` command line."""

    @app.command("report")
    def report_command(
        out: Annotated[Path, typer.Option(
            "--out", "-o", metavar="FILE", help="The HTML file to write.")
        ] = Path("report.html"),
        grain: Annotated[str, typer.Option(
            "--grain", "-g", metavar="GRAIN",
            help="Period length: week, month, quarter or year.")] = "month",
        start: Annotated[str | None, typer.Option(
            "--from", metavar="DATE", show_default=False,
            help="A date in the first period (default: 12 periods up to --to).")] = None,
        end: Annotated[str | None, typer.Option(
            "--to", metavar="DATE", show_default=False,
            help="A date in the last period (default: the last complete one with data).")
        ] = None,
        by: Annotated[list[str] | None, typer.Option(
            "--by", "-b", metavar="DIMENSION", show_default=False,
            help="A breakdown drawn as bars (repeatable; default: source, owner, "
            "ticket_channel).")] = None,
        from_history: Annotated[bool, typer.Option(
            "--from-history", help="Draw the rows saved by `crm-connect kpis --save` runs "
            "instead of computing them.")] = False,
        as_of: Annotated[str | None, typer.Option(
            "--as-of", metavar="DATETIME", show_default=False,
            help="The moment the figures are true for, UTC (default: now).")] = None,
    ) -> None:
        """Write a self-contained HTML report of every KPI: headlines, trends, breakdowns,
        funnel, and why some KPIs have no value. It opens offline."""
        from crm_connect.metrics.compute import resolve_request
        from crm_connect.metrics.registry import get_kpis
        from crm_connect.report import ReportOptions, write_report
        from crm_connect.report.data import gather_steps

        config = load_cli_config(required=False)
        dimensions = tuple(dict.fromkeys(by)) if by else ReportOptions().by
        options = ReportOptions(grain=grain, start=start, end=end, by=dimensions,
                                from_history=from_history, as_of=as_of)
        try:
            resolve_request(get_kpis(), None, list(dimensions))
            with _progress(gather_steps(options)) as step:
                written = write_report(config, out, options, step)
        except CrmConnectError as exc:
            fail(exc)
        size = written.stat().st_size / 1_000_000
        err.print(f"Wrote the report to {written} ({size:.1f} MB): open it in a browser, "
                  "it needs no network.", highlight=False, markup=False, soft_wrap=False)


class _progress:
    """A progress bar over the report's steps on a terminal; nothing in a pipe or a log."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self._bar: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> _progress:
        if err.is_terminal:
            self._bar = Progress(TextColumn("{task.description:<40}"), BarColumn(),
                                 TimeElapsedColumn(), console=err, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("report", total=self.steps)
        return self

    def __call__(self, message: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=message)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.steps)
            self._bar.stop()
