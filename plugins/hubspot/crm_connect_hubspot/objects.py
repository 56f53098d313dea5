"""Which HubSpot object feeds which canonical entity, through which properties.

Each :class:`ObjectSpec` names a stream, the CRM object type it reads, the canonical entity it
feeds, the property the search API orders it by (``hs_lastmodifieddate``; contacts have
``lastmodifieddate``), its default field map (canonical field -> HubSpot property, in the
field-map language: ``a|b`` the first that is set, ``name*60`` scaled, ``=text`` a constant), the
further properties its mapping reads to derive fields (``inputs``), and the objects whose ids
it needs through the v4 associations API (``associations``).

A connection's ``mapping`` table overrides the field map per stream, which is how a portal's
custom properties (``churn_date``, ``segment__c``...) feed the KPIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from crm_connect.mapping import parse_source

__all__ = ["ENGAGEMENT_STREAMS", "OBJECT_SPECS", "ObjectSpec", "spec_for"]


@dataclass(frozen=True)
class ObjectSpec:
    stream: str
    object_type: str
    """The CRM object type in API paths (``companies``, ``feedback_submissions``); ``owners``
    and ``campaigns`` have APIs of their own."""
    entity: str
    description: str
    fields: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    associations: tuple[str, ...] = ()
    cursor: str = "hs_lastmodifieddate"
    searchable: bool = True
    """Read incrementally through the CRM search API (owners and campaigns are not)."""
    archivable: bool = True
    """The object keeps archived (deleted) records that ``archived=true`` lists."""
    optional: bool = False
    """Not every portal has it (a hub it belongs to): a 403 or 404 reads no records."""
    merged_ids: str = ""
    """The property where a record lists the ids merged into it (``;``-separated): each of
    those ids is stored as deleted, ``merged_into_id`` naming this record."""

    def properties(self, fieldmap: Mapping[str, str]) -> list[str]:
        """Every property a read of this stream asks for, given its effective field map."""
        wanted: list[str] = ["hs_object_id", self.cursor, *self.inputs]
        if self.merged_ids:
            wanted.append(self.merged_ids)
        for source in fieldmap.values():
            if not source.startswith("="):
                wanted += [name for name, _ in parse_source(source) if name]
        return list(dict.fromkeys(wanted))


_LIFECYCLE_DATES = (
    "hs_lifecyclestage_lead_date", "hs_lifecyclestage_marketingqualifiedlead_date",
    "hs_lifecyclestage_salesqualifiedlead_date", "hs_lifecyclestage_opportunity_date",
    "hs_lifecyclestage_customer_date", "hs_lifecyclestage_evangelist_date",
    "hs_v2_date_entered_customer", "hs_v2_date_entered_opportunity",
)

_CUSTOMER_SINCE = "hs_v2_date_entered_customer|hs_lifecyclestage_customer_date"
"""When a company (or contact) became a customer: the lifecycle stage's entry date."""
_CONVERTED_AT = ("hs_v2_date_entered_opportunity|hs_lifecyclestage_opportunity_date|"
                 + _CUSTOMER_SINCE)
"""A lead converts when it reaches the opportunity stage (or becomes a customer directly)."""

_ADDRESS = {"phone": "phone", "street": "address", "city": "city", "postal_code": "zip",
            "country": "country"}
"""Where companies and contacts keep what identity resolution compares."""
_MERGED = "hs_merged_object_ids"
"""Where HubSpot lists, on the record a merge kept, the ids of the records merged into it
(those ids stop existing: reading one answers the record kept)."""
_ENGAGEMENT_LINKS = ("contacts", "companies", "deals", "tickets")

