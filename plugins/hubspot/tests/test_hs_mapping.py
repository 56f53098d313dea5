"""The mapping, field by field, on real HubSpot payloads (shared/reference-payloads/hubspot)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from crm_connect_hubspot.mapping import MappingContext, map_object, map_objects
from crm_connect_hubspot.objects import OBJECT_SPECS, spec_for
from crm_connect_hubspot.records import HubSpotObject, Pipelines
from hs_support import reference

from crm_connect.connector import Rejected
from crm_connect.schema import entity_model


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def context(stream: str, **options: Any) -> MappingContext:
    spec = spec_for(stream)
    options.setdefault("currency", "USD")
    if stream == "deals" and "pipelines" not in options:
        options["pipelines"] = Pipelines.from_json(reference("nango_pipelines_deals.json"))
    return MappingContext(spec, dict(spec.fields), **options)


def mapped(stream: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
    result = map_object(HubSpotObject.from_json(payload), context(stream, **options))
    assert isinstance(result, dict), result
    # what the sync runner does with it: the canonical model accepts it
    entity_model(spec_for(stream).entity).model_validate({**result, "source": "hs"})
    return result


def test_deal_from_a_real_get_with_stage_meaning_from_the_pipelines_api() -> None:
    deal = mapped("deals", reference("nango_deal_get.json"))
    assert deal["id"] == "479475667160"
    assert deal["name"] == "Test Deal Updated via Action"
    assert deal["amount"] == Decimal("3000") and deal["currency"] == "USD"
    assert deal["stage"] == "Appointment Scheduled"
    assert deal["pipeline"] == "Sales Pipeline"
    assert deal["is_closed"] is False and deal["is_won"] is False
    assert deal["probability"] == pytest.approx(20.0)
    assert deal["closed_at"] is None
    assert deal["owner_id"] is None
    assert deal["created_at"] == utc("2026-02-25T16:26:25.880Z")
    assert deal["updated_at"] == utc("2026-03-09T20:29:45.981Z")
    assert deal["is_deleted"] is False


def test_won_and_lost_come_from_stage_metadata_never_from_names() -> None:
    payload = reference("nango_deal_get.json")
    won = copy.deepcopy(payload)
    won["properties"].update(dealstage="closedwon", closedate="2026-03-01T00:00:00Z")
    deal = mapped("deals", won)
    assert (deal["is_closed"], deal["is_won"]) == (True, True)
    assert deal["closed_at"] == utc("2026-03-01T00:00:00Z")
    assert deal["probability"] == pytest.approx(100.0)
    lost = copy.deepcopy(payload)
    lost["properties"].update(dealstage="closedlost", closedate="2026-03-02T00:00:00Z")
    deal = mapped("deals", lost)
    assert (deal["is_closed"], deal["is_won"]) == (True, False)
    # a stage labelled "Closed Won" whose metadata says open is open
    pipelines = reference("nango_pipelines_deals.json")
    for stage in pipelines["results"][0]["stages"]:
        if stage["id"] == "closedwon":
            stage["metadata"] = {"isClosed": "false", "probability": "0.5"}
    deal = mapped("deals", won, pipelines=Pipelines.from_json(pipelines))
    assert (deal["is_closed"], deal["is_won"], deal["closed_at"]) == (False, False, None)


def test_deal_list_2024_probability_text_and_types() -> None:
    records = {r["id"]: r for r in (mapped("deals", item) for item in
                                    reference("nango2024_list_deals.json")["results"])}
    deal = records["22983893905"]
    # "0.90000000000000002220446049250313080847263336181640625" is 90 %
    assert deal["probability"] == pytest.approx(90.0)
    assert deal["stage"] == "Contract Sent" and deal["amount"] == Decimal("10000")
    assert deal["closed_at"] is None  # open: closedate is the expected close only
    assert len(records) == 14


def test_deal_type_and_currency_property() -> None:
    payload = reference("nango_deal_get.json")
    payload["properties"].update(dealtype="existingbusiness", deal_currency_code="eur")
    deal = mapped("deals", payload)
    assert deal["deal_type"] == "upsell" and deal["currency"] == "EUR"
    payload["properties"]["dealtype"] = "newbusiness"
    assert mapped("deals", payload)["deal_type"] == "new_business"
    payload["properties"]["dealtype"] = "Partner deal"
    assert mapped("deals", payload)["deal_type"] == "other"
    custom = mapped("deals", payload, deal_types={"partner deal": "renewal"})
    assert custom["deal_type"] == "renewal"


def test_an_amount_that_does_not_parse_is_quarantined_with_its_reason() -> None:
    payload = reference("nango_deal_get.json")
    payload["properties"]["amount"] = "3,000 EUR"
    records, raws, rejected = map_objects([HubSpotObject.from_json(payload)],
                                          context("deals"))
    assert records == [] and raws == []
    assert len(rejected) == 1
    assert "amount = '3,000 EUR' is not a number" in rejected[0].reason
    assert rejected[0].raw["properties"]["amount"] == "3,000 EUR"


def test_an_unknown_stage_is_quarantined_not_guessed() -> None:
    payload = reference("nango_deal_get.json")
    payload["properties"]["dealstage"] = "12345678"
    result = map_object(HubSpotObject.from_json(payload), context("deals"))
    assert isinstance(result, Rejected)
    assert "dealstage = '12345678'" in result.reason


def test_company_from_a_real_get() -> None:
    account = mapped("accounts", reference("nango_company_get.json"))
    assert account["id"] == "421290981567"
    assert account["name"] == "Test Company for Get Action"
    assert account["domain"] == "test-get-action.com"
    assert account["industry"] == "COMPUTER_SOFTWARE"
    assert account["customer_since"] is None
    # what identity resolution compares has canonical fields; the rest stays in extra
    assert (account["city"], account["country"], account["phone"]) == (
        "San Francisco", "USA", "+1-555-TEST")
    assert account["extra"]["state"] == "CA"
    assert account.get("linked_crm") is None  # no Salesforce integration wrote an id
    assert account["created_at"] == utc("2026-03-12T07:35:26.564Z")


def test_customer_since_from_the_lifecycle_stage_dates() -> None:
    payload = reference("nango2024_list_companies.json")["results"][0]
    payload["properties"].update(lifecyclestage="customer",
                                 hs_lifecyclestage_customer_date="2024-10-05T09:00:00Z",
                                 website="https://www.Example.com/about")
    account = mapped("accounts", payload)
    assert account["customer_since"] == utc("2024-10-05T09:00:00Z")
    assert account["domain"] == "example.com"
    assert account["industry"] == "MOBILE_GAMES"
    payload["properties"]["hs_v2_date_entered_customer"] = "1728205200000"  # epoch ms
    assert mapped("accounts", payload)["customer_since"] == utc("2024-10-06T09:00:00Z")


def test_contact_and_its_company_from_the_associations() -> None:
    obj = HubSpotObject.from_json(reference("nango2024_list_contacts.json")["results"][0])
    obj.links["companies"] = ["23516293919"]
    contact = map_object(obj, context("contacts"))
    assert isinstance(contact, dict)
    assert contact["email"] == "examplep@hubspot.com"
    assert (contact["first_name"], contact["last_name"]) == ("Mock testing Update-1", "Doe")
    assert contact["lifecycle_stage"] == "opportunity"
    assert contact["owner_id"] == "902942351"
    assert contact["account_id"] == "23516293919"
    assert contact["updated_at"] == utc("2024-10-09T12:21:24.382Z")


def test_lead_conversion_and_origin_from_lifecycle_and_traffic_source() -> None:
    payload = reference("amp_search_contacts_p1_paging.json")["results"][0]
    lead = mapped("leads", payload)
    assert lead["email"] == "johnnie77@hotmail.com"
    assert lead["converted_at"] is None and lead["origin"] is None
    payload["properties"].update(hs_analytics_source="PAID_SEARCH",
                                 hs_lifecyclestage_opportunity_date="2024-02-01T10:00:00Z",
                                 hs_lifecyclestage_customer_date="2024-03-01T10:00:00Z")
    obj = HubSpotObject.from_json(payload)
    obj.links.update(companies=["29022297485"], deals=["77"])
    lead = map_object(obj, context("leads"))
    assert isinstance(lead, dict)
    assert lead["origin"] == "marketing" and lead["lead_source"] == "PAID_SEARCH"
    assert lead["converted_at"] == utc("2024-02-01T10:00:00Z")
    assert lead["converted_contact_id"] == "501"
    assert lead["converted_account_id"] == "29022297485"
    assert lead["converted_deal_id"] == "77"
    payload["properties"]["hs_analytics_source"] = "OFFLINE"
    assert mapped("leads", payload)["origin"] == "sales"
    payload["properties"]["hs_analytics_source"] = "SOMETHING_NEW"
    assert mapped("leads", payload)["origin"] == "other"


def test_task_with_inline_associations_is_an_activity_on_the_contact_and_lead() -> None:
    activities = [mapped("tasks", item)
                  for item in reference("nango_list_tasks_with_associations.json")["results"]]
    task = activities[0]
    assert task["kind"] == "task"
    assert task["subject"] == "(Sample task) Follow up with Brian"
    assert task["contact_id"] == task["lead_id"] == "713802347732"
    assert task["occurred_at"] == utc("2026-02-25T15:16:50.258Z")
    assert task["completed"] is None
    assert len(activities) == 25


def test_task_completion() -> None:
    payload = reference("nango_list_tasks_with_associations.json")["results"][0]
    payload["properties"].update(hs_task_status="COMPLETED",
                                 hs_task_completion_date="2026-03-01T08:00:00Z")
    task = mapped("tasks", payload)
    assert task["completed"] is True and task["completed_at"] == utc("2026-03-01T08:00:00Z")


def engagement(stream: str, **properties: str) -> dict[str, Any]:
    """A real engagement record's envelope with the properties of ``stream``."""
    payload = reference("nango_list_tasks_with_associations.json")["results"][0]
    payload["properties"] = {"hs_object_id": payload["id"],
                             "hs_createdate": "2026-02-25T15:16:50.258Z",
                             "hs_lastmodifieddate": "2026-02-28T15:18:31.076Z", **properties}
    return mapped(stream, payload)


