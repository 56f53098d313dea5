"""What the metric engine's SQL reads: only the columns, joins and money the requested KPIs
need, with the same values as when every relation is built whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from kpi_dataset import AS_OF, RATES, load, open_memory_store

from crm_connect.metrics import build_query, compute_kpis, get_kpis
from crm_connect.metrics.engine import make_periods
from crm_connect.metrics.relations import Relation, columns_referenced
from crm_connect.store import DuckDBStore

MARCH = dict(grain="month", start="2026-03-01", end="2026-03-31", as_of=AS_OF)
FIVE = ["win_rate", "sales_cycle_length", "customer_churn_rate", "net_promoter_score",
        "first_response_time"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield load(opened)


def sql_for(keys: list[str], by: list[str]) -> str:
    periods = make_periods("month", dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 1))
    return build_query(get_kpis(), keys, by, periods, "month", dt.datetime(2026, 4, 10),
                       "USD", {"EUR": 1.08})


def test_five_kpis_read_no_account_join_no_money_and_no_lead_ranking() -> None:
    sql = sql_for(FIVE, [])
    assert "LEFT JOIN accounts" not in sql  # win rate, sales cycle: deal columns only
    assert "$1" not in sql  # no amount is converted: no currency parameter
    assert "ROW_NUMBER" not in sql  # the originating lead is not derived
    assert "x_won_by_account" in sql  # churn's customer_since needs the first won deal


def test_a_breakdown_or_an_amount_brings_its_join_and_conversion_back() -> None:
    sql = sql_for(["revenue"], ["industry"])
    assert "LEFT JOIN accounts" in sql and "CASE COALESCE(d.currency, $1)" in sql


def test_columns_referenced_skips_literals_and_other_aliases() -> None:
    names = columns_referenced("f.is_won AND f.deal_type = 'upsell' AND p.as_of > closed_at")
    assert {"is_won", "deal_type", "closed_at"} <= names
    assert "upsell" not in names and "as_of" not in names


def test_pruned_relations_give_the_values_of_whole_ones(
        store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pruned = compute_kpis(store, rates=RATES, by=["source"], **MARCH)  # type: ignore[arg-type]
    monkeypatch.setattr(Relation, "resolve", lambda self, wanted=None: tuple(self.columns))
    whole = compute_kpis(store, rates=RATES, by=["source"], **MARCH)  # type: ignore[arg-type]
    assert [r.to_dict() for r in pruned] == [r.to_dict() for r in whole]


def test_a_kpi_that_converts_no_amount_needs_no_rate(store: DuckDBStore) -> None:
    with_rates = compute_kpis(store, metrics=["win_rate"], rates=RATES, **MARCH)  # type: ignore[arg-type]
    without = compute_kpis(store, metrics=["win_rate"], rates={}, **MARCH)  # type: ignore[arg-type]
    assert [r.value for r in without] == [r.value for r in with_rates]
