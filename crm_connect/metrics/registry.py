"""The KPI registry: what the ``register_kpis`` hook of every plugin contributed, validated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlglot import exp

from crm_connect import plugins
from crm_connect.errors import MetricError, PluginError
from crm_connect.metrics.definitions import PERIOD_COLUMNS, KpiDefinition, Measure
from crm_connect.metrics.sqltree import parse
from crm_connect.metrics.vocabulary import get_dimensions, get_relations
from crm_connect.schema import ENTITIES

__all__ = ["get_kpis", "kpi_plugin", "validate_definition"]

_KEY = "kpis"


def _period_columns(measure: Measure) -> set[str]:
    """The ``p.`` columns a measure's SQL reads, from the trees."""
    texts = [measure.expr, measure.where, measure.event or "TRUE", measure.at or "TRUE"]
    return {column.name for text in texts for column in parse(text).find_all(exp.Column)
            if column.table == "p"}


def validate_definition(definition: KpiDefinition) -> None:
    """Check what a definition refers to on its own: entities, relations, dimensions, the
    period columns its measures read; and that its SQL parses."""
    unknown_entities = [e for e in definition.entities if e not in ENTITIES]
    if unknown_entities:
        raise ValueError(f"unknown entities {unknown_entities}; known: {', '.join(ENTITIES)}")
    dimensions = get_dimensions()
    unknown_dims = [d for d in definition.dimensions if d not in dimensions]
    if unknown_dims:
        raise ValueError(f"unknown dimensions {unknown_dims}; known: {', '.join(dimensions)}")
    relations = get_relations()
    for text in filter(None, (definition.value, definition.numerator, definition.denominator,
                              definition.count, definition.null_when,
                              *(case.when for case in definition.missing))):
        parse(text)
    for measure in definition.measures:
        relation = relations.get(measure.relation)
        if relation is None:
            raise ValueError(f"measure {measure.name!r} reads relation {measure.relation!r}; "
                             f"known: {', '.join(r for r in relations if r[0] != 'w')}")
        outside = sorted(_period_columns(measure) - PERIOD_COLUMNS)
        if outside:
            raise ValueError(f"measure {measure.name!r} reads period columns "
                             f"{', '.join('p.' + c for c in outside)}; a measure may read: "
                             f"{', '.join('p.' + c for c in sorted(PERIOD_COLUMNS))}")
        mapped = {**relation.dimensions, **measure.dimensions}
        missing = [d for d in definition.dimensions if d not in mapped]
        if missing:
            raise ValueError(f"measure {measure.name!r} cannot be broken down by {missing} "
                             f"(relation {measure.relation!r} has: {', '.join(mapped)})")


def _validate_inputs(items: Mapping[str, tuple[KpiDefinition, str]]) -> None:
    for key, (definition, plugin) in items.items():
        for name in definition.inputs:
            if name not in items:
                raise PluginError(f'Plugin "{plugin}": KPI {key!r} is derived from {name!r}, '
                                  "which no plugin registers")
            missing = set(definition.dimensions) - set(items[name][0].dimensions)
            if missing:
                raise PluginError(f'Plugin "{plugin}": KPI {key!r} offers dimensions '
                                  f"{sorted(missing)} that its input {name!r} does not")
    # No cycles among derived KPIs.
    state: dict[str, int] = {}

    def visit(key: str, trail: tuple[str, ...]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise PluginError(f"KPIs derive from each other in a cycle: {' -> '.join(trail)}")
        state[key] = 1
        for name in items[key][0].inputs:
            visit(name, (*trail, name))
        state[key] = 2

    for key in items:
        visit(key, (key,))


def _kpi_registry() -> plugins.Registry:
    registries = plugins._registries
    if _KEY not in registries:
        registry = plugins.Registry("KPI")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(definition: Any) -> None:
                try:
                    if not isinstance(definition, KpiDefinition):
                        definition = KpiDefinition.model_validate(definition)
                    validate_definition(definition)
                except (ValidationError, ValueError, MetricError) as exc:
                    key = getattr(definition, "key", None) or (
                        definition.get("key") if isinstance(definition, dict) else None)
                    raise PluginError(
                        f'Plugin "{plugin}" registered an invalid KPI {key!r}: {exc}'
                    ) from None
                registry.register_for(plugin, definition.key, definition)

            return register

        plugins.call_registry_hook("register_kpis", make_register)
        _validate_inputs(registry.items)
        registries[_KEY] = registry
    return registries[_KEY]


def get_kpis() -> dict[str, KpiDefinition]:
    """KPI key to definition, from every plugin (the built-in catalogue first)."""
    return {key: value for key, (value, _) in _kpi_registry().items.items()}


def kpi_plugin(key: str) -> str:
    """The plugin that contributed KPI ``key``."""
    return str(_kpi_registry().items[key][1])
