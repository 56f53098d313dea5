"""Real Salesforce payloads (REST query pages, describes, Bulk CSV, error bodies) mapped to
canonical records, checked field by field and validated by the core's own page validation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from crm_connect_salesforce.bulk import parse_csv
from crm_connect_salesforce.client import error_code
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.mapping import flatten, normalise, parse_sf_datetime
from crm_connect_salesforce.objects import spec_for
from crm_connect_salesforce.plan import ReadPlan
from crm_connect_salesforce.soql import select_query
from sf_support import reference
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from crm_connect.incremental import CursorProgress, Window, checkpoint_state
from crm_connect.metrics import kpis_reading
from crm_connect.schema import Account, Activity, Deal, Lead, Ticket, User
from crm_connect.sync import validate_page

UTC = dt.UTC


def plan_for(connector: SalesforceConnector, stream: str, describe: str) -> ReadPlan:
    return connector.plan(spec_for(stream), reference(describe))


def rows_of(payload: dict[str, Any], plan: ReadPlan) -> list[dict[str, Any]]:
    return [normalise(flatten(record), plan.types) for record in payload["records"]]


def validated(connector: SalesforceConnector, plan: ReadPlan, rows: list[dict[str, Any]]
              ) -> list[Any]:
    page = connector._page(plan, rows, None)
    for record in page.records:
        record["source"] = "sf"
    records, quarantined = validate_page(plan.spec.entity, "sf", plan.spec.stream, page)
    assert quarantined == []
    return records


def test_account_pages_with_next_records_url(make_connector: Callable[..., Any]) -> None:
    """The 2,000-record first page (nextRecordsUrl) and its 86-record last page."""
    connector = make_connector()
    plan = plan_for(connector, "accounts", "nango_describe_account.json")
    first = reference("nango_query_account_p1_nextRecordsUrl.json")
    last = reference("nango_query_account_p2_last.json")
    assert first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"] == "/services/data/v59.0/query/0r8xx5R2yF2gs3VASQ-2000"
    assert last["done"] is True and "nextRecordsUrl" not in last

    accounts = validated(connector, plan, rows_of(first, plan))
    accounts += validated(connector, plan, rows_of(last, plan))
    assert len(accounts) == first["totalSize"] == 2086
    assert len({account.id for account in accounts}) == 2086

    burlington = accounts[0]
    assert isinstance(burlington, Account)
    assert burlington.id == "001dM00003jU9GyQAK"
    assert burlington.name == "Burlington Textiles Corp of America"
    assert burlington.industry == "Apparel"
    assert burlington.domain == "burlington.com"
    assert burlington.created_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)
    assert burlington.updated_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)
    assert burlington.is_deleted is False
    assert burlington.owner_id is None and burlington.customer_since is None
    # what identity resolution compares has canonical fields; the rest stays in extra
    assert (burlington.phone, burlington.city, burlington.country) == (
        "(336) 222-7000", "Burlington", "USA")
    assert burlington.extra == {
        "AccountNumber": "CD656092", "Type": "Customer - Direct", "BillingState": "NC",
        "Website": "www.burlington.com", "SystemModstamp": "2026-05-01T07:25:37.000+00:00",
    }
    # explicit nulls carry nothing and are not kept
    blank = accounts[2000]  # the first record of the last page
    assert blank.name == "Test Account for Pagination 504 - 1778068604"
    assert blank.industry is None and blank.domain is None
    assert "AccountNumber" not in blank.extra and "attributes" not in blank.extra


def test_page_state_resumes_after_the_last_record(make_connector: Callable[..., Any]) -> None:
    """Page state is the last (SystemModstamp, Id) of the page; the resume query starts
    strictly after it, so the 2,000 boundary is neither skipped nor read twice."""
    connector = make_connector()
    plan = plan_for(connector, "accounts", "nango_describe_account.json")
    first = reference("nango_query_account_p1_nextRecordsUrl.json")
    # this recording was ordered by SystemModstamp alone; ours add Id as the tie-break
    rows = sorted(rows_of(first, plan), key=lambda row: (row["SystemModstamp"], row["Id"]))
    progress = CursorProgress()
    for row in rows:
        progress.advance(parse_sf_datetime(row["SystemModstamp"]), row["Id"])
    state = checkpoint_state(plan.cursor, progress)
    assert state == {"cursor_field": "SystemModstamp",
                     "cursor": "2026-05-06T11:56:44.000+00:00",
                     "last_id": rows[-1]["Id"], "complete": False}
    window = connector._first_window(state)
    soql = select_query("Account", ["Id"], plan.cursor, window)
    assert soql == (
        "SELECT Id FROM Account WHERE (SystemModstamp > 2026-05-06T11:56:44Z OR "
        "(SystemModstamp = 2026-05-06T11:56:44Z AND Id > '001dM00003kSQJuQAO')) "
        "ORDER BY SystemModstamp ASC, Id ASC")
    # a finished stream restarts inclusively (>=) at its cursor
    done = connector._first_window({**state, "complete": True})
    assert done == Window(dt.datetime(2026, 5, 6, 11, 56, 44, tzinfo=UTC))


def test_account_plan_from_describe(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "accounts", "nango_describe_account.json")
    assert plan.cursor == "SystemModstamp"
    assert plan.include_deleted is True
    assert plan.fields[:2] == ["Id", "SystemModstamp"]
    assert "BillingAddress" not in plan.fields  # compound fields cannot be queried by Bulk
    assert "SLAExpirationDate__c" in plan.fields  # every other field lands in extra
    assert plan.context.fieldmap["acquisition_channel"] == "AccountSource"
    # the sandbox's custom KPI fields are not in this real org: reported, not queried
    assert ("customer_since", "Customer_Since__c", False) in [
        (m.canonical, m.source, m.explicit) for m in plan.missing]
    assert "Customer_Since__c" not in plan.fields
    mapped = make_connector(extra_fields="mapped")
    narrow = plan_for(mapped, "accounts", "nango_describe_account.json")
    assert "SLAExpirationDate__c" not in narrow.fields
    assert "Website" in narrow.fields and "Name" in narrow.fields


def test_contacts(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "contacts", "cumulusci_describe_contact.json")
    contacts = validated(connector, plan, rows_of(reference("nango_query_contact.json"), plan))
    assert len(contacts) == 213
    rose = contacts[0]
    assert (rose.id, rose.first_name, rose.last_name, rose.email, rose.account_id) == (
        "003dM00001vWOXJQA4", "Rose", "Gonzalez", "rose@edge.com", "001dM00003jU9GxQAK")
    assert rose.created_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)
    assert rose.street == "313 Constitution Place\nAustin, TX 78767\nUSA"  # canonical now
    assert rose.extra["Title"] == "SVP, Procurement"


def test_leads_with_owner_relationship(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "leads", "cumulusci_describe_lead.json")
    leads = validated(connector, plan, rows_of(reference("nango2024_query_lead.json"), plan))
    assert len(leads) == 31
    lead = leads[0]
    assert isinstance(lead, Lead)
    assert lead.id == "00QDn00000BqtPnMAJ"
    assert lead.company == "Mock Company Example"
    assert lead.email == "john-10lt.doe@gmail.com"
    assert lead.owner_id == "005Dn000006yWySIAU"
    assert lead.updated_at == dt.datetime(2024, 10, 31, 3, 49, 13, tzinfo=UTC)
    assert lead.converted_at is None and lead.origin is None
    assert lead.extra["Owner.Name"] == "Mock Test"  # relationship object flattened
    assert lead.extra["Industry"] == "Tech"


def test_lead_conversion_and_origin(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "leads", "cumulusci_describe_lead.json")
    row = {"Id": "00Q000000000001AAA", "IsConverted": True, "ConvertedDate": "2026-04-02",
           "ConvertedAccountId": "001000000000001AAA", "ConvertedContactId": "003000000000001AAA",
           "ConvertedOpportunityId": "006000000000001AAA", "LeadSource": "Partner Referral",
           "CreatedDate": "2026-03-01T10:00:00.000+0000"}
    lead = validated(connector, plan, [normalise(row, plan.types)])[0]
    assert lead.converted_at == dt.datetime(2026, 4, 2, tzinfo=UTC)
    assert (lead.converted_account_id, lead.converted_contact_id, lead.converted_deal_id) == (
        "001000000000001AAA", "003000000000001AAA", "006000000000001AAA")
    assert lead.origin == "partner" and lead.lead_source == "Partner Referral"
    web = validated(connector, plan, [{"Id": "00Q2", "LeadSource": "Web"}])[0]
    assert web.origin == "marketing"
    odd = validated(connector, plan, [{"Id": "00Q3", "LeadSource": "Carrier pigeon"}])[0]
    assert odd.origin == "other"


def test_opportunities(make_connector: Callable[..., Any]) -> None:
    connector = make_connector(currency="EUR")
    plan = plan_for(connector, "deals", "cumulusci_describe_opportunity.json")
    deals = validated(connector, plan, rows_of(reference("nango_query_opportunity.json"), plan))
    assert len(deals) == 31
    first = deals[0]
    assert isinstance(first, Deal)
    assert (first.id, first.name, first.stage) == (
        "006dM00000Mw7VtQAJ", "Dickenson Mobile Generators", "Qualification")
    assert first.amount == Decimal("15000") and first.currency == "EUR"
    assert first.is_closed is False and first.closed_at is None  # an open deal's CloseDate
    assert first.extra["CloseDate"] == "2026-03-08"                # is only an expectation
    assert first.owner_id == "005dM00000aYf0qQAC"


def test_a_missing_amount_names_the_kpis_the_registry_computes_from_it(
        make_connector: Callable[..., Any]) -> None:
    """The KPIs left without data come from the KPI registry, not from a list in the plugin."""
    connector = make_connector(mapping={"deals": {"amount": "Net_Amount__c"}})
    plan = plan_for(connector, "deals", "cumulusci_describe_opportunity.json")
    [missing] = [item for item in plan.missing if item.canonical == "amount"]
    assert missing.explicit
    text = connector._missing_field(plan, missing)
    named = text.split("KPIs without data: ", 1)[1].split(". ", 1)[0].split(", ")
    assert named == kpis_reading("deals", "amount")
    assert "revenue" in named and "average_deal_size" in named and "win_rate" not in named
    assert text.startswith("deals: Opportunity.Net_Amount__c (mapped to deals.amount) does "
                           "not exist")


def test_opportunity_won_types_and_currency(make_connector: Callable[..., Any]) -> None:
    connector = make_connector(currency="EUR", deal_types={"Expansion Deal": "upsell"})
    plan = plan_for(connector, "deals", "cumulusci_describe_opportunity.json")
    base = {"IsClosed": True, "IsWon": True, "CloseDate": "2026-03-31", "Amount": 1200.5,
            "Probability": 100, "CampaignId": "701000000000001AAA", "LeadSource": "Web"}
    rows = [{"Id": f"006{kind}", "Type": kind, **base} for kind in (
        "New Customer", "Existing Customer - Upgrade", "Renewal",
        "Existing Customer - Downgrade", "Expansion Deal")]
    rows.append({"Id": "006lost", "IsClosed": True, "IsWon": False, "CloseDate": "2026-03-30",
                 "CurrencyIsoCode": "GBP"})
    deals = validated(connector, plan, [normalise(row, plan.types) for row in rows])
    assert [deal.deal_type for deal in deals] == [
        "new_business", "upsell", "renewal", "other", "upsell", None]
    won = deals[0]
    assert won.is_won and won.is_closed
    assert won.closed_at == dt.datetime(2026, 3, 31, tzinfo=UTC)
    assert won.amount == Decimal("1200.5") and won.probability == 100.0
    assert (won.campaign_id, won.lead_source) == ("701000000000001AAA", "Web")
    lost = deals[-1]
    assert lost.is_closed and not lost.is_won and lost.currency == "GBP"


def test_cases(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "tickets", "cumulusci_describe_case.json")
    tickets = validated(connector, plan, rows_of(reference("nango_query_case.json"), plan))
    assert len(tickets) == 26
    closed = tickets[0]
    assert isinstance(closed, Ticket)
    assert (closed.channel, closed.priority, closed.status) == ("Phone", "High", "Closed")
    assert closed.resolved_at == dt.datetime(2025, 3, 11, 18, 59, 51, tzinfo=UTC)
    assert closed.account_id == "001dM00003jU9H2QAK"
    assert closed.contact_id == "003dM00001vWOXaQAO"
    assert closed.extra["CaseNumber"] == "00001001"
    assert tickets[2].resolved_at is None  # open case


def test_cases_with_relationship_objects(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "tickets", "cumulusci_describe_case.json")
    payload = reference("nango2024_query_case_with_relationships.json")
    tickets = validated(connector, plan, rows_of(payload, plan))
    first = tickets[0]
    assert first.extra["Account.Name"] == "Green Energy Co."
    assert first.extra["Contact.Name"] == "Emily Johnson"
    assert first.status == "Waiting on Customer" and first.resolved_at is None


def test_users(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    describe = {"fields": [{"name": name, "type": kind} for name, kind in (
        ("Id", "id"), ("Username", "string"), ("Email", "email"), ("FirstName", "string"),
        ("LastName", "string"), ("Name", "string"), ("IsActive", "boolean"),
        ("ProfileId", "reference"), ("LastLoginDate", "datetime"),
        ("SystemModstamp", "datetime"))]}
    plan = connector.plan(spec_for("users"), describe)
    assert plan.include_deleted is False  # User has no IsDeleted: plain query
    users = validated(connector, plan, rows_of(reference("nango_query_user.json"), plan))
    assert len(users) == 8
    api = users[-1]
    assert isinstance(api, User)
    assert (api.name, api.email, api.is_active) == ("Nango API", "api@nango.dev", True)
    assert api.updated_at == dt.datetime(2026, 5, 6, 9, 49, 19, tzinfo=UTC)
    assert api.extra["Profile.Name"] == "System Administrator"


def test_task_describe_and_activity_rules(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "tasks", "nango2024_describe_task.json")
    assert plan.cursor == "SystemModstamp" and plan.include_deleted
    rows = [
        {"Id": "00T1", "TaskSubtype": "Call", "CallType": "Outbound", "WhoId": "00Q000000000001",
         "CallDurationInSeconds": 95, "IsClosed": True, "ActivityDate": "2026-04-01",
         "CreatedDate": "2026-04-01T09:00:00.000+0000"},
        {"Id": "00T2", "TaskSubtype": "Email", "WhoId": "003000000000001",
         "WhatId": "006000000000001", "IsClosed": True,
         "CompletedDateTime": "2026-04-02T10:30:00.000+0000"},
        {"Id": "00T3", "TaskSubtype": "Task", "Type": "Meeting", "WhatId": "001000000000009",
         "IsClosed": False, "ActivityDate": "2026-05-01"},
        {"Id": "00T4", "TaskSubtype": "LinkedIn", "WhatId": "500000000000001"},
    ]
    call, email, meeting, social = validated(
        connector, plan, [normalise(row, plan.types) for row in rows])
    assert isinstance(call, Activity)
    assert (call.kind, call.direction, call.lead_id, call.duration_seconds) == (
        "call", "outbound", "00Q000000000001", 95)
    assert call.completed is True and call.completed_at == dt.datetime(2026, 4, 1, tzinfo=UTC)
    assert (email.kind, email.direction, email.contact_id, email.deal_id) == (
        "email", "outbound", "003000000000001", "006000000000001")
    assert email.completed_at == dt.datetime(2026, 4, 2, 10, 30, tzinfo=UTC)
    assert (meeting.kind, meeting.completed, meeting.account_id) == (
        "meeting", False, "001000000000009")
    assert (social.kind, social.ticket_id) == ("social", "500000000000001")


def test_event_describe(make_connector: Callable[..., Any]) -> None:
    connector = make_connector()
    plan = plan_for(connector, "events", "cumulusci_describe_event.json")
    row = {"Id": "00U1", "Subject": "Demo", "WhoId": "00Q000000000002",
           "StartDateTime": "2026-04-03T14:00:00.000+0000",
           "EndDateTime": "2026-04-03T15:00:00.000+0000", "DurationInMinutes": 60}
    event = validated(connector, plan, [normalise(row, plan.types)])[0]
    assert (event.kind, event.lead_id, event.duration_seconds) == (
        "meeting", "00Q000000000002", 3600)
    assert event.occurred_at == dt.datetime(2026, 4, 3, 14, tzinfo=UTC)


def test_bulk_csv_docs_sample() -> None:
    exchange = reference("docs_bulk2_query_exchange_VENDOR_SAMPLE.json")["exchanges"][2]
    rows = list(parse_csv(exchange["body_csv"]))
    assert rows == [
        {"Id": "005R0000000UyrWIAS", "Name": "Jane Dunn"},
        {"Id": "005R0000000GiwjIAC", "Name": "George Wright"},
        {"Id": "005R0000000GiwoIAC", "Name": "Pat Wilson"},
    ]
    assert exchange["headers"]["Sforce-Locator"] == "null"


def test_bulk_csv_reads_like_rest(make_connector: Callable[..., Any]) -> None:
    """A record from a Bulk CSV (text, Z datetimes, empty for null, dotted relationship
    columns, quoted newlines) maps to exactly what its REST JSON maps to."""
    connector = make_connector()
    plan = plan_for(connector, "contacts", "cumulusci_describe_contact.json")
    rest = reference("nango_query_contact.json")["records"][0]
    csv_text = (
        '"Id","FirstName","LastName","Email","AccountId","MailingStreet","MailingCity",'
        '"CreatedDate","SystemModstamp","IsDeleted","Title"\n'
        '"003dM00001vWOXJQA4","Rose","Gonzalez","rose@edge.com","001dM00003jU9GxQAK",'
        '"313 Constitution Place\nAustin, TX 78767\nUSA","","2026-05-01T07:25:37.000Z",'
        '"2026-05-01T07:25:37.000Z","false","SVP, Procurement"\n')
    bulk_row = normalise(next(parse_csv(csv_text)), plan.types)
    rest_row = normalise(flatten({key: rest[key] for key in (
        "attributes", "Id", "FirstName", "LastName", "Email", "AccountId", "MailingStreet",
        "MailingCity", "CreatedDate", "SystemModstamp", "Title")} | {"IsDeleted": False}),
        plan.types)
    from_bulk = validated(connector, plan, [bulk_row])[0]
    from_rest = validated(connector, plan, [rest_row])[0]
    assert from_bulk == from_rest
    assert from_bulk.street == "313 Constitution Place\nAustin, TX 78767\nUSA"


def test_error_bodies() -> None:
    timeout = reference("issue_error_400_QUERY_TIMEOUT_QUOTED.json")
    exc = SalesforceMalformedRequest("https://x/query", 400, "query", timeout["body"])
    assert error_code(exc) == ("QUERY_TIMEOUT", "Your query request was running for too long.")
    limit = reference("issue_error_403_REQUEST_LIMIT_EXCEEDED_RECONSTRUCTED.json")
    refused = SalesforceRefusedRequest("https://x/query", 403, "query", limit["body"])
    assert error_code(refused)[0] == "REQUEST_LIMIT_EXCEEDED"
    invalid = reference("amp_error_INVALID_FIELD.json")
    bad = SalesforceMalformedRequest("https://x/query", 400, "query", invalid)
    assert error_code(bad) == ("INVALID_FIELD",
                               "No such column 'AccountNumer' on sobject of type Account")


@pytest.mark.parametrize("text, expected", [
    ("2026-05-01T07:25:37.000+0000", dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)),
    ("2026-05-01T07:25:37.000Z", dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)),
    ("2026-05-01T09:25:37.000+0200", dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=UTC)),
    ("", None),
    (None, None),
])
def test_salesforce_datetimes(text: str | None, expected: dt.datetime | None) -> None:
    assert parse_sf_datetime(text) == expected


def test_a_merged_away_account_points_at_its_master(make_connector: Callable[..., Any]) -> None:
    """The real record read by id (``MasterRecordId`` null) as Salesforce answers it in the
    recycle bin after a merge: deleted, ``MasterRecordId`` naming the surviving account."""
    connector = make_connector()
    plan = plan_for(connector, "accounts", "nango_describe_account.json")
    assert "MasterRecordId" in plan.fields and plan.include_deleted
    live = reference("nango_sobject_get_account.json")
    merged = {**live, "IsDeleted": True, "MasterRecordId": "001dM00003kReWpQAK"}
    kept, gone = validated(connector, plan, rows_of({"records": [live, merged]}, plan))
    assert (kept.is_deleted, kept.merged_into_id) == (False, None)
    assert (gone.is_deleted, gone.merged_into_id) == (True, "001dM00003kReWpQAK")
    assert "MasterRecordId" not in gone.extra
