"""The KPI query as one sqlglot tree: periods, prepared relations, shared ``GROUP BY``s,
per-shape wide tables, base KPIs, then derived KPIs layer by layer.

:func:`compile_tree` assembles the tree from the definitions' parsed fragments
(:mod:`crm_connect.metrics.sqltree`); :mod:`crm_connect.metrics.engine` renders it for a
dialect.  See the engine's module docstring for the plan; the breakdown rule (issue 16
part 7) lives in :meth:`_Compiler.base_select`: a breakdown value with data in any reported
period has a row in every period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from sqlglot import exp

from crm_connect.errors import MetricError
from crm_connect.metrics.definitions import KpiDefinition, Measure
from crm_connect.metrics.money import MoneySql
from crm_connect.metrics.periods import MONTHS, Period, shift_period
from crm_connect.metrics.relations import HELPERS, Relation, dimension_tree
from crm_connect.metrics.sqltree import (
    alias,
    cast,
    coalesce,
    columns_read,
    contains,
    parse,
    timestamp_literal,
    truncate,
    when,
)
from crm_connect.metrics.unified import CLUSTER_KEY, unified_relation
from crm_connect.metrics.vocabulary import relation_named

__all__ = ["Instance", "compile_tree", "measure_columns"]

TRUE = "TRUE"


@dataclass(frozen=True)
class Instance:
    """A KPI computed with one breakdown shape (the dimensions grouped by)."""

    key: str
    shape: tuple[str, ...]

    @property
    def label(self) -> str:
        return ",".join(self.shape)


def _measure_texts(measure: Measure, relation: Relation, shape: Sequence[str]) -> list[str]:
    """Every SQL text of ``measure`` that reads the relation ``f`` for the breakdown ``shape``."""
    mapping = {**relation.dimensions, **measure.dimensions}
    return [measure.expr, measure.where, measure.event or TRUE, measure.at or TRUE,
            *(mapping[dim] for dim in shape)]


def measure_columns(measure: Measure, shape: Sequence[str],
                    relation: Relation | None = None) -> set[str]:
    """Columns of its relation ``measure`` reads when broken down by ``shape``, from the
    trees of its expressions (``relation``: the one read, default the registered one)."""
    relation = relation or relation_named(measure.relation)
    names: set[str] = set()
    for sql in _measure_texts(measure, relation, shape):
        names |= columns_read(sql)
    return set(relation.resolve(names))


def _is_equality(sql: str) -> bool:
    """Whether a period condition has an equality (then it is a join condition)."""
    return contains(sql, exp.EQ)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def _and(*conditions: exp.Expression) -> exp.Expression:
    return reduce(lambda left, right: exp.And(this=left, expression=right), conditions)


def _or(*conditions: exp.Expression) -> exp.Expression:
    return reduce(lambda left, right: exp.Or(this=left, expression=right), conditions)


def _union(selects: Sequence[exp.Expression], distinct: bool) -> exp.Expression:
    combined = selects[0]
    for select in selects[1:]:
        combined = exp.Union(this=combined, expression=select, distinct=distinct)
    return combined


def _union_all(selects: Sequence[exp.Expression]) -> exp.Expression:
    return _union(selects, distinct=False)


def _double(value: exp.Expression) -> exp.Expression:
    return cast(value, "DOUBLE")


_NULL_DOUBLE = cast(exp.null(), "DOUBLE")
_NULL_TEXT = cast(exp.null(), "VARCHAR")


def _paren(sql: str | exp.Expression) -> exp.Expression:
    return exp.Paren(this=parse(sql))


def _subquery(select: exp.Expression, alias: str) -> exp.Expression:
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))


_PERIOD_COLUMNS = (("period_index", None), ("period_start", "TIMESTAMP"),
                   ("period_end", "TIMESTAMP"), ("start_day", "DATE"), ("end_day", "DATE"),
                   ("prev_start_day", "DATE"), ("opening", "TIMESTAMP"), ("moment", "TIMESTAMP"),
                   ("months", None), ("as_of", "TIMESTAMP"), ("reported", None))
"""The periods table's columns, with the type its text values are cast to."""


