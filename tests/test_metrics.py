"""The metric engine against a hand-built dataset whose KPIs were worked out by hand
(``kpi_dataset.py`` holds the records and the working), plus the edge cases KPIS.md names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kpi_dataset import AS_OF, DATASET, EXPECTED_MARCH, RATES, load, open_memory_store

from crm_connect.config import Target
from crm_connect.errors import ConfigError, MetricError
from crm_connect.metrics import (
    DIMENSIONS,
    KpiRow,
    build_query,
    compute_kpis,
    get_kpis,
    read_history,
    save_snapshots,
    transpile,
)
from crm_connect.store import DuckDBStore

MARCH = dict(grain="month", start="2026-03-01", end="2026-03-31", as_of=AS_OF, rates=RATES)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield load(opened)


def totals(rows: list[KpiRow]) -> dict[str, KpiRow]:
    return {row.metric: row for row in rows if not row.dimensions}


def test_the_catalogue_is_every_kpi_of_kpis_md() -> None:
    assert set(get_kpis()) == set(EXPECTED_MARCH)


def test_every_kpi_matches_the_hand_worked_value(store: DuckDBStore) -> None:
    rows = totals(compute_kpis(store, **MARCH))  # type: ignore[arg-type]
    assert set(rows) == set(EXPECTED_MARCH)
    mismatches = {key: rows[key].value for key, expected in EXPECTED_MARCH.items()
                  if rows[key].value != pytest.approx(expected)}
    assert mismatches == {}
    for row in rows.values():
        assert (row.period_start, row.period_end) == (dt.date(2026, 3, 1), dt.date(2026, 4, 1))
        assert row.grain == "month"


def test_rows_carry_numerator_denominator_count_and_unit(store: DuckDBStore) -> None:
    rows = totals(compute_kpis(store, metrics=["win_rate", "revenue", "sales_cycle_length"],
                               **MARCH))  # type: ignore[arg-type]
    win = rows["win_rate"]
    assert (win.numerator, win.denominator, win.count, win.unit) == (3, 4, 4, "%")
    assert rows["revenue"].unit == "currency" and rows["revenue"].count == 3
    assert rows["sales_cycle_length"].unit == "days"
    assert set(win.to_dict()) >= {"metric", "period_start", "period_end", "grain", "dimensions",
                                  "value", "unit", "numerator", "denominator", "count", "note"}


def test_deleted_records_never_count(store: DuckDBStore) -> None:
    # D6 (deleted, 9,999 won in March) would change revenue; A5 (deleted) would be a customer.
    rows = totals(compute_kpis(store, metrics=["revenue", "active_customers"], **MARCH))  # type: ignore[arg-type]
    assert rows["revenue"].value == pytest.approx(1800)
    assert rows["active_customers"].value == 3


def test_a_reopened_deal_is_open_not_won(store: DuckDBStore) -> None:
    reopened = dict(DATASET["deals"][7])
    assert reopened["id"] == "D8"
    rows = totals(compute_kpis(store, metrics=["open_deals", "win_rate"], **MARCH))  # type: ignore[arg-type]
    assert rows["open_deals"].value == 4 and rows["win_rate"].value == 75
    # Won again on 03-30: now a won March deal, no longer open.
    reopened.update(is_closed=True, is_won=True, closed_at="2026-03-30T00:00:00Z")
    load(store, {"deals": [reopened]})
    rows = totals(compute_kpis(store, metrics=["open_deals", "win_rate"], **MARCH))  # type: ignore[arg-type]
    assert rows["open_deals"].value == 3 and rows["win_rate"].value == 80


def test_a_record_exactly_at_period_end_belongs_to_the_next_period(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["leads_created", "accounts_created"], grain="month",
                        start="2026-03-01", end="2026-04-30", as_of="2026-05-01T00:00:00Z")
    by_month = {(r.metric, r.period_start.month): r.value for r in rows}
    # L6 is created at 2026-04-01T00:00:00 exactly: April's.
    assert by_month[("leads_created", 3)] == 3 and by_month[("leads_created", 4)] == 1
    # A4 is created at 2026-03-01T00:00:00 exactly: March's, not February's.
    assert by_month[("accounts_created", 3)] == 2


def test_money_in_several_currencies_is_converted(store: DuckDBStore) -> None:
    rows = totals(compute_kpis(store, metrics=["revenue"], **{**MARCH, "rates": {"EUR": 2}}))  # type: ignore[arg-type]
    assert rows["revenue"].value == pytest.approx(1000 + 400 + 500)


def test_no_data_gives_null_with_a_note_never_zero(tmp_path: Path) -> None:
    with open_memory_store(tmp_path) as empty:
        rows = compute_kpis(empty, **MARCH)  # type: ignore[arg-type]
    assert {row.metric for row in rows} == set(EXPECTED_MARCH)
    for row in rows:
        assert row.value is None, row.metric
        assert row.note, row.metric


def test_zero_denominators_are_null_with_the_reason(store: DuckDBStore) -> None:
    # January 2026: deals exist (D3 created 01-01) but none closed; no NPS answers; A7 is the
    # one customer at the start and does not churn.
    rows = totals(compute_kpis(store, metrics=["win_rate", "net_promoter_score",
                                               "customer_churn_rate", "revenue",
                                               "customer_lifetime_value"],
                               grain="month", start="2026-01-01", end="2026-01-31",
                               as_of=AS_OF, rates=RATES))
    assert rows["win_rate"].value is None and "closed" in (rows["win_rate"].note or "")
    assert rows["net_promoter_score"].value is None
    assert rows["customer_churn_rate"].value == 0  # one customer at the start, none lost
    assert rows["customer_lifetime_value"].value is None  # churn 0
    assert rows["revenue"].value == 0  # a sum over deals that exist: truly 0


def test_growth_uses_the_period_before_from_even_outside_the_range(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue_growth_rate"], **MARCH)  # type: ignore[arg-type]
    assert [r.period_start for r in rows] == [dt.date(2026, 3, 1)]
    assert rows[0].value == pytest.approx(350)
    assert rows[0].comparisons["previous"]["period_start"] == "2026-02-01"


def two_sources(store: DuckDBStore) -> DuckDBStore:
    """Source ``b`` reuses the ids of ``a`` for other things: joins must stay in a source."""
    load(store, {
        "accounts": [dict(id="A1", created_at="2026-01-01T00:00:00Z", industry="Finance",
                          customer_since="2026-01-15T00:00:00Z")],
        "deals": [dict(id="D1", account_id="A1", is_closed=True, is_won=True,
                       created_at="2026-03-01T00:00:00Z", closed_at="2026-03-11T00:00:00Z",
                       amount="50", currency="EUR", owner_id="U1")],
        "leads": [dict(id="L1", created_at="2026-03-08T00:00:00Z")],
    }, source="b")
    return store


def test_two_sources_with_the_same_ids_are_combined_not_confused(store: DuckDBStore) -> None:
    two_sources(store)
    rows = compute_kpis(store, metrics=["revenue", "leads_created", "active_customers"],
                        by=["source"], **MARCH)  # type: ignore[arg-type]
    split = {(r.metric, r.dimensions.get("source")): r.value for r in rows}
    assert split[("revenue", "a")] == pytest.approx(1800)
    assert split[("revenue", "b")] == pytest.approx(75)  # 50 EUR
    assert split[("revenue", None)] == pytest.approx(1875)
    assert split[("leads_created", None)] == 4
    assert split[("active_customers", "b")] == 1 and split[("active_customers", None)] == 4
    # b's D1 belongs to b's A1 (Finance), not to a's A1 (Software).
    by_industry = compute_kpis(store, metrics=["revenue"], by=["industry"], **MARCH)  # type: ignore[arg-type]
    industries = {r.dimensions.get("industry"): r.value for r in by_industry}
    assert industries["Finance"] == pytest.approx(75)
    assert industries["Software"] == pytest.approx(1300)  # D1 1000 (A2) + D2 300 (A1)


ADDITIVE = ["leads_created", "revenue", "open_deals", "open_pipeline_value", "new_customers",
            "active_customers", "social_media_engagement", "accounts_created",
            "activities_completed", "users_never_logged_in"]


@pytest.mark.parametrize("dimension", ["source", "owner", "lead_source", "industry"])
def test_additive_breakdowns_add_up_to_the_total(store: DuckDBStore, dimension: str) -> None:
    two_sources(store)
    definitions = get_kpis()
    keys = [k for k in ADDITIVE if dimension in definitions[k].dimensions]
    rows = compute_kpis(store, metrics=keys, by=[dimension], **MARCH)  # type: ignore[arg-type]
    for key in keys:
        total = next(r.value for r in rows if r.metric == key and not r.dimensions)
        parts = [r.value or 0 for r in rows if r.metric == key and r.dimensions]
        assert parts, key
        assert sum(parts) == pytest.approx(total), key


def test_breakdown_by_owner_uses_the_creating_user_for_accounts(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["accounts_created"], by=["owner"], **MARCH)  # type: ignore[arg-type]
    assert {r.dimensions.get("owner"): r.value for r in rows if r.dimensions} == {"U1": 1,
                                                                                   "U2": 1}


def test_cac_by_lead_source_uses_the_channel_spend_and_acquisition_channel(
        store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["customer_acquisition_cost"], by=["lead_source"],
                        **MARCH)  # type: ignore[arg-type]
    split = {r.dimensions.get("lead_source"): r.value for r in rows}
    assert split == {None: 225, "web": 300, "event": 150}


def test_unknown_metric_or_dimension_lists_the_valid_ones(store: DuckDBStore) -> None:
    with pytest.raises(ConfigError, match=r"valid metrics: .*win_rate"):
        compute_kpis(store, metrics=["win_rat"], as_of=AS_OF)
    with pytest.raises(ConfigError, match="valid dimensions: source"):
        compute_kpis(store, by=["colour"], as_of=AS_OF)
    with pytest.raises(ConfigError, match="its dimensions: source"):
        compute_kpis(store, metrics=["renewal_rate"], by=["owner"], as_of=AS_OF)


def test_benchmark_target_and_history_comparisons(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["customer_churn_rate", "revenue"],
                        targets={"customer_churn_rate": Target(value=5.0,
                                                               by=dt.date(2027, 6, 30)),
                                 "revenue": Target(value=1500)},
                        **MARCH)  # type: ignore[arg-type]
    churn, revenue = totals(rows)["customer_churn_rate"], totals(rows)["revenue"]
    assert churn.comparisons["benchmark"]["verdict"] == "worse"  # 33 % against 3-7 %
    assert "3-7" in churn.comparisons["benchmark"]["source"]
    assert churn.comparisons["target"] == {"value": 5.0, "by": "2027-06-30",
                                           "verdict": "off_track"}
    assert revenue.comparisons["target"]["verdict"] == "on_track"
    assert revenue.comparisons["previous"]["value"] == pytest.approx(400)
    assert revenue.comparisons["previous"]["verdict"] == "better"
    assert revenue.comparisons["year_ago"]["period_start"] == "2025-03-01"


def test_grains_and_default_range(store: DuckDBStore) -> None:
    # as_of 2026-04-10: the range ends at the last complete quarter; the one before it ends
    # before the first deal (D3, created 2026-01-01), so it has no revenue to show.
    rows = compute_kpis(store, metrics=["revenue"], grain="quarter", as_of=AS_OF, rates=RATES,
                        periods=2)
    assert [(r.period_start, r.value) for r in rows] == [
        (dt.date(2025, 10, 1), None), (dt.date(2026, 1, 1), pytest.approx(2200))]
    assert "before the first deals record (2026-01-01)" in (rows[0].note or "")
    weeks = compute_kpis(store, metrics=["leads_created"], grain="week", start="2026-03-02",
                         end="2026-03-02", as_of=AS_OF)
    # ISO week of Monday 2026-03-02: L3 (03-02), L4 (03-03); L1 is 03-01, a Sunday.
    assert [(r.period_start, r.value) for r in weeks] == [(dt.date(2026, 3, 2), 2)]


def test_snapshot_history_survives_later_edits(store: DuckDBStore) -> None:
    first = compute_kpis(store, metrics=["users_active_7d", "revenue"], **MARCH)  # type: ignore[arg-type]
    save_snapshots(store, first, dt.datetime(2026, 3, 20), run_at=dt.datetime(2026, 3, 20))
    # Later every user logs in and a March deal is deleted at the source.
    load(store, {"users": [dict(id=f"U{n}", is_active=True,
                                last_login_at="2026-04-09T00:00:00Z") for n in range(1, 7)],
                 "deals": [dict(DATASET["deals"][0], is_deleted=True)]})
    now = totals(compute_kpis(store, metrics=["users_active_7d", "revenue"], **MARCH))  # type: ignore[arg-type]
    assert now["users_active_7d"].value == 6 and now["revenue"].value == pytest.approx(800)
    history = compute_kpis(store, metrics=["users_active_7d", "revenue"], from_history=True,
                           **MARCH)  # type: ignore[arg-type]
    saved = totals(history)
    assert saved["users_active_7d"].value == 2
    assert saved["revenue"].value == pytest.approx(1800)
    assert read_history is not None


def test_history_without_saved_runs_says_how_to_build_it(store: DuckDBStore) -> None:
    with pytest.raises(MetricError, match="--save"):
        compute_kpis(store, metrics=["revenue"], from_history=True, **MARCH)  # type: ignore[arg-type]


def test_definitions_are_portable_sql() -> None:
    definitions = get_kpis()
    from crm_connect.metrics.engine import make_periods

    periods = make_periods("month", dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 1))
    sql = build_query(definitions, list(definitions), ["source", "owner"], periods, "month",
                      dt.datetime(2026, 4, 10), "USD", {"EUR": Decimal("1.08")})
    postgres = transpile(sql, "postgres")
    assert "GROUPING SETS" in postgres and "date_trunc" in postgres.lower()


def test_a_third_party_plugin_registers_a_kpi(store: DuckDBStore) -> None:
    from crm_connect import hookimpl
    from crm_connect.metrics import KpiDefinition, Measure
    from crm_connect.plugins import register_plugin, unregister_plugin

    class MeetingsPlugin:
        @hookimpl
        def register_kpis(self, register: Any) -> None:
            register(KpiDefinition(
                key="meetings_held", name="Meetings held", unit="count", better="up",
                formula="activities of kind meeting in period", entities=("activities",),
                dimensions=("source", "owner"),
                measures=(Measure(name="meetings", relation="activities",
                                  where="f.kind = 'meeting'", event="f.occurred_at"),),
                value="meetings", count="meetings"))

    register_plugin(MeetingsPlugin(), "meetings")
    try:
        rows = totals(compute_kpis(store, metrics=["meetings_held", "win_rate"], **MARCH))  # type: ignore[arg-type]
        assert rows["meetings_held"].value == 1 and rows["win_rate"].value == 75
        from crm_connect.metrics import kpi_plugin

        assert kpi_plugin("meetings_held") == "meetings"
        assert kpi_plugin("win_rate") == "kpis"
    finally:
        unregister_plugin("meetings")
    assert "meetings_held" not in get_kpis()


def test_a_kpi_key_registered_twice_names_both_plugins() -> None:
    from crm_connect import hookimpl
    from crm_connect.errors import PluginError
    from crm_connect.metrics.catalogue import CATALOGUE
    from crm_connect.plugins import register_plugin, unregister_plugin

    class Clash:
        @hookimpl
        def register_kpis(self, register: Any) -> None:
            register(CATALOGUE[0])

    register_plugin(Clash(), "clash")
    try:
        with pytest.raises(PluginError, match=r'"kpis".*"clash"|"clash".*"kpis"'):
            get_kpis()
    finally:
        unregister_plugin("clash")


def test_every_dimension_a_kpi_declares_works(store: DuckDBStore) -> None:
    definitions = get_kpis()
    for dimension in DIMENSIONS:
        keys = [k for k, d in definitions.items() if dimension in d.dimensions]
        rows = compute_kpis(store, metrics=keys, by=[dimension], **MARCH)  # type: ignore[arg-type]
        assert {r.metric for r in rows} == set(keys)


def test_a_last_bit_difference_between_periods_is_not_a_change() -> None:
    from crm_connect.metrics.comparisons import _verdict
    from crm_connect.metrics.registry import get_kpis

    churn = get_kpis()["customer_churn_rate"]
    assert _verdict(churn, 0.1 + 0.2, 0.3) == "same"
    assert _verdict(churn, 3.0, 4.0) == "better"
    assert _verdict(churn, 4.0, 3.0) == "worse"
