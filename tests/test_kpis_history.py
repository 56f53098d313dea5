"""KPI history through the installed command: ``kpis --save`` is an upsert that keeps the
comparisons, ``--from-history`` explains what it cannot read (issue 13, item 9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

AS_OF = "2026-07-15T00:00:00Z"


@pytest.fixture(scope="module")
def synced_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crm_connect.sample import write_sample_export

    root = tmp_path_factory.mktemp("history")
    write_sample_export(root / "exports", scale=0.1, seed=3)
    # Deals a year before the sample's first, so that the year-ago comparison has a value.
    with (root / "exports" / "deals.csv").open("a", encoding="utf-8") as deals:
        for month in (4, 5, 6):
            stamp = f"2025-{month:02d}-15T10:00:00.000+0000"
            deals.write(f"Y{month},2025-01-05T10:00:00.000+0000,{stamp},,Old deal {month},,,"
                        f"default,closed_won,{1000 * month}.00,USD,new_business,referral,,"
                        f"{stamp},True,True,100\n")
    (root / "crm-connect.toml").write_text(
        '[reporting]\ncurrency = "USD"\nrates = { EUR = 1.08 }\n\n'
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n')
    result = run_cli("sync", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def synced(synced_once: Path, tmp_path: Path) -> Path:
    """A copy of the synced project each test may write its history into."""
    return Path(shutil.copytree(synced_once, tmp_path / "project"))


def _snapshots(project: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(project / "crm.duckdb"), read_only=True)
    try:
        return con.execute("SELECT metric, grain, period_start, dimensions, as_of, currency "
                           "FROM kpi_snapshots ORDER BY ALL").fetchall()
    finally:
        con.close()


def _kpis(project: Path, *args: str) -> list[dict[str, Any]]:
    result = run_cli("kpis", "--format", "json", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


SAVE = ("--save", "--as-of", AS_OF, "--metric", "revenue", "--metric", "win_rate",
        "--by", "source", "--periods", "3")


def test_saving_twice_replaces_the_rows_instead_of_duplicating_them(synced: Path) -> None:
    _kpis(synced, *SAVE)
    first = _snapshots(synced)
    assert first and len(first) == len(set(first))
    assert {row[5] for row in first if row[0] == "revenue"} == {"USD"}
    assert {row[5] for row in first if row[0] == "win_rate"} == {None}
    _kpis(synced, *SAVE)
    assert _snapshots(synced) == first
    # Another as_of is another snapshot of the same periods: kept beside the first.
    _kpis(synced, "--save", "--as-of", "2026-07-20T00:00:00Z", "--metric", "revenue",
          "--periods", "1")
    assert len(_snapshots(synced)) == len(first) + 1


def test_rows_read_from_history_keep_their_year_ago_comparison(synced: Path) -> None:
    computed = _kpis(synced, *SAVE)
    history = _kpis(synced, "--from-history", "--as-of", AS_OF, "--metric", "revenue",
                    "--metric", "win_rate", "--by", "source", "--periods", "3")
    assert len(history) == len(computed)
    for saved, fresh in zip(history, computed, strict=True):
        assert saved["comparisons"]["year_ago"] == fresh["comparisons"]["year_ago"]
        assert saved["comparisons"]["previous"] == fresh["comparisons"]["previous"]
        assert saved["value"] == fresh["value"]
    assert any(row["comparisons"]["year_ago"]["value"] is not None for row in history)


def test_from_history_at_a_grain_never_saved_says_so(synced: Path) -> None:
    _kpis(synced, *SAVE)
    result = run_cli("kpis", "--from-history", "--grain", "week", "--as-of", AS_OF,
                     "--metric", "revenue", cwd=synced)
    assert result.returncode == 1
    assert "no KPI history at grain 'week' (it holds month)" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_save_and_from_history_together_is_a_usage_error(synced: Path) -> None:
    result = run_cli("kpis", "--save", "--from-history", cwd=synced)
    assert result.returncode == 2
    assert "--save and --from-history cannot be used together" in result.stderr
    con = duckdb.connect(str(synced / "crm.duckdb"), read_only=True)
    try:
        assert not con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'kpi_snapshots'").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()


def test_a_table_before_the_first_sync_is_only_the_message(tmp_path: Path) -> None:
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.f]\nconnector = "files"\npath = "x"\n')
    result = run_cli("kpis", "--metric", "win_rate", cwd=tmp_path, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "holds no records yet: run `crm-connect sync` first" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "crm.duckdb").exists()


def test_a_history_saved_by_an_older_version_is_read_and_extended(synced: Path) -> None:
    con = duckdb.connect(str(synced / "crm.duckdb"))
    try:
        con.execute(
            "CREATE TABLE kpi_snapshots (run_at TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL, "
            "metric VARCHAR NOT NULL, grain VARCHAR NOT NULL, period_start DATE NOT NULL, "
            "period_end DATE NOT NULL, dimensions VARCHAR NOT NULL, value DOUBLE, "
            "unit VARCHAR, numerator DOUBLE, denominator DOUBLE, count BIGINT, note VARCHAR)")
        for _ in range(2):  # the duplicates the old --save left
            con.execute("INSERT INTO kpi_snapshots VALUES (TIMESTAMP '2026-07-15 01:00', "
                        "TIMESTAMP '2026-07-15', 'revenue', 'month', DATE '2026-06-01', "
                        "DATE '2026-07-01', '{}', 1234.5, 'currency', 1234.5, NULL, 3, NULL)")
    finally:
        con.close()
    rows = _kpis(synced, "--from-history", "--as-of", AS_OF, "--metric", "revenue",
                 "--periods", "2")
    june = next(row for row in rows if row["period_start"] == "2026-06-01")
    assert june["value"] == 1234.5 and june["count"] == 3
    _kpis(synced, "--save", "--as-of", AS_OF, "--metric", "revenue", "--periods", "2")
    saved = [row for row in _snapshots(synced) if row[2].isoformat() == "2026-06-01"]
    assert len(saved) == 1 and saved[0][5] == "USD"


def test_before_the_first_sync_a_bad_metric_is_still_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.f]\nconnector = "files"\npath = "x"\n')
    result = run_cli("kpis", "--metric", "winrate", cwd=tmp_path)
    assert result.returncode == 2 and "win_rate" in result.stderr
