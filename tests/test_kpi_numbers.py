"""One set of rules for KPI values: the terminal (``kpis``, the demo's tables) and the HTML
report print the same figure for every unit, each in its own spelling."""

from __future__ import annotations

import re

import pytest

from crm_connect.metrics.numbers import compact_value, format_value
from crm_connect.metrics.render import format_value as terminal_value
from crm_connect.report.numbers import format_value as report_value

UNITS = ["count", "%", "currency", "currency/day", "days", "hours", "minutes", "months",
         "score -100..100", "score 1-7", "calls per rep"]
VALUES = [0.0, -0.001, -0.2, 0.04, 1.0, 5.0, 35.64, 99.994, 450.5, 999.5, 1000.0, 52990.4,
          1234567.891, -2500.0, -12.25]


def figure(text: str) -> str:
    """The number a text shows, whatever its sign, symbol or unit: ``-12.25``."""
    sign = "-" if re.search("[-\u2212]\\D?\\d", text) else ""
    return sign + re.sub(r"[^\d.,]", "", text.split(" per")[0]).strip(".,")


@pytest.mark.parametrize("unit", UNITS)
def test_the_terminal_and_the_report_show_the_same_figure(unit: str) -> None:
    for value in VALUES:
        terminal, report = compact_value(value, unit, "EUR"), format_value(value, unit, "EUR")
        assert figure(terminal) == figure(report), (value, terminal, report)


def test_the_table_and_the_report_format_through_the_one_module() -> None:
    assert terminal_value is compact_value and report_value is format_value


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (202317673.0, "currency", "USD 202,317,673"),
    (450.5, "currency", "USD 450.50"),   # cents below 1,000, as the report shows them
    (52990.4, "currency/day", "USD 52,990/d"),
    (35.64, "currency/day", "USD 35.64/d"),
    (3.0, "%", "3.0 %"),
    (35.64, "days", "35.6 d"),
    (-0.001, "%", "0.0 %"),              # no minus sign on a value that rounds to zero
    (-12.25, "count", "-12"),
    (None, "count", "-"),
])
def test_the_terminal_spelling(value: float | None, unit: str, expected: str) -> None:
    assert compact_value(value, unit, "USD") == expected
