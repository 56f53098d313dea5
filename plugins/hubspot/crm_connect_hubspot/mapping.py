"""HubSpot records as canonical records: pure functions, one per stream kind.

Every property arrives as text.  :meth:`MappingContext.read` reads a canonical field from the
stream's field map and parses it into the field's canonical type; a value that is present but
does not parse raises :class:`~crm_connect_hubspot.values.UnreadableValue`, and
:func:`map_object` turns it into a :class:`~crm_connect.connector.Rejected` with the reason,
so it lands in the quarantine instead of the store.  Properties the map does not consume go to
``extra``: nothing is thrown away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from crm_connect.connector import Rejected
from crm_connect.mapping import DEFAULT_DEAL_TYPES as CORE_DEAL_TYPES
from crm_connect.mapping import DEFAULT_LEAD_ORIGINS as CORE_LEAD_ORIGINS
from crm_connect.mapping import (
    SURVEY_SCALES,
    FieldMap,
    deal_type,
    lead_origin,
    parse_source,
    survey_type,
)
from crm_connect.schema import DealType, LeadOrigin, SurveyType
from crm_connect_hubspot.engagements import derive_activity
from crm_connect_hubspot.objects import ObjectSpec
from crm_connect_hubspot.records import HubSpotObject, Pipelines
from crm_connect_hubspot.values import (
    UnreadableValue,
    is_blank,
    read_bool,
    read_datetime,
    read_decimal,
    read_float,
    read_int,
    read_text,
)

__all__ = [
    "DEFAULT_DEAL_TYPES",
    "DEFAULT_LEAD_ORIGINS",
    "DEFAULT_SURVEY_SCALES",
    "MappingContext",
    "map_object",
    "map_objects",
]

DEFAULT_DEAL_TYPES: dict[str, DealType] = {
    **CORE_DEAL_TYPES,
    "newbusiness": DealType.NEW_BUSINESS,
    "existingbusiness": DealType.UPSELL,
    "existing business": DealType.UPSELL,
}
"""The core's deal type words and HubSpot's two ``dealtype`` values (``newbusiness``,
``existingbusiness``); a connection's ``deal_types`` adds its own."""

DEFAULT_LEAD_ORIGINS: dict[str, LeadOrigin] = {
    **CORE_LEAD_ORIGINS,
    **{source: LeadOrigin.MARKETING for source in (
        "organic_search", "paid_search", "email_marketing", "social_media", "paid_social",
        "other_campaigns", "direct_traffic", "referrals", "ai_referrals")},
    "offline": LeadOrigin.SALES,
}
"""The core's lead source words and HubSpot's original traffic sources
(``hs_analytics_source``): the web and campaign sources are marketing; ``OFFLINE`` (imports,
the CRM's own forms, integrations) is what sales put in."""

DEFAULT_SURVEY_SCALES: dict[SurveyType, tuple[float, float]] = dict(SURVEY_SCALES)

_DATETIMES = frozenset({
    "created_at", "updated_at", "customer_since", "churned_at", "converted_at", "closed_at",
    "occurred_at", "completed_at", "first_response_at", "resolved_at", "started_at",
    "ended_at", "responded_at", "last_login_at"})
_MONEY = frozenset({"amount", "budgeted_cost", "actual_cost", "total_value"})
_COUNTS = frozenset({"duration_seconds", "interactions_count", "handle_time_seconds"})
_NUMBERS = frozenset({"probability", "score", "scale_min", "scale_max"})
_FLAGS = frozenset({"is_closed", "is_won", "completed", "opened", "clicked", "is_active",
                    "renewed"})
_DATES = frozenset({"date", "start_date", "end_date"})


