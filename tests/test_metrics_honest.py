"""Honest KPI values (issue 13): a KPI whose input data does not exist is null with a note
naming the missing input and what could feed it, never 0; the current, incomplete period is
marked partial and not compared as if complete; the default range ends at the last complete
period with data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kpi_dataset import AS_OF, DATASET, RATES, load, open_memory_store

from conftest import run_cli
from crm_connect.config import Target
from crm_connect.metrics import KpiRow, compute_kpis
from crm_connect.store import DuckDBStore

MONTH = dict(grain="month", as_of=AS_OF, rates=RATES)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield load(opened)


def total(rows: list[KpiRow], metric: str, start: dt.date) -> KpiRow:
    return next(r for r in rows if r.metric == metric and r.period_start == start
                and not r.dimensions)


def test_a_year_ago_before_any_data_is_null_and_never_judged(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue", "leads_created"], start="2026-03-01",
                        end="2026-03-31", **MONTH)  # type: ignore[arg-type]
    revenue = total(rows, "revenue", dt.date(2026, 3, 1))
    # March 2025 ends before the first deal (D3, created 2026-01-01): no data, not 0.
    assert revenue.comparisons["year_ago"] == {"period_start": "2025-03-01", "value": None,
                                               "change": None, "verdict": None}
    assert revenue.comparisons["previous"]["verdict"] == "better"  # February: 400, real
    back = compute_kpis(store, metrics=["revenue", "leads_created"], start="2025-03-01",
                        end="2025-03-31", **MONTH)  # type: ignore[arg-type]
    for row in back:
        assert row.value is None and row.numerator is None
        assert "ends before the first" in (row.note or "")
    assert "first leads record (2026-02-10)" in (total(back, "leads_created",
                                                      dt.date(2025, 3, 1)).note or "")


def test_growth_right_after_the_data_starts_says_so(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue_growth_rate"], start="2026-01-01",
                        end="2026-01-31", **MONTH)  # type: ignore[arg-type]
    assert rows[0].value is None
    assert "period before, which ends before the first deals record" in (rows[0].note or "")


def test_cac_and_its_payback_without_acquisition_spend_are_null(store: DuckDBStore) -> None:
    # February: A3 became a customer (N = 1); spend is recorded (retention) but none of it
    # is acquisition spend.
    load(store, {"spend": [dict(id="SP8", date="2026-02-20", category="retention",
                                amount="10", currency="USD")]})
    rows = compute_kpis(store, metrics=["customer_acquisition_cost", "cac_payback_months"],
                        start="2026-02-01", end="2026-03-31", **MONTH)  # type: ignore[arg-type]
    cac = total(rows, "customer_acquisition_cost", dt.date(2026, 2, 1))
    assert (cac.value, cac.numerator, cac.denominator) == (None, None, None)
    assert "no acquisition spend recorded" in (cac.note or "")
    assert "spend.csv" in (cac.note or "")
    payback = total(rows, "cac_payback_months", dt.date(2026, 2, 1))
    assert payback.value is None
    assert (payback.note or "").startswith("needs customer_acquisition_cost: no acquisition")
    # March has spend: 450 / N 2 = 225, and 225 / (ARPU 600 / 1 month) = 0.375 months.
    assert total(rows, "customer_acquisition_cost", dt.date(2026, 3, 1)).value == 225
    assert total(rows, "cac_payback_months", dt.date(2026, 3, 1)).value == pytest.approx(0.375)


def test_cost_per_interaction_without_support_spend_is_null(tmp_path: Path) -> None:
    # Like a CRM that maps campaign costs to acquisition spend and has no support costs.
    dataset = {**DATASET, "spend": [s for s in DATASET["spend"] if s["category"] != "support"]}
    with open_memory_store(tmp_path) as store:
        load(store, dataset)
        rows = compute_kpis(store, metrics=["cost_per_interaction", "customer_retention_cost"],
                            start="2026-03-01", end="2026-03-31", **MONTH)  # type: ignore[arg-type]
    cost = total(rows, "cost_per_interaction", dt.date(2026, 3, 1))
    assert cost.value is None and "no support spend recorded" in (cost.note or "")
    assert total(rows, "customer_retention_cost", dt.date(2026, 3, 1)).value == 30


def test_a_zero_spend_record_is_a_real_zero(store: DuckDBStore) -> None:
    load(store, {"spend": [dict(id="SP9", date="2026-02-14", category="acquisition",
                                amount="0", currency="USD")]})
    rows = compute_kpis(store, metrics=["customer_acquisition_cost"], start="2026-02-01",
                        end="2026-02-28", **MONTH)  # type: ignore[arg-type]
    assert rows[0].value == 0 and rows[0].note is None


def test_the_current_period_is_partial_and_not_compared(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue", "customer_churn_rate"], start="2026-03-01",
                        end=AS_OF, targets={"revenue": Target(value=100)}, **MONTH)  # type: ignore[arg-type]
    march = total(rows, "revenue", dt.date(2026, 3, 1))
    april = total(rows, "revenue", dt.date(2026, 4, 1))
    assert not march.partial and march.comparisons["previous"]["verdict"] == "better"
    assert march.comparisons["target"]["verdict"] == "on_track"
    # April up to the 10th: D9 (200) so far.  Shown, marked partial, judged by nothing.
    assert april.partial and april.value == 200 and april.to_dict()["partial"] is True
    assert april.comparisons["previous"] == {"period_start": "2026-03-01", "value": 1800,
                                             "change": None, "verdict": None}
    assert april.comparisons["target"]["verdict"] is None
    churn = total(rows, "customer_churn_rate", dt.date(2026, 4, 1))
    assert churn.partial and churn.comparisons["benchmark"]["verdict"] is None


def test_the_default_range_ends_at_the_last_complete_period_with_data(
        store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue"], periods=2, **MONTH)  # type: ignore[arg-type]
    # as_of is 2026-04-10: April is incomplete, so the range ends in March.
    assert [(r.period_start, r.partial) for r in rows] == [(dt.date(2026, 2, 1), False),
                                                           (dt.date(2026, 3, 1), False)]
    later = compute_kpis(store, metrics=["revenue"], periods=1, grain="month", rates=RATES,
                         as_of="2026-12-15T00:00:00Z")
    # Months later, the last data (D10 closed 2026-04-20) is in April: not an empty November.
    assert [r.period_start for r in later] == [dt.date(2026, 4, 1)]


def test_data_only_in_the_current_period_is_shown_partial(tmp_path: Path) -> None:
    with open_memory_store(tmp_path) as store:
        load(store, {"leads": [dict(id="L1", created_at="2026-04-02T00:00:00Z")]})
        rows = compute_kpis(store, metrics=["leads_created"], periods=1, **MONTH)  # type: ignore[arg-type]
    assert [(r.period_start, r.value, r.partial) for r in rows] == [
        (dt.date(2026, 4, 1), 1, True)]


@pytest.mark.slow
def test_kpis_json_end_to_end_is_honest(project: Path) -> None:
    """A files export synced into a real DuckDB file, then ``crm-connect kpis --format json``:
    the sample's spend lies in January and February only."""
    config = project / "crm-connect.toml"
    config.write_text('[reporting]\nrates = { EUR = 1.08 }\n\n' + config.read_text())
    assert run_cli("sync", cwd=project).returncode == 0
    as_of = "2026-07-15T00:00:00Z"
    result = run_cli("kpis", "--format", "json", "--as-of", as_of, "--periods", "3",
                     "--metric", "revenue", "--metric", "customer_acquisition_cost",
                     "--metric", "cost_per_interaction", cwd=project)
    assert result.returncode == 0, result.stderr
    rows = [r for r in json.loads(result.stdout) if not r["dimensions"]]
    assert sorted({r["period_start"] for r in rows}) == ["2026-04-01", "2026-05-01",
                                                         "2026-06-01"]
    assert all(r["partial"] is False for r in rows)
    for row in rows:
        if row["metric"] == "revenue":
            assert row["comparisons"]["year_ago"]["verdict"] is None  # 2025: before the data
            assert row["comparisons"]["year_ago"]["value"] is None
        else:  # no spend after February
            assert row["value"] is None and "spend recorded for the period" in row["note"]
    current = run_cli("kpis", "--format", "json", "--as-of", as_of, "--to", as_of,
                      "--periods", "2", "--metric", "revenue", cwd=project)
    latest = json.loads(current.stdout)[-1]
    assert latest["period_start"] == "2026-07-01" and latest["partial"] is True
    assert latest["comparisons"]["previous"]["verdict"] is None
