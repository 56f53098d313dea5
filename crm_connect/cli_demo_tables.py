"""The demo's headline tables: the KPIs combined over every source, then source by source.

Both fit an 80-column terminal: the by-source table is split into blocks of as many sources
as the width holds, each block repeating the KPI names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from rich import box
from rich.table import Table

from crm_connect.cli_output import escape
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow
from crm_connect.metrics.render import format_value, period_label

__all__ = ["by_source_tables", "combined_table"]

_GAP = 3
"""Padding and divider between two columns of a borderless table."""


def _table(title: str) -> Table:
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=title,
                 title_justify="left")


def combined_table(rows: Sequence[KpiRow], definitions: Mapping[str, KpiDefinition],
                   keys: Sequence[str], latest: dt.date, currency: str) -> Table:
    """Each KPI over every source: the latest complete period and the one before."""
    by_period: dict[str, dict[dt.date, KpiRow]] = {}
    for row in rows:
        if not row.dimensions:
            by_period.setdefault(row.metric, {})[row.period_start] = row
    starts = sorted({row.period_start for row in rows if row.period_start <= latest})[-2:]
    grain = rows[0].grain if rows else "quarter"
    table = _table(f"Headline KPIs, every source combined ({grain}s)")
    table.add_column("KPI")
    for start in starts:
        table.add_column(period_label(start, grain), justify="right", no_wrap=True)
    for key in keys:
        periods = by_period.get(key, {})
        cells = [format_value(periods[start].value if start in periods else None,
                              definitions[key].unit, currency) for start in starts]
        table.add_row(escape(definitions[key].name), *cells)
    return table


def by_source_tables(rows: Sequence[KpiRow], definitions: Mapping[str, KpiDefinition],
                     keys: Sequence[str], currency: str, width: int) -> list[Table]:
    """Each KPI source by source, for the one period ``rows`` cover, in tables of ``width``."""
    values: dict[tuple[str, str], float | None] = {}
    sources: list[str] = []
    for row in rows:
        source = row.dimensions.get("source")
        if source is None:
            continue
        if source not in sources:
            sources.append(source)
        values[(row.metric, source)] = row.value
    if not sources:
        return []
    grain = rows[0].grain
    period = period_label(rows[0].period_start, grain)
    names = [definitions[key].name for key in keys]
    cells = {source: [format_value(values.get((key, source)), definitions[key].unit,
                                   currency) for key in keys] for source in sources}
    label_width = max(len(name) for name in names)
    blocks: list[list[str]] = [[]]
    used = label_width
    for source in sorted(sources):
        column = max(len(source), *(len(cell) for cell in cells[source])) + _GAP
        if blocks[-1] and used + column > width:
            blocks.append([])
            used = label_width
        blocks[-1].append(source)
        used += column
    tables = []
    for block in blocks:
        table = _table(f"By source, {period} (crm-connect kpis --by source)")
        table.add_column("KPI")
        for source in block:
            table.add_column(escape(source), justify="right", no_wrap=True)
        for index, name in enumerate(names):
            table.add_row(escape(name), *(cells[source][index] for source in block))
        tables.append(table)
    return tables
