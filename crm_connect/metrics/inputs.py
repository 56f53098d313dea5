"""Which canonical fields each KPI reads, derived from its definition (KPI -> measures ->
prepared relation columns -> the entity fields behind them).

A connector that cannot fill a field (the source lacks it, the user cannot read an object)
says which KPIs are left without data: :func:`kpis_reading` and :func:`kpis_fed_by` answer from
the registered definitions, so the answer follows the catalogue and every plugin's KPIs instead
of a hand-written list.  Breakdown dimensions do not count: a missing ``segment`` leaves a KPI
with data, only its ``--by segment`` rows empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlglot import exp

from crm_connect.metrics.definitions import KpiDefinition, Measure
from crm_connect.metrics.engine import measure_columns
from crm_connect.metrics.relations import HELPERS, Relation
from crm_connect.metrics.sqltree import parse, tables_read
from crm_connect.metrics.vocabulary import relation_named
from crm_connect.schema import ENTITIES

__all__ = ["kpi_fields", "kpis_fed_by", "kpis_reading"]

Field = tuple[str, str]
"""(entity, canonical field)."""


def _fields_of(table: str, names: Iterable[str]) -> set[Field]:
    model = ENTITIES.get(table)
    if model is None:
        return set()
    return {(table, name) for name in names if name in model.model_fields}


def _tree_fields(tree: exp.Expression, aliases: Mapping[str, str],
                 default: str | None) -> set[Field]:
    """The entity fields the columns of ``tree`` read: a qualified column through its
    table's alias, an unqualified one from ``default`` (the only table read)."""
    found: set[Field] = set()
    for column in tree.find_all(exp.Column):
        table = aliases.get(column.table) if column.table else default
        if table is not None:
            found |= _fields_of(table, (column.name,))
    return found


def _helper_fields(name: str) -> set[Field]:
    helper = HELPERS[name]
    if helper.query is None:
        return set()
    query = helper.query(lambda amount, currency: exp.Mul(this=amount, expression=currency),
                         exp.column("as_of"))
    aliases = tables_read(query)
    default = next(iter(aliases.values())) if len(set(aliases.values())) == 1 else None
    return _tree_fields(query, aliases, default)


def _column_fields(relation: Relation, name: str) -> set[Field]:
    """The entity fields behind one column of a prepared relation."""
    if relation.query is not None:
        return _helper_fields(relation.name)
    column = relation.columns[name]
    if column.money is not None:
        return _fields_of(relation.table, column.money)
    aliases = {relation.alias: relation.table}
    found: set[Field] = set()
    for join_name in column.joins:
        join = relation.joins[join_name]
        aliases.setdefault(join.alias, join.table)
        for helper in join.needs:
            found |= _helper_fields(helper)
        found |= _tree_fields(parse(join.on), aliases, None)
    sql = column.sql or f"{relation.alias}.{name}"
    found |= _tree_fields(parse(sql), aliases, relation.table)
    return found


def _measure_fields(measure: Measure) -> set[Field]:
    relation = relation_named(measure.relation)
    found: set[Field] = set()
    for name in measure_columns(measure, ()):
        found |= _column_fields(relation, name)
    return found


def kpi_fields(key: str, definitions: Mapping[str, KpiDefinition] | None = None
               ) -> set[Field]:
    """The (entity, field) pairs KPI ``key`` reads, through its measures, or through the
    KPIs it is derived from; ``definitions`` defaults to every registered KPI."""
    if definitions is None:
        from crm_connect.metrics.registry import get_kpis

        definitions = get_kpis()
    found: set[Field] = set()
    seen: set[str] = set()
    pending = [key]
    while pending:
        current = pending.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        definition = definitions[current]
        for measure in definition.measures:
            found |= _measure_fields(measure)
        pending += definition.inputs
    return found


def kpis_fed_by(entity: str, fields: Iterable[str] | None = None,
                definitions: Mapping[str, KpiDefinition] | None = None) -> list[str]:
    """Keys of the KPIs that read any of ``fields`` of ``entity`` (any field of it when
    ``fields`` is None: what a stream of that entity feeds), in registry order."""
    if definitions is None:
        from crm_connect.metrics.registry import get_kpis

        definitions = get_kpis()
    wanted = None if fields is None else set(fields)
    return [key for key in definitions
            if any(table == entity and (wanted is None or name in wanted)
                   for table, name in kpi_fields(key, definitions))]


def kpis_reading(entity: str, field: str,
                 definitions: Mapping[str, KpiDefinition] | None = None) -> list[str]:
    """Keys of the KPIs left without data when ``entity.field`` is never filled."""
    return kpis_fed_by(entity, (field,), definitions)
