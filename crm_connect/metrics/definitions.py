"""What a KPI is: a declarative definition and a set-based computation written once in SQL.

A :class:`KpiDefinition` names the KPI (key, name, unit, better direction, the entities and
dimensions it uses, its formula in words) and says how to compute it:

* **base** KPIs list :class:`Measure` objects.  A measure is one aggregate (``count``, ``sum`` or
  ``count_distinct``) over one prepared relation (``deals``, ``accounts``, ... — the canonical
  table without deleted records, with converted money and derived columns, see
  :mod:`crm_connect.metrics.relations`), for every period at once.  A fact belongs to a period
  either through ``event`` (a timestamp or date column dating it: in the period when
  ``start <= event < end`` and ``event <= as_of``) or through ``at`` (any condition between the
  fact ``f`` and the period ``p``, e.g. "a customer at the period's start").
* **derived** KPIs combine other KPIs of the same period and dimensions (``inputs``); their
  expressions see ``<input>__value``, ``<input>__numerator``, ``<input>__denominator`` and
  ``<input>__count`` and the period's ``months``.

``value``, ``numerator``, ``denominator`` and ``count`` are SQL expressions over the measure
names (base) or the input columns (derived); when ``null_when`` holds the value is null and
``null_note`` says why.  An input that does not exist for the period (no spend recorded, say)
is a :class:`Missing` case: value, numerator and denominator are null, and its note names the
input and what could feed it.  Never a 0 standing for "unknown".  Everything is portable
SQL: the engine joins a generated periods table, so one query computes every period and
breakdown.

The columns of the periods table ``p`` a measure may use are the typed namespace
:class:`PeriodColumns`: write ``f"f.closed_at <= {PERIOD.moment}"`` (the attribute is the
column's SQL); a measure reading any other ``p.`` column is refused when it is registered.

The fragments are SQL in DuckDB's dialect, parsed once into sqlglot trees
(:mod:`crm_connect.metrics.sqltree`) and rendered for the engine that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_connect.metrics.sqltree import columns_read

__all__ = [
    "DIMENSIONS",
    "PERIOD",
    "PERIOD_COLUMNS",
    "Benchmark",
    "Dimension",
    "KpiDefinition",
    "Measure",
    "Missing",
    "PeriodColumns",
]

DIMENSIONS: tuple[str, ...] = (
    "source",
    "lead_source",
    "owner",
    "campaign",
    "pipeline",
    "deal_type",
    "industry",
    "segment",
    "ticket_channel",
    "survey_type",
)
"""The built-in dimensions a KPI may be broken down by (``--by``); plugins add theirs through
``register_dimensions`` (:func:`crm_connect.metrics.vocabulary.get_dimensions` lists all)."""

_IDENTIFIER = r"^[a-z][a-z0-9_]*$"


@dataclass(frozen=True)
class PeriodColumns:
    """The columns of the periods table ``p`` that a measure's ``where``, ``expr``, ``event``
    or ``at`` may read; each attribute is the column's SQL (``p.<name>``).  Periods are
    half-open ``[start, end)`` in UTC."""

    period_start: str = "p.period_start"
    """TIMESTAMP: the period's first moment."""
    period_end: str = "p.period_end"
    """TIMESTAMP: the first moment after the period."""
    start_day: str = "p.start_day"
    """DATE: the period's first day."""
    end_day: str = "p.end_day"
    """DATE: the first day after the period."""
    prev_start_day: str = "p.prev_start_day"
    """DATE: the first day of the period just before."""
    opening: str = "p.opening"
    """TIMESTAMP: the period's start, or ``as_of`` when that comes first ("at period start")."""
    moment: str = "p.moment"
    """TIMESTAMP: the period's end, or ``as_of`` when that comes first ("at period end")."""
    months: str = "p.months"
    """DOUBLE: months in one period of the grain (1, 3, 12, or 7 x 12 / 365 for a week)."""
    as_of: str = "p.as_of"
    """TIMESTAMP: the moment the figures are true for."""


PERIOD = PeriodColumns()
"""The period columns, e.g. ``PERIOD.moment`` is ``"p.moment"``."""
PERIOD_COLUMNS: frozenset[str] = frozenset(field.name for field in fields(PeriodColumns))
"""The names of the period columns a measure may read."""


