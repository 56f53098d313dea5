"""Reporting periods: the half-open ``[start, end)`` UTC intervals of one grain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from crm_connect.errors import ConfigError

__all__ = ["GRAINS", "MONTHS", "YEAR_LAG", "Grain", "Period", "make_periods",
           "period_containing", "shift_period"]

Grain = Literal["week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("week", "month", "quarter", "year")
YEAR_LAG = {"week": 52, "month": 12, "quarter": 4, "year": 1}
"""Periods of each grain in a year: how far back the year-ago comparison looks."""
MONTHS = {"week": 7 * 12 / 365, "month": 1.0, "quarter": 3.0, "year": 12.0}
"""Months in one period of each grain (``cac_payback_months``)."""


@dataclass(frozen=True)
class Period:
    index: int
    start: dt.datetime  # naive UTC
    end: dt.datetime

    def is_partial(self, as_of: dt.datetime) -> bool:
        """Whether ``as_of`` (naive UTC) falls before the period's end: its data is incomplete."""
        return self.end > as_of


def period_containing(moment: dt.datetime, grain: str) -> dt.datetime:
    """The start of the ``grain`` period holding ``moment`` (naive UTC)."""
    day = moment.date()
    if grain == "week":
        day = day - dt.timedelta(days=day.weekday())
    elif grain == "month":
        day = day.replace(day=1)
    elif grain == "quarter":
        day = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    elif grain == "year":
        day = day.replace(month=1, day=1)
    else:
        raise ConfigError(f"unknown grain {grain!r}; choose one of: {', '.join(GRAINS)}")
    return dt.datetime(day.year, day.month, day.day)


def shift_period(start: dt.datetime, grain: str, steps: int) -> dt.datetime:
    """The start of the period ``steps`` periods after (or before) the one starting at start."""
    if grain == "week":
        return start + dt.timedelta(weeks=steps)
    months = {"month": 1, "quarter": 3, "year": 12}[grain] * steps
    total = start.year * 12 + start.month - 1 + months
    return dt.datetime(total // 12, total % 12 + 1, 1)


def make_periods(grain: str, first: dt.datetime, last: dt.datetime) -> list[Period]:
    """Every period from the one holding ``first`` to the one holding ``last``."""
    start = period_containing(first, grain)
    stop = period_containing(last, grain)
    periods: list[Period] = []
    while start <= stop:
        end = shift_period(start, grain, 1)
        periods.append(Period(len(periods), start, end))
        start = end
    return periods
