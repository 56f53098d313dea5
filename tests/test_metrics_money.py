"""Money in the metric engine: a currency without a rate nulls only the KPIs that convert it
(with a note naming it and the ``[reporting] rates`` table), and currency codes never reach
the SQL text (issue 12: a crafted ``rates`` key read a local file into the error message)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kpi_dataset import AS_OF, EXPECTED_MARCH, RATES, load, open_memory_store
from pydantic import ValidationError

from conftest import run_cli
from crm_connect.config import parse_config
from crm_connect.errors import ConfigError
from crm_connect.metrics import KpiRow, build_query, compute_kpis, get_kpis, transpile
from crm_connect.metrics.engine import make_periods
from crm_connect.schema import ENTITIES
from crm_connect.store import DuckDBStore

MARCH = dict(grain="month", start="2026-03-01", end="2026-03-31", as_of=AS_OF)
# Every KPI that reads an amount, directly or through an input: deals (D2 is 200 EUR),
# spend (SP2 100 EUR), contracts (K2 600 EUR), campaigns (CMP2 100 EUR).
CONVERTING = {"revenue", "average_deal_size", "revenue_growth_rate", "open_pipeline_value",
              "pipeline_velocity", "customer_acquisition_cost", "customer_retention_cost",
              "arpu", "customer_lifetime_value", "cac_payback_months",
              "average_contract_value", "campaign_roi", "revenue_per_campaign",
              "cost_per_interaction"}
CRAFTED = "EUR' THEN 1.0 END * 0 + (SELECT content FROM read_text('secret.txt')) --"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield load(opened)


def totals(rows: list[KpiRow]) -> dict[str, KpiRow]:
    return {row.metric: row for row in rows if not row.dimensions}


def test_a_currency_without_a_rate_nulls_only_the_kpis_that_convert_it(
        store: DuckDBStore) -> None:
    rows = totals(compute_kpis(store, rates={}, **MARCH))  # type: ignore[arg-type]
    assert {key for key, row in rows.items() if row.value is None} == CONVERTING
    for key in CONVERTING:
        row = rows[key]
        assert row.numerator is None and row.missing_rates == ("EUR",), key
        assert "EUR" in (row.note or "") and "[reporting] rates" in (row.note or ""), key
    # Every other KPI keeps its hand-worked value.
    for key, expected in EXPECTED_MARCH.items():
        if key not in CONVERTING:
            assert rows[key].value == pytest.approx(expected), key


def test_one_contract_in_another_currency_blanks_only_the_contract_value(
        store: DuckDBStore) -> None:
    load(store, {"contracts": [dict(id="K9", start_date="2026-03-05", end_date="2027-03-05",
                                    total_value="800", currency="GBP")]})
    rows = totals(compute_kpis(store, rates=RATES, **MARCH))  # type: ignore[arg-type]
    acv = rows["average_contract_value"]
    assert acv.value is None and acv.missing_rates == ("GBP",)
    assert "GBP" in (acv.note or "") and "contracts" in (acv.note or "")
    assert rows["revenue"].value == pytest.approx(1800)
    assert rows["renewal_rate"].value == pytest.approx(200 / 3)  # reads no amount
    with_rate = totals(compute_kpis(store, metrics=["average_contract_value"],
                                    rates={**RATES, "GBP": 1.25}, **MARCH))  # type: ignore[arg-type]
    # K1 1200, K2 900 and K9 800 GBP = 1000, each a year -> 3100 / 3.
    assert with_rate["average_contract_value"].value == pytest.approx(3100 / 3)


def test_a_breakdown_of_an_unconvertible_kpi_is_null_too(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue"], by=["source"], rates={}, **MARCH)  # type: ignore[arg-type]
    assert rows and all(row.value is None and row.missing_rates for row in rows)


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", CRAFTED])
def test_the_reporting_currency_must_be_an_iso_code(store: DuckDBStore, currency: str) -> None:
    with pytest.raises(ConfigError, match="is not a currency code"):
        compute_kpis(store, metrics=["revenue"], currency=currency, **MARCH)  # type: ignore[arg-type]


def test_a_crafted_rates_key_is_refused_before_any_sql(store: DuckDBStore,
                                                       tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    with pytest.raises(ConfigError, match=r"rates: key .* is not a currency code") as error:
        compute_kpis(store, metrics=["revenue"], rates={CRAFTED: 1.0}, **MARCH)  # type: ignore[arg-type]
    assert "TOPSECRET" not in str(error.value)


@pytest.mark.parametrize("rate", [0, -1.5, float("nan"), float("inf"), "abc"])
def test_a_rate_must_be_a_positive_number(store: DuckDBStore, rate: object) -> None:
    with pytest.raises(ConfigError, match=r"the rate of EUR is .* positive number"):
        compute_kpis(store, metrics=["revenue"], rates={"EUR": rate}, **MARCH)  # type: ignore[arg-type, dict-item]


@pytest.mark.parametrize("table", [
    '[reporting]\ncurrency = "eur"\n',
    f'[reporting]\nrates = {{ "{CRAFTED}" = 1.0 }}\n',
    '[reporting]\nrates = { EUR = -1.0 }\n',
])
def test_the_configuration_refuses_codes_that_are_not_iso(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigError, match=r"\[reporting\] (currency|rates)"):
        parse_config(table, None, tmp_path)


def test_codes_and_rates_are_bound_not_written_into_the_sql() -> None:
    periods = make_periods("month", dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 1))
    sql = build_query(get_kpis(), ["revenue", "campaign_roi"], ["source"], periods, "month",
                      dt.datetime(2026, 4, 10), "USD", {"EUR": 1.0825, "GBP": 1.27})
    for literal in ("USD", "EUR", "GBP", "1.0825", "1.27"):
        assert literal not in sql
    assert "$1" in sql and "$5" in sql
    postgres = transpile(sql, "postgres")  # bound by the Postgres server, still parameters
    assert "$1" in postgres and "EUR" not in postgres


def test_a_crafted_currency_in_a_record_is_rejected_by_the_schema() -> None:
    with pytest.raises(ValidationError, match="currency"):
        ENTITIES["deals"].model_validate({"source": "a", "id": "D1", "currency": CRAFTED})


def test_a_crafted_currency_written_around_the_schema_stays_data(store: DuckDBStore,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    store.con.execute("UPDATE deals SET currency = ? WHERE id = 'D2'", [CRAFTED])
    rows = totals(compute_kpis(store, metrics=["revenue", "win_rate"], rates=RATES, **MARCH))  # type: ignore[arg-type]
    revenue = rows["revenue"]
    assert revenue.value is None and "not ISO 4217" in (revenue.note or "")
    assert "TOPSECRET" not in (revenue.note or "") and CRAFTED not in (revenue.note or "")
    assert rows["win_rate"].value == 75


@pytest.mark.slow
def test_kpis_without_a_rate_print_the_rest_and_exit_1(project: Path) -> None:
    assert run_cli("sync", cwd=project).returncode == 0
    result = run_cli("kpis", "--metric", "revenue", "--metric", "leads_created", "--format",
                     "json", "--as-of", "2026-07-15T00:00:00Z", "--periods", "3", cwd=project)
    assert result.returncode == 1, result.stderr
    rows = json.loads(result.stdout)
    revenue = [r for r in rows if r["metric"] == "revenue"]
    assert revenue and all(r["value"] is None and "EUR" in r["note"] for r in revenue)
    assert any(r["value"] for r in rows if r["metric"] == "leads_created")
    message = " ".join(result.stderr.split())
    assert "no exchange rate into USD for EUR" in message
    assert "[reporting] rates" in message and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_crafted_rates_key_in_the_configuration_exits_2(project: Path) -> None:
    (project / "secret.txt").write_text("TOPSECRET")
    config = project / "crm-connect.toml"
    config.write_text(f'[reporting]\nrates = {{ "{CRAFTED}" = 1.0 }}\n\n' + config.read_text())
    result = run_cli("kpis", "--metric", "revenue", "--format", "json", cwd=project)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "[reporting] rates: key" in message and "is not a currency code" in message
    assert "TOPSECRET" not in result.stdout + result.stderr


def test_a_dollar_sign_in_a_note_is_not_taken_for_a_parameter(store: DuckDBStore) -> None:
    from typing import Any

    from crm_connect import hookimpl
    from crm_connect.metrics import KpiDefinition, Measure
    from crm_connect.plugins import register_plugin, unregister_plugin

    class Upsells:
        @hookimpl
        def register_kpis(self, register: Any) -> None:
            register(KpiDefinition(
                key="upsells_won", name="Upsells won", unit="count", better="up",
                formula="won deals of type upsell", entities=("deals",),
                measures=(Measure(name="upsells", relation="deals",
                                  where="f.is_won AND f.deal_type = 'upsell'",
                                  event="f.closed_at"),),
                value="upsells", count="upsells", null_when="upsells = 0",
                null_note="no upsell won: worth $1 or $12, they count"))

    register_plugin(Upsells(), "upsells")
    try:
        rows = totals(compute_kpis(store, metrics=["upsells_won", "win_rate"], rates=RATES,
                                   **MARCH))  # type: ignore[arg-type]
    finally:
        unregister_plugin("upsells")
    assert rows["upsells_won"].value == 2 and rows["win_rate"].value == 75  # D2, D7
