"""Numbers in the report read as a person expects: currency symbols and thousands
separators, percentages with one decimal, durations in the KPI's unit, short periods."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_connect.report.numbers import (
    axis_format,
    format_change,
    format_value,
    period_label,
    tick_label,
    unit_label,
)


@pytest.mark.parametrize(("value", "unit", "currency", "expected"), [
    (1234567.891, "currency", "USD", "$1,234,568"),
    (999.5, "currency", "USD", "$999.50"),
    (12.345, "currency", "EUR", "€12.35"),
    (-2500.0, "currency", "GBP", "\u2212£2,500"),
    (1500.0, "currency", "CHF", "CHF 1,500"),
    (52990.4, "currency/day", "USD", "$52,990/day"),
    (23.456, "%", "USD", "23.5%"),
    (100.0, "%", "USD", "100.0%"),
    (0.04, "%", "USD", "0.0%"),
    (-12.25, "%", "USD", "\u221212.2%"),
    (1204.0, "count", "USD", "1,204"),
    (35.64, "days", "USD", "35.6 days"),
    (1.0, "days", "USD", "1.0 day"),
    (5.83, "hours", "USD", "5.8 hours"),
    (31.06, "minutes", "USD", "31.1 minutes"),
    (0.47, "months", "USD", "0.5 months"),
    (-100.0, "score -100..100", "USD", "\u2212100.0"),
    (5.0, "score 1-7", "USD", "5.0"),
    (None, "currency", "USD", "n/a"),
    (None, "%", "USD", "n/a"),
])
def test_values_are_formatted_for_their_unit(value: float | None, unit: str, currency: str,
                                              expected: str) -> None:
    assert format_value(value, unit, currency) == expected


def test_a_negative_value_that_rounds_to_zero_has_no_minus_sign() -> None:
    assert format_value(-0.001, "%") == "0.0%"
    assert format_value(-0.2, "count") == "0"


@pytest.mark.parametrize(("change", "unit", "expected"), [
    (7.84, "%", "+7.8 pts"),
    (-4.4, "%", "\u22124.4 pts"),
    (6245.2, "currency", "+$6,245"),
    (-2437.0, "currency", "\u2212$2,437"),
    (-15.0, "count", "\u221215"),
    (5.62, "days", "+5.6 days"),
    (0.0, "hours", "±0.0 hours"),
    (None, "count", "n/a"),
])
def test_changes_are_signed_and_percentages_change_by_points(change: float | None, unit: str,
                                                              expected: str) -> None:
    assert format_change(change, unit, "USD") == expected


def test_axes_name_their_unit_and_format_like_the_tiles() -> None:
    money = axis_format("currency", "EUR")
    assert (money.title, money.tickprefix, money.tickformat) == ("EUR", "€", ",.0f")
    percent = axis_format("%")
    assert (percent.title, percent.ticksuffix) == ("%", "%")
    assert axis_format("count").tickformat == ",d"
    assert axis_format("hours").title == "hours"
    assert unit_label("currency/day", "USD") == "USD per day"
    assert unit_label("score -100..100") == "score (-100..100)"


@pytest.mark.parametrize(("start", "grain", "label", "tick", "first_tick"), [
    (dt.date(2026, 10, 1), "month", "Oct 2026", "Oct", "Oct<br>2026"),
    (dt.date(2026, 1, 1), "month", "Jan 2026", "Jan<br>2026", "Jan<br>2026"),
    (dt.date(2026, 7, 1), "quarter", "Q3 2026", "Q3", "Q3<br>2026"),
    (dt.date(2026, 1, 1), "year", "2026", "2026", "2026"),
    (dt.date(2026, 10, 5), "week", "2026-W41", "W41", "W41<br>2026"),
    (dt.date(2025, 12, 29), "week", "2026-W01", "W01<br>2026", "W01<br>2026"),
])
def test_periods_are_short_and_the_year_shows_where_it_changes(
        start: dt.date, grain: str, label: str, tick: str, first_tick: str) -> None:
    assert period_label(start, grain) == label
    assert tick_label(start, grain, first=False) == tick
    assert tick_label(start, grain, first=True) == first_tick
