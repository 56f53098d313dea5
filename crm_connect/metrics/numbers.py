"""KPI values as text: one set of rules for the terminal, the demo's tables and the HTML report.

Every unit has one precision, whoever prints it: counts are whole, percentages, durations and
scores have one decimal, money is whole from 1,000 up and to the cent below; a value that
rounds to zero has no minus sign.  Two spellings of the same figure:

* :func:`format_value`, for the report: currency symbols, ``$12,400``, ``23.5%``,
  ``4.2 days``, ``n/a`` for no value;
* :func:`compact_value`, for a terminal's columns: the currency's code, ``USD 12,400``,
  ``23.5 %``, ``4.2 d``, ``-`` for no value.
"""

from __future__ import annotations

__all__ = ["DASH", "MISSING", "compact_value", "currency_symbol", "format_change",
           "format_value", "short_unit", "unit_label"]

MISSING = "n/a"
"""What a null value reads as in the report (the report says why elsewhere)."""
DASH = "\u2013"
"""An en dash: ranges (``3.0%\u20137.0%``) and empty cells."""

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥",
            "KRW": "₩", "BRL": "R$", "CAD": "CA$", "AUD": "A$"}
_DURATIONS = {"days": ("day", "days"), "hours": ("hour", "hours"),
              "minutes": ("minute", "minutes"), "months": ("month", "months")}
_SHORT_UNITS = {"days": " d", "hours": " h", "minutes": " min", "months": " mo", "%": " %",
                "day": "d"}
_MINUS = "\u2212"
_WHOLE_MONEY_FROM = 1000


def currency_symbol(currency: str) -> str:
    """``$`` for USD, ``€`` for EUR, ...; a code without a well-known symbol stands as itself
    followed by a space (``CHF 1,200``)."""
    return _SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def _number(value: float, decimals: int, minus: str = _MINUS) -> str:
    text = f"{abs(value):,.{decimals}f}"
    return f"{minus}{text}" if value < 0 and round(abs(value), decimals) else text


def _money_decimals(value: float) -> int:
    return 0 if abs(value) >= _WHOLE_MONEY_FROM else 2


def _money(value: float, currency: str) -> str:
    decimals = _money_decimals(value)
    text = f"{currency_symbol(currency)}{abs(value):,.{decimals}f}"
    return f"{_MINUS}{text}" if value < 0 and round(abs(value), decimals) else text


def format_value(value: float | None, unit: str, currency: str = "USD") -> str:
    """One KPI value in its unit, for the report: ``$12,400``, ``23.5%``, ``4.2 days``."""
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


def compact_value(value: float | None, unit: str, currency: str) -> str:
    """The same figure as :func:`format_value`, for a terminal's columns: ``USD 12,400``,
    ``23.5 %``, ``4.2 d`` (a plain ``-`` sign; ``-`` alone for no value)."""
    if value is None:
        return "-"
    if unit == "count":
        return _number(value, 0, "-")
    if unit == "currency" or unit.startswith("currency/"):
        amount = f"{currency} {_number(value, _money_decimals(value), '-')}"
        per = unit.partition("/")[2]
        return f"{amount}/{_SHORT_UNITS.get(per, per)}" if per else amount
    if unit.startswith("score"):
        return _number(value, 1, "-")
    if unit in _DURATIONS or unit == "%":
        return f"{_number(value, 1, '-')}{_SHORT_UNITS[unit]}"
    return f"{_number(value, 2, '-')} {unit}"


def short_unit(unit: str) -> str:
    """What follows a bare number in a terminal's column: `` %``, `` d``; nothing for money,
    counts and scores."""
    return _SHORT_UNITS.get(unit, "") if unit in _DURATIONS or unit == "%" else ""


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
