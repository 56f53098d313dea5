"""The engine's open vocabulary: the prepared relations KPI measures read and the dimensions
KPIs are broken down by, contributed by plugins through the ``register_relations`` and
``register_dimensions`` hooks.

The built-in relations (:data:`~crm_connect.metrics.relations.RELATIONS`) and dimensions
(:data:`~crm_connect.metrics.definitions.DIMENSIONS`) arrive the same way, from the KPI
catalogue plugin.  A name registered twice is an error naming both plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from crm_connect import plugins
from crm_connect.errors import PluginError
from crm_connect.metrics.definitions import Dimension
from crm_connect.metrics.relations import HELPERS, Relation
from crm_connect.metrics.sqltree import columns_read
from crm_connect.schema import ENTITIES

__all__ = ["describe_dimensions", "get_dimensions", "get_relations", "relation_named",
           "validate_relation"]

_RELATIONS = "relations"
_DIMENSIONS = "dimensions"


def validate_relation(relation: Relation) -> None:
    """Check what a relation refers to: canonical tables, its own columns, helpers."""
    if not relation.name.isidentifier() or relation.name != relation.name.lower():
        raise ValueError(f"relation name {relation.name!r} is not a lower-case identifier")
    unknown = [t for t in (relation.table, *relation.tables) if t not in ENTITIES]
    if unknown:
        raise ValueError(f"relation {relation.name!r} reads unknown tables {unknown}; "
                         f"known: {', '.join(ENTITIES)}")
    if not relation.columns:
        raise ValueError(f"relation {relation.name!r} has no columns")
    for name, column in relation.columns.items():
        missing = [join for join in column.joins if join not in relation.joins]
        if missing:
            raise ValueError(f"relation {relation.name!r}: column {name!r} needs joins "
                             f"{missing} it does not declare")
    for join in relation.joins.values():
        helpers = [name for name in join.needs if name not in HELPERS]
        if helpers:
            raise ValueError(f"relation {relation.name!r}: a join needs unknown helpers "
                             f"{helpers}; known: {', '.join(HELPERS)}")
    for dimension, sql in relation.dimensions.items():
        read = columns_read(sql) if not sql.isidentifier() else {sql}
        outside = sorted(read - set(relation.columns))
        if outside:
            raise ValueError(f"relation {relation.name!r}: dimension {dimension!r} reads "
                             f"{outside}, which are not columns of the relation")


def _relation_registry() -> plugins.Registry:
    registries = plugins._registries
    if _RELATIONS not in registries:
        registry = plugins.Registry("relation")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(relation: Any) -> None:
                if not isinstance(relation, Relation):
                    raise PluginError(f'Plugin "{plugin}" registered {relation!r}, which is '
                                      "not a crm_connect.metrics.Relation")
                try:
                    validate_relation(relation)
                except ValueError as exc:
                    raise PluginError(f'Plugin "{plugin}" registered an invalid relation '
                                      f"{relation.name!r}: {exc}") from None
                registry.register_for(plugin, relation.name, relation)

            return register

        plugins.call_registry_hook("register_relations", make_register)
        registries[_RELATIONS] = registry
    return registries[_RELATIONS]


def _dimension_registry() -> plugins.Registry:
    registries = plugins._registries
    if _DIMENSIONS not in registries:
        registry = plugins.Registry("dimension")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(dimension: Any) -> None:
                try:
                    if not isinstance(dimension, Dimension):
                        dimension = Dimension.model_validate(dimension)
                except ValidationError as exc:
                    raise PluginError(f'Plugin "{plugin}" registered an invalid dimension: '
                                      f"{exc}") from None
                registry.register_for(plugin, dimension.name, dimension)

            return register

        plugins.call_registry_hook("register_dimensions", make_register)
        registries[_DIMENSIONS] = registry
    return registries[_DIMENSIONS]


def get_relations() -> dict[str, Relation]:
    """Relation name to its definition, from every plugin (the built-in ones first)."""
    return {key: value for key, (value, _) in _relation_registry().items.items()}


def relation_named(name: str) -> Relation:
    """The relation a measure names; ``KeyError`` when no plugin registers it."""
    relation: Relation = _relation_registry().items[name][0]
    return relation


def get_dimensions() -> tuple[str, ...]:
    """Every dimension a KPI may be broken down by, in registration order (the built-in
    ones first)."""
    return tuple(_dimension_registry().items)


def describe_dimensions() -> dict[str, tuple[Dimension, str]]:
    """Dimension name to its definition and the plugin that registered it."""
    return dict(_dimension_registry().items)