def _typed(canonical: str, prop: str, value: Any, scaled: bool) -> Any:
    """``value`` of ``prop`` as the type of ``canonical`` (``scaled``: the map multiplied it,
    so a count is rounded to a whole number)."""
    if canonical in _DATETIMES or canonical in _DATES:
        stamp = read_datetime(prop, value)
        if stamp is not None and canonical in _DATES:
            return stamp.date()
        return stamp
    if canonical in _MONEY or canonical in _NUMBERS or canonical in _COUNTS:
        number = read_decimal(prop, value)
        if number is None:
            return None
        if canonical in _MONEY:
            return number
        if canonical in _COUNTS:
            return read_int(prop, number.quantize(Decimal(1)) if scaled else number)
        return float(number)
    if canonical in _FLAGS:
        return read_bool(prop, value)
    return read_text(value)


@dataclass
class MappingContext:
    """What mapping one stream's records needs: its field map and the portal's metadata."""

    spec: ObjectSpec
    fieldmap: dict[str, str]
    """canonical field -> source (field-map language), the defaults with the connection's
    ``mapping`` applied; unmapped fields are absent."""
    pipelines: Pipelines = field(default_factory=Pipelines)
    currency: str | None = None
    """The portal's company currency, for amounts without a currency property."""
    deal_types: Mapping[str, DealType] = field(default_factory=lambda: DEFAULT_DEAL_TYPES)
    lead_origins: Mapping[str, LeadOrigin] = field(
        default_factory=lambda: DEFAULT_LEAD_ORIGINS)
    survey_scales: Mapping[SurveyType, tuple[float, float]] = field(
        default_factory=lambda: DEFAULT_SURVEY_SCALES)
    spend_category: str = "acquisition"
    keep_extra: bool = True

    def __post_init__(self) -> None:
        self.deal_types = {key.strip().lower(): DealType(value)
                           for key, value in self.deal_types.items()}
        self.lead_origins = {key.strip().lower(): LeadOrigin(value)
                             for key, value in self.lead_origins.items()}
        self.values = FieldMap(self.fieldmap)
        self.consumed = {"hs_object_id", self.spec.cursor, *self.spec.inputs,
                         *self.values.vendor_fields, *filter(None, [self.spec.merged_ids])}
        self._scaled = {canonical for canonical, text in self.fieldmap.items()
                        if not text.startswith("=")
                        and any(factor is not None for _, factor in parse_source(text))}

    def read(self, obj: HubSpotObject, canonical: str) -> Any:
        """The canonical field's value from the record's properties (the kit's field map:
        fallbacks, scaling, constants), typed."""
        value = self.values.value(obj.properties, canonical)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _typed(canonical, self.fieldmap[canonical], value,
                      canonical in self._scaled)


MapFunction = Callable[[HubSpotObject, dict[str, Any], MappingContext], "bool | None"]


def map_object(obj: HubSpotObject, ctx: MappingContext) -> dict[str, Any] | Rejected | None:
    """One record as a canonical dictionary; a :class:`Rejected` with the reason when a value
    does not parse; ``None`` when the record is not one of this entity's (a custom survey)."""
    try:
        record: dict[str, Any] = {
            "id": obj.id,
            "created_at": read_datetime("createdAt", obj.created_at)
            or read_datetime("createdate", obj.properties.get("createdate")),
            "updated_at": read_datetime("updatedAt", obj.updated_at)
            or read_datetime(ctx.spec.cursor, obj.properties.get(ctx.spec.cursor)),
            "is_deleted": obj.archived,
        }
        for canonical in ctx.fieldmap:
            record[canonical] = ctx.read(obj, canonical)
        derive = _DERIVE.get(ctx.spec.entity)
        if derive is not None and derive(obj, record, ctx) is False:
            return None
    except UnreadableValue as exc:
        return Rejected(f"{ctx.spec.stream} {obj.id}: {exc}", obj.as_raw(),
                        f"{ctx.spec.object_type}/{obj.id}")
    if ctx.keep_extra:
        extra = {key: value for key, value in obj.properties.items()
                 if key not in ctx.consumed and not is_blank(value)}
        extra.update(obj.extra)
        if obj.archived_at:
            extra["archivedAt"] = obj.archived_at
        if extra:
            record["extra"] = extra
    return record


