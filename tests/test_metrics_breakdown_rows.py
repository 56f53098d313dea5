"""Every breakdown value gets a row in every period (issue 16 part 7): with ``--by source``
a source that has data anywhere in the reported range has a row in each period, null with
the note saying why where that period has nothing, exactly as the total's row is."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kpi_dataset import AS_OF, RATES, load, open_memory_store, t

from conftest import run_cli
from crm_connect.metrics import KpiRow, compute_kpis
from crm_connect.store import DuckDBStore

RANGE = dict(grain="month", start="2026-01-01", end="2026-03-31", as_of=AS_OF)
MONTHS = ["2026-01-01", "2026-02-01", "2026-03-01"]
METRICS = ["win_rate", "revenue", "sales_cycle_length", "pipeline_velocity"]

# Source b closes one won deal in January, nothing after; source c only in the look-back
# (a year before the range): it has no data in the reported range, so no rows.
B_DEALS = [dict(id="B1", created_at=t("2026-01-02"), closed_at=t("2026-01-12"),
                is_closed=True, is_won=True, amount="100", currency="USD")]
C_DEALS = [dict(id="C1", created_at=t("2025-02-02"), closed_at=t("2025-02-12"),
                is_closed=True, is_won=True, amount="70", currency="USD")]


def _load_all(store: DuckDBStore) -> DuckDBStore:
    load(store)
    load(store, {"deals": B_DEALS}, source="b")
    return load(store, {"deals": C_DEALS}, source="c")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield _load_all(opened)


def _by_source(rows: list[KpiRow]) -> dict[tuple[str, str], dict[str, KpiRow]]:
    """(metric, source or "" for the total) -> period start -> row."""
    table: dict[tuple[str, str], dict[str, KpiRow]] = defaultdict(dict)
    for row in rows:
        table[(row.metric, row.dimensions.get("source", ""))][row.period_start.isoformat()] = row
    return table


def test_a_source_with_data_has_a_row_in_every_period(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=METRICS, by=["source"], rates=RATES, **RANGE)  # type: ignore[arg-type]
    table = _by_source(rows)
    for metric in METRICS:
        assert sorted(table[(metric, "b")]) == MONTHS, metric
        assert (metric, "c") not in table  # data only in the look-back: no rows
    win = table[("win_rate", "b")]
    assert win["2026-01-01"].value == 100
    for month in ("2026-02-01", "2026-03-01"):
        # null with the reason, the very note a total row with nothing closed has
        assert win[month].value is None and win[month].note == "no deals closed in the period"
        assert win[month].denominator == 0
        assert table[("sales_cycle_length", "b")][month].note == "no deals won in the period"
        # a sum is 0, as the total's is in a period with nothing won
        assert table[("revenue", "b")][month].value == 0
        velocity = table[("pipeline_velocity", "b")][month]
        assert velocity.value is None and velocity.note and velocity.note.startswith("needs ")


def test_breakdown_rows_still_add_up_to_the_total(store: DuckDBStore) -> None:
    rows = compute_kpis(store, metrics=["revenue"], by=["source"], rates=RATES, **RANGE)  # type: ignore[arg-type]
    table = _by_source(rows)
    for month in MONTHS:
        parts = sum(table[("revenue", source)][month].value or 0 for source in ("a", "b"))
        assert parts == pytest.approx(table[("revenue", "")][month].value or 0)


def test_the_total_rows_do_not_change(store: DuckDBStore) -> None:
    alone = compute_kpis(store, metrics=METRICS, rates=RATES, **RANGE)  # type: ignore[arg-type]
    broken_down = compute_kpis(store, metrics=METRICS, by=["source"], rates=RATES, **RANGE)  # type: ignore[arg-type]
    totals = [row.to_dict() for row in broken_down if not row.dimensions]
    assert totals == [row.to_dict() for row in alone]


def _json(result: Any) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_the_command_gives_every_source_a_row_in_every_period(tmp_path: Path) -> None:
    with DuckDBStore.open(f"duckdb:///{tmp_path / 'crm.duckdb'}", base_dir=tmp_path) as opened:
        _load_all(opened)
    (tmp_path / "crm-connect.toml").write_text('[reporting]\nrates = { EUR = 1.5 }\n')
    rows = _json(run_cli("kpis", "--metric", "win_rate", "--by", "source", "--grain", "month",
                         "--from", "2026-01-01", "--to", "2026-03-31", "--as-of", AS_OF,
                         "--format", "json", cwd=tmp_path))
    periods: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        periods[row["dimensions"].get("source", "")].append(row["period_start"])
    assert {source: sorted(starts) for source, starts in periods.items()} == {
        "": MONTHS, "a": MONTHS, "b": MONTHS}
    february_b = next(r for r in rows if r["dimensions"] == {"source": "b"}
                      and r["period_start"] == "2026-02-01")
    assert february_b["value"] is None and february_b["note"] == "no deals closed in the period"