class Dimension(BaseModel):
    """A dimension KPIs may be broken down by (``--by NAME``).  A relation maps it to its
    own column or SQL (:attr:`crm_connect.metrics.relations.Relation.dimensions`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_IDENTIFIER)
    description: str = ""


class Measure(BaseModel):
    """One aggregate over one prepared relation ``f``, per period (and per breakdown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_IDENTIFIER, description="How value expressions refer to it.")
    relation: str = Field(description="A prepared relation: deals, accounts, leads, ...")
    aggregate: Literal["count", "sum", "count_distinct"] = "count"
    expr: str = Field(default="1", description="What is summed or counted distinct (SQL on f).")
    where: str = Field(default="TRUE", description="Which facts count (SQL on f and p).")
    event: str | None = Field(
        default=None, description="SQL on f dating the fact: in p when start <= event < end.")
    at: str | None = Field(
        default=None, description="SQL condition between f and p (snapshot measures).")
    previous: bool = Field(
        default=False, description="Date ``event`` in the period just before p instead.")
    dimensions: dict[str, str] = Field(
        default_factory=dict,
        description="Dimension to SQL on f, overriding the relation's own mapping.")

    @model_validator(mode="after")
    def _one_way_to_a_period(self) -> Measure:
        if (self.event is None) == (self.at is None):
            raise ValueError(f"measure {self.name!r}: give exactly one of event= or at=")
        if self.previous and self.event is None:
            raise ValueError(f"measure {self.name!r}: previous=True needs event=")
        return self


class Benchmark(BaseModel):
    """An industry range for a KPI, with where it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    high: float
    source: str
    grain: Literal["week", "month", "quarter", "year"] | None = Field(
        default=None, description="The grain the range is quoted for (None: any grain).")


class Missing(BaseModel):
    """An input of the KPI that does not exist for a period (``when``, SQL over the measure
    names or input columns): the KPI is null, and ``note`` names the missing input and what
    could feed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when: str
    note: str


class KpiDefinition(BaseModel):
    """A KPI: what it is, and how to compute it set-based over the canonical tables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=_IDENTIFIER)
    name: str
    unit: str = Field(description="count, %, currency, days, hours, minutes, months, score ...")
    better: Literal["up", "down"]
    formula: str = Field(description="The formula in words, as KPIS.md writes it.")
    category: str = "other"
    entities: tuple[str, ...] = Field(description="Canonical entities the KPI reads.")
    dimensions: tuple[str, ...] = ("source",)
    measures: tuple[Measure, ...] = ()
    inputs: tuple[str, ...] = Field(
        default=(), description="KPIs a derived KPI is computed from (same period, dims).")
    value: str
    numerator: str | None = None
    denominator: str | None = None
    count: str = "0"
    null_when: str = "FALSE"
    null_note: str = "no data for the period"
    missing: tuple[Missing, ...] = Field(
        default=(), description="Inputs that may not exist for a period; checked first.")
    snapshot: bool = Field(
        default=False, description="A value at as_of that every period row carries.")
    benchmark: Benchmark | None = None
    precision: int | None = Field(
        default=None, ge=0, le=9,
        description="Decimals the value is reported with (default: 0 for counts, else 2).")

    @property
    def derived(self) -> bool:
        return bool(self.inputs)

    @property
    def decimals(self) -> int:
        """Decimals JSON, CSV and the history report the value with."""
        if self.precision is not None:
            return self.precision
        return 0 if self.unit == "count" else 2

    @model_validator(mode="after")
    def _consistent(self) -> KpiDefinition:
        if "source" not in self.dimensions:
            raise ValueError(f"KPI {self.key!r}: every KPI can be broken down by source")
        if bool(self.measures) == bool(self.inputs):
            raise ValueError(f"KPI {self.key!r}: give measures (a base KPI) or inputs "
                             "(a derived KPI), not both and not neither")
        names = [m.name for m in self.measures]
        if len(set(names)) != len(names):
            raise ValueError(f"KPI {self.key!r}: measure names repeat: {names}")
        for text in (self.value, self.numerator, self.denominator, self.count, self.null_when,
                     *(case.when for case in self.missing)):
            if text and ";" in text:
                raise ValueError(f"KPI {self.key!r}: an expression may not contain ';'")
        return self

    def references(self) -> set[str]:
        """Columns its value expressions read (measure names, or a derived KPI's input
        columns such as ``win_rate__value``), found from their trees."""
        texts = filter(None, (self.value, self.numerator, self.denominator, self.count,
                              self.null_when, *(case.when for case in self.missing)))
        return {name for text in texts for name in columns_read(text, alias="")}
