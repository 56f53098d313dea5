"""Numbers and periods as a person reads them in the report.

Every KPI value goes through :func:`format_value`, the metric engine's
(:mod:`crm_connect.metrics.numbers`: the terminal and the demo print the same figures), which
follows the KPI's unit: currency with its symbol and thousands separators, percentages with
one decimal, durations in the unit the KPI is defined in (days, hours, minutes), counts as
whole numbers.  The charts use the same rules through :func:`axis_format` so an axis and a
tile never disagree; periods read short (:func:`period_label`, :func:`tick_label`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm_connect.metrics.numbers import (
    DASH,
    MISSING,
    currency_symbol,
    format_change,
    format_value,
    unit_label,
)

__all__ = ["DASH", "MISSING", "AxisFormat", "axis_format", "currency_symbol", "format_change",
           "format_value", "period_label", "tick_label", "unit_label"]


@dataclass(frozen=True)
class AxisFormat:
    """How a value axis shows numbers (a d3 format with a prefix and a suffix)."""

    tickformat: str
    tickprefix: str
    ticksuffix: str
    title: str


def axis_format(unit: str, currency: str = "USD") -> AxisFormat:
    """The value axis of a chart of a KPI in ``unit``."""
    title = unit_label(unit, currency)
    if unit == "count":
        return AxisFormat(",d", "", "", "count")
    if unit == "%":
        return AxisFormat(",.1f", "", "%", "%")
    if unit == "currency" or unit.startswith("currency/"):
        symbol = currency_symbol(currency)
        return AxisFormat(",.0f", symbol, "", title)
    return AxisFormat(",.1f", "", "", title)


def tick_label(start: dt.date, grain: str, first: bool) -> str:
    """A period on a time axis, on two short lines: the year only under the first tick and
    at the turn of a year (``Jan<br>2026``, ``Mar``, ``Q3``, ``W41``)."""
    if grain == "year":
        return str(start.year)
    if grain == "month":
        head, new_year = start.strftime("%b"), start.month == 1
    elif grain == "quarter":
        head, new_year = f"Q{(start.month - 1) // 3 + 1}", start.month == 1
    else:
        year, week, _ = start.isocalendar()
        head, new_year = f"W{week:02d}", week == 1
    year = start.isocalendar()[0] if grain == "week" else start.year
    return f"{head}<br>{year}" if first or new_year else head


def period_label(start: dt.date, grain: str) -> str:
    """A period as short as stays clear: ``Oct 2026``, ``Q3 2026``, ``2026``, ``2026-W41``."""
    if grain == "month":
        return start.strftime("%b %Y")
    if grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if grain == "year":
        return str(start.year)
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"