def test_calls_emails_meetings_notes() -> None:
    call = engagement("calls", hs_call_direction="OUTBOUND", hs_call_duration="125400",
                      hs_call_status="COMPLETED", hs_timestamp="2026-02-26T10:00:00Z",
                      hs_call_title="Discovery")
    assert (call["kind"], call["direction"], call["duration_seconds"]) == ("call", "outbound",
                                                                           125)
    assert call["completed"] is True and call["completed_at"] == utc("2026-02-26T10:00:00Z")
    assert call["subject"] == "Discovery"
    email = engagement("emails", hs_email_direction="EMAIL", hs_email_open_count="2",
                       hs_email_click_count="0", hs_email_status="SENT")
    assert (email["kind"], email["direction"], email["opened"], email["clicked"]) == (
        "email", "outbound", True, False)
    inbound = engagement("emails", hs_email_direction="INCOMING_EMAIL")
    assert inbound["direction"] == "inbound" and inbound["opened"] is None
    meeting = engagement("meetings", hs_meeting_start_time="2026-02-27T09:00:00Z",
                         hs_meeting_end_time="2026-02-27T09:45:00Z",
                         hs_meeting_outcome="COMPLETED")
    assert meeting["occurred_at"] == utc("2026-02-27T09:00:00Z")
    assert meeting["duration_seconds"] == 45 * 60 and meeting["direction"] == "outbound"
    note = engagement("notes", hs_note_body="<p>Called <b>Brian</b></p>")
    assert note["kind"] == "note" and note["subject"] == "Called Brian"
    broken = copy.deepcopy(reference("nango_list_tasks_with_associations.json")["results"][0])
    broken["properties"]["hs_call_duration"] = "about a minute"
    result = map_object(HubSpotObject.from_json(broken), context("calls"))
    assert isinstance(result, Rejected) and "hs_call_duration" in result.reason