def map_objects(objects: Iterable[HubSpotObject], ctx: MappingContext
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Rejected]]:
    """Map a page: (records, the raw records they came from, the rejected ones)."""
    records: list[dict[str, Any]] = []
    raws: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for obj in objects:
        result = map_object(obj, ctx)
        if isinstance(result, Rejected):
            rejected.append(result)
        elif result is not None:
            records.append(result)
            raws.append(obj.as_raw())
            for merged in _merged_away(obj, result, ctx):
                records.append(merged)
                raws.append({"id": merged["id"], "mergedInto": obj.id})
    return records, raws, rejected


def _merged_away(obj: HubSpotObject, record: Mapping[str, Any], ctx: MappingContext
                 ) -> list[dict[str, Any]]:
    """The records merged into ``obj``: HubSpot keeps only their ids (the record kept lists
    them), so each is stored as deleted with ``merged_into_id``, stamped like the record kept;
    what else the store held for it is not known any more."""
    if not ctx.spec.merged_ids or obj.archived:
        return []
    text = read_text(obj.properties.get(ctx.spec.merged_ids)) or ""
    ids = dict.fromkeys(part.strip() for part in text.split(";"))
    return [{"id": merged, "is_deleted": True, "merged_into_id": obj.id,
             "updated_at": record.get("updated_at")}
            for merged in ids if merged and merged != obj.id]


# -- entity rules -------------------------------------------------------------------------------


def _domain(website: str) -> str | None:
    text = website.strip()
    if "://" not in text:
        text = "http://" + text
    host = (urlsplit(text).hostname or "").lower().removeprefix("www.")
    return host or None


def _linked(record: dict[str, Any]) -> None:
    """A Salesforce id written by the HubSpot-Salesforce integration names its CRM."""
    if record.get("linked_id"):
        record["linked_crm"] = "salesforce"


