"""How one Salesforce stream is read, worked out from its object's describe.

The cursor (``SystemModstamp``, else ``LastModifiedDate``, else ``CreatedDate``), whether deleted
rows can be read (``IsDeleted``: then ``queryAll``), the mapped fields the org has (the core's
field map, :func:`crm_connect.mapping.resolve_fieldmap`), and every other field for ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_connect.errors import ConnectorError
from crm_connect.mapping import MissingField, resolve_fieldmap
from crm_connect_salesforce.mapping import MappingContext
from crm_connect_salesforce.objects import ObjectSpec

__all__ = ["CURSOR_FIELDS", "UNREADABLE_TYPES", "PlannedFields", "ReadPlan", "plan_fields"]

CURSOR_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
UNREADABLE_TYPES = frozenset({"address", "location", "base64", "complexvalue"})
_SYSTEM = ("IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CurrencyIsoCode")


@dataclass
class ReadPlan:
    """How one stream is read, worked out from its object's describe."""

    spec: ObjectSpec
    sobject: str
    cursor: str
    include_deleted: bool
    fields: list[str]
    types: dict[str, str]
    context: MappingContext
    missing: list[MissingField] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    key_prefix: str = ""
    """The object's id prefix (``00T``): which stored rows an id sweep of this stream judges."""
    sweep_pages: bool = False
    """The read covers every record of the object: its pages double as an id sweep."""
    sweep_started: bool = False
    total: int | None = None
    """How many records the read returns, from the ``COUNT()`` query's ``totalSize``."""
    short_read: str | None = None
    """Set when a query ended before the records its ``totalSize`` announced: its ids are no
    proof that the missing rows were deleted."""


@dataclass(frozen=True)
class PlannedFields:
    """What :func:`plan_fields` found in a describe."""

    cursor: str
    fields: list[str]
    types: dict[str, str]
    fieldmap: dict[str, str]
    missing: list[MissingField]
    keep: list[str]


def plan_fields(spec: ObjectSpec, sobject: str, describe: Mapping[str, Any],
                fieldmap: Mapping[str, str], explicit: Mapping[str, str], *,
                all_fields: bool, connection: str) -> PlannedFields:
    """The fields to query for ``spec`` given its object's ``describe``: ``Id`` and the cursor
    first, the system fields, the mapped ones the org has, relationship paths whose lookup
    exists, the mapping's inputs, and (``all_fields``) every other readable field."""
    described = {str(item["name"]): item for item in describe.get("fields", [])}
    types = {name: str(item.get("type")) for name, item in described.items()}
    relationships = {str(item.get("relationshipName")) for item in described.values()
                     if item.get("relationshipName")}
    cursor = next((name for name in CURSOR_FIELDS if name in described), None)
    if cursor is None:
        raise ConnectorError(
            f"{sobject} has none of {', '.join(CURSOR_FIELDS)}: it cannot be read "
            "incrementally; remove the stream from `streams`", connection=connection)
    keep = ["Id", cursor]
    fields: list[str] = list(keep)

    def add(name: str) -> None:
        if name not in fields:
            fields.append(name)

    for name in _SYSTEM:
        if name in described:
            add(name)
    resolved = resolve_fieldmap(fieldmap, described, explicit)
    for name in resolved.fields:
        add(name)
    sources = dict(resolved.sources)
    for canonical, path in spec.relations.items():
        if canonical not in sources and path.split(".", 1)[0] in relationships:
            sources[canonical] = path
            add(path)
    for name in spec.inputs:
        if name in described:
            add(name)
    if all_fields:
        for name, sf_type in types.items():
            if sf_type not in UNREADABLE_TYPES:
                add(name)
    if "IsDeleted" in described:
        keep.append("IsDeleted")
    return PlannedFields(cursor, fields, types, sources, resolved.missing, keep)
