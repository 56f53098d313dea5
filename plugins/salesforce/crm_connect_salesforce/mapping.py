"""Salesforce records (REST JSON or Bulk 2.0 CSV) to canonical dictionaries.

A record is first *flattened* (``attributes`` dropped, relationship objects turned into dotted
keys such as ``UserRole.Name``) and its values *normalised* by the field types of the object's
describe, so the same record reads the same whether it came from a REST page (typed JSON) or a
Bulk CSV (text, empty for null).  :func:`to_canonical` then fills the canonical fields from the
connection's field map (:class:`crm_connect.mapping.FieldMap`) and the entity's rules, and keeps
every other field in ``extra``.  The vocabularies (lead origins, deal types, survey types and
scales) are the core's (:mod:`crm_connect.mapping`), with Salesforce's picklist values added.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from crm_connect import mapping as kit
from crm_connect.incremental import format_cursor, parse_cursor
from crm_connect.mapping import FieldMap, parse_source, truthy
from crm_connect.schema import ActivityKind, DealType, Direction, LeadOrigin, SurveyType
from crm_connect_salesforce.objects import ObjectSpec

__all__ = [
    "DEFAULT_DEAL_TYPES",
    "DEFAULT_LEAD_ORIGINS",
    "MappingContext",
    "flatten",
    "normalise",
    "parse_sf_datetime",
    "parse_source",
    "to_canonical",
]

SYSTEM_FIELDS = frozenset({"Id", "IsDeleted", "CreatedDate", "LastModifiedDate"})

DEFAULT_DEAL_TYPES: dict[str, DealType] = {
    **kit.DEFAULT_DEAL_TYPES,
    "existing customer - upgrade": DealType.UPSELL,
    "existing customer - expansion": DealType.UPSELL,
    "existing customer - renewal": DealType.RENEWAL,
    "existing customer - replacement": DealType.OTHER,
    "existing customer - downgrade": DealType.OTHER,
}
"""Opportunity ``Type`` picklist values (case-insensitive): the core's deal type words and
Salesforce's standard picklist; unknown values are ``other``."""

DEFAULT_LEAD_ORIGINS: dict[str, LeadOrigin] = dict(kit.DEFAULT_LEAD_ORIGINS)
"""``LeadSource`` values (case-insensitive) to an origin, when a lead has no origin field: the
core's words, which include Salesforce's standard picklist."""

_COUNT_FIELDS = frozenset({"interactions_count", "handle_time_seconds", "duration_seconds"})


# -- flattening and normalising ---------------------------------------------------------------


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"Owner": {"attributes": ..., "Name": "X"}}`` -> ``{"Owner.Name": "X"}``.

    A child subquery (``{"totalSize": .., "records": [...]}``) stays a list of flat records.
    """
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if "records" in value and isinstance(value.get("records"), list):
                flat[name] = [flatten(child) for child in value["records"]]
            else:
                flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def parse_sf_datetime(value: Any) -> dt.datetime | None:
    """``2026-05-01T07:25:37.000+0000`` (REST) or ``...Z`` (Bulk) as an aware UTC datetime."""
    return parse_cursor(value)


iso = format_cursor
"""One spelling for every datetime we write: ``2026-05-01T07:25:37.000+00:00``."""


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _normalise_value(value: Any, sf_type: str | None) -> Any:
    if value is None or value == "":
        return None
    if sf_type is None:
        return value
    if sf_type == "boolean":
        if isinstance(value, str):
            lowered = value.strip().lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else value
        return value
    if sf_type == "int":
        try:
            return int(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return value
    if sf_type in ("double", "currency", "percent"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if sf_type == "datetime":
        parsed = parse_sf_datetime(value)
        return iso(parsed) if parsed is not None else value
    return value


def normalise(row: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """Values typed by the describe's field types; empty text is ``None``."""
    return {key: _normalise_value(value, types.get(key)) for key, value in row.items()}


# -- the mapping --------------------------------------------------------------------------------


@dataclass
class MappingContext:
    """What mapping one stream's records needs to know."""

    spec: ObjectSpec
    fieldmap: dict[str, str]
    """canonical field -> Salesforce field (or ``=constant``), only fields the org has
    (:func:`crm_connect.mapping.resolve_fieldmap`)."""
    currency: str | None = None
    """The org's currency, for records without ``CurrencyIsoCode``."""
    deal_types: Mapping[str, DealType] = field(default_factory=lambda: DEFAULT_DEAL_TYPES)
    lead_origins: Mapping[str, LeadOrigin] = field(default_factory=lambda: DEFAULT_LEAD_ORIGINS)
    spend_category: str = "acquisition"
    keep_extra: bool = True

    def __post_init__(self) -> None:
        self.deal_types = kit.lower_keys(self.deal_types)
        self.lead_origins = kit.lower_keys(self.lead_origins)
        self.map = FieldMap(self.fieldmap)
        self.consumed = SYSTEM_FIELDS | self.map.vendor_fields

    def value(self, row: Mapping[str, Any], canonical: str) -> Any:
        return self.map.value(row, canonical)


