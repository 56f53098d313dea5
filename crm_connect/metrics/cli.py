"""``crm-connect kpis``: compute the KPI catalogue from the store and print it.

The command only wires options to the engine; what a table looks like lives in
:mod:`crm_connect.metrics.render`, JSON and CSV in :mod:`crm_connect.metrics.formats`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crm_connect.cli_context import fail, load_cli_config
from crm_connect.cli_output import err
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.metrics.periods import GRAINS

if TYPE_CHECKING:  # the engine (sqlglot) loads when a command runs, not with the command line
    from crm_connect.metrics.definitions import KpiDefinition
    from crm_connect.metrics.engine import KpiRow
    from crm_connect.metrics.labels import DimensionLabels

__all__ = ["register_commands"]

_FORMATS = ("table", "json", "csv")


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
            help="How many periods when --from is absent (the table's trend shows the "
            "last 12 of them, --wide every one).")] = 12,
        wide: Annotated[bool, typer.Option(
            "--wide", help="Also print the value of every period (table format).")] = False,
        save: Annotated[bool, typer.Option(
            "--save", help="Also store the rows in the kpi_snapshots history table.")] = False,
        from_history: Annotated[bool, typer.Option(
            "--from-history", help="Read the rows saved by earlier --save runs instead of "
            "computing them.")] = False,
        list_only: Annotated[bool, typer.Option(
            "--list", help="List the KPIs, their formulas and dimensions, then exit.")] = False,
        unify: Annotated[bool | None, typer.Option(
            "--unify/--no-unify", show_default=False,
            help="Count each customer `crm-connect resolve` unified across CRMs once "
            "(default: [reporting] unify).")] = None,
        wait: Annotated[float, typer.Option(
            "--wait", metavar="SECONDS",
            help="With --save: seconds to wait for a sync holding the store. Reading "
            "needs no wait: a sync lets kpis in after the page it is committing.")] = 0.0,
        engine: Annotated[str | None, typer.Option(
            "--engine", metavar="ENGINE", show_default=False,
            help="Where the KPIs run: the store's engine (duckdb or postgres, the "
            "default), or spark over the Parquet tables of --tables.")] = None,
        tables: Annotated[Path | None, typer.Option(
            "--tables", metavar="DIR", show_default=False,
            help="With --engine spark: the folder `crm-connect export --format parquet` "
            "wrote.")] = None,
    ) -> None:
        """Compute the KPIs from the store, by period, across every connection."""
        from crm_connect.metrics.registry import get_kpis, kpi_plugin

        if output not in _FORMATS:
            fail(ConfigError(f"unknown --format {output!r}; choose table, json or csv"))
        if save and from_history:
            fail(ConfigError(
                "--save and --from-history cannot be used together: --save stores freshly "
                "computed rows, --from-history reads stored ones; run them one at a time"))
        if list_only:
            _print_catalogue(get_kpis(), kpi_plugin, output)
            return
        config = load_cli_config(required=False)
        if unify is None:  # the history holds the plain figures
            unify = config.reporting.unify and not from_history
        if unify and (save or from_history):
            fail(ConfigError(
                f"{'--save' if save else '--from-history'} works with the plain figures the "
                "history holds, not with --unify: add --no-unify"))
        request = _Request(metric=metric, grain=grain, start=start, end=end, as_of=as_of,
                           by=by or [], periods=periods, save=save, from_history=from_history,
                           wait=wait, table=output == "table", unify=unify, engine=engine,
                           tables=tables)
        try:
            _check_engine(request)
            result = _on_spark(request, config, err) if engine == "spark" else \
                _compute(request, config, err)
        except CrmConnectError as exc:
            fail(exc)
        if result is None:
            return
        rows, moment, labels, resolution = result
        from crm_connect.metrics.labels import ordered_rows

        definitions = get_kpis()
        currency = config.reporting.currency
        rows = ordered_rows(rows, labels)
        if output == "json":
            from crm_connect.metrics.formats import render_json

            print(render_json(rows, definitions, currency, labels, moment))
        elif output == "csv":
            from crm_connect.metrics.formats import render_csv

            print(render_csv(rows, definitions, currency, labels, moment, by or ()), end="")
        else:
            from crm_connect.metrics.render import KpiView, print_renderables, render_kpis

            console = Console(highlight=False)
            view = KpiView(definitions, currency, labels, moment,
                           include_partial=end is not None, wide=wide)
            print_renderables(console, render_kpis(rows, view, console.width))
        if resolution is not None:
            from crm_connect.metrics.unified import resolution_lines

            # Under the table; beside JSON and CSV (which have no place for it) on stderr.
            for line in resolution_lines(resolution):
                if output == "table":
                    print(line)
                else:
                    err.print(line, highlight=False, markup=False)
        from crm_connect.metrics.compute import missing_rate_summary

        unconverted = missing_rate_summary(rows, currency)
        if unconverted:  # the rows are printed: exit 1 says some could not be computed
            err.print(escape(unconverted), highlight=False)
            raise typer.Exit(1)


@dataclass(frozen=True)
class _Request:
    """The options of one ``kpis`` run that reach the engine."""

    metric: list[str] | None
    grain: str
    start: str | None
    end: str | None
    as_of: str | None
    by: list[str]
    periods: int
    save: bool
    from_history: bool
    wait: float
    table: bool
    unify: bool = False
    engine: str | None = None
    tables: Path | None = None


ENGINES = ("duckdb", "postgres", "spark")


def _check_engine(request: _Request) -> None:
    """``--engine`` and ``--tables`` make sense together and with the other options."""
    if request.engine is not None and request.engine not in ENGINES:
        raise ConfigError(f"unknown --engine {request.engine!r}; choose one of: "
                          f"{', '.join(ENGINES)}")
    if request.engine != "spark":
        if request.tables is not None:
            raise ConfigError("--tables names the Parquet tables Spark reads: use it with "
                              "--engine spark")
        return
    if request.tables is None:
        raise ConfigError("--engine spark needs --tables DIR: the folder "
                          "`crm-connect export --format parquet DIR` wrote")
    if request.save or request.from_history:
        raise ConfigError("--save and --from-history use the KPI history in the store; "
                          "run them without --engine spark")


def _on_spark(request: _Request, config: Any, err: Console
              ) -> tuple[list[KpiRow], dt.datetime, DimensionLabels, Any]:
    """The rows computed by a local Spark session over the Parquet tables of ``--tables``
    (currency, rates and targets from the configuration, as for the store)."""
    from crm_connect.metrics.compute import compute_kpis, parse_moment
    from crm_connect.metrics.labels import load_labels
    from crm_connect.metrics.spark import SparkTables, local_session, running_session, tables_folder

    assert request.tables is not None
    moment = parse_moment(request.as_of, "--as-of") or \
        dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _validate(request)  # before the JVM starts: a mistyped --metric is a usage error
    tables_folder(request.tables)  # and so is a folder without the tables
    owned = running_session() is None  # embedded in a Spark process: use its session
    with _status(err, "Starting Spark…"):
        session = local_session()
    try:
        tables = SparkTables(session, request.tables)
        with _status(err, "Computing KPIs on Spark…"):
            rows = compute_kpis(tables, metrics=request.metric, grain=request.grain,
                                start=request.start, end=request.end, as_of=moment,
                                by=request.by, periods=request.periods, config=config,
                                unify=request.unify)
        resolution = None
        if request.unify:
            from crm_connect.metrics.unified import read_resolution

            resolution = read_resolution(tables)
        labels = load_labels(tables, request.by)
    finally:
        if owned:
            session.stop()
    return rows, moment, labels, resolution


def _compute(request: _Request, config: Any, err: Console
             ) -> tuple[list[KpiRow], dt.datetime, DimensionLabels, Any] | None:
    """The rows (saved when asked), the as-of moment, the breakdown labels and, under
    ``--unify``, how many records resolved into how many clusters; ``None`` when there is
    nothing to show (an empty store under the table format)."""
    from crm_connect.config import open_store
    from crm_connect.metrics.compute import compute_kpis, parse_moment
    from crm_connect.metrics.labels import load_labels

    moment = parse_moment(request.as_of, "--as-of") or \
        dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store = open_store(config.store.url, base_dir=config.base_dir,
                       read_only=not request.save, wait_seconds=request.wait,
                       memory_limit=config.store.memory_limit)
    try:
        if request.engine is not None and request.engine != store.dialect:
            raise ConfigError(f"--engine {request.engine}: the configured store "
                              f"({store.location}) runs {store.dialect}; set [store] url to "
                              f"a {request.engine} store, or export the tables for Spark")
        empty = not request.from_history and store.total_records() == 0
        if empty:
            err.print(f"The store {store.location} holds no records yet: run `crm-connect sync` "
                      "first." + (" Nothing was saved." if request.save else ""),
                      highlight=False, markup=False)
            if request.table:
                _validate(request)  # a mistyped --metric is still a usage error
                return None
        with _status(err, "Computing KPIs…"):
            rows = compute_kpis(store, metrics=request.metric, grain=request.grain,
                                start=request.start, end=request.end, as_of=moment,
                                by=request.by, periods=request.periods, config=config,
                                from_history=request.from_history, unify=request.unify)
        resolution = None
        if request.unify:
            from crm_connect.metrics.unified import read_resolution

            resolution = read_resolution(store)
        if request.save and not empty:
            from crm_connect.metrics.history import save_snapshots

            saved = save_snapshots(store, rows, moment, currency=config.reporting.currency)
            err.print(f"Saved {saved} rows to the kpi_snapshots history.", highlight=False)
        labels = load_labels(store, request.by)
    finally:
        store.close()
    return rows, moment, labels, resolution


def _validate(request: _Request) -> None:
    from crm_connect.metrics.compute import resolve_request
    from crm_connect.metrics.registry import get_kpis

    if request.grain not in GRAINS:
        raise ConfigError(f"unknown grain {request.grain!r}; choose one of: "
                          f"{', '.join(GRAINS)}")
    resolve_request(get_kpis(), request.metric, request.by)


def _status(err: Console, message: str) -> Any:
    """A spinner on a terminal while the engine works; nothing in a pipe or a log."""
    import contextlib

    if err.is_terminal:
        return err.status(message)
    return contextlib.nullcontext()


def _print_catalogue(definitions: Mapping[str, KpiDefinition], plugin_of: Callable[[str], str],
                     output: str) -> None:
    """``kpis --list``: every KPI with its unit, direction, formula and dimensions."""
    items: list[dict[str, Any]] = [
        {"key": d.key, "name": d.name, "unit": d.unit, "better": d.better,
         "category": d.category, "formula": d.formula, "entities": list(d.entities),
         "dimensions": list(d.dimensions), "precision": d.decimals, "plugin": plugin_of(d.key)}
        for d in definitions.values()]
    if output == "json":
        print(json.dumps(items, indent=2))
        return
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(items[0]) if items else ["key"],
                                lineterminator="\n")
        writer.writeheader()
        for item in items:
            writer.writerow({**item, "entities": " ".join(item["entities"]),
                             "dimensions": " ".join(item["dimensions"])})
        print(buffer.getvalue(), end="")
        return
    from crm_connect.metrics.render import print_renderables

    table = Table("KPI", "formula", title="The KPI catalogue (▲ higher is better, "
                  "▼ lower is better)", title_justify="left", show_lines=True, expand=True)
    for item in items:
        kpi = Text(f"{item['key']} {'▲' if item['better'] == 'up' else '▼'}", style="bold")
        kpi.append(f"\n{item['name']}\nunit: {item['unit']}", style="")
        formula = Text(str(item["formula"]))
        formula.append(f"\nby: {', '.join(item['dimensions'])} · plugin: {item['plugin']}",
                       style="dim")
        table.add_row(kpi, formula)
    print_renderables(Console(highlight=False), [table])
