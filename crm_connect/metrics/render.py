"""``crm-connect kpis`` on a terminal: one line per KPI that stays whole at 80 columns.

The summary shows, for each KPI and breakdown, the latest complete period with data: its
value, the change from the period before, a sparkline of the periods up to it and, on a line
below, what explains the figure (sample size, a year earlier, target, benchmark, note).
``--wide`` adds the value of every period, in as many blocks of columns as the width needs.

Nothing is ever cut: a table is printed at least as wide as its widest value, so a narrow
terminal wraps a line rather than losing digits, and a pipe or a file gets every value whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow, dimensions_key
from crm_connect.metrics.formats import is_partial
from crm_connect.metrics.labels import DimensionLabels, ordered_rows
from crm_connect.metrics.numbers import compact_value as format_value
from crm_connect.metrics.numbers import short_unit

__all__ = ["KpiView", "format_value", "print_renderables", "render_kpis", "sparkline"]

_SPARKS = "▁▂▃▄▅▆▇█"
TREND_PERIODS = 12
"""At most this many periods in the summary's sparkline (``--wide`` shows them all)."""
_COLUMN_GAP = 3
"""Padding and divider between two columns of a borderless table."""
SMALL_SAMPLE = 30
"""Below this many records a rate or an average is flagged as a small sample."""


def period_label(start: dt.date, grain: str) -> str:
    if grain == "week":
        return start.strftime("%G-W%V")
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return str(start.year)
    return start.strftime("%Y-%m")


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled between the smallest and the largest; a gap
    where there is no value."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    marks = []
    for value in values:
        if value is None:
            marks.append(" ")
        elif span == 0:
            marks.append(_SPARKS[3])
        else:
            marks.append(_SPARKS[round((value - low) / span * (len(_SPARKS) - 1))])
    return "".join(marks)


@dataclass(frozen=True)
class KpiView:
    """What the terminal output needs beside the rows."""

    definitions: Mapping[str, KpiDefinition]
    currency: str
    labels: DimensionLabels
    as_of: dt.datetime
    include_partial: bool = False
    wide: bool = False


def latest_period(rows: Sequence[KpiRow], view: KpiView) -> dt.date | None:
    """The last period the summary shows: the last complete one with data (any period with
    data when the user asked for partial ones, or when no complete period has any)."""
    with_data = [row for row in rows if row.value is not None]
    complete = [row for row in with_data if not is_partial(row, view.as_of)]
    chosen = with_data if view.include_partial or not complete else complete
    if not chosen:
        return max((row.period_start for row in rows), default=None)
    return max(row.period_start for row in chosen)


def _lines(rows: Sequence[KpiRow], view: KpiView) -> dict[tuple[str, str], dict[dt.date, KpiRow]]:
    lines: dict[tuple[str, str], dict[dt.date, KpiRow]] = {}
    for row in ordered_rows(rows, view.labels):
        lines.setdefault((row.metric, dimensions_key(row.dimensions)), {})[row.period_start] = row
    return lines


def _kpi_cell(row: KpiRow, view: KpiView) -> Text:
    if not row.dimensions:
        return Text(row.metric, style="bold")
    named = view.labels.named(row.dimensions)
    return Text("  " + ", ".join(f"{key}: {value}" for key, value in named.items()))


def _change(row: KpiRow) -> Text:
    previous = row.comparisons.get("previous") or {}
    before, verdict = previous.get("value"), previous.get("verdict")
    if row.value is None or before is None or verdict is None:
        return Text("")
    if verdict == "same":
        return Text("=", style="dim")
    style = "green" if verdict == "better" else "red"
    arrow = "▲" if row.value > before else "▼"
    difference = row.value - before
    if row.unit == "%":
        amount = f"{abs(difference):,.1f} pt"
    elif row.unit.startswith("score"):
        amount = f"{abs(difference):,.1f}"
    elif before == 0:
        amount = "from 0"
    else:
        amount = f"{abs(difference) / abs(before) * 100:,.0f}%"
    return Text(f"{arrow} {amount}", style=style)