def _date_start(value: Any) -> dt.datetime | None:
    """A Salesforce date (``2026-03-08``) as midnight UTC of that day."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return parse_sf_datetime(value)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _id_with_prefix(value: Any, prefix: str) -> str | None:
    return value if isinstance(value, str) and value.startswith(prefix) else None


def _count(value: Any) -> Any:
    if isinstance(value, float) and value == value:  # not NaN
        return round(value)
    if isinstance(value, str):
        try:
            return round(float(value))
        except ValueError:
            return value
    return value


def to_canonical(row: Mapping[str, Any], ctx: MappingContext) -> dict[str, Any] | None:
    """A flat, normalised Salesforce row as a canonical dictionary; ``None`` to skip it."""
    record: dict[str, Any] = {
        "id": row.get("Id"),
        "created_at": row.get("CreatedDate"),
        "updated_at": row.get("LastModifiedDate") or row.get("SystemModstamp"),
        "is_deleted": truthy(row.get("IsDeleted")),
    }
    for canonical in ctx.fieldmap:
        value = ctx.value(row, canonical)
        record[canonical] = _count(value) if canonical in _COUNT_FIELDS else value
    derive = _DERIVE.get(ctx.spec.entity if ctx.spec.stream != "campaign_spend" else "spend")
    if derive is not None and derive(row, record, ctx) is False:
        return None
    if ctx.keep_extra:
        extra = {key: value for key, value in row.items()
                 if key not in ctx.consumed and value is not None}
        if extra:
            record["extra"] = extra
    return record


# -- entity rules -----------------------------------------------------------------------------


def _account(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    website = row.get("Website")
    if website and not record.get("domain"):
        record["domain"] = _domain(str(website))


def _domain(website: str) -> str | None:
    text = website.strip()
    if "://" not in text:
        text = "http://" + text
    host = (urlsplit(text).hostname or "").lower()
    host = host.removeprefix("www.")
    return host or None


def _lead(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    if truthy(row.get("IsConverted")):
        record["converted_at"] = _date_start(row.get("ConvertedDate"))
    else:
        for name in ("converted_at", "converted_account_id", "converted_contact_id",
                     "converted_deal_id"):
            record[name] = None
    record["origin"] = kit.lead_origin(record.get("origin"), row.get("LeadSource"),
                                       ctx.lead_origins)


def _currency(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    record["currency"] = row.get("CurrencyIsoCode") or ctx.currency


def _deal(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    kind = kit.deal_type(row.get("Type"), ctx.deal_types)
    if kind is not None:
        record["deal_type"] = kind
    closed = truthy(row.get("IsClosed"))
    record["is_closed"] = closed
    record["is_won"] = truthy(record.get("is_won")) and closed
    record["closed_at"] = _date_start(row.get("CloseDate")) if closed else None
    _currency(row, record, ctx)


_TASK_SUBTYPES = {"call": ActivityKind.CALL, "email": ActivityKind.EMAIL,
                  "listemail": ActivityKind.EMAIL, "linkedin": ActivityKind.SOCIAL}


def _kind_from_type(value: Any, default: ActivityKind) -> ActivityKind:
    text = str(value or "").lower()
    for needle, kind in (("call", ActivityKind.CALL), ("email", ActivityKind.EMAIL),
                         ("meeting", ActivityKind.MEETING), ("note", ActivityKind.NOTE),
                         ("linkedin", ActivityKind.SOCIAL), ("social", ActivityKind.SOCIAL),
                         ("twitter", ActivityKind.SOCIAL)):
        if needle in text:
            return kind
    return default


def _direction(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text.startswith("in"):
        return Direction.INBOUND.value
    if text.startswith("out"):
        return Direction.OUTBOUND.value
    return None


def _links(row: Mapping[str, Any], record: dict[str, Any]) -> None:
    who, what = row.get("WhoId"), row.get("WhatId")
    record["lead_id"] = _id_with_prefix(who, "00Q")
    record["contact_id"] = _id_with_prefix(who, "003")
    record["deal_id"] = _id_with_prefix(what, "006")
    record["ticket_id"] = _id_with_prefix(what, "500")
    if not record.get("account_id"):
        record["account_id"] = _id_with_prefix(what, "001")


def _task(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    subtype = str(row.get("TaskSubtype") or "").lower()
    kind = _TASK_SUBTYPES.get(subtype) or _kind_from_type(row.get("Type"), ActivityKind.TASK)
    record["kind"] = kind.value
    direction = _direction(record.get("direction")) or _direction(row.get("CallType"))
    if direction is None and kind is ActivityKind.EMAIL:
        direction = Direction.OUTBOUND.value  # an email logged on a task is one that was sent
    record["direction"] = direction
    _links(row, record)
    completed_at = parse_sf_datetime(row.get("CompletedDateTime"))
    closed = row.get("IsClosed")
    if closed is None and row.get("Status") is not None:
        closed = str(row.get("Status")).lower() == "completed"
    record["completed"] = truthy(closed) if closed is not None else None
    if record["completed"]:
        record["completed_at"] = completed_at or _date_start(row.get("ActivityDate"))
    record["occurred_at"] = (completed_at or _date_start(row.get("ActivityDate"))
                             or row.get("CreatedDate"))


def _event(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    record["kind"] = _kind_from_type(row.get("Type"), ActivityKind.MEETING).value
    record["direction"] = _direction(record.get("direction"))
    _links(row, record)
    start = parse_sf_datetime(row.get("StartDateTime") or row.get("ActivityDateTime"))
    record["occurred_at"] = start or row.get("CreatedDate")
    minutes = row.get("DurationInMinutes")
    end = parse_sf_datetime(row.get("EndDateTime"))
    if minutes not in (None, ""):
        record["duration_seconds"] = _count(float(minutes) * 60)
    elif start is not None and end is not None:
        record["duration_seconds"] = round((end - start).total_seconds())


def _ticket(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    closed = row.get("IsClosed")
    if closed is None or truthy(closed):
        record["resolved_at"] = row.get("ClosedDate")
    else:
        record["resolved_at"] = None


def _campaign(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    record["started_at"] = _date_start(row.get("StartDate"))
    record["ended_at"] = _date_start(row.get("EndDate"))
    _currency(row, record, ctx)


def _spend(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> bool:
    """Campaign costs as spend: no start date or no actual cost, no spend row."""
    if row.get("StartDate") in (None, "") or row.get("ActualCost") in (None, ""):
        return False
    record["date"] = str(row.get("StartDate"))[:10]
    record["amount"] = row.get("ActualCost")
    category = str(record.get("category") or "").strip().lower()
    record["category"] = category or ctx.spend_category
    record["campaign_id"] = row.get("Id")
    _currency(row, record, ctx)
    return True


def _contract(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    _currency(row, record, ctx)


def _user(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    if not record.get("name"):
        parts = [row.get("FirstName"), row.get("LastName")]
        record["name"] = " ".join(str(part) for part in parts if part) or None


def _survey(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    kind = kit.survey_type(record.get("survey_type"))
    record["survey_type"] = kind
    if kind is not None and kind in SurveyType._value2member_map_:
        low, high = kit.SURVEY_SCALES[SurveyType(kind)]
        if record.get("scale_min") in (None, ""):
            record["scale_min"] = low
        if record.get("scale_max") in (None, ""):
            record["scale_max"] = high
    if record.get("responded_at") is None:
        record["responded_at"] = row.get("CreatedDate")


_Derive = Callable[[Mapping[str, Any], dict[str, Any], MappingContext], "bool | None"]

_DERIVE: dict[str, _Derive] = {
    "accounts": _account,
    "leads": _lead,
    "deals": _deal,
    "tickets": _ticket,
    "campaigns": _campaign,
    "spend": _spend,
    "contracts": _contract,
    "survey_responses": _survey,
    "users": _user,
}


def _activity(row: Mapping[str, Any], record: dict[str, Any], ctx: MappingContext) -> None:
    if ctx.spec.sobject == "Event" or ctx.spec.stream == "events":
        _event(row, record, ctx)
    else:
        _task(row, record, ctx)


_DERIVE["activities"] = _activity


def canonical_records(rows: Iterable[Mapping[str, Any]], ctx: MappingContext
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Map rows; returns (records, the raw rows they came from)."""
    records, raws = [], []
    for row in rows:
        record = to_canonical(row, ctx)
        if record is not None:
            records.append(record)
            raws.append(dict(row))
    return records, raws


_SAFE_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def is_field_name(value: str) -> bool:
    """Whether ``value`` can be put in a SOQL field list as it is."""
    return bool(_SAFE_FIELD.match(value))
