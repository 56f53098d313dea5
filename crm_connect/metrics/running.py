"""Running the metric engine's query on a store: one query for every KPI, period and
breakdown, then the checks SQL cannot make alone.

A KPI is null, with a note, when an entity it reads has no records at all, when the period
(or the one it is compared with) ends before the first record of such an entity
(:mod:`crm_connect.metrics.coverage`), or when it reads an amount in a currency that has no
rate (:mod:`crm_connect.metrics.money`).  Every other KPI keeps its value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

from crm_connect.metrics.coverage import Coverage, before_data_note, read_coverage
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import (
    Instance,
    KpiRequest,
    measure_columns,
    plan_instances,
    request_tree,
)
from crm_connect.metrics.money import (
    MoneySql,
    missing_rate_note,
    missing_rates,
    query_parameters,
)
from crm_connect.metrics.sqltree import NUMBERED_PARAMETERS, inline_parameters, render
from crm_connect.metrics.vocabulary import get_dimensions, relation_named

__all__ = ["compute_rows", "effective_entities", "kpi_money"]


def effective_entities(definitions: Mapping[str, KpiDefinition], key: str) -> set[str]:
    """The entities KPI ``key`` reads, its inputs' included."""
    definition = definitions[key]
    entities = set(definition.entities)
    for name in definition.inputs:
        entities |= effective_entities(definitions, name)
    return entities


def kpi_money(definitions: Mapping[str, KpiDefinition],
              instance: Instance) -> set[tuple[str, str, str]]:
    """(table, amount, currency) columns whose amounts the KPI converts, its inputs' too."""
    definition = definitions[instance.key]
    found: set[tuple[str, str, str]] = set()
    for measure in definition.measures:
        found |= relation_named(measure.relation).money(measure_columns(measure, instance.shape))
    for name in definition.inputs:
        found |= kpi_money(definitions, Instance(name, instance.shape))
    return found


def _unconvertible(execute: Any, definitions: Mapping[str, KpiDefinition],
                   outputs: Sequence[Instance], money: MoneySql,
                   dialect: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(KPI, breakdown shape) to the note saying which currencies it cannot convert, and
    those currencies."""
    reads = {instance: kpi_money(definitions, instance) for instance in outputs}
    missing = missing_rates(execute, set().union(*reads.values()), money, dialect)
    notes = {}
    for instance, columns in reads.items():
        hit = [column for column in columns if column in missing]
        if hit:
            codes = {code for column in hit for code in missing[column]}
            notes[(instance.key, instance.label)] = (missing_rate_note(
                codes, (table for table, _, _ in hit), money.currency), sorted(codes))
    return notes


def compute_rows(execute: Any, definitions: Mapping[str, KpiDefinition],
                 request: KpiRequest, coverage: Mapping[str, Coverage] | None = None,
                 dialect: str = "duckdb") -> list[dict[str, Any]]:
    """Run the query for ``request`` (rendered for ``dialect``); rows as dictionaries keyed
    by the SQL's column names, with the data and currency checks applied.
    ``execute(sql, parameters) -> list[tuple]`` runs SQL on the store; ``coverage`` is what
    :func:`read_coverage` says of the entities read."""
    by = request.breakdowns
    outputs, needed = plan_instances(definitions, request.metrics, by)
    money = request.money
    periods = request.periods
    if coverage is None:
        coverage = read_coverage(execute, {e for i in needed
                                           for e in effective_entities(definitions, i.key)},
                                 dialect)
    unconvertible = _unconvertible(execute, definitions, outputs, money, dialect)
    tree: exp.Expression = request_tree(definitions, request)
    parameters = query_parameters(tree, money)
    if dialect not in NUMBERED_PARAMETERS:  # Spark, Trino: the rates become literals
        tree, parameters = inline_parameters(tree, parameters), []
    sql = render(tree, dialect, copy=False)  # a fresh tree, rendered once
    dims = [d for d in get_dimensions() if d in by]
    names = ["metric", "shape", "period_index", *[f"d_{d}" for d in dims], "value",
             "numerator", "denominator", "count", "note"]
    wanted = {(i.key, i.label) for i in outputs}
    by_index = {period.index: period for period in periods}
    rows = []
    for raw in execute(sql, parameters):
        row = dict(zip(names, raw, strict=True))
        if (row["metric"], row["shape"]) not in wanted:
            continue
        definition = definitions[row["metric"]]
        entities = sorted(effective_entities(definitions, definition.key))
        empty = [e for e in entities if e not in coverage or coverage[e].records == 0]
        unconverted = unconvertible.get((row["metric"], row["shape"]))
        early = None if definition.snapshot else before_data_note(
            by_index[int(row["period_index"])], any(m.previous for m in definition.measures),
            entities, coverage)
        if empty:
            row.update(value=None, numerator=None, denominator=None, count=0,
                       note=f"no {', '.join(empty)} records in the store: sync a "
                       "connection that provides them, or add them as <entity>.csv to a "
                       "files connection")
        elif early:
            row.update(value=None, numerator=None, denominator=None, note=early)
        elif unconverted:
            row.update(value=None, numerator=None, denominator=None, note=unconverted[0],
                       missing_rates=unconverted[1])
        rows.append(row)
    return rows
