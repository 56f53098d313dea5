"""The canonical schema: one pydantic model per entity, one store table per model.

Every record carries ``source`` (the connection name), ``id`` (the vendor's id, as a string),
``created_at``, ``updated_at``, ``is_deleted`` and ``extra`` (vendor fields with no canonical
home, so nothing is thrown away).  Datetimes are timezone-aware UTC; money is ``Decimal`` with
a ``currency`` code.  Foreign keys (``account_id``, ``owner_id``, ...) point inside the same
source.

Accounts, contacts and leads carry what identity resolution (``crm-connect resolve``) compares:
``phone``, ``street``, ``city``, ``postal_code``, ``country``, and where a CRM integration wrote
one, ``linked_crm`` (the other CRM's connector name, as a CRM plugin names it) with ``linked_id``
(that CRM's id for the same company or person); ``merged_into_id`` is the surviving record's
id when the CRM merged this one into another (the merged-away record is then deleted).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "ENTITIES",
    "Account",
    "Activity",
    "ActivityKind",
    "Campaign",
    "CanonicalRecord",
    "Contact",
    "Contract",
    "Deal",
    "DealType",
    "Direction",
    "IdentityFields",
    "Lead",
    "LeadOrigin",
    "Spend",
    "SpendCategory",
    "SurveyResponse",
    "SurveyType",
    "Ticket",
    "User",
    "entity_model",
    "parse_datetime",
]

# Some APIs write offsets without a colon (``2026-05-01T07:25:37.000+0000``).
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_datetime(value: Any) -> Any:
    """A vendor's timestamp as an aware UTC :class:`~datetime.datetime`.

    Reads ISO-8601 text in every common spelling (``Z``, ``+00:00``, a compact ``+0000``
    offset, milliseconds or none), epoch seconds or milliseconds (numbers or digit strings),
    and :class:`~datetime.datetime` / :class:`~datetime.date` objects: naive values are taken
    as UTC, a date as its midnight.  ``None`` and ``""`` give ``None``; any other value comes
    back unchanged so that a pydantic validator reports it (use it as a ``BeforeValidator``,
    or check ``isinstance(result, datetime)`` when parsing by hand).
    """
    original = value
    if value.__class__ is str and value:
        # The common case first (it runs once per row of an export): Python 3.11 reads every
        # ISO-8601 spelling APIs use, compact offsets (``...000+0000``) and ``...Z`` included.
        try:
            return _to_utc(dt.datetime.fromisoformat(value))
        except ValueError:
            pass
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            text = value.strip()
            if text.isdigit():
                value = int(text)
            else:
                try:
                    value = dt.datetime.fromisoformat(_COMPACT_OFFSET.sub(r"\1:\2", text))
                except ValueError:
                    return value  # let pydantic produce its own message
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Some APIs send epoch milliseconds; a value this large cannot be epoch seconds.
        seconds = value / 1000 if abs(value) > 10**11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return original  # beyond the calendar: pydantic says so
    if isinstance(value, dt.datetime):
        try:
            return _to_utc(value)
        except ValueError:
            return original  # beyond the calendar in UTC: the model's validator says so
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


def _parse_date(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        parsed = parse_datetime(value)
        if isinstance(parsed, dt.datetime):
            return parsed.date()
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (naive values are UTC); a ``ValueError`` (so the record is
    quarantined with the reason) when UTC would be past year 9999 or before year 1, as
    ``9999-12-31T23:00:00-05:00`` is."""
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=dt.UTC)
    if not offset:
        return value
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the calendar (years 1 to 9999) "
                         "once converted to UTC") from None


def _parse_json_object(value: Any) -> Any:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


# -- what the store can hold ------------------------------------------------------------------
# A value pydantic accepts but the store cannot hold would fail the whole page at write time, so
# the limits of the store's column types are part of the schema, here and nowhere else: a
# record beyond them fails validation and goes to the quarantine with the reason.

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Whole numbers are stored as ``BIGINT``."""
MONEY_PRECISION, MONEY_SCALE = 38, 9
"""Money is stored as ``DECIMAL(38, 9)``: at most 29 digits before the point, 9 after."""
MONEY_LIMIT = Decimal("99999999999999999999999999999.9999999995")
"""Amounts must stay strictly inside +/- this bound: rounded to 9 decimals, they still fit."""


def unstorable_text(values: Any) -> str | None:
    """Why one of ``values`` is text the store cannot hold (not valid UTF-8: a lone surrogate
    such as JSON ``"\\ud800"``), or ``None`` when all are fine.

    ``isascii`` is answered from a flag CPython keeps, so plain text costs next to nothing."""
    for value in values:
        if value.__class__ is str and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (f"text with a lone surrogate ({value[exc.start]!r} at character "
                        f"{exc.start} of {value!r}) is not valid UTF-8 and cannot be stored")
    return None


StorableInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A whole number within the 64-bit range."""
StorableMoney = Annotated[Decimal, Field(gt=MONEY_LIMIT.copy_negate(), lt=MONEY_LIMIT)]
"""An amount that fits ``DECIMAL(38, 9)``."""

