"""The metric engine: KPI definitions compiled into one set-based SQL query.

How a run works:

1. The requested periods (plus a year of look-back for the comparisons) become a small
   ``periods`` table written as ``VALUES``; every fact is dated by joining it (an equi-join on
   the period's first day for "in period" facts).  A snapshot condition ("at period
   start/end", inequalities only) is tested inside the aggregates over every (period, fact)
   pair, which with a few dozen periods is far cheaper than a range join.
2. Prepared relations (:mod:`crm_connect.metrics.relations`): deleted records removed, money
   converted, ``customer_since`` derived.  Each ``GROUP BY`` reads its relation inlined with
   only the columns (and so the joins) its measures reference; the costly derivations (first
   won deal per account, originating lead, ...) are CTEs shared by every reader.
3. Measures that read the same relation the same way are computed in one ``GROUP BY`` (with
   ``GROUPING SETS`` for the total and the breakdown), so a scan serves many KPIs.
4. Base KPIs combine their measures; derived KPIs (pipeline velocity, ARPU, CLV, CAC payback)
   are computed from the base results of the same period and dimensions, still in SQL.
5. Python only shapes the few result rows: comparisons with the previous period and the same
   period a year earlier, the industry benchmark and the configured target.

The query is a sqlglot expression tree (:mod:`crm_connect.metrics.compiler`) assembled from
the definitions' parsed fragments, and rendered for the store's dialect (DuckDB by default,
Postgres, Spark, or any dialect sqlglot writes).  A run is described by one
:class:`KpiRequest`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from crm_connect.errors import ConfigError
from crm_connect.metrics.compiler import Instance, compile_tree, measure_columns
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.money import MoneySql
from crm_connect.metrics.periods import (
    GRAINS,
    YEAR_LAG,
    Grain,
    Period,
    make_periods,
    period_containing,
    shift_period,
)
from crm_connect.metrics.sqltree import render
from crm_connect.metrics.vocabulary import get_dimensions

__all__ = [
    "GRAINS",
    "Instance",
    "KpiRequest",
    "KpiRow",
    "Period",
    "build_query",
    "compile_query",
    "make_periods",
    "measure_columns",
    "period_containing",
    "request_tree",
    "transpile",
]


@dataclass(frozen=True)
class KpiRequest:
    """What the engine computes: the KPIs, the grain, the reported range (``start`` and
    ``end``: any moment in the first and the last period, naive UTC), the moment the figures
    are true for, the breakdown dimensions and the reporting currency with its rates.

    The engine computes ``look_back`` periods before the range too (a year by default), which
    the comparisons with the previous period and the same period a year earlier read."""

    metrics: tuple[str, ...]
    grain: Grain
    start: dt.datetime
    end: dt.datetime
    as_of: dt.datetime
    breakdowns: tuple[str, ...] = ()
    currency: str = "USD"
    rates: Mapping[str, Decimal | float] = field(default_factory=dict)
    look_back: int = -1
    """Periods computed before ``start`` (-1: a year's worth of the grain)."""
    unify: bool = False
    """Count each customer ``crm-connect resolve`` unified once (``kpis --unify``)."""

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ConfigError(f"unknown grain {self.grain!r}; choose one of: "
                              f"{', '.join(GRAINS)}")
        if self.look_back < 0:
            object.__setattr__(self, "look_back", YEAR_LAG[self.grain])
        if self.start > self.end:
            raise ConfigError(f"--from ({self.start.date()}) is after --to ({self.end.date()})")

    @property
    def periods(self) -> list[Period]:
        """Every period computed: the look-back, then the reported ones."""
        first = shift_period(period_containing(self.start, self.grain), self.grain,
                             -self.look_back)
        return make_periods(self.grain, first, self.end)

    @property
    def reported(self) -> list[Period]:
        """The periods shown to the user."""
        return self.periods[self.look_back:]

    @property
    def money(self) -> MoneySql:
        return MoneySql(self.currency, self.rates)


# -- results ----------------------------------------------------------------------------------


@dataclass
class KpiRow:
    """One KPI for one period and one breakdown (``dimensions`` empty for the total)."""

    metric: str
    period_start: dt.date
    period_end: dt.date
    grain: str
    dimensions: dict[str, str]
    value: float | None
    unit: str
    numerator: float | None
    denominator: float | None
    count: int | None
    note: str | None
    partial: bool = False
    """The period had not ended at ``as_of``: its figures are incomplete, not compared."""
    comparisons: dict[str, Any] = field(default_factory=dict)
    missing_rates: tuple[str, ...] = ()
    """Currencies of amounts this KPI reads that have no rate (then ``value`` is null)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "grain": self.grain,
            "dimensions": dict(self.dimensions),
            "value": self.value,
            "unit": self.unit,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "count": self.count,
            "note": self.note,
            "partial": self.partial,
            "comparisons": self.comparisons,
        }


def plan_instances(definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                   by: Sequence[str]) -> tuple[list[Instance], list[Instance]]:
    """The (KPI, breakdown) pairs to output and every pair that must be computed for them."""
    outputs = [Instance(key, tuple(d for d in by if d in definitions[key].dimensions))
               for key in keys]
    needed: list[Instance] = []

    def add(instance: Instance) -> None:
        if instance in needed:
            return
        for name in definitions[instance.key].inputs:
            add(Instance(name, instance.shape))
        needed.append(instance)

    for instance in outputs:
        add(instance)
    return outputs, needed


def build_query(definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                by: Sequence[str], periods: Sequence[Period], grain: str,
                as_of: dt.datetime, currency: str,
                rates: Mapping[str, Decimal | float], dialect: str = "duckdb",
                unify: bool = False) -> str:
    """The one SQL query computing ``keys`` for ``periods`` and the ``by`` breakdown, in
    ``dialect``.

    Currency codes and rates are not in the text: it reads them from the numbered parameters
    ``$1``, ``$2``, ... whose values :func:`~crm_connect.metrics.money.query_parameters`
    gives."""
    tree = compile_query(definitions, keys, by, periods, grain, as_of,
                         MoneySql(currency, rates), unify=unify)
    return render(tree, dialect)


def compile_query(definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                  by: Sequence[str], periods: Sequence[Period], grain: str,
                  as_of: dt.datetime, money: MoneySql, reported_from: int = 0,
                  unify: bool = False) -> exp.Select:
    """The query tree of :func:`build_query`, with the reporting currency and rates of
    ``money``; periods before ``reported_from`` are only the comparisons' look-back; with
    ``unify``, over the resolved customers."""
    _, needed = plan_instances(definitions, keys, by)
    return compile_tree(definitions, needed, [d for d in get_dimensions() if d in by], periods,
                        grain, as_of, money, reported_from, unify)


def request_tree(definitions: Mapping[str, KpiDefinition], request: KpiRequest) -> exp.Select:
    """The query tree computing ``request`` (every period, look-back included)."""
    return compile_query(definitions, request.metrics, request.breakdowns, request.periods,
                         request.grain, request.as_of, request.money, request.look_back,
                         request.unify)


def transpile(sql: str, dialect: str) -> str:
    """DuckDB SQL (the engine's default rendering) in another engine's dialect."""
    if dialect == "duckdb":
        return sql
    return ";\n".join(render(tree, dialect, copy=False)
                      for tree in sqlglot.parse(sql, read="duckdb")
                      if isinstance(tree, sqlglot.exp.Expression))


def dimensions_key(dimensions: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(dimensions.items())), separators=(",", ":"))
