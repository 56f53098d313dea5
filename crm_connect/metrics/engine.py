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

The SQL is DuckDB's, restricted to constructs Postgres and the warehouses share;
:func:`transpile` turns it into another dialect with sqlglot.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crm_connect.errors import MetricError
from crm_connect.metrics.definitions import DIMENSIONS, KpiDefinition, Measure
from crm_connect.metrics.money import MoneySql
from crm_connect.metrics.periods import (
    GRAINS,
    MONTHS,
    Period,
    make_periods,
    period_containing,
    shift_period,
)
from crm_connect.metrics.relations import (
    HELPERS,
    RELATIONS,
    Relation,
    columns_referenced,
    dimension_sql,
)

__all__ = [
    "GRAINS",
    "Instance",
    "KpiRow",
    "Period",
    "build_query",
    "compile_query",
    "make_periods",
    "period_containing",
    "transpile",
]

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


def _number(value: Decimal | float) -> str:
    text = format(Decimal(str(value)), "f")
    return text if "." in text else text + ".0"


# -- compiling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """A KPI computed with one breakdown shape (the dimensions grouped by)."""

    key: str
    shape: tuple[str, ...]

    @property
    def label(self) -> str:
        return ",".join(self.shape)


def _ts(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def _day(value: dt.datetime | dt.date) -> str:
    day = value.date() if isinstance(value, dt.datetime) else value
    return f"DATE '{day.isoformat()}'"


def _periods_cte(periods: Sequence[Period], grain: str, as_of: dt.datetime) -> str:
    rows = []
    for period in periods:
        previous = shift_period(period.start, grain, -1)
        rows.append(
            f"({period.index}, {_ts(period.start)}, {_ts(period.end)}, {_day(period.start)}, "
            f"{_day(period.end)}, {_day(previous)}, {_ts(min(period.start, as_of))}, "
            f"{_ts(min(period.end, as_of))}, {_number(MONTHS[grain])}, {_ts(as_of)})"
        )
    return ("SELECT * FROM (VALUES " + ", ".join(rows) + ") AS v(period_index, period_start, "
            "period_end, start_day, end_day, prev_start_day, opening, moment, months, as_of)")


def _measure_sql(measure: Measure, relation: Relation, shape: Sequence[str]) -> list[str]:
    """Every SQL text of ``measure`` that reads the relation ``f`` for the breakdown ``shape``."""
    mapping = {**relation.dimensions, **measure.dimensions}
    return [measure.expr, measure.where, measure.event or "", measure.at or "",
            *(mapping[dim] for dim in shape)]


def measure_columns(measure: Measure, shape: Sequence[str]) -> set[str]:
    """Columns of its relation ``measure`` reads when broken down by ``shape``."""
    relation = RELATIONS[measure.relation]
    names: set[str] = set()
    for sql in _measure_sql(measure, relation, shape):
        names |= columns_referenced(sql)
    return set(relation.resolve(names))


def plan_relations(definitions: Mapping[str, KpiDefinition],
                   instances: Iterable[Instance]) -> dict[str, set[str]]:
    """The prepared relations the base KPIs of ``instances`` read, each with the columns
    their measures reference."""
    wanted: dict[str, set[str]] = {}
    for instance in instances:
        for measure in definitions[instance.key].measures:
            wanted.setdefault(measure.relation, set()).update(
                measure_columns(measure, instance.shape))
    return wanted


_STRINGS = re.compile(r"'(?:[^']|'')*'")
_EQUALITY = re.compile(r"(?<![<>!=])=(?!=)")


def _dimension_columns(dims: Sequence[str]) -> list[str]:
    return [f"d_{dim}" for dim in dims]


class _Compiler:
    def __init__(self, definitions: Mapping[str, KpiDefinition], instances: Sequence[Instance],
                 all_dims: Sequence[str], grain: str) -> None:
        self.definitions = definitions
        self.instances = instances
        self.all_dims = list(all_dims)
        self.grain = grain
        self.groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.wides: dict[tuple[str, ...], dict[str, Any]] = {}
        self._group_by_name: dict[str, dict[str, Any]] = {}
        self.money: Any = None
        self.as_of = ""
        self.ctes: list[str] = []

    # measures sharing a relation, a period condition and a breakdown share one GROUP BY
    def _measure_column(self, measure: Measure, shape: tuple[str, ...]) -> tuple[str, str]:
        relation = RELATIONS[measure.relation]
        mapping = {**relation.dimensions, **measure.dimensions}
        dims = tuple((dim, mapping[dim]) for dim in shape)
        where = measure.where
        join: tuple[Any, ...]
        if measure.event:
            join = ("event", measure.event, measure.previous)
        elif measure.at and not _EQUALITY.search(_STRINGS.sub("''", measure.at)):
            # A snapshot condition (inequalities such as "a customer at the period's start")
            # would be a range join producing every matching (period, fact) pair.  With a
            # handful of periods it is much cheaper to pair every fact with every period and
            # test the condition inside the aggregates; all such measures of a relation then
            # share one pass.
            join = ("every",)
            where = f"({measure.at})" if where == "TRUE" else f"({measure.at}) AND ({where})"
        else:
            join = ("at", measure.at)
        group_key = (measure.relation, join, dims)
        group = self.groups.get(group_key)
        if group is None:
            group = {"name": f"g{len(self.groups)}", "relation": relation, "join": join,
                     "dims": dims, "columns": {}, "reads": set()}
            self.groups[group_key] = group
        group["reads"] |= measure_columns(measure, shape)
        aggregate_key = (measure.aggregate, measure.expr, where)
        columns: dict[tuple[str, str, str], str] = group["columns"]
        if aggregate_key not in columns:
            columns[aggregate_key] = f"m{len(columns)}"
        return group["name"], columns[aggregate_key]

    def _group_sql(self, group: dict[str, Any]) -> str:
        relation: Relation = group["relation"]
        join = group["join"]
        if join[0] == "event":
            event, previous = join[1], join[2]
            day = "p.prev_start_day" if previous else "p.start_day"
            condition = (f"CAST(date_trunc('{self.grain}', {event}) AS DATE) = {day} "
                         f"AND {event} <= p.as_of")
        elif join[0] == "every":
            condition = ""
        else:
            condition = join[1]
        aggregates = []
        for (aggregate, expr, where), column in group["columns"].items():
            if aggregate == "count":
                sql = "COUNT(*)" if where == "TRUE" else f"COUNT(CASE WHEN {where} THEN 1 END)"
            elif aggregate == "sum":
                sql = f"SUM(CASE WHEN {where} THEN {expr} END)"
            else:
                sql = f"COUNT(DISTINCT CASE WHEN {where} THEN {expr} END)"
            aggregates.append(f"{sql} AS {column}")
        dims = group["dims"]
        dim_exprs = [dimension_sql(f"f.{column}" if column.isidentifier() else column)
                     for _, column in dims]
        select_dims = [f"{expr} AS d_{dim}" for (dim, _), expr in zip(dims, dim_exprs,
                                                                      strict=True)]
        if dims:
            grouping = (f"GROUPING SETS ((p.period_index), "
                        f"(p.period_index, {', '.join(dim_exprs)}))")
        else:
            grouping = "p.period_index"
        selected = ", ".join(["p.period_index AS period_index", *select_dims, *aggregates])
        # The relation is inlined with only the columns (and so the joins) this GROUP BY reads.
        facts = relation.build(self.money, self.as_of, group["reads"])
        pairs = (f"JOIN ({facts}) f ON {condition}" if condition
                 else f"CROSS JOIN ({facts}) f")
        inner = f"SELECT {selected} FROM periods p {pairs} GROUP BY {grouping}"
        outer_dims = [f"COALESCE(d_{dim}, '') AS d_{dim}" for dim, _ in dims]
        columns = ", ".join(["period_index", *outer_dims, *group["columns"].values()])
        return f"SELECT {columns} FROM ({inner}) t"

    def _output_dims(self, shape: tuple[str, ...], source: str) -> list[str]:
        return [f"NULLIF({source}.d_{dim}, '')" if dim in shape else "CAST(NULL AS VARCHAR)"
                for dim in self.all_dims]

    def _result_select(self, instance: Instance, definition: KpiDefinition, body: str,
                       missing: Sequence[tuple[str, str]] = ()) -> str:
        """The result rows of one KPI over ``body``.  ``missing``: (condition, note SQL) of
        inputs that do not exist, which null the numerator and denominator too; the
        definition's own :class:`Missing` cases join them, then ``null_when``."""
        absent = [*missing, *((f"({case.when})", _literal(case.note))
                              for case in definition.missing)]
        checks = [*absent, (f"({definition.null_when})", _literal(definition.null_note))]
        is_null = " OR ".join(f"({condition})" for condition, _ in checks)
        notes = " ".join(f"WHEN {condition} THEN {note}" for condition, note in checks)
        unknown = " OR ".join(f"({condition})" for condition, _ in absent) or "FALSE"

        def number(expr: str | None) -> str:
            return f"CAST({expr} AS DOUBLE)" if expr else "CAST(NULL AS DOUBLE)"

        dims = self._output_dims(instance.shape, "v")
        columns = [
            f"'{definition.key}' AS metric", f"'{instance.label}' AS shape",
            "v.period_index AS period_index",
            *[f"{expr} AS d_{dim}" for expr, dim in zip(dims, self.all_dims, strict=True)],
            f"CASE WHEN {is_null} THEN CAST(NULL AS DOUBLE) ELSE {number(definition.value)} "
            "END AS value",
            f"CASE WHEN {unknown} THEN CAST(NULL AS DOUBLE) "
            f"ELSE {number(definition.numerator)} END AS numerator",
            f"CASE WHEN {unknown} THEN CAST(NULL AS DOUBLE) "
            f"ELSE {number(definition.denominator)} END AS denominator",
            f"CAST({definition.count} AS BIGINT) AS count",
            f"CASE {notes} END AS note",
        ]
        return f"SELECT {', '.join(columns)} FROM ({body}) v"

    def _base_sql(self, instance: Instance, definition: KpiDefinition) -> str:
        used: dict[str, list[tuple[str, str]]] = {}
        for measure in definition.measures:
            group, column = self._measure_column(measure, instance.shape)
            used.setdefault(group, []).append((measure.name, column))
        wide = self.wides.setdefault(instance.shape, {"name": f"w{len(self.wides)}",
                                                      "groups": []})
        wide["groups"] += [group for group in used if group not in wide["groups"]]
        key_dims = _dimension_columns(instance.shape)
        values = [f"COALESCE(w.{group}_{column}, 0) AS {name}"
                  for group, columns in used.items() for name, column in columns]
        body = (f"SELECT w.period_index{''.join(f', w.{c}' for c in key_dims)}, w.months, "
                f"w.as_of, {', '.join(values)} FROM {wide['name']} w")
        if key_dims:
            # A breakdown row exists only where one of the KPI's measures has something:
            # other facts of the same relation (spend of another category), or the keys of
            # other KPIs' GROUP BYs in the shared table, leave no row.
            total = " AND ".join(f"w.{c} = ''" for c in key_dims)
            some = " OR ".join(f"COALESCE(w.{group}_{column}, 0) <> 0"
                               for group, columns in used.items() for _, column in columns)
            body += f" WHERE ({total}) OR {some}"
        return self._result_select(instance, definition, body)

    def _wide_sql(self, shape: tuple[str, ...], groups: Sequence[str]) -> str:
        """Every period (and breakdown key) of ``shape`` with the columns of every GROUP BY
        of that shape side by side: one join per GROUP BY, however many KPIs read it."""
        key_dims = _dimension_columns(shape)
        blank_keys = "".join(f", '' AS {c}" for c in key_dims)
        keys = [f"SELECT period_index{blank_keys} FROM periods"]
        if key_dims:  # without a breakdown every GROUP BY's keys are periods already
            keys += [f"SELECT period_index{''.join(f', {c}' for c in key_dims)} FROM {group}"
                     for group in groups]
        joins = []
        values = []
        for group in groups:
            condition = " AND ".join([f"{group}.period_index = k.period_index",
                                      *[f"{group}.{c} = k.{c}" for c in key_dims]])
            joins.append(f"LEFT JOIN {group} ON {condition}")
            values += [f"{group}.{column} AS {group}_{column}"
                       for column in self._group_by_name[group]["columns"].values()]
        return (f"SELECT k.period_index{''.join(f', k.{c}' for c in key_dims)}, p.months, "
                f"p.as_of, {', '.join(values)} FROM ({' UNION '.join(keys)}) k "
                f"JOIN periods p ON p.period_index = k.period_index {' '.join(joins)}")

    def _derived_sql(self, instance: Instance, definition: KpiDefinition,
                     source: str) -> str:
        references = definition.references()
        pivots = []
        checks: list[tuple[str, str]] = []
        for name in definition.inputs:
            # A null input makes the KPI null, with the input's own reason.
            note = f"{_literal(f'needs {name}: ')} || COALESCE({name}__note, 'it has no value')"
            for part in ("value", "numerator", "denominator", "count", "note"):
                column = f"{name}__{part}"
                pivots.append(f"MAX(CASE WHEN r.metric = '{name}' THEN r.{part} END) AS {column}")
                if column in references and part != "note":
                    checks.append((f"{column} IS NULL", note))
        dims = [f"r.d_{dim}" for dim in instance.shape]
        inputs = ", ".join(f"'{name}'" for name in definition.inputs)
        group_by = ", ".join(["r.period_index", *dims, "p.months", "p.as_of"])
        select = ["r.period_index AS period_index",
                  *[f"COALESCE(r.d_{dim}, '') AS d_{dim}" for dim in instance.shape],
                  "p.months", "p.as_of", *pivots]
        body = (f"SELECT {', '.join(select)} "
                f"FROM {source} r JOIN periods p ON p.period_index = r.period_index "
                f"WHERE r.shape = '{instance.label}' AND r.metric IN ({inputs}) "
                f"GROUP BY {group_by}")
        return self._result_select(instance, definition, body, checks)

    def compile(self, periods_sql: str, money: MoneySql, as_of: dt.datetime) -> str:
        self.money = money
        self.as_of = _ts(as_of)
        base = [i for i in self.instances if not self.definitions[i.key].derived]
        derived = [i for i in self.instances if self.definitions[i.key].derived]
        base_selects = [self._base_sql(i, self.definitions[i.key]) for i in base]
        helpers: list[str] = []
        for group in self.groups.values():
            helpers += [name for name in group["relation"].needs(group["reads"])
                        if name not in helpers]
        ctes = [f"periods AS ({periods_sql})"]
        # Helpers (first won deal per account, ...) are CTEs: computed once when several
        # GROUP BYs join them.
        ctes += [f"{HELPERS[name].cte} AS ({HELPERS[name].build(self.money, self.as_of)})"
                 for name in helpers]
        ctes += [f"{group['name']} AS ({self._group_sql(group)})"
                 for group in self.groups.values()]
        self._group_by_name = {group["name"]: group for group in self.groups.values()}
        ctes += [f"{wide['name']} AS ({self._wide_sql(shape, wide['groups'])})"
                 for shape, wide in self.wides.items()]
        ctes.append(f"r0 AS ({' UNION ALL '.join(base_selects)})" if base_selects else
                    "r0 AS (SELECT * FROM (SELECT 1) x WHERE FALSE)")
        done = {i.key for i in base}
        layer = 0
        pending = list(derived)
        while pending:
            ready = [i for i in pending
                     if all(name in done for name in self.definitions[i.key].inputs)]
            if not ready:  # the registry rejects cycles; this is a guard
                raise MetricError("derived KPIs depend on each other in a cycle")
            selects = [self._derived_sql(i, self.definitions[i.key], f"r{layer}")
                       for i in ready]
            ctes.append(f"r{layer + 1} AS (SELECT * FROM r{layer} UNION ALL "
                        f"{' UNION ALL '.join(selects)})")
            layer += 1
            done |= {i.key for i in ready}
            pending = [i for i in pending if i not in ready]
        return f"WITH {', '.join(ctes)} SELECT * FROM r{layer}"


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
                rates: Mapping[str, Decimal | float]) -> str:
    """The one SQL query computing ``keys`` for every period and the ``by`` breakdown.

    Currency codes and rates are not in the text: it reads them from the numbered parameters
    ``$1``, ``$2``, ... whose values :func:`~crm_connect.metrics.money.query_parameters`
    gives."""
    return compile_query(definitions, keys, by, periods, grain, as_of,
                         MoneySql(currency, rates))


def compile_query(definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                  by: Sequence[str], periods: Sequence[Period], grain: str,
                  as_of: dt.datetime, money: MoneySql) -> str:
    """:func:`build_query` with the reporting currency and rates of ``money``."""
    _, needed = plan_instances(definitions, keys, by)
    compiler = _Compiler(definitions, needed, [d for d in DIMENSIONS if d in by], grain)
    return compiler.compile(_periods_cte(periods, grain, as_of), money, as_of)


def transpile(sql: str, dialect: str) -> str:
    """The engine's SQL in another engine's dialect (``postgres``, ``snowflake``, ...)."""
    if dialect == "duckdb":
        return sql
    try:
        import sqlglot
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise MetricError("running KPIs on another engine needs sqlglot: "
                          "pip install 'crm-connect[warehouse]'") from exc
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect))


def dimensions_key(dimensions: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(dimensions.items())), separators=(",", ":"))