def test_ticket_from_a_real_get() -> None:
    ticket = mapped("tickets", reference("nango_ticket_get.json"))
    assert ticket["priority"] == "MEDIUM" and ticket["status"] == "1"
    assert ticket["first_response_at"] is None and ticket["resolved_at"] is None
    payload = reference("nango_ticket_get.json")
    payload["properties"].update(first_agent_reply_date="2026-02-25T18:16:57.199Z",
                                 closed_date="2026-02-26T16:16:57.199Z", num_notes="1",
                                 source_type="EMAIL")
    pipelines = Pipelines.from_json({"results": [{"id": "0", "label": "Support", "stages": [
        {"id": "1", "label": "New", "metadata": {"ticketState": "OPEN"}},
        {"id": "4", "label": "Closed", "metadata": {"ticketState": "CLOSED"}}]}]})
    payload["properties"]["hs_pipeline_stage"] = "4"
    ticket = mapped("tickets", payload, pipelines=pipelines)
    assert ticket["first_response_at"] == utc("2026-02-25T18:16:57.199Z")
    assert ticket["resolved_at"] == utc("2026-02-26T16:16:57.199Z")
    assert (ticket["interactions_count"], ticket["channel"], ticket["status"]) == (1, "EMAIL",
                                                                                   "Closed")