# pydantic's own parsers do the heavy lifting (ISO-8601 in every vendor spelling, epoch
# seconds or milliseconds, "true"/"1"/"yes", decimal text); Python runs only where it must.
UtcDatetime = Annotated[dt.datetime, AfterValidator(_to_utc)] | None
"""A timezone-aware UTC datetime (or nothing); naive values are read as UTC."""
Date = Annotated[dt.date | None, BeforeValidator(_parse_date)]
Money = StorableMoney | None
Text = str | None
Flag = bool | None
Count = StorableInt | None
Number = float | None
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None
RequiredDate = Annotated[dt.date, BeforeValidator(_parse_date)]
RequiredMoney = StorableMoney
RequiredNumber = float


class _CanonicalEnum(StrEnum):
    """Canonical values validate at native speed; ``"Upsell"`` or ``" upsell "`` are accepted
    too, through ``_missing_``, which pydantic calls only when the exact value is not one."""

    @classmethod
    def _missing_(cls, value: object) -> _CanonicalEnum | None:
        if isinstance(value, str):
            wanted = value.strip().lower().replace(" ", "_").replace("-", "_")
            for member in cls:
                if member.value == wanted:
                    return member
        return None


class LeadOrigin(_CanonicalEnum):
    MARKETING = "marketing"
    SALES = "sales"
    PARTNER = "partner"
    OTHER = "other"


class DealType(_CanonicalEnum):
    NEW_BUSINESS = "new_business"
    UPSELL = "upsell"
    RENEWAL = "renewal"
    OTHER = "other"


