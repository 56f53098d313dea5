"""The canonical schema: one pydantic model per entity, one store table per model.

Every record carries ``source`` (the connection name), ``id`` (the vendor's id, as a string),
``created_at``, ``updated_at``, ``is_deleted`` and ``extra`` (vendor fields with no canonical
home, so nothing is thrown away).  Datetimes are timezone-aware UTC; money is ``Decimal`` with
a ``currency`` code.  Foreign keys (``account_id``, ``owner_id``, ...) point inside the same
source.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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
    "Lead",
    "LeadOrigin",
    "Spend",
    "SpendCategory",
    "SurveyResponse",
    "SurveyType",
    "Ticket",
    "User",
    "entity_model",
]

# Salesforce writes offsets without a colon (``2026-05-01T07:25:37.000+0000``).
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def _parse_datetime(value: Any) -> Any:
    """Accept ISO-8601 text in the vendors' spellings and make every datetime aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        else:
            text = _COMPACT_OFFSET.sub(r"\1:\2", text)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            return value  # let pydantic produce its own message
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # HubSpot and others send epoch milliseconds.
        seconds = value / 1000 if abs(value) > 10**11 else value
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


def _parse_date(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        parsed = _parse_datetime(value)
        if isinstance(parsed, dt.datetime):
            return parsed.date()
    return value


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _parse_bool(value: Any) -> Any:
    if value == "" or value is None:
        return None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "t", "yes", "y", "1"}:
            return True
        if lowered in {"false", "f", "no", "n", "0"}:
            return False
    return value


def _parse_json_object(value: Any) -> Any:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


UtcDatetime = Annotated[dt.datetime | None, BeforeValidator(_parse_datetime)]
"""A timezone-aware UTC datetime (or nothing); naive values are read as UTC."""
Date = Annotated[dt.date | None, BeforeValidator(_parse_date)]
Money = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]
Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
Flag = Annotated[bool | None, BeforeValidator(_parse_bool)]
Count = Annotated[int | None, BeforeValidator(_blank_to_none)]
Number = Annotated[float | None, BeforeValidator(_blank_to_none)]
Currency = Annotated[
    str | None, BeforeValidator(_blank_to_none), Field(pattern=r"^[A-Z]{3}$")
]
RequiredDate = Annotated[dt.date, BeforeValidator(_parse_date)]
RequiredMoney = Annotated[Decimal, BeforeValidator(_blank_to_none)]
RequiredNumber = Annotated[float, BeforeValidator(_blank_to_none)]


class LeadOrigin(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"
    PARTNER = "partner"
    OTHER = "other"


class DealType(StrEnum):
    NEW_BUSINESS = "new_business"
    UPSELL = "upsell"
    RENEWAL = "renewal"
    OTHER = "other"


class ActivityKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TASK = "task"
    NOTE = "note"
    SOCIAL = "social"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SurveyType(StrEnum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


class SpendCategory(StrEnum):
    ACQUISITION = "acquisition"
    RETENTION = "retention"
    SUPPORT = "support"


def _enum_or_none(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower()
    return value


class CanonicalRecord(BaseModel):
    """Fields every canonical record has.  Subclasses add the entity's own fields."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, frozen=False)

    entity: ClassVar[str] = ""

    source: str = Field(min_length=1, description="The connection the record came from.")
    id: str = Field(min_length=1, description="The vendor's id for the record, as text.")
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None
    is_deleted: Annotated[bool, BeforeValidator(_parse_bool)] = False
    extra: Annotated[dict[str, Any], BeforeValidator(_parse_json_object)] = Field(
        default_factory=dict, description="Vendor fields with no canonical home."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("is_deleted", mode="before")
    @classmethod
    def _deleted_default(cls, value: Any) -> Any:
        return False if value is None or value == "" else value


class Account(CanonicalRecord):
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


class Contact(CanonicalRecord):
    entity: ClassVar[str] = "contacts"

    account_id: Text = None
    email: Text = None
    first_name: Text = None
    last_name: Text = None
    lifecycle_stage: Text = None
    lead_source: Text = None
    owner_id: Text = None


class Lead(CanonicalRecord):
    entity: ClassVar[str] = "leads"

    email: Text = None
    company: Text = None
    lead_source: Text = None
    origin: Annotated[LeadOrigin | None, BeforeValidator(_enum_or_none)] = None
    status: Text = None
    owner_id: Text = None
    converted_at: UtcDatetime = None
    converted_account_id: Text = None
    converted_contact_id: Text = None
    converted_deal_id: Text = None


class Deal(CanonicalRecord):
    entity: ClassVar[str] = "deals"

    name: Text = None
    account_id: Text = None
    owner_id: Text = None
    pipeline: Text = None
    stage: Text = None
    amount: Money = None
    currency: Currency = None
    deal_type: Annotated[DealType | None, BeforeValidator(_enum_or_none)] = None
    lead_source: Text = None
    campaign_id: Text = None
    closed_at: UtcDatetime = None
    is_closed: Annotated[bool, BeforeValidator(_parse_bool)] = False
    is_won: Annotated[bool, BeforeValidator(_parse_bool)] = False
    probability: Number = None

    @field_validator("is_closed", "is_won", mode="before")
    @classmethod
    def _flag_default(cls, value: Any) -> Any:
        return False if value is None or value == "" else value


class Activity(CanonicalRecord):
    entity: ClassVar[str] = "activities"

    kind: Annotated[ActivityKind, BeforeValidator(_enum_or_none)]
    direction: Annotated[Direction | None, BeforeValidator(_enum_or_none)] = None
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

    survey_type: Annotated[SurveyType, BeforeValidator(_enum_or_none)]
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
    is_active: Annotated[bool, BeforeValidator(_parse_bool)] = True
    last_login_at: UtcDatetime = None

    @field_validator("is_active", mode="before")
    @classmethod
    def _active_default(cls, value: Any) -> Any:
        return True if value is None or value == "" else value


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
    category: Annotated[SpendCategory, BeforeValidator(_enum_or_none)]
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