def test_owners_are_users() -> None:
    spec = spec_for("users")
    ctx = MappingContext(spec, dict(spec.fields))
    owners = [HubSpotObject.from_owner(item) for item in reference("nango_owners.json")["results"]]
    records, _, rejected = map_objects(owners, ctx)
    assert rejected == []
    user = records[0]
    assert (user["id"], user["name"], user["email"]) == ("32900489", "Test Delete",
                                                         "test-delete-action@example.com")
    assert user["is_active"] is True and user["extra"]["userId"] == 32900489


@pytest.mark.parametrize(("kind", "score", "low", "high"), [
    ("NPS", "9", 0, 10), ("CSAT", "4", 1, 5), ("CES", "6", 1, 7)])
def test_feedback_submissions_with_their_scales(kind: str, score: str, low: float,
                                                high: float) -> None:
    payload = reference("nango_ticket_get.json")  # a real CRM object envelope
    payload["properties"] = {"hs_object_id": payload["id"], "hs_survey_type": kind,
                             "hs_response_value": score, "hs_content": "Great",
                             "hs_createdate": "2026-02-25T16:16:57.199Z"}
    response = mapped("survey_responses", payload)
    assert response["survey_type"] == kind.lower()
    assert (response["score"], response["scale_min"], response["scale_max"]) == (
        float(score), low, high)
    assert response["responded_at"] == utc("2026-02-25T16:16:57.199Z")
    assert response["comment"] == "Great"


def test_a_score_off_its_scale_is_quarantined_and_custom_surveys_skipped() -> None:
    payload = reference("nango_ticket_get.json")
    payload["properties"] = {"hs_survey_type": "NPS", "hs_response_value": "11"}
    result = map_object(HubSpotObject.from_json(payload), context("survey_responses"))
    assert isinstance(result, Rejected) and "scale 0..10" in result.reason
    payload["properties"] = {"hs_survey_type": "CUSTOM", "hs_response_value": "3"}
    assert map_object(HubSpotObject.from_json(payload), context("survey_responses")) is None


def test_every_stream_maps_to_a_known_entity_and_has_a_cursor() -> None:
    for spec in OBJECT_SPECS:
        assert spec.cursor
        assert spec.properties(dict(spec.fields))[0] == "hs_object_id"


def test_a_salesforce_id_written_by_the_integration_links_the_record() -> None:
    payload = reference("nango_company_get.json")
    payload["properties"]["salesforceaccountid"] = "0015g00000XyZabAAB"
    account = mapped("accounts", payload)
    assert (account["linked_crm"], account["linked_id"]) == ("salesforce",
                                                             "0015g00000XyZabAAB")


@pytest.mark.parametrize(("stream", "payload"), [("accounts", "nango_company_get.json"),
                                                 ("contacts", "nango_contact_get.json"),
                                                 ("leads", "nango_contact_get.json")])
def test_ids_merged_into_a_record_are_stored_deleted_and_pointing_at_it(
        stream: str, payload: str) -> None:
    kept = reference(payload)
    kept["properties"]["hs_merged_object_ids"] = "1001;1002;1001"
    assert "hs_merged_object_ids" in spec_for(stream).properties(spec_for(stream).fields)
    records, raws, rejected = map_objects([HubSpotObject.from_json(kept)], context(stream))
    assert rejected == [] and len(raws) == len(records) == 3
    first, *merged = records
    assert first["id"] == kept["id"] and not first["is_deleted"]
    assert "hs_merged_object_ids" not in first.get("extra", {})
    assert [(r["id"], r["is_deleted"], r["merged_into_id"]) for r in merged] == [
        ("1001", True, kept["id"]), ("1002", True, kept["id"])]
    for record in merged:
        assert record["updated_at"] == first["updated_at"]
        entity_model(spec_for(stream).entity).model_validate({**record, "source": "hs"})
    archived = {**kept, "archived": True}  # an archived record lists no live merge
    assert len(map_objects([HubSpotObject.from_json(archived)], context(stream))[0]) == 1
