"""Numbers and periods as a person reads them in the report.

Every KPI value goes through :func:`format_value`, which follows the KPI's unit: currency with
its symbol and thousands separators, percentages with one decimal, durations in the unit the
KPI is defined in (days, hours, minutes), counts as whole numbers.  The charts use the same
rules through :func:`axis_format` so an axis and a tile never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["AxisFormat", "axis_format", "currency_symbol", "format_change", "format_value",
           "period_label", "unit_label"]

MISSING = "n/a"
"""What a null value reads as (the report says why elsewhere)."""

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥",
            "KRW": "₩", "BRL": "R$", "CAD": "CA$", "AUD": "A$"}
_DURATIONS = {"days": ("day", "days"), "hours": ("hour", "hours"),
              "minutes": ("minute", "minutes"), "months": ("month", "months")}
_MINUS = "\u2212"
DASH = "\u2013"
"""An en dash: ranges (``3.0%\u20137.0%``) and empty cells."""


def currency_symbol(currency: str) -> str:
    """``$`` for USD, ``€`` for EUR, ...; a code without a well-known symbol stands as itself
    followed by a space (``CHF 1,200``)."""
    return _SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def _money(value: float, currency: str) -> str:
    decimals = 0 if abs(value) >= 1000 else 2
    text = f"{currency_symbol(currency)}{abs(value):,.{decimals}f}"
    return f"{_MINUS}{text}" if value < 0 and round(abs(value), decimals) else text


def _number(value: float, decimals: int) -> str:
    text = f"{abs(value):,.{decimals}f}"
    return f"{_MINUS}{text}" if value < 0 and round(abs(value), decimals) else text


def format_value(value: float | None, unit: str, currency: str = "USD") -> str:
    """One KPI value in its unit: ``$12,400``, ``23.5%``, ``4.2 days``, ``1,204``."""
    if value is None:
        return MISSING
    if unit == "count":
        return _number(value, 0)
    if unit == "%":
        return f"{_number(value, 1)}%"
    if unit == "currency":
        return _money(value, currency)
    if unit.startswith("currency/"):
        return f"{_money(value, currency)}/{unit.split('/', 1)[1]}"
    if unit in _DURATIONS:
        one, many = _DURATIONS[unit]
        text = _number(value, 1)
        return f"{text} {one if text == '1.0' else many}"
    if unit.startswith("score"):
        return _number(value, 1)
    return f"{_number(value, 2)} {unit}"


def format_change(change: float | None, unit: str, currency: str = "USD") -> str:
    """A change between two periods, signed: ``+$1,200``, ``-2.5 pts`` (percentages change
    by percentage points), ``+0.4 days``."""
    if change is None:
        return MISSING
    sign = "+" if change > 0 else _MINUS if change < 0 else "±"
    if unit == "%":
        return f"{sign}{abs(change):,.1f} pts"
    return sign + format_value(abs(change), unit, currency)


def unit_label(unit: str, currency: str = "USD") -> str:
    """The unit as an axis title says it: ``USD``, ``%``, ``days``, ``USD per day``."""
    if unit == "currency":
        return currency.upper()
    if unit.startswith("currency/"):
        return f"{currency.upper()} per {unit.split('/', 1)[1]}"
    if unit.startswith("score"):
        scale = unit.removeprefix("score").strip()
        return f"score ({scale})" if scale else "score"
    return unit


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