def _details(row: KpiRow, view: KpiView) -> list[Text]:
    """What goes on the line under a KPI: everything that qualifies its value, one part each."""
    parts: list[Text] = []
    if row.unit != "count" and row.count is not None and row.value is not None:
        # A rate or a mean from a handful of records says so; a sum is what it is.
        small = row.denominator is not None and row.count < SMALL_SAMPLE
        parts.append(Text(f"n={row.count:,}" + (", small sample" if small else ""),
                          style="yellow" if small else ""))
    if is_partial(row, view.as_of):
        parts.append(Text("partial period", style="yellow"))
    year = row.comparisons.get("year_ago") or {}
    if year.get("value") is not None:
        parts.append(Text(f"year ago {format_value(year['value'], row.unit, view.currency)}"))
    target = None if row.dimensions else row.comparisons.get("target")
    if target:  # a target is set for the KPI as a whole, not for each breakdown
        text = Text(f"target {format_value(target['value'], row.unit, view.currency)}")
        if target.get("by"):
            text.append(f" by {target['by']}")
        if target.get("verdict"):
            on_track = target["verdict"] == "on_track"
            text.append(f": {target['verdict'].replace('_', ' ')}",
                        style="green" if on_track else "red")
        parts.append(text)
    bench = row.comparisons.get("benchmark")
    if bench:
        suffix = short_unit(row.unit)
        joint = " to " if bench["low"] < 0 else "-"
        text = Text(f"benchmark {bench['low']:g}{joint}{bench['high']:g}{suffix}")
        if bench.get("verdict"):
            styles = {"better": "green", "within": "yellow", "worse": "red"}
            text.append(f": {bench['verdict']}", style=styles.get(bench["verdict"], ""))
        parts.append(text)
    if row.note:
        # Prose may break between its words; the other parts are kept whole.
        parts.extend(Text(word, style="italic") for word in row.note.split())
    return parts


def _wrap_parts(parts: Sequence[Text], width: int, notes_from: int) -> Text:
    """``parts`` joined with `` · `` (words of the note with spaces), broken into lines of at
    most ``width`` cells between parts only, so no figure is split from its unit."""
    line = Text(style="dim")
    used = 0
    for index, part in enumerate(parts):
        joint = "" if index == 0 else (" " if index > notes_from else " · ")
        if index and used + len(joint) + part.cell_len > width:
            line.append("\n")
            used = 0
        elif joint:
            line.append(joint, style="dim")
            used += len(joint)
        line.append_text(part)
        used += part.cell_len
    line.stylize("dim")
    return line


