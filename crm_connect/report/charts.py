"""The report's charts, drawn with plotly: each is an HTML fragment (a ``<div>`` and the
call that draws it) that needs plotly.js, which the page embeds once.

A chart with nothing to draw is not an empty frame: it is ``None`` here and the page shows
a sentence saying there is no data instead.  Every value axis names its unit and every time
axis its grain; category labels are shortened and limited so they never overlap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from crm_connect.metrics import KpiRow
from crm_connect.report.data import (
    MIX_DIMENSION,
    MIX_KPI,
    ReportData,
    breakdown_rows,
)
from crm_connect.report.numbers import DASH, axis_format, format_value, period_label, tick_label

__all__ = ["Chart", "bar_chart", "funnel_chart", "mix_chart", "plotly_script", "trend_chart"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
LINE = "#2563eb"
UNIFIED = "#7c3aed"
TARGET = "#b45309"
BAND = "rgba(16, 185, 129, 0.12)"
MAX_TICKS = 6
MAX_BARS = 10
MAX_LABEL = 22
_CONFIG = {"displayModeBar": False, "responsive": True}


@dataclass(frozen=True)
class Chart:
    """One chart of the page: its title, what it covers, and its HTML (``None`` when there is
    nothing to draw; ``empty`` then says why)."""

    chart_id: str
    title: str
    subtitle: str
    html: str | None
    empty: str = "No data for this chart in the periods shown."


def plotly_script() -> str:
    """plotly.js itself, to embed once in the page (no CDN: the file opens offline)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height, "autosize": True, "showlegend": False,
        "margin": {"l": 64, "r": 16, "t": 12, "b": 52},
        "font": {"family": FONT, "size": 11, "color": "#1f2937"},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "hoverlabel": {"font": {"family": FONT}},
    }
    layout.update(extra)
    return layout


def _html(figure: go.Figure, chart_id: str, height: int) -> str:
    return str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id,
                              config=_CONFIG, default_width="100%",
                              default_height=f"{height}px"))


