"""Which KPIs a stream or a field feeds, derived from the KPI registry (KPI -> measures ->
entity fields), so that a connector's "KPIs without data" never drifts from the catalogue."""

from __future__ import annotations

from crm_connect.metrics import KpiDefinition, Measure, get_kpis, kpis_fed_by, kpis_reading
from crm_connect.metrics.catalogue import CATALOGUE
from crm_connect.metrics.inputs import kpi_fields
from crm_connect.metrics.relations import columns_referenced


def test_a_kpi_over_deal_amounts_is_named_when_amount_is_missing() -> None:
    reading = kpis_reading("deals", "amount")
    assert "revenue" in reading and "average_deal_size" in reading
    assert "win_rate" not in reading  # counts won deals, whatever their amount
    # every catalogue KPI with a measure summing deal amounts is named
    summing = {d.key for d in CATALOGUE for m in d.measures
               if m.relation == "deals" and "amount" in columns_referenced(m.expr)}
    assert summing and summing <= set(reading)


def test_the_answer_follows_the_registry() -> None:
    assert kpis_reading("tickets", "first_response_at") == ["first_response_time"]
    assert kpis_fed_by("survey_responses") == ["net_promoter_score", "csat",
                                               "customer_effort_score"]
    assert set(kpis_fed_by("users")) == {"users_active_7d", "users_never_logged_in"}
    # the registry's order, and every KPI some field of the entity feeds
    tickets = kpis_fed_by("tickets")
    assert tickets == [key for key in get_kpis() if key in tickets]
    assert set(kpis_fed_by("tickets", ["first_response_at", "handle_time_seconds"])) == {
        "first_response_time", "average_handling_time"}


def test_fields_read_through_derived_columns_and_helpers_count() -> None:
    # an account's customer_since falls back to its first won deal (a helper over deals)
    assert ("deals", "closed_at") in kpi_fields("new_customers")
    assert ("accounts", "customer_since") in kpi_fields("new_customers")
    # money is converted with the record's currency
    assert ("deals", "currency") in kpi_fields("revenue")
    # a deal broken down by industry joins accounts, but a breakdown is not an input
    assert ("accounts", "industry") not in kpi_fields("win_rate")
    assert kpis_reading("accounts", "segment") == []


def test_a_derived_kpi_reads_what_its_inputs_read() -> None:
    definitions = get_kpis()
    derived = [d for d in definitions.values() if d.inputs]
    assert derived
    for definition in derived:
        fields = kpi_fields(definition.key)
        for name in definition.inputs:
            assert kpi_fields(name) <= fields, (definition.key, name)


def test_a_plugins_own_kpi_is_named_too() -> None:
    own = KpiDefinition(
        key="long_calls", name="Long calls", unit="count", better="up",
        formula="activities with duration over an hour", category="sales",
        entities=("activities",),
        measures=(Measure(name="n", relation="activities",
                          where="f.kind = 'call' AND f.completed", event="f.occurred_at"),),
        value="n")
    definitions = {**get_kpis(), own.key: own}
    assert "long_calls" in kpis_reading("activities", "completed", definitions)
    assert "long_calls" not in kpis_reading("activities", "opened", definitions)