OBJECT_SPECS: tuple[ObjectSpec, ...] = (
    ObjectSpec(
        "users", "owners", "users", "Owners: the portal's users that own records",
        searchable=False, cursor="updatedAt",
    ),
    ObjectSpec(
        "accounts", "companies", "accounts", "Companies, customer since from lifecycle dates",
        fields={"name": "name", "domain": "domain", "industry": "industry",
                "owner_id": "hubspot_owner_id", "created_by_id": "hs_created_by_user_id",
                "acquisition_channel": "hs_analytics_source",
                "customer_since": _CUSTOMER_SINCE, **_ADDRESS,
                "linked_id": "salesforceaccountid"},
        inputs=("createdate", "website", "lifecyclestage", *_LIFECYCLE_DATES),
        merged_ids=_MERGED,
    ),
    ObjectSpec(
        "contacts", "contacts", "contacts", "Contacts", cursor="lastmodifieddate",
        fields={"email": "email", "first_name": "firstname", "last_name": "lastname",
                "lifecycle_stage": "lifecyclestage", "lead_source": "hs_analytics_source",
                "owner_id": "hubspot_owner_id", **_ADDRESS, "linked_id": "salesforcecontactid"},
        inputs=("createdate", "associatedcompanyid"),
        associations=("companies",), merged_ids=_MERGED,
    ),
    ObjectSpec(
        "leads", "contacts", "leads",
        "Contacts as leads: conversion from lifecycle dates, origin from the original source",
        cursor="lastmodifieddate",
        fields={"email": "email", "first_name": "firstname", "last_name": "lastname",
                "company": "company", **_ADDRESS, "linked_id": "salesforceleadid",
                "lead_source": "hs_analytics_source",
                "status": "hs_lead_status", "owner_id": "hubspot_owner_id",
                "converted_at": _CONVERTED_AT},
        inputs=("createdate", "lifecyclestage", "associatedcompanyid", *_LIFECYCLE_DATES),
        associations=("companies", "deals"), merged_ids=_MERGED,
    ),
    ObjectSpec(
        "deals", "deals", "deals", "Deals, won/lost from the pipelines' stage metadata",
        fields={"name": "dealname", "owner_id": "hubspot_owner_id", "pipeline": "pipeline",
                "stage": "dealstage", "amount": "amount", "currency": "deal_currency_code",
                "lead_source": "hs_analytics_source", "campaign_id": "hs_campaign"},
        inputs=("createdate", "closedate", "dealtype", "hs_deal_stage_probability",
                "hs_is_closed", "hs_is_closed_won"),
        associations=("companies",),
    ),
    ObjectSpec(
        "calls", "calls", "activities", "Calls",
        fields={"subject": "hs_call_title", "owner_id": "hubspot_owner_id"},
        inputs=("hs_timestamp", "hs_createdate", "hs_call_direction", "hs_call_duration",
                "hs_call_status"),
        associations=_ENGAGEMENT_LINKS,
    ),
    ObjectSpec(
        "emails", "emails", "activities", "Emails, with opens and clicks where tracked",
        fields={"subject": "hs_email_subject", "owner_id": "hubspot_owner_id"},
        inputs=("hs_timestamp", "hs_createdate", "hs_email_direction", "hs_email_status",
                "hs_email_open_count", "hs_email_click_count"),
        associations=_ENGAGEMENT_LINKS,
    ),
    ObjectSpec(
        "meetings", "meetings", "activities", "Meetings",
        fields={"subject": "hs_meeting_title", "owner_id": "hubspot_owner_id"},
        inputs=("hs_timestamp", "hs_createdate", "hs_meeting_start_time",
                "hs_meeting_end_time", "hs_meeting_outcome", "hs_meeting_source"),
        associations=_ENGAGEMENT_LINKS,
    ),
    ObjectSpec(
        "notes", "notes", "activities", "Notes",
        fields={"owner_id": "hubspot_owner_id"},
        inputs=("hs_timestamp", "hs_createdate", "hs_note_body"),
        associations=_ENGAGEMENT_LINKS,
    ),
    ObjectSpec(
        "tasks", "tasks", "activities", "Tasks",
        fields={"subject": "hs_task_subject", "owner_id": "hubspot_owner_id"},
        inputs=("hs_timestamp", "hs_createdate", "hs_task_status", "hs_task_type",
                "hs_task_completion_date"),
        associations=_ENGAGEMENT_LINKS,
    ),
    ObjectSpec(
        "tickets", "tickets", "tickets", "Tickets, first response and close times",
        fields={"owner_id": "hubspot_owner_id", "channel": "source_type",
                "priority": "hs_ticket_priority", "status": "hs_pipeline_stage",
                "first_response_at": "first_agent_reply_date",
                "resolved_at": "closed_date",
                "interactions_count": "num_notes"},
        inputs=("createdate", "subject", "hs_pipeline"),
        associations=("companies", "contacts"),
    ),
    ObjectSpec(
        "survey_responses", "feedback_submissions", "survey_responses",
        "Feedback submissions: NPS, CSAT and CES responses with their scales",
        fields={"survey_type": "hs_survey_type", "score": "hs_response_value",
                "comment": "hs_content", "responded_at": "hs_submission_timestamp"},
        inputs=("hs_createdate", "hs_survey_name", "hs_contact_id"),
        associations=("contacts", "companies"), optional=True,
    ),
    ObjectSpec(
        "campaigns", "campaigns", "campaigns", "Marketing campaigns (where the portal has them)",
        fields={"name": "hs_name", "status": "hs_campaign_status",
                "started_at": "hs_start_date", "ended_at": "hs_end_date",
                "budgeted_cost": "hs_budget_items_sum_amount",
                "actual_cost": "hs_spend_items_sum_amount", "currency": "hs_currency_code",
                "channel": "hs_campaign_type"},
        searchable=False, archivable=False, cursor="updatedAt", optional=True,
    ),
    ObjectSpec(
        "campaign_spend", "campaigns", "spend",
        "Marketing campaigns' spend items as spend, dated by the campaign's start",
        fields={"amount": "hs_spend_items_sum_amount", "currency": "hs_currency_code",
                "channel": "hs_campaign_type", "date": "hs_start_date"},
        searchable=False, archivable=False, cursor="updatedAt", optional=True,
    ),
)

ENGAGEMENT_STREAMS = frozenset({"calls", "emails", "meetings", "notes", "tasks"})

_BY_STREAM = {spec.stream: spec for spec in OBJECT_SPECS}


def spec_for(stream: str) -> ObjectSpec:
    try:
        return _BY_STREAM[stream]
    except KeyError:
        known = ", ".join(_BY_STREAM)
        raise KeyError(f"unknown HubSpot stream {stream!r} (known: {known})") from None
