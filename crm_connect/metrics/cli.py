"""``crm-connect kpis``: compute the KPI catalogue from the store and print it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crm_connect.errors import CrmConnectError
from crm_connect.metrics.engine import GRAINS, KpiRow

__all__ = ["format_value", "register_commands", "render_csv", "render_table"]

_SUFFIX = {"days": " d", "hours": " h", "minutes": " min", "months": " mo", "%": " %"}


def format_value(value: float | None, unit: str, currency: str) -> str:
    """A value the way a person reads it: units, thousands separators, sensible decimals."""
    if value is None:
        return "-"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "currency":
        return f"{currency} {value:,.0f}" if abs(value) >= 100 else f"{currency} {value:,.2f}"
    if unit == "currency/day":
        return f"{currency} {value:,.0f}/d"
    if unit.startswith("score"):
        return f"{value:,.1f}"
    return f"{value:,.1f}{_SUFFIX.get(unit, ' ' + unit)}"


def _arrow(row: KpiRow) -> Text:
    previous = row.comparisons.get("previous") or {}
    verdict = previous.get("verdict")
    if verdict is None or previous.get("value") is None or row.value is None:
        return Text("")
    if verdict == "same":
        return Text(" =", style="dim")
    up = row.value > previous["value"]
    return Text(" ▲" if up else " ▼", style="green" if verdict == "better" else "red")


def render_table(rows: Sequence[KpiRow], currency: str) -> Table:
    """One line per KPI and breakdown, one column per period (arrow: vs the period before),
    then the latest period against a year earlier, the benchmark and the target."""
    periods = sorted({(r.period_start, r.period_end) for r in rows})
    grain = rows[0].grain if rows else "month"
    fmt = {"week": "%G-W%V", "month": "%Y-%m", "quarter": "", "year": "%Y"}[grain]

    def label(start: Any) -> str:
        if grain == "quarter":
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        return str(start.strftime(fmt))

    table = Table(title=f"KPIs by {grain} (▲▼ vs the period before: green better, red worse)",
                  title_justify="left")
    table.add_column("KPI", no_wrap=True)
    table.add_column("breakdown")
    for start, _ in periods:
        table.add_column(label(start), justify="right", no_wrap=True)
    table.add_column("year ago", justify="right")
    table.add_column("benchmark")
    table.add_column("target")
    table.add_column("note")
    lines: dict[tuple[str, str], dict[Any, KpiRow]] = {}
    for row in rows:
        dims = ", ".join(f"{k}={v}" for k, v in row.dimensions.items())
        lines.setdefault((row.metric, dims), {})[row.period_start] = row
    for (metric, dims), by_period in lines.items():
        cells: list[Any] = [metric, dims]
        for start, _ in periods:
            found = by_period.get(start)
            if found is None:
                cells.append("")
                continue
            cell = Text(format_value(found.value, found.unit, currency))
            cell.append_text(_arrow(found))
            cells.append(cell)
        latest = by_period[max(by_period)]
        year = latest.comparisons.get("year_ago") or {}
        cells.append(format_value(year.get("value"), latest.unit, currency)
                     if year.get("value") is not None else "")
        bench = latest.comparisons.get("benchmark")
        cells.append(_verdict_text(f"{bench['low']:g}-{bench['high']:g}", bench["verdict"],
                                   {"better": "green", "within": "yellow", "worse": "red"})
                     if bench else "")
        target = latest.comparisons.get("target")
        cells.append(_verdict_text(
            format_value(target["value"], latest.unit, currency)
            + (f" by {target['by']}" if target["by"] else ""),
            target["verdict"], {"on_track": "green", "off_track": "red"}) if target else "")
        cells.append(latest.note or "")
        table.add_row(*cells)
    return table


def _verdict_text(text: str, verdict: str | None, styles: dict[str, str]) -> Text:
    result = Text(text)
    if verdict:
        result.append(f" {verdict.replace('_', ' ')}", style=styles.get(verdict, ""))
    return result


def render_csv(rows: Sequence[KpiRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "period_start", "period_end", "grain", "dimensions", "value",
                     "unit", "numerator", "denominator", "count", "note", "previous_value",
                     "year_ago_value", "benchmark_low", "benchmark_high", "target_value",
                     "target_verdict"])
    for row in rows:
        c = row.comparisons
        writer.writerow([
            row.metric, row.period_start, row.period_end, row.grain,
            json.dumps(row.dimensions, sort_keys=True) if row.dimensions else "",
            _blank(row.value), row.unit, _blank(row.numerator), _blank(row.denominator),
            _blank(row.count), row.note or "",
            _blank((c.get("previous") or {}).get("value")),
            _blank((c.get("year_ago") or {}).get("value")),
            _blank((c.get("benchmark") or {}).get("low")),
            _blank((c.get("benchmark") or {}).get("high")),
            _blank((c.get("target") or {}).get("value")),
            (c.get("target") or {}).get("verdict") or "",
        ])
    return buffer.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value


def register_commands(app: typer.Typer) -> None:
    """Attach ``kpis`` to the ``crm-connect`` command line."""

    @app.command("kpis")
    def kpis_command(
        metric: Annotated[list[str] | None, typer.Option(
            "--metric", "-m", metavar="KEY",
            help="A KPI key (repeatable; default: the whole catalogue).",
            show_default=False)] = None,
        grain: Annotated[str, typer.Option(
            "--grain", "-g", metavar="GRAIN",
            help=f"Period length: {', '.join(GRAINS)}.")] = "month",
        start: Annotated[str | None, typer.Option(
            "--from", metavar="DATE", show_default=False,
            help="A date in the first period (default: --periods periods up to --to).")
        ] = None,
        end: Annotated[str | None, typer.Option(
            "--to", metavar="DATE", show_default=False,
            help="A date in the last period (default: the last complete one with data).")
        ] = None,
        as_of: Annotated[str | None, typer.Option(
            "--as-of", metavar="DATETIME",
            help="The moment the figures are true for, UTC (default: now).",
            show_default=False)] = None,
        by: Annotated[list[str] | None, typer.Option(
            "--by", "-b", metavar="DIMENSION",
            help="Break down by a dimension (repeatable): source, owner, ...",
            show_default=False)] = None,
        output: Annotated[str, typer.Option(
            "--format", "-f", metavar="FORMAT", help="table, json or csv.")] = "table",
        periods: Annotated[int, typer.Option(
            "--periods", min=1, max=520, metavar="N",
            help="How many periods when --from is absent.")] = 12,
        save: Annotated[bool, typer.Option(
            "--save", help="Also store the rows in the kpi_snapshots history table.")] = False,
        from_history: Annotated[bool, typer.Option(
            "--from-history", help="Read the rows saved by earlier --save runs instead of "
            "computing them.")] = False,
        list_only: Annotated[bool, typer.Option(
            "--list", help="List the KPIs and their dimensions, then exit.")] = False,
        wait: Annotated[float, typer.Option(
            "--wait", metavar="SECONDS",
            help="With --save: seconds to wait for a sync holding the store. Reading "
            "needs no wait: a sync lets kpis in after the page it is committing.")] = 0.0,
    ) -> None:
        """Compute the KPIs from the store, by period, across every connection."""
        from crm_connect import cli as core
        from crm_connect.errors import ConfigError
        from crm_connect.metrics.compute import (
            compute_kpis,
            missing_rate_summary,
            parse_moment,
        )
        from crm_connect.metrics.registry import get_kpis, kpi_plugin
        from crm_connect.store import DuckDBStore, open_store

        if output not in ("table", "json", "csv"):
            core._fail(ConfigError(f"unknown --format {output!r}; choose table, json or csv"))
        config = core._load_config(required=False)
        try:
            if list_only:
                _print_catalogue(core.out, get_kpis(), kpi_plugin, output)
                return
            store = open_store(config.store.url, base_dir=config.base_dir,
                               read_only=not save, wait_seconds=wait,
                               memory_limit=config.store.memory_limit)
            try:
                if not from_history and isinstance(store, DuckDBStore) and \
                        store.total_records() == 0:
                    core.err.print(f"The store {store.path} holds no records yet: run "
                                   "`crm-connect sync` first.", highlight=False)
                moment = parse_moment(as_of, "--as-of")
                if moment is None:
                    import datetime as dt

                    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                rows = compute_kpis(store, metrics=metric, grain=grain, start=start, end=end,
                                    as_of=moment, by=by or (), periods=periods,
                                    config=config, from_history=from_history)
                if save:
                    from crm_connect.metrics.history import save_snapshots

                    saved = save_snapshots(store, rows, moment)
                    core.err.print(f"Saved {saved} rows to the kpi_snapshots history.",
                                   highlight=False)
            finally:
                store.close()
        except CrmConnectError as exc:
            core._fail(exc)
        if output == "json":
            print(json.dumps([row.to_dict() for row in rows], indent=2))
        elif output == "csv":
            print(render_csv(rows), end="")
        else:
            core.out.print(render_table(rows, config.reporting.currency))
        unconverted = missing_rate_summary(rows, config.reporting.currency)
        if unconverted:  # the rows are printed: exit 1 says some could not be computed
            core.err.print(escape(unconverted), highlight=False)
            raise typer.Exit(1)


def _print_catalogue(console: Any, definitions: dict[str, Any], plugin_of: Any,
                     output: str) -> None:
    if output == "json":
        print(json.dumps([
            {"key": d.key, "name": d.name, "unit": d.unit, "better": d.better,
             "category": d.category, "formula": d.formula, "entities": list(d.entities),
             "dimensions": list(d.dimensions), "plugin": plugin_of(d.key)}
            for d in definitions.values()], indent=2))
        return
    table = Table("key", "name", "unit", "better", "dimensions", "plugin")
    for d in definitions.values():
        table.add_row(d.key, d.name, d.unit, "▲" if d.better == "up" else "▼",
                      ", ".join(d.dimensions), plugin_of(d.key))
    console.print(table)