def periods_tree(periods: Sequence[Period], grain: str, as_of: dt.datetime,
                 reported_from: int) -> exp.Select:
    """The requested periods as a ``VALUES`` table (moments written as text, cast once per
    column); ``reported``: 1 for a period shown to the user, 0 for the look-back the
    comparisons read."""
    def moment(value: dt.datetime) -> exp.Expression:
        return exp.Literal.string(value.isoformat(sep=" "))

    def day(value: dt.datetime) -> exp.Expression:
        return exp.Literal.string(value.date().isoformat())

    rows = []
    for period in periods:
        rows.append(exp.Tuple(expressions=[
            exp.Literal.number(period.index), moment(period.start), moment(period.end),
            day(period.start), day(period.end), day(shift_period(period.start, grain, -1)),
            moment(min(period.start, as_of)), moment(min(period.end, as_of)),
            exp.Literal.number(repr(float(MONTHS[grain]))), moment(as_of),
            exp.Literal.number(1 if period.index >= reported_from else 0)]))
    values = exp.Values(expressions=rows, alias=exp.TableAlias(
        this=exp.to_identifier("v"),
        columns=[exp.to_identifier(name) for name, _ in _PERIOD_COLUMNS]))
    columns = [_col(name) if kind is None else alias(cast(_col(name), kind), name)
               for name, kind in _PERIOD_COLUMNS]
    return exp.select(*columns, copy=False).from_(values, copy=False)


@dataclass
class _Group:
    """Measures reading one relation the same way for one breakdown: one ``GROUP BY``."""

    name: str
    relation: Relation
    join: tuple[Any, ...]
    dims: tuple[tuple[str, str], ...]
    columns: dict[tuple[str, str, str], str] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)


