"""What bulk validation checks of each canonical field, read from the pydantic models.

Each field of each model gets a :class:`FieldRule`: the store column type, whether it is
required, its default, and the kind of value it holds (an enum's members, a pattern, ...).
The rule is derived from the field's annotation and constraints; a field whose constraints are
not all understood here gets the kind ``"opaque"``, and every record with a value there is
validated by pydantic instead (a new kind of field is never checked wrongly, only slowly).
The same goes for a model validator this module does not know.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import annotated_types
from pydantic import AfterValidator, BeforeValidator
from pydantic.fields import FieldInfo

from crm_connect import schema
from crm_connect.columns import entity_columns
from crm_connect.schema import ENTITIES

__all__ = ["KNOWN_FIELD_VALIDATORS", "EntityRules", "FieldRule", "entity_rules"]

KNOWN_FIELD_VALIDATORS = frozenset({("survey_responses", "_scale_is_a_range")})
"""Field validators the bulk path checks itself (see :mod:`crm_connect.bulk`)."""
_KNOWN_MODEL_VALIDATORS = frozenset({"_blank_means_absent"})


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field is checked and converted in bulk."""

    name: str
    sql_type: str
    kind: str
    """``text``, ``enum``, ``pattern``, ``datetime``, ``date``, ``money``, ``count``,
    ``number``, ``flag``, ``json`` or ``opaque``."""
    required: bool
    default: Any = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class EntityRules:
    """The rules of an entity's fields, in column order, and the row checks it needs."""

    fields: tuple[FieldRule, ...]
    names: frozenset[str]
    row_checks: tuple[str, ...] = field(default=())
    opaque: bool = False
    """The model has a validator the bulk path does not know: validate every record."""


def _markers(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """The annotation's base type and every constraint or validator found on the way."""
    found = list(metadata)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            for item in extra:
                if isinstance(item, FieldInfo):
                    found.extend(item.metadata)
                else:
                    found.append(item)
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return object, found
            annotation = args[0]
        else:
            return annotation, found


def _kind(sql_type: str, base: Any, markers: list[Any]) -> tuple[str, tuple[str, ...], str | None]:
    """The kind of a field, its enum members and its pattern; ``opaque`` when unsure."""
    plain = [m for m in markers if not (isinstance(m, annotated_types.MinLen)
                                        and m.min_length == 1)]
    if sql_type == "VARCHAR":
        if isinstance(base, type) and issubclass(base, Enum) and not plain:
            return "enum", tuple(str(member.value) for member in base), None
        patterns = [getattr(m, "pattern", None) for m in plain]
        if base is str and len(plain) == 1 and isinstance(patterns[0], str):
            return "pattern", (), patterns[0]
        return ("text" if base is str and not plain else "opaque"), (), None
    if sql_type == "TIMESTAMP":
        ok = [isinstance(m, AfterValidator) and m.func is schema._to_utc for m in plain]
        return ("datetime" if ok == [True] else "opaque"), (), None
    if sql_type == "DATE":
        ok = [isinstance(m, BeforeValidator) and m.func is schema._parse_date for m in plain]
        return ("date" if ok == [True] else "opaque"), (), None
    if sql_type == "JSON":
        ok = [isinstance(m, BeforeValidator) and m.func is schema._parse_json_object
              for m in plain]
        return ("json" if ok == [True] else "opaque"), (), None
    if sql_type.startswith("DECIMAL"):
        bounds = {(type(m).__name__, getattr(m, "gt", getattr(m, "lt", None))) for m in plain}
        money = {("Gt", schema.MONEY_LIMIT.copy_negate()), ("Lt", schema.MONEY_LIMIT)}
        return ("money" if bounds == money else "opaque"), (), None
    if sql_type == "BIGINT":
        bounds = {(type(m).__name__, getattr(m, "ge", getattr(m, "le", None))) for m in plain}
        whole = {("Ge", schema.INT64_MIN), ("Le", schema.INT64_MAX)}
        return ("count" if bounds == whole else "opaque"), (), None
    if sql_type in ("DOUBLE", "BOOLEAN") and not plain:
        return ("number" if sql_type == "DOUBLE" else "flag"), (), None
    return "opaque", (), None


@cache
def entity_rules(entity: str) -> EntityRules:
    """The bulk rules of ``entity``'s fields (computed once per process)."""
    model = ENTITIES[entity]
    rules = []
    for name, sql_type in entity_columns(entity):
        info = model.model_fields[name]
        base, markers = _markers(info.annotation, list(info.metadata))
        kind, choices, pattern = _kind(sql_type, base, markers)
        default = None if info.is_required() or info.default_factory else info.default
        if isinstance(default, Enum):
            default = default.value
        rules.append(FieldRule(name, sql_type, kind, info.is_required(), default, choices,
                               pattern))
    decorators = model.__pydantic_decorators__
    checks = tuple(name for name in decorators.field_validators)
    opaque = (any((entity, name) not in KNOWN_FIELD_VALIDATORS for name in checks)
              or any(name not in _KNOWN_MODEL_VALIDATORS
                     for name in decorators.model_validators)
              or bool(decorators.field_serializers or decorators.model_serializers))
    return EntityRules(tuple(rules), frozenset(model.model_fields), checks, opaque)
