"""``crm-connect demo``: the whole product in one command, with no credentials and no network.

It starts every sandbox the installed plugins contribute, writes a demo folder (configuration
and exports), syncs every connection through the real plugins with progress bars, computes the
headline KPIs combined and by source, and says where everything is and how to point the same
configuration at real CRMs.  Ctrl-C stops the sandboxes and exits 130.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from crm_connect.cli_context import fail
from crm_connect.cli_output import err, escape, out
from crm_connect.errors import CrmConnectError

__all__ = ["HEADLINE_KPIS", "register_commands"]

HEADLINE_KPIS = (
    "revenue", "win_rate", "average_deal_size", "new_customers", "customer_churn_rate",
    "customer_acquisition_cost", "campaign_roi", "net_promoter_score", "csat",
    "customer_effort_score", "first_response_time",
)
"""The KPIs the demo's table shows, one or more from each group of ``KPIS.md``."""

GRAIN = "quarter"
WIDTH = 80


def register_commands(app: typer.Typer) -> None:
    """Attach ``demo`` to the ``crm-connect`` command line."""

    @app.command("demo")
    def demo_command(
        directory: Annotated[Path, typer.Option(
            "--dir", metavar="PATH", help="Folder for the demo's configuration, exports and "
            "store (rewritten each run; the store is re-synced).")] = Path("crm-connect-demo"),
    ) -> None:
        """Sync every installed plugin's sandbox and sample exports, then show the KPIs.

        Needs no credentials and no network: each CRM plugin contributes a loopback sandbox
        that runs only while the demo does.
        """
        try:
            run_demo(directory)
        except CrmConnectError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err.print("\nInterrupted: every sandbox is stopped and nothing is left running. "
                      "Run `crm-connect demo` again when you like: it starts over safely.",
                      highlight=False)
            raise typer.Exit(130) from None


def run_demo(directory: Path) -> None:
    from crm_connect.config import load_config
    from crm_connect.demo import (
        data_ends,
        demo_sandboxes,
        running_sandboxes,
        sandbox_secrets,
        validation_in_process,
        write_demo_folder,
    )

    sandboxes = demo_sandboxes()
    if not sandboxes:
        out.print("No installed plugin contributes a sandbox: the demo syncs the sample "
                  "exports only. Install a CRM plugin (crm-connect plugins list shows what is "
                  "installed) and its sandbox joins the demo.", highlight=False)
    with running_sandboxes(sandboxes, started=_say_started) as running:
        folder = write_demo_folder(directory.resolve(), running)
        as_of = data_ends(running)
        with sandbox_secrets(running), validation_in_process():
            config = load_config(folder.config)
            report = _sync(config)
    _print_sync(report, config)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
    _print_kpis(config, as_of)
    report = _write_report(config, folder.directory / "report.html", as_of)
    _print_where(folder, running, as_of, report)


def _say_started(entry: Any) -> None:
    sandbox = entry.sandbox
    what = f": {sandbox.description}" if sandbox.description else ""
    err.print(f"Started the {escape(entry.plugin)} sandbox{escape(what)}", highlight=False)


def _sync(config: Any) -> Any:
    from crm_connect.cli_progress import LogLines, ProgressBars, new_progress
    from crm_connect.sync import run_sync

    err.print(f"Syncing {len(config.connections)} connections into the store…",
              highlight=False)
    if err.is_terminal:
        with new_progress(err) as progress:
            return run_sync(config, progress=ProgressBars(progress))
    return run_sync(config, progress=LogLines(err, False))


def _print_sync(report: Any, config: Any) -> None:
    """One line per connection: its streams, the records this run read and those the store
    holds from it (deleted ones included: they are kept, marked); then every error."""
    from crm_connect.demo import stored_records

    table = Table("connection", "streams", "read now", "in the store", box=box.SIMPLE_HEAD,
                  title="Synced", title_justify="left", pad_edge=False, show_edge=False)
    read: dict[str, list[int]] = {}
    for result in report.results:
        line = read.setdefault(result.connection, [0, 0])
        line[0] += 1
        line[1] += result.records
    stored = stored_records(config)
    for connection, (streams, records) in read.items():
        table.add_row(escape(connection), str(streams), f"{records:,}",
                      f"{stored.get(connection, 0):,}")
    out.print(table)
    out.print()
    for result in report.results:
        if result.error:
            err.print(f"[bold red]{escape(result.connection)}/{escape(result.stream)}:[/] "
                      f"{escape(result.error)}", highlight=False)


def _print_kpis(config: Any, as_of: dt.datetime) -> None:
    from crm_connect.metrics.compute import compute_kpis
    from crm_connect.metrics.registry import get_kpis

    definitions = get_kpis()
    keys = [key for key in HEADLINE_KPIS if key in definitions]
    combined = compute_kpis(metrics=keys, grain=GRAIN, as_of=as_of, periods=2, config=config)
    latest = max((row.period_start for row in combined if not row.partial), default=None)
    if latest is None:
        out.print("No complete period with data: no KPI to show.", highlight=False)
        return
    by_source = compute_kpis(metrics=keys, grain=GRAIN, as_of=as_of, start=latest, end=latest,
                             by=["source"], config=config)
    from crm_connect.cli_demo_tables import by_source_tables, combined_table

    currency = config.reporting.currency
    out.print(combined_table(combined, definitions, keys, latest, currency))
    for table in by_source_tables(by_source, definitions, keys, currency, WIDTH):
        out.print()
        out.print(table)


def _write_report(config: Any, out_file: Path, as_of: dt.datetime) -> Path:
    """Write the demo's HTML report (every KPI over the year up to the data's end)."""
    from crm_connect.report import ReportOptions, write_report

    err.print("Writing the HTML report…", highlight=False)
    return write_report(config, out_file, ReportOptions(as_of=as_of))


def _print_where(folder: Any, running: Sequence[Any], as_of: dt.datetime,
                 report: Path) -> None:
    from crm_connect.demo import FILES_CONNECTION

    config = _shown(folder.config)
    lines = ["", "Where everything is",
             f"  configuration  {config}",
             f"  store          {_shown(folder.store)}",
             f"  exports        {_shown(folder.exports)}",
             f"  report         {_shown(report)}  (open it in a browser)", "",
             f"The data ends at {as_of:%Y-%m-%d}; the store stays when the sandboxes stop:",
             f"  crm-connect -c {config} kpis --as-of {as_of:%Y-%m-%d}", ""]
    if running:
        lines += ["Point the same configuration at your real CRMs: in the configuration file,"]
        for entry in running:
            name = entry.sandbox.connection
            lines.append(f"  [connections.{name}] (rename it if you like)")
            for key, advice in entry.connection.real_crm.items():
                lines.append(f"    {key}: {advice}")
            for field in entry.connection.secrets:
                lines.append(f"    {field}: crm-connect auth set {name} {field}")
        lines += [f"  [connections.{FILES_CONNECTION}]",
                  "    path: your own folder of <entity>.csv exports",
                  f"then: crm-connect -c {config} sync"]
    for line in lines:
        _print_wrapped(line)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it (shorter lines)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_wrapped(line: str) -> None:
    """Plain text, wrapped at 80 columns under its own indent (paths and commands whole)."""
    import textwrap

    indent = " " * (len(line) - len(line.lstrip()) + 2) if line.startswith(" ") else "  "
    wrapped = textwrap.fill(line, WIDTH, subsequent_indent=indent, break_long_words=False,
                            break_on_hyphens=False) if line else ""
    out.print(wrapped, highlight=False, markup=False)