def summary_table(rows: Sequence[KpiRow], view: KpiView, width: int = 80) -> Table | None:
    latest = latest_period(rows, view)
    if latest is None:
        return None
    lines = _lines(rows, view)
    grain = rows[0].grain
    starts = sorted({row.period_start for row in rows if row.period_start <= latest})
    trend = starts[-TREND_PERIODS:]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left",
                  title=f"KPIs for {period_label(latest, grain)} ({grain}, as of "
                        f"{view.as_of:%Y-%m-%d %H:%M} UTC)",
                  caption=f"change: vs the {grain} before (green better, red worse); "
                          f"trend: {period_label(trend[0], grain)} to "
                          f"{period_label(trend[-1], grain)}",
                  caption_justify="left")
    cells = []
    for by_period in lines.values():
        row = by_period.get(latest)
        if row is None:
            continue
        values = [by_period[start].value if start in by_period else None for start in trend]
        cells.append((row, Text(format_value(row.value, row.unit, view.currency)),
                      _change(row), Text(sparkline(values), style="cyan")))
    header = period_label(latest, grain)
    fixed = 3 * _COLUMN_GAP + sum(
        max([len(title), *(texts[column].cell_len for _, *texts in cells)])
        for column, title in ((0, header), (1, "change"), (2, "trend")))
    kpi_width = max(width - fixed, 24)
    table.add_column("KPI", overflow="fold", width=kpi_width)
    table.add_column(header, justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("trend", no_wrap=True)
    for row, value, change, spark in cells:
        label = _kpi_cell(row, view)
        parts = _details(row, view)
        if parts:
            indent = "  " if row.dimensions else ""
            notes_from = len(parts) - len(row.note.split()) if row.note else len(parts)
            wrapped = _wrap_parts(parts, kpi_width - len(indent), notes_from)
            for text in wrapped.split("\n"):
                label.append("\n" + indent)
                label.append_text(text)
        table.add_row(label, value, change, spark)
    return table


def period_grids(rows: Sequence[KpiRow], view: KpiView, width: int) -> list[Table]:
    """The value of every period up to the latest, in blocks of columns that fit ``width``."""
    latest = latest_period(rows, view)
    if latest is None:
        return []
    lines = _lines(rows, view)
    grain = rows[0].grain
    starts = sorted({row.period_start for row in rows if row.period_start <= latest})
    labels = [_kpi_cell(next(iter(by_period.values())), view) for by_period in lines.values()]
    cells = {start: [format_value(by_period[start].value, by_period[start].unit, view.currency)
                     if start in by_period else "" for by_period in lines.values()]
             for start in starts}
    label_width = max((text.cell_len for text in labels), default=3)
    blocks: list[list[dt.date]] = [[]]
    used = label_width
    for start in starts:
        column = max(len(period_label(start, grain)), *(len(c) for c in cells[start]))
        column += _COLUMN_GAP
        if blocks[-1] and used + column > width:
            blocks.append([])
            used = label_width
        blocks[-1].append(start)
        used += column
    tables = []
    for block in blocks:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                      title=f"by {grain}: {period_label(block[0], grain)} to "
                            f"{period_label(block[-1], grain)}", title_justify="left")
        table.add_column("KPI", no_wrap=True)
        for start in block:
            table.add_column(period_label(start, grain), justify="right", no_wrap=True)
        for index, label in enumerate(labels):
            table.add_row(label.copy(), *(Text(cells[start][index]) for start in block))
        tables.append(table)
    return tables


def render_kpis(rows: Sequence[KpiRow], view: KpiView, width: int) -> list[RenderableType]:
    """What ``crm-connect kpis`` prints for ``rows`` on a console ``width`` columns wide."""
    summary = summary_table(rows, view, width)
    if summary is None:
        return [Text("No KPI rows for the periods asked for.")]
    result: list[RenderableType] = [summary]
    if view.wide:
        result.extend(period_grids(rows, view, width))
    return result


def table_width(table: Table) -> int:
    """The narrowest width at which ``table`` cuts nothing: no-wrap columns at their widest
    line, the others at their longest word; the gaps of the borderless boxes used here."""
    widths = []
    for column in table.columns:
        texts = [Text.from_markup(cell) if isinstance(cell, str) else cell
                 for cell in (column.header, *column.cells)]
        lines = [line for text in texts if isinstance(text, Text)
                 for line in text.plain.splitlines()]
        if column.no_wrap:
            widths.append(max((Text(line).cell_len for line in lines), default=1))
        else:
            widths.append(max((Text(word).cell_len for line in lines for word in line.split()),
                              default=1))
    count = len(widths)
    padding = 2 * count - (0 if table.pad_edge else 2)
    dividers = count - 1 + (2 if table.show_edge else 0)
    return sum(widths) + padding + dividers


def print_renderables(console: Console, renderables: Sequence[RenderableType]) -> None:
    """Print each at the console's width, or wider when its values need it: a value is
    never cut or folded."""
    wide_options = console.options.update_width(10_000)
    for renderable in renderables:
        if isinstance(renderable, Table):
            needed = table_width(renderable)
        else:
            needed = Measurement.get(console, wide_options, renderable).minimum
        console.print(renderable, width=max(console.width, needed), crop=False)
