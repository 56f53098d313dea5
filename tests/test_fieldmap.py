"""The core's mapping kit: the field-map mini-language a connection's ``mapping`` uses, the
canonical vocabularies, and the one public datetime parser."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_connect.mapping import (
    DEFAULT_LEAD_ORIGINS,
    SURVEY_SCALES,
    FieldMap,
    MissingField,
    deal_type,
    lead_origin,
    merge_fieldmap,
    parse_source,
    resolve_fieldmap,
    survey_type,
    truthy,
)
from crm_connect.schema import LeadOrigin, SurveyResponse, SurveyType, parse_datetime

DEFAULTS = {"first_response_at": "First_Reply__c|FirstResponse",
            "handle_time_seconds": "Handle_Minutes__c*60", "priority": "Priority",
            "status": "Status"}


def test_sources_name_fallbacks_and_scales() -> None:
    assert parse_source("A__c|B*60") == [("A__c", None), ("B", 60.0)]
    assert parse_source(" Minutes * 0.5 ") == [("Minutes", 0.5)]


def test_the_connection_overrides_and_unmaps_defaults_per_stream() -> None:
    merged = merge_fieldmap(DEFAULTS, {"priority": "", "channel": "=phone",
                                       "status": " Case_Status__c "})
    assert merged == {"first_response_at": "First_Reply__c|FirstResponse",
                      "handle_time_seconds": "Handle_Minutes__c*60",
                      "status": "Case_Status__c", "channel": "=phone"}


def test_resolving_keeps_the_fallbacks_the_source_has() -> None:
    fieldmap = merge_fieldmap(DEFAULTS, {"channel": "=phone", "status": "Case_Status__c"})
    resolved = resolve_fieldmap(fieldmap, {"FirstResponse", "Priority", "Id"},
                                explicit={"channel", "status"})
    assert resolved.sources == {"first_response_at": "FirstResponse",
                                "priority": "Priority", "channel": "=phone"}
    assert resolved.fields == ["FirstResponse", "Priority"]
    assert [(m.canonical, m.explicit) for m in resolved.missing] == [
        ("handle_time_seconds", False), ("status", True)]
    assert [m.canonical for m in resolved.errors] == ["status"]


def test_a_missing_field_message_says_what_is_lost_and_how_to_fix_it() -> None:
    explicit = MissingField("first_response_at", "Reply__c|Replied*60", explicit=True)
    text = explicit.message(stream="tickets", entity="tickets", container="Case",
                            table="[connections.crm.mapping.tickets]",
                            kpis=["first_response_time"], example="Api_Name__c")
    assert text.startswith("tickets: Case.Reply__c or Replied (mapped to "
                           "tickets.first_response_at) does not exist; KPIs without data: "
                           "first_response_time.")
    assert 'first_response_at = "Api_Name__c" in [connections.crm.mapping.tickets]' in text
    default = MissingField("segment", "Segment__c", explicit=False)
    warning = default.message(stream="accounts", entity="accounts", container="accounts",
                              table="[connections.crm.mapping.accounts]", kpis=[])
    assert "accounts has no Segment__c (the default source of accounts.segment)" in warning
    assert "so segment stays empty; KPIs without data: none." in warning
    assert 'segment = "field_name"' in warning and 'segment = "" to silence this' in warning


def test_a_field_map_reads_the_first_value_set_scaled_or_constant() -> None:
    fields = FieldMap({"first_response_at": "First_Reply__c|FirstResponse",
                       "handle_time_seconds": "Handle_Minutes__c*60", "channel": "=phone"})
    row = {"First_Reply__c": "", "FirstResponse": "2026-01-01T00:00:00Z",
           "Handle_Minutes__c": "2.5"}
    assert fields.value(row, "first_response_at") == "2026-01-01T00:00:00Z"
    assert fields.value(row, "handle_time_seconds") == 150.0
    assert fields.value(row, "channel") == "phone"
    assert fields.value(row, "priority") is None
    # a value that is not a number is left for the schema to reject, with its own message
    assert fields.value({"Handle_Minutes__c": "n/a"}, "handle_time_seconds") == "n/a"
    assert fields.vendor_fields == {"First_Reply__c", "FirstResponse", "Handle_Minutes__c"}
    assert list(fields) == ["first_response_at", "handle_time_seconds", "channel"]


def test_lead_origins_come_from_the_origin_or_else_the_lead_source() -> None:
    assert lead_origin("Partner", "Web") == "partner"  # a canonical value wins
    assert lead_origin("Trade Show", None) == "marketing"
    assert lead_origin(None, "Cold Call") == "sales"
    assert lead_origin("", "Carrier pigeon") == "other"
    assert lead_origin(None, " ") is None
    words = {**DEFAULT_LEAD_ORIGINS, "carrier pigeon": LeadOrigin.PARTNER}
    assert lead_origin(None, "Carrier Pigeon", words) == "partner"


def test_deal_types_and_survey_types_from_vendor_words() -> None:
    assert deal_type("Renewal") == "renewal"
    assert deal_type("Cross-Sell") == "upsell"
    assert deal_type("Something else") == "other"
    assert deal_type("") is None and deal_type(None) is None
    assert survey_type("Net Promoter Score") == "nps"
    assert survey_type("Customer Satisfaction") == "csat"
    assert survey_type("effort") == "ces"
    assert survey_type("Poll") == "poll" and survey_type(None) is None
    assert truthy("Yes") and truthy(1) and not truthy("false") and not truthy(None)


@pytest.mark.parametrize("kind", list(SurveyType))
def test_every_survey_type_has_a_default_scale_the_schema_accepts(kind: SurveyType) -> None:
    low, high = SURVEY_SCALES[kind]
    response = SurveyResponse(source="s", id="1", survey_type=kind, score=high,
                              scale_min=low, scale_max=high,
                              responded_at="2026-01-01T00:00:00Z")
    assert response.scale_max == high


@pytest.mark.parametrize("value", [
    "2026-05-01T07:25:37.000+0000", "2026-05-01T07:25:37.000Z", "2026-05-01T09:25:37+02:00",
    "2026-05-01 07:25:37", 1777620337, "1777620337000", dt.datetime(2026, 5, 1, 7, 25, 37),
])
def test_one_public_datetime_parser_reads_every_spelling(value: object) -> None:
    assert parse_datetime(value) == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)


def test_the_datetime_parser_leaves_what_it_cannot_read_to_the_schema() -> None:
    assert parse_datetime(None) is None and parse_datetime("") is None
    assert parse_datetime("yesterday") == "yesterday"
    assert parse_datetime(dt.date(2026, 5, 1)) == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_a_mapping_table_names_known_streams_mappable_fields_and_good_sources() -> None:
    from crm_connect.mapping import check_mapping_table

    streams = {"tickets": "tickets", "companies": "accounts"}
    check_mapping_table({"tickets": {"first_response_at": "First_Reply__c|FirstResponse",
                                     "channel": "=phone", "priority": ""}}, streams)
    with pytest.raises(ValueError, match=r"mapping\.deals: unknown stream \(known: tickets, "):
        check_mapping_table({"deals": {"amount": "Amount"}}, streams)
    with pytest.raises(ValueError, match=r"mapping\.companies\.is_deleted: accounts has no "
                                         r"field 'is_deleted' that can be mapped"):
        check_mapping_table({"companies": {"is_deleted": "archived"}}, streams)
    with pytest.raises(ValueError, match=r"mapping\.companies\.colour: accounts has no field"):
        check_mapping_table({"companies": {"colour": "Colour__c"}}, streams)
    with pytest.raises(ValueError, match=r"= 'Minutes__c\*sixty': a factor after \* must be"):
        check_mapping_table({"tickets": {"handle_time_seconds": "Minutes__c*sixty"}}, streams)