def _value_axis(unit: str, currency: str, values: Sequence[float | None],
                **extra: Any) -> dict[str, Any]:
    fmt = axis_format(unit, currency)
    axis: dict[str, Any] = {
        "title": {"text": fmt.title, "standoff": 6}, "tickformat": fmt.tickformat,
        "tickprefix": fmt.tickprefix, "ticksuffix": fmt.ticksuffix,
        "gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "automargin": True}
    known = [abs(value) for value in values if value is not None]
    if unit == "count" and max(known, default=0.0) <= 6:
        # Small counts: one tick per whole number, never "0 1 1 2 2".
        axis.update(dtick=1, tick0=0, range=[0, max(1.0, max(known, default=0.0)) * 1.1])
    axis.update(extra)
    return axis


def _period_axis(periods: Sequence[dt.date], grain: str) -> dict[str, Any]:
    labels = [period_label(start, grain) for start in periods]
    step = max(1, -(-len(labels) // MAX_TICKS))
    shown = list(range(len(labels)))[::-1][::step][::-1]  # always label the latest period
    return {"title": {"text": grain, "standoff": 4}, "type": "category",
            "tickmode": "array", "tickvals": [labels[i] for i in shown],
            "ticktext": [tick_label(periods[i], grain, n == 0) for n, i in enumerate(shown)],
            "tickangle": 0, "showgrid": False, "automargin": True}


def trend_chart(data: ReportData, metric: str) -> Chart:
    """The KPI over every period shown, with its target and its benchmark band."""
    definition = data.definitions[metric]
    series = data.series(metric)
    grain = data.options.grain
    chart_id = f"trend-{metric}"
    title = definition.name
    if not series or all(row.value is None for row in series):
        return Chart(chart_id, title, "", None,
                     "No data in the periods shown (see “Why some KPIs have no value”).")
    labels = [period_label(row.period_start, grain) for row in series]
    values = [row.value for row in series]
    text = [format_value(value, definition.unit, data.currency) for value in values]
    figure = go.Figure(go.Scatter(
        x=labels, y=values, mode="lines+markers", line={"color": LINE, "width": 2},
        marker={"size": 6}, connectgaps=False, text=text,
        hovertemplate="%{x}: %{text}<extra></extra>"))
    unified = _unified_values(data, metric, series)
    if unified is not None:
        figure.data[0].name = "per record"
        figure.add_trace(go.Scatter(
            x=labels, y=unified, mode="lines+markers", name="customers counted once",
            line={"color": UNIFIED, "width": 2, "dash": "dot"}, marker={"size": 5},
            connectgaps=False, text=[format_value(v, definition.unit, data.currency)
                                     for v in unified],
            hovertemplate="%{x}: %{text} (unified)<extra></extra>"))
        values = values + [value for value in unified if value is not None]
    comparisons = series[-1].comparisons
    benchmark = comparisons.get("benchmark")
    if benchmark:
        figure.add_hrect(y0=benchmark["low"], y1=benchmark["high"], fillcolor=BAND,
                         line_width=0, layer="below")
    target = comparisons.get("target")
    if target:
        figure.add_hline(y=target["value"], line={"color": TARGET, "dash": "dash", "width": 1})
    figure.update_layout(**_layout(
        230, xaxis=_period_axis([row.period_start for row in series], grain),
        yaxis=_value_axis(definition.unit, data.currency, values, rangemode="tozero")))
    legend = _legend(benchmark, target)
    if unified is not None:
        legend = " · ".join(part for part in ("dotted: customers counted once", legend) if part)
    return Chart(chart_id, title, legend, _html(figure, chart_id, 230))


def _unified_values(data: ReportData, metric: str, series: Sequence[KpiRow]
                    ) -> list[float | None] | None:
    """The unified value of ``metric`` in each period of ``series``; ``None`` when there is
    no unified view of it (no resolution, or a KPI that counts no customers)."""
    if metric not in data.unified_metrics():
        return None
    by_period = {row.period_start: row.value for row in data.unified_series(metric)}
    found = [by_period.get(row.period_start) for row in series]
    return found if any(value is not None for value in found) else None


def _legend(benchmark: Any, target: Any) -> str:
    parts = []
    if benchmark:
        parts.append("shaded: industry benchmark")
    if target:
        parts.append("dashed: target")
    return " · ".join(parts)


def _dimension_title(dimension: str) -> str:
    return {"ticket_channel": "ticket channel", "lead_source": "lead source"}.get(
        dimension, dimension.replace("_", " "))


def _named(data: ReportData, row: KpiRow, dimension: str) -> str:
    return data.labels.name(dimension, row.dimensions[dimension], row.dimensions)


def bar_chart(data: ReportData, dimension: str, metric: str) -> Chart:
    """The KPI in the latest period, one bar per value of ``dimension`` (the largest
    :data:`MAX_BARS`), horizontal so that names stay readable."""
    definition = data.definitions[metric]
    period = data.latest
    chart_id = f"bars-{dimension}-{metric}"
    where = period_label(period, data.options.grain) if period else ""
    title = f"{definition.name} by {_dimension_title(dimension)}"
    rows = [row for row in breakdown_rows(data, dimension, metric, period)
            if row.value is not None and dimension in row.dimensions]
    if not rows:
        return Chart(chart_id, title, where, None,
                     f"No {definition.name.lower()} by {_dimension_title(dimension)} "
                     f"in {where or 'the periods shown'}.")
    rows.sort(key=lambda row: row.value or 0.0, reverse=True)
    shown = rows[:MAX_BARS]
    subtitle = where if len(rows) <= MAX_BARS else f"{where} · top {MAX_BARS} of {len(rows)}"
    names = [shorten(_named(data, row, dimension)) for row in shown][::-1]
    values = [row.value for row in shown][::-1]
    text = [format_value(value, definition.unit, data.currency) for value in values]
    height = max(180, 60 + 26 * len(shown))
    figure = go.Figure(go.Bar(
        x=values, y=names, orientation="h", marker={"color": LINE}, text=text,
        textposition="auto", cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>"))
    value_axis = _value_axis(definition.unit, data.currency, values, rangemode="tozero")
    value_axis["title"]["text"] = f"{value_axis['title']['text']}, {where}"
    figure.update_layout(**_layout(
        height, xaxis=value_axis,
        yaxis={"type": "category", "automargin": True,
               "title": {"text": _dimension_title(dimension), "standoff": 6}},
        uniformtext={"minsize": 9, "mode": "hide"}))
    return Chart(chart_id, title, subtitle, _html(figure, chart_id, height))


def mix_chart(data: ReportData) -> Chart:
    """Leads created per lead source over every period shown, as shares of the whole."""
    chart_id = "mix-lead-source"
    periods = data.periods
    span = _span(periods, data.options.grain)
    totals: dict[str, float] = {}
    for row in breakdown_rows(data, MIX_DIMENSION, MIX_KPI, None):
        if row.value and MIX_DIMENSION in row.dimensions:
            name = _named(data, row, MIX_DIMENSION).replace("_", " ")
            totals[name] = totals.get(name, 0.0) + row.value
    title = "Lead-source mix"
    if not totals:
        return Chart(chart_id, title, span, None, f"No leads created in {span}.")
    ordered = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    if len(ordered) > MAX_BARS:
        rest = sum(value for _, value in ordered[MAX_BARS - 1:])
        ordered = [*ordered[: MAX_BARS - 1], ("other sources", rest)]
    figure = go.Figure(go.Pie(
        labels=[shorten(name) for name, _ in ordered], values=[value for _, value in ordered],
        hole=0.45, sort=False, textinfo="percent", textposition="inside",
        insidetextorientation="horizontal", texttemplate="%{percent:.1%}",
        hovertemplate="%{label}: %{value:,d} leads (%{percent:.1%})<extra></extra>"))
    figure.update_layout(**_layout(
        300, showlegend=True, margin={"l": 16, "r": 16, "t": 12, "b": 12},
        legend={"title": {"text": "lead source"}, "font": {"size": 11}},
        uniformtext={"minsize": 10, "mode": "hide"}))
    return Chart(chart_id, title, f"leads created, {span}", _html(figure, chart_id, 300))


_FUNNEL = (
    ("Leads created", "leads_created", "value"),
    ("Leads contacted", "contact_rate", "numerator"),
    ("Leads converted", "lead_conversion_rate", "numerator"),
    ("Deals won", "win_rate", "numerator"),
)


def funnel_chart(data: ReportData) -> Chart:
    """From lead to won deal: the counts behind the sales KPIs, summed over the periods."""
    chart_id = "funnel"
    span = _span(data.periods, data.options.grain)
    stages: list[tuple[str, float]] = []
    for label, metric, part in _FUNNEL:
        if metric not in data.definitions:
            continue
        numbers = [getattr(row, part) for row in data.series(metric)]
        known = [number for number in numbers if number is not None]
        if known:
            stages.append((label, float(sum(known))))
    title = "Funnel from lead to won deal"
    if not stages or not any(count for _, count in stages):
        return Chart(chart_id, title, span, None, f"No leads or deals in {span}.")
    counts = [count for _, count in stages]
    text = [f"{count:,.0f}" if n == 0 or count > counts[n - 1] or not counts[n - 1]
            else f"{count:,.0f} ({count / counts[n - 1]:.1%} of the step before)"
            for n, count in enumerate(counts)]
    figure = go.Figure(go.Funnel(
        y=[label for label, _ in stages], x=counts, text=text, textinfo="text",
        textposition="auto", cliponaxis=False,
        marker={"color": ["#1d4ed8", "#3b82f6", "#60a5fa", "#10b981"][: len(stages)]},
        hovertemplate="%{y}: %{x:,d}<extra></extra>"))
    figure.update_layout(**_layout(
        300, margin={"l": 120, "r": 16, "t": 12, "b": 40},
        xaxis={"title": {"text": f"count, {span}"}, "showticklabels": False},
        yaxis={"automargin": True}))
    return Chart(chart_id, title, f"counts, {span}; deals won counts every won deal",
                 _html(figure, chart_id, 300))


def _span(periods: Sequence[dt.date], grain: str) -> str:
    if not periods:
        return "the periods shown"
    first, last = period_label(periods[0], grain), period_label(periods[-1], grain)
    return first if first == last else f"{first} {DASH} {last}"
