"""What the store covers: for each entity, whether it has records and the span of time they
describe.

A KPI for a period that ends before the first record of an entity it reads has no data to be
computed from: it is null with a note saying so, not a 0 that a year-ago comparison would
judge "better".  The default range of ``kpis`` ends at the last complete period with data,
not at the empty current one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_connect.metrics.periods import Period, period_containing, shift_period
from crm_connect.metrics.sqltree import parse, render

__all__ = ["DATED_BY", "Coverage", "before_data_note", "default_last_period",
           "read_coverage"]

DATED_BY: dict[str, tuple[str, ...]] = {
    "accounts": ("created_at", "customer_since", "churned_at"),
    "contacts": ("created_at",),
    "leads": ("created_at", "converted_at"),
    "deals": ("created_at", "closed_at"),
    "activities": ("created_at", "occurred_at", "completed_at"),
    "tickets": ("created_at", "first_response_at", "resolved_at"),
    "campaigns": ("created_at", "started_at"),
    "survey_responses": ("created_at", "responded_at"),
    "users": ("created_at", "last_login_at"),
    "contracts": ("created_at", "start_date"),
    "spend": ("created_at", "date"),
}
"""The columns that place an entity's records in time (the first is every record's own)."""


@dataclass(frozen=True)
class Coverage:
    """One entity in the store: how many records (not deleted) and the earliest and latest
    moment they describe (naive UTC; None when no record has a date)."""

    records: int
    first: dt.datetime | None
    last: dt.datetime | None


def _naive(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):  # a DATE column
        return dt.datetime(value.year, value.month, value.day)
    moment: dt.datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def read_coverage(execute: Any, entities: Iterable[str],
                  dialect: str = "duckdb") -> dict[str, Coverage]:
    """:class:`Coverage` of each of ``entities``, in one query written for ``dialect``."""
    wanted = sorted(set(entities))
    if not wanted:
        return {}
    selects = []
    for entity in wanted:
        columns = [f"CAST({column} AS TIMESTAMP)" for column in DATED_BY.get(
            entity, ("created_at",))]
        first = ", ".join(f"MIN({column})" for column in columns)
        last = ", ".join(f"MAX({column})" for column in columns)
        selects.append(f"SELECT '{entity}' AS entity, COUNT(*) AS n, LEAST({first}) AS first_, "
                       f"GREATEST({last}) AS last_ FROM {entity} WHERE NOT is_deleted")
    query = render(parse(" UNION ALL ".join(selects)), dialect)
    return {str(entity): Coverage(int(n), _naive(first), _naive(last))
            for entity, n, first, last in execute(query, [])}


def default_last_period(coverage: Mapping[str, Coverage], grain: str,
                        as_of: dt.datetime) -> dt.datetime:
    """The start of the last period to show by default: the last complete period (ended by
    ``as_of``) that has data, or the current one when every record falls inside it."""
    current = period_containing(as_of, grain)
    complete = shift_period(current, grain, -1)
    firsts = [c.first for c in coverage.values() if c.first is not None]
    lasts = [min(c.last, as_of) for c in coverage.values() if c.last is not None]
    if not lasts:
        return complete
    latest = period_containing(max(lasts), grain)
    if latest < current:
        return latest
    return complete if min(firsts) < current else current


def before_data_note(period: Period, previous: bool, entities: Sequence[str],
                     coverage: Mapping[str, Coverage]) -> str | None:
    """Why a KPI reading ``entities`` has no data for ``period`` (None when it has): the
    period ends before the first record of one of them, or, for a KPI compared with the
    period before (``previous``), that one does."""
    for entity in entities:
        first = coverage[entity].first if entity in coverage else None
        if first is None:
            continue
        day = first.date().isoformat()
        if period.end <= first:
            return f"no data: the period ends before the first {entity} record ({day})"
        if previous and period.start <= first:
            return (f"no data for the period before, which ends before the first {entity} "
                    f"record ({day})")
    return None