def _account(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    _linked(record)
    website = read_text(obj.properties.get("website"))
    if not record.get("domain") and website:
        record["domain"] = _domain(website)
    elif record.get("domain"):
        record["domain"] = str(record["domain"]).lower()


def _contact(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    _linked(record)
    record["account_id"] = record.get("account_id") or obj.link("companies") or read_text(
        obj.properties.get("associatedcompanyid"))
    if record.get("email"):
        record["email"] = str(record["email"]).lower()


def _origin(record: dict[str, Any], ctx: MappingContext) -> str | None:
    return lead_origin(record.get("origin"), record.get("lead_source"), ctx.lead_origins)


def _lead(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    _linked(record)
    record["origin"] = _origin(record, ctx)
    if record.get("email"):
        record["email"] = str(record["email"]).lower()
    if record.get("converted_at") is None:
        for name in ("converted_account_id", "converted_contact_id", "converted_deal_id"):
            record[name] = None
        return
    record["converted_contact_id"] = record.get("converted_contact_id") or obj.id
    record["converted_account_id"] = (record.get("converted_account_id")
                                      or obj.link("companies")
                                      or read_text(obj.properties.get("associatedcompanyid")))
    record["converted_deal_id"] = record.get("converted_deal_id") or obj.link("deals")


def _deal(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    props = obj.properties
    stage_id = read_text(props.get("dealstage"))
    stage = ctx.pipelines.stages.get(stage_id) if stage_id else None
    if stage is not None and stage.is_closed is not None:
        closed = stage.is_closed
        won = closed and stage.probability is not None and stage.probability >= 1.0
    elif not is_blank(props.get("hs_is_closed")):
        # HubSpot's own reading of the same stage metadata, for a stage the pipelines
        # request did not list (a pipeline archived since)
        closed = bool(read_bool("hs_is_closed", props.get("hs_is_closed")))
        won = closed and bool(read_bool("hs_is_closed_won", props.get("hs_is_closed_won")))
    elif stage_id is None:
        closed = won = False
    else:
        raise UnreadableValue("dealstage", stage_id, "a stage of the portal's deal pipelines "
                              "(its won/lost meaning is unknown)")
    record["is_closed"], record["is_won"] = closed, won
    probability = read_float("hs_deal_stage_probability", props.get("hs_deal_stage_probability"))
    if probability is None and stage is not None:
        probability = stage.probability
    record["probability"] = round(probability * 100, 6) if probability is not None else None
    if stage is not None:
        record["stage"] = stage.label
        record["pipeline"] = stage.pipeline_label
    elif record.get("pipeline") in ctx.pipelines.labels:
        record["pipeline"] = ctx.pipelines.labels[str(record["pipeline"])]
    record["closed_at"] = read_datetime("closedate", props.get("closedate")) if closed else None
    kind = read_text(props.get("dealtype"))
    if kind is not None:
        record["deal_type"] = deal_type(kind, ctx.deal_types)
    record["account_id"] = record.get("account_id") or obj.link("companies")
    if record.get("currency"):
        record["currency"] = str(record["currency"]).upper()
    elif record.get("amount") is not None:
        record["currency"] = ctx.currency


def _ticket(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    record["account_id"] = record.get("account_id") or obj.link("companies")
    record["contact_id"] = record.get("contact_id") or obj.link("contacts")
    stage_id = read_text(obj.properties.get("hs_pipeline_stage"))
    stage = ctx.pipelines.stages.get(stage_id) if stage_id else None
    if stage is not None:
        record["status"] = stage.label
        if stage.is_closed is False:
            record["resolved_at"] = None  # reopened: closed_date may linger


def _survey(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> bool:
    word = survey_type(read_text(record.get("survey_type")))
    kind = SurveyType(word) if word is not None and word in SurveyType._value2member_map_ \
        else None
    if kind is None:
        return False  # a custom survey: not an NPS, CSAT or CES response
    record["survey_type"] = kind.value
    low, high = ctx.survey_scales.get(kind, DEFAULT_SURVEY_SCALES[kind])
    if record.get("scale_min") is None:
        record["scale_min"] = low
    if record.get("scale_max") is None:
        record["scale_max"] = high
    score = record.get("score")
    if score is None:
        raise UnreadableValue("hs_response_value", None, f"a {kind.value} score")
    if not record["scale_min"] <= score <= record["scale_max"]:
        raise UnreadableValue("hs_response_value", obj.properties.get("hs_response_value"),
                              f"a {kind.value} score on its scale {record['scale_min']:g}.."
                              f"{record['scale_max']:g}")
    if record.get("responded_at") is None:
        record["responded_at"] = read_datetime("hs_createdate",
                                               obj.properties.get("hs_createdate")) \
            or record.get("created_at")
    record["contact_id"] = record.get("contact_id") or obj.link("contacts") or read_text(
        obj.properties.get("hs_contact_id"))
    record["account_id"] = record.get("account_id") or obj.link("companies")
    return True


def _user(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    props = obj.properties
    if not record.get("name"):
        parts = [read_text(props.get("firstName")), read_text(props.get("lastName"))]
        record["name"] = " ".join(part for part in parts if part) or None
    if not record.get("email"):
        record["email"] = read_text(props.get("email"))
    record["is_active"] = not obj.archived


def _campaign(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    if record.get("currency"):
        record["currency"] = str(record["currency"]).upper()
    elif record.get("budgeted_cost") is not None or record.get("actual_cost") is not None:
        record["currency"] = ctx.currency


def _spend(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> bool:
    """A campaign's spend as one spend row dated by its start; none without both."""
    if record.get("date") is None or record.get("amount") is None:
        return False
    record["category"] = str(record.get("category") or ctx.spend_category).lower()
    record["campaign_id"] = obj.id
    _campaign(obj, record, ctx)
    if not record.get("currency"):
        record["currency"] = ctx.currency
    return True


def _activity(obj: HubSpotObject, record: dict[str, Any], ctx: MappingContext) -> None:
    derive_activity(obj, record, ctx.spec.stream)


_DERIVE: dict[str, MapFunction] = {
    "accounts": _account,
    "contacts": _contact,
    "leads": _lead,
    "deals": _deal,
    "tickets": _ticket,
    "survey_responses": _survey,
    "users": _user,
    "campaigns": _campaign,
    "spend": _spend,
    "activities": _activity,
}
