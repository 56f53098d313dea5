"""Which canonical fields each KPI reads, derived from its definition (KPI -> measures ->
prepared relation columns -> the entity fields behind them).

A connector that cannot fill a field (the source lacks it, the user cannot read an object)
says which KPIs are left without data: :func:`kpis_reading` and :func:`kpis_fed_by` answer from
the registered definitions, so the answer follows the catalogue and every plugin's KPIs instead
of a hand-written list.  Breakdown dimensions do not count: a missing ``segment`` leaves a KPI
with data, only its ``--by segment`` rows empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from crm_connect.metrics.definitions import KpiDefinition, Measure
from crm_connect.metrics.engine import measure_columns
from crm_connect.metrics.relations import HELPERS, RELATIONS, Relation
from crm_connect.schema import ENTITIES

__all__ = ["kpi_fields", "kpis_fed_by", "kpis_reading"]

_STRING = re.compile(r"'(?:[^']|'')*'")
_NAME = re.compile(r"(?<![\w.])(?:([A-Za-z_]\w*)\s*\.\s*)?([A-Za-z_]\w*)")
_JOINED = re.compile(r"\bJOIN\s+(\w+)\s+(\w+)\b", re.IGNORECASE)

Field = tuple[str, str]
"""(entity, canonical field)."""


def _names(sql: str) -> list[tuple[str, str]]:
    """(qualifier or "", name) of every identifier in ``sql``, string literals skipped."""
    return [(qualifier, name) for qualifier, name in _NAME.findall(_STRING.sub("''", sql))]


def _fields_of(table: str, names: Iterable[str]) -> set[Field]:
    model = ENTITIES.get(table)
    if model is None:
        return set()
    return {(table, name) for name in names if name in model.model_fields}


def _helper_fields(name: str) -> set[Field]:
    helper = HELPERS[name]
    query = helper.query(lambda amount, currency: f"{amount} * {currency}", "as_of") \
        if helper.query is not None else ""
    return _fields_of(helper.table, (name for _, name in _names(query)))


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
        for table, alias in _JOINED.findall(join.sql):
            aliases.setdefault(alias, table)
        for helper in join.needs:
            found |= _helper_fields(helper)
        found |= _fields_of_all(aliases, _names(join.sql))
    sql = column.sql or f"{relation.alias}.{name}"
    found |= _fields_of_all(aliases, _names(sql), default=relation.table)
    return found


def _fields_of_all(aliases: Mapping[str, str], names: Iterable[tuple[str, str]],
                   default: str | None = None) -> set[Field]:
    found: set[Field] = set()
    for qualifier, name in names:
        table = aliases.get(qualifier) if qualifier else default
        if table is not None:
            found |= _fields_of(table, (name,))
    return found


def _measure_fields(measure: Measure) -> set[Field]:
    relation = RELATIONS[measure.relation]
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
