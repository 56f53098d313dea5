"""What a person sees while ``crm-connect sync`` runs, and the summary table at its end.

On a terminal: one progress line per stream with the records stored, records/s and, when the
vendor said how many records the read returns (:attr:`crm_connect.connector.Page.total`), a
bar with the total and the time left.  Elsewhere (cron, CI, pipes): plain log lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from crm_connect.cli_output import QUARANTINED, cell, escape, plain_table
from crm_connect.connector import Stream

if TYPE_CHECKING:
    from crm_connect.events import StreamResult, SyncReport

__all__ = ["LogLines", "ProgressBars", "new_progress", "summary_table"]


class _CountColumn(ProgressColumn):
    """``1,200/5,000`` when the vendor announced a total, else ``1,200 rec``."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.fields.get("announced") is None or task.total is None:
            return Text(f"{done:,} rec", justify="right")
        return Text(f"{done:,}/{int(task.total):,}", justify="right")


def new_progress(console: Console) -> Progress:
    """The progress display of a sync; its lines stay within 80 columns."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=10),
        _CountColumn(), TextColumn("{task.fields[rate]:>6,.0f}/s"),
        TimeRemainingColumn(compact=True, elapsed_when_finished=True),
        console=console, transient=False,
    )


class ProgressBars:
    """One progress line per stream, with a total and the time left where the vendor says
    how many records there are."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def stream_started(self, connection: str, stream: Stream) -> None:
        self.tasks[(connection, stream.name)] = self.progress.add_task(
            escape(f"{connection}/{stream.name}"), total=None, rate=0.0, announced=None)

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int, total: int | None) -> None:
        task_id = self.tasks[(connection, stream.name)]
        task = self.progress.tasks[task_id]
        done = int(task.completed) + records + quarantined
        elapsed = task.elapsed or 0.0
        # A read that turns out longer than announced (records changed meanwhile) keeps
        # a bar that is never over full.
        announced = total if total is not None else task.fields.get("announced")
        self.progress.update(task_id, completed=done,
                             total=None if announced is None else max(announced, done),
                             announced=announced, rate=done / elapsed if elapsed else 0.0)

    def stream_finished(self, result: StreamResult) -> None:
        task_id = self.tasks.get((result.connection, result.stream))
        if task_id is not None:
            done = int(self.progress.tasks[task_id].completed)
            self.progress.update(task_id, total=done, completed=done)


class LogLines:
    """Plain lines when the output is not a terminal (cron, CI, pipes)."""

    def __init__(self, console: Console, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.done: dict[tuple[str, str], int] = {}

    def stream_started(self, connection: str, stream: Stream) -> None:
        self.console.print(f"{escape(connection)}/{escape(stream.name)}: started",
                           highlight=False)

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int, total: int | None) -> None:
        key = (connection, stream.name)
        self.done[key] = self.done.get(key, 0) + records + quarantined
        if self.verbose:
            of = f" of {total:,}" if total is not None else ""
            self.console.print(
                f"{escape(connection)}/{escape(stream.name)}: stored {records} records"
                + (f", {quarantined} quarantined" if quarantined else "")
                + f" ({self.done[key]:,}{of} so far)", highlight=False)

    def stream_finished(self, result: StreamResult) -> None:
        self.console.print(
            f"{escape(result.connection)}/{escape(result.stream)}: {result.status}, "
            f"{result.records:,} records, {result.changed:,} changed, {result.deleted:,} deleted "
            f"in {result.seconds:.1f}s", highlight=False)


def summary_table(report: SyncReport) -> Table:
    """Per connection/stream: status, records read, how many of them changed or became
    deleted, how many were quarantined."""
    table = plain_table("stream", "status", "records", "changed", "deleted", QUARANTINED,
                        "seconds", title=f"sync run {report.run.run_id}", fixed=("status",),
                        numeric=("records", "changed", "deleted", QUARANTINED, "seconds"))
    for result in report.results:
        colour = {"succeeded": "green", "stopped": "yellow"}.get(result.status, "red")
        table.add_row(cell(f"{result.connection}/{result.stream}"),
                      f"[{colour}]{escape(result.status)}[/]", f"{result.records:,}",
                      f"{result.changed:,}", f"{result.deleted:,}", f"{result.quarantined:,}",
                      f"{result.seconds:.1f}")
    return table
