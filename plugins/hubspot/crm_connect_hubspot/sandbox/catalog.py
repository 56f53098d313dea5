"""The portal's metadata, read from the JSON files beside this module: object types, property
definitions, pipelines and association types.

The files are data, not code: ``objects.json`` (type ids, singular names, the created/modified
properties, default properties), ``properties.json`` (compact property definitions, standard and
custom), ``pipelines.json`` (deal and ticket pipelines with their stage metadata) and
``associations.json`` (HUBSPOT_DEFINED association type ids).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "AssociationType",
    "ObjectType",
    "PropertyDef",
    "association_type",
    "object_type",
    "object_types",
    "pipelines",
    "property_defs",
]

_PROPERTY_STAMP = ("2019-08-06T02:41:46.048Z", "2024-12-19T18:53:37.030Z")
_CUSTOM_STAMP = ("2024-02-14T10:21:07.512Z", "2025-09-30T08:02:44.190Z")


@dataclass(frozen=True)
class ObjectType:
    """A CRM object type: ``contacts`` (``0-1``), ``deals`` (``0-3``)..."""

    name: str
    type_id: str
    singular: str
    created: str
    modified: str
    id_base: int
    defaults: tuple[str, ...]


@dataclass(frozen=True)
class PropertyDef:
    """One property of an object type."""

    name: str
    type: str  # string | number | datetime | date | enumeration | bool
    field_type: str
    group: str
    options: tuple[str, ...]
    custom: bool

    def payload(self, order: int) -> dict[str, Any]:
        """The definition as ``GET /crm/v3/properties/{objectType}`` sends it."""
        created, updated = _CUSTOM_STAMP if self.custom else _PROPERTY_STAMP
        label = _label(self.name)
        body: dict[str, Any] = {
            "updatedAt": updated,
            "createdAt": created,
            "name": self.name,
            "label": label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": f"{label} of the record" if not self.custom else f"Custom: {label}",
            "groupName": self.group,
            "options": [
                {"label": _label(value), "value": value, "description": "",
                 "displayOrder": position, "hidden": False}
                for position, value in enumerate(self.options)
            ],
            "displayOrder": order if self.custom else -1,
            "calculated": self.field_type.startswith("calculation"),
            "externalOptions": self.name in ("hubspot_owner_id", "pipeline", "dealstage",
                                             "hs_pipeline", "hs_pipeline_stage"),
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": False,
            "hubspotDefined": not self.custom,
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": not self.custom,
                "readOnlyValue": self.name in ("hs_object_id", "createdate", "hs_createdate",
                                               "lastmodifieddate", "hs_lastmodifieddate"),
            },
            "formField": self.custom,
            "dataSensitivity": "non_sensitive",
        }
        if self.custom:
            body.pop("hubspotDefined")
            body["createdUserId"] = "2813337"
            body["updatedUserId"] = "2813337"
        return body


@dataclass(frozen=True)
class AssociationType:
    unlabeled: int
    primary: int | None


def _label(name: str) -> str:
    words = name.removeprefix("hs_").replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower() if words else name


@functools.cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def object_types() -> dict[str, ObjectType]:
    """Every object type the portal has, by its plural API name."""
    types: dict[str, ObjectType] = {}
    for name, spec in _load("objects.json").items():
        if name.startswith("_"):
            continue
        types[name] = ObjectType(name, spec["typeId"], spec["singular"], spec["created"],
                                 spec["modified"], int(spec["idBase"]), tuple(spec["defaults"]))
    return types


@functools.cache
def _aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for name, kind in object_types().items():
        for alias in (name, kind.singular, kind.type_id):
            aliases[alias.lower()] = name
    return aliases


def object_type(name: str) -> ObjectType | None:
    """The object type a path segment names (``contacts``, ``contact`` or ``0-1``)."""
    plural = _aliases().get(name.lower())
    return object_types()[plural] if plural is not None else None


@functools.cache
def property_defs(object_name: str) -> dict[str, PropertyDef]:
    """The property definitions of ``object_name``, standard ones first, by name."""
    data = _load("properties.json")
    section = data[object_name]
    defs: dict[str, PropertyDef] = {}
    for custom, rows in ((False, section["standard"]), (True, section["custom"])):
        for row in rows:
            name, kind, field_type, group = row[:4]
            options: Any = row[4] if len(row) > 4 else []
            if isinstance(options, str):
                options = data[options]
            defs[name] = PropertyDef(name, kind, field_type, group, tuple(options), custom)
    return defs


@functools.cache
def pipelines(object_name: str) -> tuple[dict[str, Any], ...]:
    """The pipelines of ``deals`` or ``tickets``, in the API's shape."""
    out: list[dict[str, Any]] = []
    for order, spec in enumerate(_load("pipelines.json").get(object_name, [])):
        stamp = spec["created"]
        stages = [
            {"label": label, "displayOrder": position, "metadata": dict(metadata),
             "id": stage_id, "createdAt": stamp, "updatedAt": stamp,
             "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT", "archived": False}
            for position, (stage_id, label, metadata) in enumerate(spec["stages"])
        ]
        out.append({"label": spec["label"], "displayOrder": order, "id": spec["id"],
                    "stages": stages, "createdAt": stamp, "updatedAt": stamp,
                    "archived": False})
    return tuple(out)


def association_type(from_object: str, to_object: str) -> AssociationType | None:
    """The association type ids from one object type to another, when they associate."""
    spec = _load("associations.json").get(f"{from_object}/{to_object}")
    if spec is None:
        return None
    return AssociationType(int(spec["unlabeled"]), spec.get("primary"))