class _Compiler:
    def __init__(self, definitions: Mapping[str, KpiDefinition], instances: Sequence[Instance],
                 all_dims: Sequence[str], grain: str, money: MoneySql,
                 as_of: dt.datetime, unify: bool = False) -> None:
        self.definitions = definitions
        self.unify = unify
        self.instances = instances
        self.all_dims = list(all_dims)
        self.grain = grain
        self.money = money
        self.as_of = timestamp_literal(as_of)
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.wides: dict[tuple[str, ...], tuple[str, list[_Group]]] = {}

    # measures sharing a relation, a period condition and a breakdown share one GROUP BY
    def relation(self, name: str) -> Relation:
        """The relation a measure reads: under ``unify``, its form keyed by the resolved
        clusters (:mod:`crm_connect.metrics.unified`)."""
        relation = relation_named(name)
        return unified_relation(relation) if self.unify else relation

    def measure_column(self, measure: Measure, shape: tuple[str, ...]) -> tuple[_Group, str]:
        relation = self.relation(measure.relation)
        mapping = {**relation.dimensions, **measure.dimensions}
        dims = tuple((dim, mapping[dim]) for dim in shape)
        where = measure.where
        join: tuple[Any, ...]
        if measure.event:
            join = ("event", measure.event, measure.previous)
        elif measure.at and not _is_equality(measure.at):
            # A snapshot condition (inequalities such as "a customer at the period's start")
            # would be a range join producing every matching (period, fact) pair.  With a
            # handful of periods it is much cheaper to pair every fact with every period and
            # test the condition inside the aggregates; all such measures of a relation then
            # share one pass.
            join = ("every",)
            where = f"({measure.at})" if where == TRUE else f"({measure.at}) AND ({where})"
        else:
            join = ("at", measure.at)
        group_key = (measure.relation, join, dims)
        group = self.groups.get(group_key)
        if group is None:
            group = _Group(f"g{len(self.groups)}", relation, join, dims)
            self.groups[group_key] = group
        group.reads |= measure_columns(measure, shape, relation)
        aggregate, expr = measure.aggregate, measure.expr
        if aggregate == "count" and CLUSTER_KEY in relation.columns:
            # Unified: records of one cluster count once.
            aggregate, expr = "count_distinct", f"f.{CLUSTER_KEY}"
            group.reads.add(CLUSTER_KEY)
        aggregate_key = (aggregate, expr, where)
        if aggregate_key not in group.columns:
            group.columns[aggregate_key] = f"m{len(group.columns)}"
        return group, group.columns[aggregate_key]

    def _aggregate(self, aggregate: str, expr: str, where: str) -> exp.Expression:
        if aggregate == "count":
            if where == TRUE:
                return exp.Count(this=exp.Star())
            return exp.Count(this=when(parse(where), exp.Literal.number(1)))
        case = when(parse(where), parse(expr))
        if aggregate == "sum":
            return exp.Sum(this=case)
        return exp.Count(this=exp.Distinct(expressions=[case]))

    def group_tree(self, group: _Group) -> exp.Select:
        join = group.join
        condition: exp.Expression | None
        if join[0] == "event":
            event, previous = join[1], join[2]
            day = _col("prev_start_day" if previous else "start_day", "p")
            bucket = cast(truncate(parse(event), self.grain), "DATE")
            condition = _and(exp.EQ(this=bucket, expression=day),
                             exp.LTE(this=parse(event), expression=_col("as_of", "p")))
        elif join[0] == "every":
            condition = None
        else:
            condition = parse(join[1])
        aggregates = [alias(self._aggregate(*key), column)
                      for key, column in group.columns.items()]
        dim_exprs = [dimension_tree(_col(column, "f") if column.isidentifier()
                                    else parse(column)) for _, column in group.dims]
        select_dims = [alias(expr, f"d_{dim}")
                       for (dim, _), expr in zip(group.dims, dim_exprs, strict=True)]
        period = _col("period_index", "p")
        facts = _subquery(group.relation.build(self.money, self.as_of, group.reads), "f")
        inner = exp.select(alias(period, "period_index"), *select_dims, *aggregates,
                           copy=False).from_(exp.table_("periods", alias="p"), copy=False)
        if condition is None:
            inner = inner.join(facts, join_type="cross", copy=False)
        else:
            inner = inner.join(facts, on=condition, copy=False)
        if group.dims:
            inner.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=[
                exp.Paren(this=period.copy()),
                exp.Tuple(expressions=[period.copy(), *(e.copy() for e in dim_exprs)])])]))
        else:
            inner = inner.group_by(period, copy=False)
        outer_dims = [alias(coalesce(_col(f"d_{dim}"), exp.Literal.string("")),
                                 f"d_{dim}") for dim, _ in group.dims]
        return exp.select(_col("period_index"), *outer_dims,
                          *(_col(c) for c in group.columns.values()),
                          copy=False).from_(_subquery(inner, "t"), copy=False)

    def result_select(self, instance: Instance, definition: KpiDefinition,
                      body: exp.Expression,
                      missing: Sequence[tuple[exp.Expression, exp.Expression]] = ()
                      ) -> exp.Select:
        """The result rows of one KPI over ``body``.  ``missing``: (condition, note) of
        inputs that do not exist, which null the numerator and denominator too; the
        definition's own :class:`Missing` cases join them, then ``null_when``."""
        absent = [*missing, *((_paren(case.when), exp.Literal.string(case.note))
                              for case in definition.missing)]
        checks = [*absent, (_paren(definition.null_when),
                            exp.Literal.string(definition.null_note))]
        is_null = _or(*(exp.Paren(this=c.copy()) for c, _ in checks))
        notes = exp.Case(ifs=[exp.If(this=c.copy(), true=n.copy()) for c, n in checks])
        unknown = (_or(*(exp.Paren(this=c.copy()) for c, _ in absent)) if absent
                   else exp.false())

        def number(sql: str | None) -> exp.Expression:
            return _double(parse(sql)) if sql else _NULL_DOUBLE.copy()

        def unless(condition: exp.Expression, value: exp.Expression) -> exp.Expression:
            return exp.Case(ifs=[exp.If(this=condition.copy(), true=_NULL_DOUBLE.copy())],
                            default=value)

        dims = [exp.Nullif(this=_col(f"d_{dim}", "v"), expression=exp.Literal.string(""))
                if dim in instance.shape else _NULL_TEXT.copy() for dim in self.all_dims]
        columns = [
            alias(exp.Literal.string(definition.key), "metric"),
            alias(exp.Literal.string(instance.label), "shape"),
            alias(_col("period_index", "v"), "period_index"),
            *(alias(expr, f"d_{dim}") for expr, dim in zip(dims, self.all_dims,
                                                                 strict=True)),
            alias(unless(is_null, number(definition.value)), "value"),
            alias(unless(unknown, number(definition.numerator)), "numerator"),
            alias(unless(unknown, number(definition.denominator)), "denominator"),
            alias(cast(parse(definition.count), "BIGINT"), "count"),
            alias(notes, "note"),
        ]
        return exp.select(*columns, copy=False).from_(_subquery(body, "v"), copy=False)

    def base_select(self, instance: Instance, definition: KpiDefinition) -> exp.Select:
        used: dict[str, list[tuple[str, str]]] = {}
        groups: dict[str, _Group] = {}
        for measure in definition.measures:
            group, column = self.measure_column(measure, instance.shape)
            groups[group.name] = group
            used.setdefault(group.name, []).append((measure.name, column))
        name, wide_groups = self.wides.setdefault(instance.shape,
                                                  (f"w{len(self.wides)}", []))
        wide_groups += [g for g in groups.values() if g not in wide_groups]
        key_dims = [f"d_{dim}" for dim in instance.shape]
        values = [alias(coalesce(_col(f"{group}_{column}", "w"),
                                      exp.Literal.number(0)), measure)
                  for group, columns in used.items() for measure, column in columns]
        body = exp.select(_col("period_index", "w"), *(_col(c, "w") for c in key_dims),
                          _col("months", "w"), _col("as_of", "w"), *values,
                          copy=False).from_(exp.table_(name, alias="w"), copy=False)
        if key_dims:
            # Every breakdown value with data for this KPI in a reported period has a row in
            # every period (null, with the note, where the period has none); values whose
            # data is another KPI's, or only in the look-back, have none.
            some = _or(*(exp.NEQ(this=coalesce(_col(f"{group}_{column}", "w"),
                                                exp.Literal.number(0)),
                                 expression=exp.Literal.number(0))
                         for group, columns in used.items() for _, column in columns))
            flag = when(_and(exp.EQ(this=_col("reported", "w"), expression=exp.Literal.number(1)),
                             exp.Paren(this=some)),
                        exp.Literal.number(1), exp.Literal.number(0))
            window = exp.Window(this=exp.Max(this=flag), partition_by=[
                _col(c, "w") for c in key_dims])
            body = body.select(alias(window, "has_data"), copy=False)
            total = _and(*(exp.EQ(this=_col(c, "b"), expression=exp.Literal.string(""))
                           for c in key_dims))
            body = exp.select(exp.Star(), copy=False).from_(_subquery(body, "b"),
                                                            copy=False).where(
                _or(exp.Paren(this=total), exp.EQ(this=_col("has_data", "b"),
                                                  expression=exp.Literal.number(1))),
                copy=False)
        return self.result_select(instance, definition, body)

    def wide_tree(self, shape: tuple[str, ...], groups: Sequence[_Group]) -> exp.Select:
        """Every period (and every breakdown key of ``shape``, in every period) with the
        columns of every GROUP BY of that shape side by side: one join per GROUP BY, however
        many KPIs read it."""
        key_dims = [f"d_{dim}" for dim in shape]
        keys: exp.Expression = exp.select(
            _col("period_index"), *(alias(exp.Literal.string(""), c) for c in key_dims),
            copy=False).from_(exp.table_("periods"), copy=False)
        if key_dims:  # every key any GROUP BY of the shape has, in every period
            seen = _union([exp.select(*(_col(c) for c in key_dims), copy=False).from_(
                exp.table_(g.name), copy=False)
                           for g in groups], distinct=True)
            paired = exp.select(_col("period_index", "p"), *(_col(c, "s") for c in key_dims),
                                copy=False).from_(exp.table_("periods", alias="p"),
                                                  copy=False).join(
                _subquery(seen, "s"), join_type="cross", copy=False)
            keys = exp.Union(this=keys, expression=paired, distinct=True)
        select = exp.select(_col("period_index", "k"), *(_col(c, "k") for c in key_dims),
                            _col("months", "p"), _col("as_of", "p"), _col("reported", "p"),
                            copy=False).from_(_subquery(keys, "k"), copy=False)
        select = select.join(exp.table_("periods", alias="p"), on=exp.EQ(
            this=_col("period_index", "p"), expression=_col("period_index", "k")), copy=False)
        for group in groups:
            on = _and(*(exp.EQ(this=_col(c, group.name), expression=_col(c, "k"))
                        for c in ["period_index", *key_dims]))
            select = select.join(exp.table_(group.name), on=on, join_type="left", copy=False)
            select = select.select(*(alias(_col(column, group.name),
                                                f"{group.name}_{column}")
                                     for column in group.columns.values()), copy=False)
        return select

    def derived_select(self, instance: Instance, definition: KpiDefinition,
                       source: str) -> exp.Select:
        references = definition.references()
        pivots = []
        checks: list[tuple[exp.Expression, exp.Expression]] = []
        for name in definition.inputs:
            # A null input makes the KPI null, with the input's own reason.
            note = exp.DPipe(this=exp.Literal.string(f"needs {name}: "), expression=coalesce(
                _col(f"{name}__note"), exp.Literal.string("it has no value")))
            for part in ("value", "numerator", "denominator", "count", "note"):
                column = f"{name}__{part}"
                picked = when(exp.EQ(this=_col("metric", "r"),
                                     expression=exp.Literal.string(name)), _col(part, "r"))
                pivots.append(alias(exp.Max(this=picked), column))
                if column in references and part != "note":
                    checks.append((exp.Is(this=_col(column), expression=exp.null()), note))
        dims = [_col(f"d_{dim}", "r") for dim in instance.shape]
        select = exp.select(
            alias(_col("period_index", "r"), "period_index"),
            *(alias(coalesce(d.copy(), exp.Literal.string("")),
                         f"d_{dim}") for d, dim in zip(dims, instance.shape, strict=True)),
            _col("months", "p"), _col("as_of", "p"), *pivots, copy=False,
        ).from_(exp.table_(source, alias="r"), copy=False).join(
            exp.table_("periods", alias="p"), on=exp.EQ(
                this=_col("period_index", "p"), expression=_col("period_index", "r")),
            copy=False)
        select = select.where(_and(
            exp.EQ(this=_col("shape", "r"), expression=exp.Literal.string(instance.label)),
            exp.In(this=_col("metric", "r"),
                   expressions=[exp.Literal.string(n) for n in definition.inputs])),
            copy=False)
        select = select.group_by(_col("period_index", "r"), *(d.copy() for d in dims),
                                 _col("months", "p"), _col("as_of", "p"), copy=False)
        return self.result_select(instance, definition, select, checks)

    def compile(self, periods: exp.Select) -> exp.Select:
        base = [i for i in self.instances if not self.definitions[i.key].derived]
        derived = [i for i in self.instances if self.definitions[i.key].derived]
        base_selects = [self.base_select(i, self.definitions[i.key]) for i in base]
        helpers: list[str] = []
        for group in self.groups.values():
            helpers += [name for name in group.relation.needs(group.reads)
                        if name not in helpers]
        ctes: list[tuple[str, exp.Expression]] = [("periods", periods)]
        # Helpers (first won deal per account, ...) are CTEs: computed once when several
        # GROUP BYs join them.
        ctes += [(HELPERS[name].cte, HELPERS[name].build(self.money, self.as_of))
                 for name in helpers]
        ctes += [(group.name, self.group_tree(group)) for group in self.groups.values()]
        ctes += [(name, self.wide_tree(shape, groups))
                 for shape, (name, groups) in self.wides.items()]
        ctes.append(("r0", _union_all(base_selects) if base_selects else
                     parse("SELECT * FROM (SELECT 1) x WHERE FALSE")))
        done = {i.key for i in base}
        layer = 0
        pending = list(derived)
        while pending:
            ready = [i for i in pending
                     if all(name in done for name in self.definitions[i.key].inputs)]
            if not ready:  # the registry rejects cycles; this is a guard
                raise MetricError("derived KPIs depend on each other in a cycle")
            selects = [self.derived_select(i, self.definitions[i.key], f"r{layer}")
                       for i in ready]
            ctes.append((f"r{layer + 1}", _union_all(
                [exp.select(exp.Star(), copy=False).from_(exp.table_(f"r{layer}"), copy=False),
                 *selects])))
            layer += 1
            done |= {i.key for i in ready}
            pending = [i for i in pending if i not in ready]
        query = exp.select(exp.Star(), copy=False).from_(exp.table_(f"r{layer}"), copy=False)
        for name, tree in ctes:
            query = query.with_(name, as_=tree, copy=False)
        return query


def compile_tree(definitions: Mapping[str, KpiDefinition], instances: Sequence[Instance],
                 all_dims: Sequence[str], periods: Sequence[Period], grain: str,
                 as_of: dt.datetime, money: MoneySql, reported_from: int = 0,
                 unify: bool = False) -> exp.Select:
    """The query computing ``instances`` for every period, as a tree; with ``unify``, over
    the customers ``crm-connect resolve`` unified (:mod:`crm_connect.metrics.unified`)."""
    compiler = _Compiler(definitions, instances, all_dims, grain, money, as_of, unify)
    return compiler.compile(periods_tree(periods, grain, as_of, reported_from))
