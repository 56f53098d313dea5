"""Which Salesforce object feeds which canonical entity, through which fields.

Each :class:`ObjectSpec` names a stream, its object and entity, the standard fields copied
as they are (``direct``: canonical field -> Salesforce field), the KPI inputs orgs keep in
custom fields (``custom``: canonical field -> default custom field, matching the sandbox org),
and the standard fields its mapping function reads to derive other canonical fields
(``inputs``).  A connection's ``mapping`` table overrides ``direct`` and ``custom`` per stream.
Which KPIs a stream or a field feeds is not listed here: the core derives it from the KPI
registry (:func:`crm_connect.metrics.kpis_fed_by`, :func:`crm_connect.metrics.kpis_reading`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["OBJECT_SPECS", "ObjectSpec", "spec_for"]


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

    A Salesforce field in ``direct``/``custom`` (and in a connection's ``mapping``) is written
    in the core's field-map language (:mod:`crm_connect.mapping`): fallbacks,
    ``Custom__c|Standard`` (the first that is set wins), a scaled number, ``Minutes__c*60``;
    ``=text`` is a constant."""

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
                "created_by_id": "CreatedById", "phone": "Phone", "street": "BillingStreet",
                "city": "BillingCity", "postal_code": "BillingPostalCode",
                "country": "BillingCountry", "merged_into_id": "MasterRecordId"},
        custom={"customer_since": "Customer_Since__c", "churned_at": "Churned_At__c",
                "segment": "Segment__c",
                "acquisition_channel": "Acquisition_Channel__c|AccountSource"},
        inputs=("Website",),
    ),
    ObjectSpec(
        "contacts", "Contact", "contacts", "Contact",
        direct={"account_id": "AccountId", "email": "Email", "first_name": "FirstName",
                "last_name": "LastName", "lead_source": "LeadSource", "owner_id": "OwnerId",
                "phone": "Phone", "street": "MailingStreet", "city": "MailingCity",
                "postal_code": "MailingPostalCode", "country": "MailingCountry",
                "merged_into_id": "MasterRecordId"},
    ),
    ObjectSpec(
        "leads", "Lead", "leads", "Lead, with conversion and origin",
        direct={"email": "Email", "first_name": "FirstName", "last_name": "LastName",
                "company": "Company", "phone": "Phone", "street": "Street", "city": "City",
                "postal_code": "PostalCode", "country": "Country", "lead_source": "LeadSource",
                "status": "Status", "owner_id": "OwnerId",
                "converted_account_id": "ConvertedAccountId",
                "converted_contact_id": "ConvertedContactId",
                "converted_deal_id": "ConvertedOpportunityId",
                "merged_into_id": "MasterRecordId"},
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