class ActivityKind(_CanonicalEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TASK = "task"
    NOTE = "note"
    SOCIAL = "social"


class Direction(_CanonicalEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SurveyType(_CanonicalEnum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


class SpendCategory(_CanonicalEnum):
    ACQUISITION = "acquisition"
    RETENTION = "retention"
    SUPPORT = "support"




class CanonicalRecord(BaseModel):
    """Fields every canonical record has.  Subclasses add the entity's own fields."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, coerce_numbers_to_str=True)

    entity: ClassVar[str] = ""

    source: str = Field(min_length=1, description="The connection the record came from.")
    id: str = Field(min_length=1, description="The vendor's id for the record, as text.")
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None
    is_deleted: bool = False
    extra: Annotated[dict[str, Any], BeforeValidator(_parse_json_object)] = Field(
        default_factory=dict, description="Vendor fields with no canonical home."
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_means_absent(cls, data: Any) -> Any:
        """A blank or null value is an absent one: the field takes its default.  Text the
        store cannot hold is refused here, once per record for every field (cheaper than a
        validator per text field)."""
        if isinstance(data, dict):
            values = data.values()
            problem = unstorable_text(values)
            if problem is not None:
                raise ValueError(problem)
            if None in values or "" in values:
                return {key: value for key, value in data.items()
                        if value is not None and value != ""}
        return data


class IdentityFields(BaseModel):
    """What identity resolution compares, shared by accounts, contacts and leads.

    A mixin listed first among an entity's bases, before the class that declares the entity's
    own fields: pydantic orders fields from the last base to the first, so these come after
    the entity's own fields, as the store's columns, exports and templates have them.
    """

    phone: Text = None
    street: Text = None
    city: Text = None
    postal_code: Text = None
    country: Text = None
    linked_crm: Text = None
    linked_id: Text = None
    merged_into_id: Text = None


class _AccountFields(CanonicalRecord):
    entity: ClassVar[str] = "accounts"

    name: Text = None
    domain: Text = None
    industry: Text = None
    segment: Text = None
    owner_id: Text = None
    created_by_id: Text = None
    customer_since: UtcDatetime = None
    churned_at: UtcDatetime = None
    acquisition_channel: Text = None


class Account(IdentityFields, _AccountFields):
    # No docstring: it would become the description in ``crm-connect schema``'s JSON Schema.
    pass


class _ContactFields(CanonicalRecord):
    entity: ClassVar[str] = "contacts"

    account_id: Text = None
    email: Text = None
    first_name: Text = None
    last_name: Text = None
    lifecycle_stage: Text = None
    lead_source: Text = None
    owner_id: Text = None


class Contact(IdentityFields, _ContactFields):
    # No docstring: it would become the description in ``crm-connect schema``'s JSON Schema.
    pass


class _LeadFields(CanonicalRecord):
    entity: ClassVar[str] = "leads"

    email: Text = None
    first_name: Text = None
    last_name: Text = None
    company: Text = None
    lead_source: Text = None
    origin: LeadOrigin | None = None
    status: Text = None
    owner_id: Text = None
    converted_at: UtcDatetime = None
    converted_account_id: Text = None
    converted_contact_id: Text = None
    converted_deal_id: Text = None


class Lead(IdentityFields, _LeadFields):
    # No docstring: it would become the description in ``crm-connect schema``'s JSON Schema.
    pass


class Deal(CanonicalRecord):
    entity: ClassVar[str] = "deals"

    name: Text = None
    account_id: Text = None
    owner_id: Text = None
    pipeline: Text = None
    stage: Text = None
    amount: Money = None
    currency: Currency = None
    deal_type: DealType | None = None
    lead_source: Text = None
    campaign_id: Text = None
    closed_at: UtcDatetime = None
    is_closed: bool = False
    is_won: bool = False
    probability: Number = None


class Activity(CanonicalRecord):
    entity: ClassVar[str] = "activities"

    kind: ActivityKind
    direction: Direction | None = None
    subject: Text = None
    owner_id: Text = None
    account_id: Text = None
    contact_id: Text = None
    lead_id: Text = None
    deal_id: Text = None
    ticket_id: Text = None
    occurred_at: UtcDatetime = None
    completed: Flag = None
    completed_at: UtcDatetime = None
    duration_seconds: Count = None
    opened: Flag = None
    clicked: Flag = None


class Ticket(CanonicalRecord):
    entity: ClassVar[str] = "tickets"

    account_id: Text = None
    contact_id: Text = None
    owner_id: Text = None
    channel: Text = None
    priority: Text = None
    status: Text = None
    first_response_at: UtcDatetime = None
    resolved_at: UtcDatetime = None
    interactions_count: Count = None
    handle_time_seconds: Count = None


class Campaign(CanonicalRecord):
    entity: ClassVar[str] = "campaigns"

    name: Text = None
    channel: Text = None
    status: Text = None
    started_at: UtcDatetime = None
    ended_at: UtcDatetime = None
    budgeted_cost: Money = None
    actual_cost: Money = None
    currency: Currency = None


class SurveyResponse(CanonicalRecord):
    entity: ClassVar[str] = "survey_responses"

    survey_type: SurveyType
    score: RequiredNumber
    scale_min: RequiredNumber
    scale_max: RequiredNumber
    responded_at: UtcDatetime = None
    contact_id: Text = None
    account_id: Text = None
    comment: Text = None

    @field_validator("scale_max")
    @classmethod
    def _scale_is_a_range(cls, value: float, info: Any) -> float:
        low = info.data.get("scale_min")
        if low is not None and value <= low:
            raise ValueError(f"scale_max ({value}) must be greater than scale_min ({low})")
        return value


class User(CanonicalRecord):
    entity: ClassVar[str] = "users"

    name: Text = None
    email: Text = None
    role: Text = None
    is_active: bool = True
    last_login_at: UtcDatetime = None


class Contract(CanonicalRecord):
    entity: ClassVar[str] = "contracts"

    account_id: Text = None
    status: Text = None
    start_date: Date = None
    end_date: Date = None
    total_value: Money = None
    currency: Currency = None
    renewed: Flag = None
    renewal_of_id: Text = None


class Spend(CanonicalRecord):
    entity: ClassVar[str] = "spend"

    date: RequiredDate
    category: SpendCategory
    channel: Text = None
    amount: RequiredMoney
    currency: Currency = None
    campaign_id: Text = None


ENTITIES: dict[str, type[CanonicalRecord]] = {
    model.entity: model
    for model in (
        Account,
        Contact,
        Lead,
        Deal,
        Activity,
        Ticket,
        Campaign,
        SurveyResponse,
        User,
        Contract,
        Spend,
    )
}
"""Entity name (also the store's table name) to its model, in dependency order."""


def entity_model(entity: str) -> type[CanonicalRecord]:
    """The model of ``entity``; a :class:`KeyError` that lists the known entities otherwise."""
    try:
        return ENTITIES[entity]
    except KeyError:
        known = ", ".join(ENTITIES)
        raise KeyError(f"unknown entity {entity!r}; the canonical entities are: {known}") from None
