"""Which Salesforce object feeds which canonical entity, through which fields.

Each :class:`ObjectSpec` names a stream, its object and entity, the standard fields copied
as they are (``direct``: canonical field -> Salesforce field), the KPI inputs orgs keep in
custom fields (``custom``: canonical field -> default custom field, matching the sandbox org),
and the standard fields its mapping function reads to derive other canonical fields
(``inputs``).  A connection's ``mapping`` table overrides ``direct`` and ``custom`` per stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["KPI_INPUTS", "OBJECT_SPECS", "STREAM_KPIS", "ObjectSpec", "spec_for"]


@dataclass(frozen=True)
class ObjectSpec:
    stream: str
    sobject: str
    entity: str
    description: str
    direct: Mapping[str, str] = field(default_factory=dict)
    custom: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    relations: Mapping[str, str] = field(default_factory=dict)
    """canonical field -> relationship path (``UserRole.Name``), read when its lookup exists.

    A Salesforce field in ``direct``/``custom`` (and in a connection's ``mapping``) may name
    fallbacks, ``Custom__c|Standard`` (the first that is set wins), and scale a number,
    ``Minutes__c*60``; ``=text`` is a constant."""

    def default_mapping(self) -> dict[str, str]:
        return {**self.direct, **self.custom}


OBJECT_SPECS: tuple[ObjectSpec, ...] = (
    ObjectSpec(
        "users", "User", "users", "User: names, activity, last login",
        direct={"name": "Name", "email": "Email", "is_active": "IsActive",
                "last_login_at": "LastLoginDate"},
        relations={"role": "UserRole.Name"},
        inputs=("FirstName", "LastName"),
    ),
    ObjectSpec(
        "accounts", "Account", "accounts", "Account",
        direct={"name": "Name", "industry": "Industry", "owner_id": "OwnerId",
                "created_by_id": "CreatedById"},
        custom={"customer_since": "Customer_Since__c", "churned_at": "Churned_At__c",
                "segment": "Segment__c",
                "acquisition_channel": "Acquisition_Channel__c|AccountSource"},
        inputs=("Website",),
    ),
    ObjectSpec(
        "contacts", "Contact", "contacts", "Contact",
        direct={"account_id": "AccountId", "email": "Email", "first_name": "FirstName",
                "last_name": "LastName", "lead_source": "LeadSource", "owner_id": "OwnerId"},
    ),
    ObjectSpec(
        "leads", "Lead", "leads", "Lead, with conversion and origin",
        direct={"email": "Email", "company": "Company", "lead_source": "LeadSource",
                "status": "Status", "owner_id": "OwnerId",
                "converted_account_id": "ConvertedAccountId",
                "converted_contact_id": "ConvertedContactId",
                "converted_deal_id": "ConvertedOpportunityId"},
        custom={"origin": "Origin__c"},
        inputs=("IsConverted", "ConvertedDate"),
    ),
    ObjectSpec(
        "deals", "Opportunity", "deals", "Opportunity",
        direct={"name": "Name", "account_id": "AccountId", "owner_id": "OwnerId",
                "stage": "StageName", "amount": "Amount", "lead_source": "LeadSource",
                "campaign_id": "CampaignId", "probability": "Probability",
                "is_closed": "IsClosed", "is_won": "IsWon"},
        inputs=("Type", "CloseDate", "IsClosed", "CurrencyIsoCode"),
    ),
    ObjectSpec(
        "tasks", "Task", "activities", "Task: calls, emails, to-dos",
        direct={"subject": "Subject", "owner_id": "OwnerId", "account_id": "AccountId",
                "duration_seconds": "CallDurationInSeconds"},
        custom={"direction": "Direction__c", "opened": "Email_Opened__c",
                "clicked": "Email_Clicked__c"},
        inputs=("TaskSubtype", "Type", "CallType", "WhoId", "WhatId", "ActivityDate",
                "IsClosed", "Status", "CompletedDateTime"),
    ),
    ObjectSpec(
        "events", "Event", "activities", "Event: meetings and calls in the calendar",
        direct={"subject": "Subject", "owner_id": "OwnerId", "account_id": "AccountId"},
        custom={"direction": "Direction__c"},
        inputs=("Type", "EventSubtype", "WhoId", "WhatId", "StartDateTime", "ActivityDateTime",
                "EndDateTime", "DurationInMinutes"),
    ),
    ObjectSpec(
        "tickets", "Case", "tickets", "Case",
        direct={"account_id": "AccountId", "contact_id": "ContactId", "owner_id": "OwnerId",
                "channel": "Origin", "priority": "Priority", "status": "Status"},
        custom={"first_response_at": "First_Response_At__c",
                "interactions_count": "Interactions__c",
                "handle_time_seconds": "Handle_Time_Minutes__c*60"},
        inputs=("IsClosed", "ClosedDate"),
    ),
    ObjectSpec(
        "campaigns", "Campaign", "campaigns", "Campaign",
        direct={"name": "Name", "status": "Status", "budgeted_cost": "BudgetedCost",
                "actual_cost": "ActualCost"},
        custom={"channel": "Channel__c|Type"},
        inputs=("StartDate", "EndDate"),
    ),
    ObjectSpec(
        "campaign_spend", "Campaign", "spend",
        "Campaign ActualCost as spend, dated by StartDate",
        custom={"channel": "Channel__c|Type", "category": "Spend_Category__c"},
        inputs=("StartDate", "ActualCost"),
    ),
    ObjectSpec(
        "contracts", "Contract", "contracts", "Contract",
        direct={"account_id": "AccountId", "status": "Status", "start_date": "StartDate",
                "end_date": "EndDate"},
        custom={"total_value": "Total_Value__c", "renewed": "Renewed__c",
                "renewal_of_id": "Renewal_Of__c"},
    ),
    ObjectSpec(
        "survey_responses", "Survey_Response__c", "survey_responses",
        "NPS / CSAT / CES responses from a custom object",
        custom={"survey_type": "Type__c", "score": "Score__c",
                "scale_min": "Scale_Min__c", "scale_max": "Scale_Max__c",
                "responded_at": "Responded_At__c", "contact_id": "Contact__c",
                "account_id": "Account__c", "comment": "Comment__c"},
    ),
)

_BY_STREAM = {spec.stream: spec for spec in OBJECT_SPECS}


def spec_for(stream: str) -> ObjectSpec:
    try:
        return _BY_STREAM[stream]
    except KeyError:
        known = ", ".join(_BY_STREAM)
        raise KeyError(f"unknown Salesforce stream {stream!r} (known: {known})") from None


STREAM_KPIS: dict[str, tuple[str, ...]] = {
    "users": ("users_active_7d", "users_never_logged_in"),
    "accounts": ("new_customers", "active_customers", "customer_retention_rate",
                 "customer_churn_rate", "accounts_created"),
    "leads": ("leads_created", "lead_conversion_rate", "contact_rate"),
    "deals": ("win_rate", "revenue", "open_pipeline_value", "sales_cycle_length"),
    "tasks": ("contact_rate", "email_open_rate", "activities_completed"),
    "events": ("contact_rate", "activities_completed"),
    "tickets": ("first_response_time", "resolution_time", "first_contact_resolution_rate",
                "average_handling_time", "cost_per_interaction"),
    "campaigns": ("campaign_roi", "revenue_per_campaign"),
    "campaign_spend": ("customer_acquisition_cost", "cac_payback_months"),
    "contracts": ("renewal_rate", "average_contract_value"),
    "survey_responses": ("net_promoter_score", "csat", "customer_effort_score"),
}
"""KPIs that have no data at all when a stream's object is missing."""

KPI_INPUTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("accounts", "customer_since"): (
        "new_customers (falls back to the first won deal)", "customer_acquisition_cost",
        "marketing_originated_customers"),
    ("accounts", "churned_at"): ("customer_churn_rate", "customer_retention_rate",
                                 "active_customers", "customer_lifetime_value", "arpu"),
    ("accounts", "acquisition_channel"): ("customer_acquisition_cost by lead_source",),
    ("accounts", "segment"): ("the segment dimension",),
    ("leads", "origin"): ("marketing_originated_customers (falls back to LeadSource)",),
    ("campaigns", "channel"): ("the campaign channel dimension",),
    ("campaign_spend", "channel"): ("customer_acquisition_cost by lead_source",),
    ("campaign_spend", "category"): ("customer_retention_cost (every campaign cost counts as "
                                     "spend_category otherwise)",),
    ("tasks", "direction"): ("contact_rate (falls back to CallType / email subtype)",),
    ("tasks", "opened"): ("email_open_rate",),
    ("tasks", "clicked"): ("email_click_through_rate",),
    ("events", "direction"): ("contact_rate",),
    ("tickets", "first_response_at"): ("first_response_time",),
    ("tickets", "interactions_count"): ("first_contact_resolution_rate",
                                        "cost_per_interaction"),
    ("tickets", "handle_time_seconds"): ("average_handling_time",),
    ("contracts", "total_value"): ("average_contract_value",),
    ("contracts", "renewed"): ("renewal_rate",),
    ("contracts", "renewal_of_id"): ("renewal_rate",),
    ("survey_responses", "survey_type"): ("net_promoter_score", "csat", "customer_effort_score"),
    ("survey_responses", "score"): ("net_promoter_score", "csat", "customer_effort_score"),
    ("survey_responses", "scale_min"): ("csat", "customer_effort_score"),
    ("survey_responses", "scale_max"): ("csat", "customer_effort_score"),
}
"""KPIs left without data when a mapped field is missing from the org."""
