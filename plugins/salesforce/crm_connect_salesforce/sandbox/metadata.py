"""The sandbox org's metadata, loaded from the describe files in ``describe/``.

Each sObject the sandbox org has is one JSON file, ``describe/<Name>.json``: the payload
``GET /services/data/vXX.X/sobjects/<Name>/describe`` answers for the full org (custom fields
and multi-currency on), with ``{version}`` and ``{instance_url}`` where the answer names them;
``describe/index.json`` lists the objects in describe-global order.  Their keys follow real
describe responses (see ``reference-payloads/salesforce/nango_describe_account.json``).

A plain org (no custom field or object) and a single-currency org are the same files with those
fields, objects and child relationships left out.  The custom fields (``__c``) hold the KPI inputs
standard objects lack; the plugin README lists them so the connector's default mapping can name
them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

TEXT_TYPES = frozenset(
    {"id", "reference", "string", "textarea", "picklist", "email", "phone", "url"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject."""

    name: str
    type: str
    label: str = ""
    nillable: bool = True
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    length: int = 0
    precision: int = 0
    scale: int = 0
    createable: bool = True
    updateable: bool = True
    name_field: bool = False
    auto_number: bool = False
    calculated: bool = False
    external_id: bool = False

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1


@dataclass
class ObjectDef:
    """One sObject type and its fields (in describe order)."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: list[FieldDef]
    custom: bool = False
    has_is_deleted: bool = True
    by_lower: dict[str, FieldDef] = field(default_factory=dict, init=False, repr=False)
    relationships: dict[str, FieldDef] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_lower = {f.name.lower(): f for f in self.fields}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name is not None
        }

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())


# --- field helpers ---------------------------------------------------------------------------


@functools.cache
def _raw_describes() -> dict[str, dict[str, Any]]:
    """Every describe file, by object name, in describe-global order (read once)."""
    folder = resources.files(__package__).joinpath("describe")
    names = json.loads(folder.joinpath("index.json").read_text(encoding="utf-8"))["objects"]
    return {
        name: json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8"))
        for name in names
    }


def _field_def(entry: dict[str, Any]) -> FieldDef:
    return FieldDef(
        name=entry["name"],
        type=entry["type"],
        label=entry["label"],
        nillable=entry["nillable"],
        custom=entry["custom"],
        reference_to=tuple(entry["referenceTo"]),
        relationship_name=entry["relationshipName"],
        picklist=tuple(value["value"] for value in entry["picklistValues"]),
        length=18 if entry["type"] in ("id", "reference") else entry["length"],
        precision=entry["precision"],
        scale=entry["scale"],
        createable=entry["createable"],
        updateable=entry["updateable"],
        name_field=entry["nameField"],
        auto_number=entry["autoNumber"],
        calculated=entry["calculated"],
        external_id=entry["externalId"],
    )


def _kept(entry: dict[str, Any], multi_currency: bool, custom_fields: bool) -> bool:
    if entry["name"] == "CurrencyIsoCode" and not multi_currency:
        return False
    return custom_fields or not entry["custom"]


def build_objects(multi_currency: bool = True, custom_fields: bool = True) -> dict[str, ObjectDef]:
    """Every sObject the sandbox org has, by API name, in describe-global order.

    ``custom_fields=False`` gives a plain org: no ``__c`` field and no custom object, as a real
    org that never added the KPI fields the connector's default mapping names.
    """
    objects: dict[str, ObjectDef] = {}
    for name, raw in _raw_describes().items():
        if raw["custom"] and not custom_fields:
            continue
        fields = [
            _field_def(entry)
            for entry in raw["fields"]
            if _kept(entry, multi_currency, custom_fields)
        ]
        objects[name] = ObjectDef(
            name,
            raw["keyPrefix"],
            raw["label"],
            raw["labelPlural"],
            fields,
            custom=raw["custom"],
            has_is_deleted=raw["deletable"],
        )
    return objects


def _placed(value: Any, version: str, instance_url: str) -> Any:
    """``value`` with ``{version}`` and ``{instance_url}`` filled in, recursively."""
    if isinstance(value, str):
        return value.replace("{version}", version).replace("{instance_url}", instance_url)
    if isinstance(value, list):
        return [_placed(item, version, instance_url) for item in value]
    if isinstance(value, dict):
        return {key: _placed(item, version, instance_url) for key, item in value.items()}
    return value


_GLOBAL_KEYS = (
    "activateable",
    "associateEntityType",
    "associateParentEntity",
    "createable",
    "custom",
    "customSetting",
    "deepCloneable",
    "deletable",
    "deprecatedAndHidden",
    "feedEnabled",
    "hasSubtypes",
    "isInterface",
    "isSubtype",
    "keyPrefix",
    "label",
    "labelPlural",
    "layoutable",
    "mergeable",
    "mruEnabled",
    "name",
    "queryable",
    "replicateable",
    "retrieveable",
    "searchable",
    "triggerable",
    "undeletable",
    "updateable",
)
_GLOBAL_URLS = ("rowTemplate", "describe", "sobject")


def describe_global_entry(obj: ObjectDef, version: str, instance_url: str) -> dict[str, Any]:
    """The object's entry in ``GET /sobjects`` (describe global)."""
    raw = _raw_describes()[obj.name]
    entry: dict[str, Any] = {key: raw[key] for key in _GLOBAL_KEYS}
    entry["urls"] = {key: raw["urls"][key] for key in _GLOBAL_URLS}
    return dict(_placed(entry, version, instance_url))


def describe_object(
    obj: ObjectDef, objects: dict[str, ObjectDef], version: str, instance_url: str
) -> dict[str, Any]:
    """``GET /sobjects/{name}/describe``: the describe file, for the fields and objects this
    org has."""
    raw = _raw_describes()[obj.name]
    payload = dict(raw)
    kept = {f.name for f in obj.fields}
    payload["fields"] = [entry for entry in raw["fields"] if entry["name"] in kept]
    payload["childRelationships"] = [
        child
        for child in raw["childRelationships"]
        if child["childSObject"] in objects
        and objects[child["childSObject"]].field(child["field"]) is not None
    ]
    return dict(_placed(payload, version, instance_url))
