"""The synthetic portal: deterministic, dated before 2026-05-01, rich enough to feed every KPI,
and changeable between sync rounds."""

from __future__ import annotations

import collections

import pytest
from crm_connect_hubspot.sandbox import (
    DEFAULT_NOW,
    Portal,
    PortalError,
    PortalSize,
    change_round,
    generate_portal,
    ms_of,
)

NOW = ms_of(DEFAULT_NOW)


def test_the_same_seed_gives_the_same_portal_and_another_seed_another() -> None:
    a, b = generate_portal(PortalSize(companies=6), seed=4), generate_portal(
        PortalSize(companies=6), seed=4)
    c = generate_portal(PortalSize(companies=6), seed=5)
    assert {n: {i: r.properties for i, r in t.items()} for n, t in a.records.items()} == {
        n: {i: r.properties for i, r in t.items()} for n, t in b.records.items()}
    assert a.edges == b.edges and a.owners == b.owners and a.campaigns == b.campaigns
    assert a.records["deals"] != c.records["deals"]


def test_size_scales_with_the_number_of_companies() -> None:
    size = PortalSize.for_records(5_000)
    portal = generate_portal(size, seed=1)
    total = sum(portal.counts(include_archived=True).values())
    assert 4_500 <= total <= 5_500
    assert portal.counts(include_archived=True)["companies"] == size.companies


def test_history_ends_before_now_and_every_type_has_archived_records(portal: Portal) -> None:
    for name, table in portal.records.items():
        kind = portal.kind(name)
        for record in table.values():
            created = ms_of(record.properties[kind.created] or "")
            modified = ms_of(record.properties[kind.modified] or "")
            assert created <= modified < NOW, (name, record.id)
        assert portal.archived(name), f"no archived {name}"


def test_data_feeds_every_kpi_input(portal: Portal) -> None:
    """What the KPI catalogue needs is there: spot each shape in the generated data."""
    def values(name: str, prop: str) -> collections.Counter[str | None]:
        return collections.Counter(r.properties.get(prop) for r in portal.live(name))

    companies = portal.live("companies")
    customers = [c for c in companies if c.properties["lifecyclestage"] == "customer"]
    assert any(c.properties.get("hs_lifecyclestage_customer_date") for c in customers)
    assert any(not c.properties.get("hs_lifecyclestage_customer_date") for c in customers)
    assert any(c.properties.get("churn_date") for c in companies)
    assert len(values("companies", "customer_segment")) >= 2
    contacts = values("contacts", "lifecyclestage")
    assert contacts["customer"] and (contacts["lead"] or contacts["marketingqualifiedlead"])
    assert len(values("contacts", "hs_analytics_source")) >= 3
    stages = values("deals", "dealstage")
    assert stages["closedwon"] and stages["closedlost"]
    assert any(s in stages for s in ("appointmentscheduled", "qualifiedtobuy", "contractsent",
                                     "presentationscheduled", "decisionmakerboughtin"))
    assert set(values("deals", "dealtype")) == {"newbusiness", "existingbusiness", "renewal"}
    assert set(values("deals", "pipeline")) == {"default", "75941726"}
    assert len(values("deals", "deal_currency_code")) >= 2
    open_deals = [d for d in portal.live("deals") if d.properties["hs_is_closed"] == "false"]
    assert all(ms_of(d.properties["closedate"] or "") > NOW for d in open_deals)
    assert any(d.properties.get("hs_campaign") for d in portal.live("deals"))
    assert values("emails", "hs_email_direction")["EMAIL"]
    assert any(int(r.properties["hs_email_open_count"] or 0) > 0 for r in portal.live("emails"))
    assert any(int(r.properties["hs_email_click_count"] or 0) > 0 for r in portal.live("emails"))
    assert values("calls", "hs_call_direction")["OUTBOUND"]
    assert values("tasks", "hs_task_type")["LINKED_IN"]
    assert values("tasks", "hs_task_status")["COMPLETED"]
    tickets = portal.live("tickets")
    assert any(t.properties["first_agent_reply_date"] for t in tickets)
    assert any(t.properties["closed_date"] for t in tickets)
    assert any(t.properties["num_notes"] in ("0", "1") for t in tickets)
    assert set(values("feedback_submissions", "hs_survey_type")) == {"NPS", "CSAT", "CES"}
    assert any(o["archived"] for o in portal.owners) and any(
        not o["archived"] for o in portal.owners)
    assert portal.campaigns and all(c["properties"]["hs_spend_items_sum_amount"]
                                    for c in portal.campaigns)
    assert portal.associated("deals", "companies", portal.live("deals")[0].id)


def test_a_round_updates_creates_archives_and_lands_records_on_the_cursor(
        portal: Portal) -> None:
    before = {name: portal.latest_modified(name) for name in portal.records}
    changes = change_round(portal, seed=2)
    for name in portal.records:
        cursor = before[name]
        assert changes.cursor[name] == cursor
        for record_id in changes.at_cursor[name]:
            record = portal.record(name, record_id)
            assert ms_of(record.properties[portal.kind(name).modified] or "") == cursor
        for record_id in changes.updated[name]:
            stamp = portal.modified_ms(name, portal.record(name, record_id))
            assert cursor is not None and stamp > cursor
        for record_id in changes.archived[name]:
            assert portal.record(name, record_id).archived
        assert len(changes.created[name]) == 4


def test_changes_are_checked_against_the_portal(portal: Portal) -> None:
    with pytest.raises(PortalError, match="no property"):
        portal.update("deals", portal.live("deals")[0].id, {"no_such_field": "1"})
    with pytest.raises(PortalError, match="no deals record 1"):
        portal.update("deals", 1, {"amount": "1"})
    with pytest.raises(PortalError, match="no object type"):
        portal.create("butterflies", {})


def test_a_bad_value_can_be_planted_for_quarantine_tests(portal: Portal) -> None:
    deal = portal.live("deals")[0].id
    portal.update("deals", deal, {"amount": "twelve hundred"})
    assert portal.record("deals", deal).properties["amount"] == "twelve hundred"
