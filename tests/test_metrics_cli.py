"""``crm-connect kpis`` end to end: a files export synced, then KPIs through the installed
command, as a user or a cron job would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

AS_OF = "2026-07-15T00:00:00Z"
REQUIRED = {"metric", "period_start", "period_end", "grain", "dimensions", "value", "unit",
            "numerator", "denominator", "count", "note"}


@pytest.fixture
def synced(project: Path) -> Path:
    config = project / "crm-connect.toml"
    config.write_text('[reporting]\ncurrency = "USD"\nrates = { EUR = 1.08 }\n\n'
                      '[targets]\ncustomer_churn_rate = { value = 3.0, by = "2027-06-30" }\n\n'
                      + config.read_text())
    result = run_cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    return project


def test_sync_then_kpis_as_json(synced: Path) -> None:
    result = run_cli("kpis", "--format", "json", "--as-of", AS_OF, "--grain", "quarter",
                     "--periods", "2", cwd=synced)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    listed = json.loads(run_cli("kpis", "--list", "--format", "json", cwd=synced).stdout)
    assert {row["metric"] for row in rows} == {item["key"] for item in listed}
    assert len(listed) == 42
    for row in rows:
        assert set(row) >= REQUIRED
        assert row["grain"] == "quarter" and row["dimensions"] == {}
        assert (row["value"] is None) == bool(row["note"]) or row["metric"].startswith("users_")
    # The sample's data runs into the current quarter: the range ends at the last complete one.
    assert {row["period_start"] for row in rows} == {"2026-01-01", "2026-04-01"}
    churn = next(r for r in rows if r["metric"] == "customer_churn_rate")
    assert churn["comparisons"]["target"]["value"] == 3.0


def test_kpis_by_source_and_table_output(synced: Path) -> None:
    result = run_cli("kpis", "--as-of", AS_OF, "--metric", "win_rate", "--metric", "revenue",
                     "--by", "source", "--format", "json", cwd=synced)
    rows = json.loads(result.stdout)
    assert {tuple(r["dimensions"].items()) for r in rows} == {(), (("source", "finance"),)}
    table = run_cli("kpis", "--as-of", AS_OF, "--metric", "win_rate", "--metric",
                    "customer_churn_rate", "--periods", "3", cwd=synced)
    assert table.returncode == 0, table.stderr
    assert "win_rate" in table.stdout and "%" in table.stdout and "3-7" in table.stdout
    csv_out = run_cli("kpis", "--as-of", AS_OF, "--metric", "revenue", "--format", "csv",
                      cwd=synced)
    assert csv_out.stdout.splitlines()[0].startswith("metric,period_start,period_end,grain")


def test_bad_metric_or_dimension_exits_2_with_the_valid_ones(synced: Path) -> None:
    bad = run_cli("kpis", "--metric", "winrate", cwd=synced)
    assert bad.returncode == 2 and "win_rate" in bad.stderr
    bad = run_cli("kpis", "--by", "region", cwd=synced)
    assert bad.returncode == 2 and "ticket_channel" in bad.stderr


def test_a_currency_without_a_rate_exits_1_naming_it(project: Path) -> None:
    assert run_cli("sync", cwd=project).returncode == 0
    result = run_cli("kpis", "--metric", "revenue", "--as-of", AS_OF, cwd=project)
    assert result.returncode == 1 and "EUR" in result.stderr


def test_save_builds_a_history_that_can_be_read_back(synced: Path) -> None:
    for as_of in ("2026-06-10T00:00:00Z", AS_OF):
        # --to as_of: the snapshot is saved in the period of its run, partial as it is.
        saved = run_cli("kpis", "--save", "--as-of", as_of, "--to", as_of, "--metric",
                        "users_active_7d", "--metric", "revenue", "--format", "json",
                        cwd=synced)
        assert saved.returncode == 0, saved.stderr
    history = run_cli("kpis", "--from-history", "--as-of", AS_OF, "--metric",
                      "users_active_7d", "--periods", "2", "--format", "json", cwd=synced)
    assert history.returncode == 0, history.stderr
    rows = json.loads(history.stdout)
    assert [r["period_start"] for r in rows] == ["2026-06-01", "2026-07-01"]


def test_the_benchmark_runs_at_a_tiny_scale() -> None:
    import subprocess
    import sys

    script = Path(__file__).parent.parent / "benchmarks" / "kpis.py"
    result = subprocess.run([sys.executable, str(script), "--scale", "0.002", "--repeat", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "whole catalogue, 12 months" in result.stdout


def test_kpis_before_any_sync_says_so_and_leaves_no_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.f]\nconnector = "files"\npath = "x"\n')
    result = cli("kpis", "--metric", "win_rate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "holds no records yet: run `crm-connect sync` first" in result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(row["value"] is None and row["note"] for row in rows)
    assert not (tmp_path / "crm.duckdb").exists()
