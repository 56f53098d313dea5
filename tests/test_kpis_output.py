"""What ``crm-connect kpis`` prints, through the installed command: a table whose every value
is whole at 80 columns and in a file, and JSON/CSV a program can use (issue 13)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import CLI, run_cli
from crm_connect.metrics.labels import natural_key
from crm_connect.metrics.render import format_value, sparkline

pytestmark = pytest.mark.slow

AS_OF = "2026-07-15T00:00:00Z"
COLUMNS_80 = {"COLUMNS": "80"}


def _records(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small export made to show what the table must survive: a nine-digit revenue, an
    NPS from two responses, owners whose names sort naturally, one with rich markup."""
    root = tmp_path_factory.mktemp("crafted")
    exports = root / "exports"
    exports.mkdir()
    made = "2025-01-01T00:00:00Z"
    _records(exports / "users.jsonl", [
        {"id": "005A", "name": "Rep 10", "is_active": True, "created_at": made},
        {"id": "005B", "name": "Rep 2", "is_active": True, "created_at": made},
        {"id": "005C", "name": "[bold]Rep 3[/bold]", "is_active": True, "created_at": made},
    ])
    deals = [("D1", "005A", 202_000_000.10), ("D2", "005B", 200_000.2), ("D3", "005B", 100_000.1),
             ("D4", "005B", 16_672.64), ("D5", "005C", 1_000.0)]
    _records(exports / "deals.jsonl", [
        {"id": key, "owner_id": owner, "amount": amount, "currency": "USD", "is_won": True,
         "is_closed": True, "stage": "Closed Won", "created_at": "2026-05-02T10:00:00Z",
         "closed_at": "2026-06-10T10:00:00Z"} for key, owner, amount in deals])
    _records(exports / "survey_responses.jsonl", [
        {"id": f"S{n}", "survey_type": "nps", "score": score, "scale_min": 0, "scale_max": 10,
         "responded_at": "2026-06-05T09:00:00Z", "created_at": "2026-06-05T09:00:00Z"}
        for n, score in ((1, 2), (2, 5))])
    (root / "crm-connect.toml").write_text(
        '[targets]\nrevenue = { value = 250000000.0, by = "2026-12-31" }\n\n'
        '[connections.crafted]\nconnector = "files"\npath = "exports/"\n')
    result = run_cli("sync", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crm_connect.sample import write_sample_export

    root = tmp_path_factory.mktemp("sample")
    write_sample_export(root / "exports", scale=0.1, seed=3)
    (root / "crm-connect.toml").write_text(
        '[reporting]\ncurrency = "USD"\nrates = { EUR = 1.08 }\n\n'
        '[targets]\ncustomer_churn_rate = { value = 3.0, by = "2027-06-30" }\n\n'
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n')
    result = run_cli("sync", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def _to_file(args: list[str], cwd: Path, tmp_path: Path) -> str:
    """Run the command with stdout redirected to a file, as `kpis > file.txt` does."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    target = tmp_path / "out.txt"
    with target.open("w") as handle:
        result = subprocess.run([CLI, *args], cwd=cwd, env=env, stdout=handle,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return target.read_text()


def _json_rows(args: list[str], cwd: Path) -> list[dict[str, Any]]:
    result = run_cli(*args, "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _assert_whole(text: str, rows: list[dict[str, Any]], period: str, currency: str,
                  width: int | None) -> None:
    """Every value of ``period`` appears whole, every note and year-ago value too."""
    assert "…" not in text
    if width is not None:
        assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    shown = [row for row in rows if row["period_start"] == period]
    assert shown
    for row in shown:
        assert format_value(row["value"], row["unit"], currency) in text, row
        if row["note"]:
            assert " ".join(row["note"].split()) in flat, row["note"]
        year = (row["comparisons"].get("year_ago") or {}).get("value")
        if year is not None:
            assert f"year ago {format_value(year, row['unit'], currency)}" in flat


ARGS = ["kpis", "--as-of", AS_OF]


def test_the_whole_catalogue_is_whole_at_80_columns(sample: Path) -> None:
    rows = _json_rows(ARGS, sample)
    table = run_cli(*ARGS, cwd=sample, env=COLUMNS_80)
    assert table.returncode == 0, table.stderr
    # The table ends at the last complete period: June, not the July of --as-of.
    assert "KPIs for 2026-06 (month" in table.stdout
    assert "trend: 2025-07 to 2026-06" in " ".join(table.stdout.split())
    _assert_whole(table.stdout, [r for r in rows if not r["dimensions"]], "2026-06-01", "USD",
                  width=80)
    assert "target 3.0 % by 2027-06-30" in " ".join(table.stdout.split())
    assert "benchmark 3-7 %" in table.stdout


def test_a_file_gets_every_value_whole(sample: Path, tmp_path: Path) -> None:
    args = [*ARGS, "--by", "owner"]
    rows = _json_rows(args, sample)
    text = _to_file(args, sample, tmp_path)
    _assert_whole(text, rows, "2026-06-01", "USD", width=None)
    assert "\x1b[" not in text  # no colour codes in a file


def test_big_money_small_samples_and_owner_names(crafted: Path, tmp_path: Path) -> None:
    nps = run_cli("kpis", "--as-of", AS_OF, "--metric", "net_promoter_score", cwd=crafted,
                  env=COLUMNS_80)
    assert nps.returncode == 0, nps.stderr
    assert "-100.0" in nps.stdout and "n=2, small sample" in nps.stdout  # two responses
    args = ["kpis", "--as-of", AS_OF, "--metric", "revenue", "--by", "owner"]
    table = run_cli(*args, cwd=crafted, env=COLUMNS_80)
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert "USD 202,317,673" in text  # 202,000,000.10 + 316,672.94 + 1,000: whole
    assert "target USD 250,000,000 by 2026-12-31: off track" in " ".join(text.split())
    # Owners by name, in natural order, markup printed as written.
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("owner:")]
    assert [line.split("  ")[0] for line in lines] == [
        "owner: [bold]Rep 3[/bold]", "owner: Rep 2", "owner: Rep 10"]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "USD 202,317,673" in _to_file(args, crafted, tmp_path)


def test_json_and_csv_round_name_the_currency_and_split_dimensions(crafted: Path) -> None:
    args = ["kpis", "--as-of", AS_OF, "--metric", "revenue", "--periods", "2",
            "--by", "owner", "--by", "source"]
    rows = _json_rows(args, crafted)
    june = [r for r in rows if r["period_start"] == "2026-06-01"]
    by_owner = {r["dimensions"]["owner"]: r for r in june if r["dimensions"]}
    rep2 = by_owner["Rep 2"]
    assert rep2["value"] == 316672.94 and rep2["currency"] == "USD"  # not 316672.94000000006
    assert rep2["dimension_ids"] == {"owner": "005B"}
    assert rep2["dimensions"] == {"source": "crafted", "owner": "Rep 2"}
    assert [r["dimensions"].get("owner") for r in june] == [
        None, "[bold]Rep 3[/bold]", "Rep 2", "Rep 10"]
    # By default the range ends at the last complete period with data: June, not July.
    assert [r["partial"] for r in rows if not r["dimensions"]] == [False, False]

    result = run_cli(*args, "--format", "csv", cwd=crafted)
    assert result.returncode == 0, result.stderr
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(lines[0])[:8] == ["metric", "period_start", "period_end", "grain", "source",
                                  "owner", "owner_id", "value"]
    rep2_csv = next(line for line in lines
                    if line["owner"] == "Rep 2" and line["period_start"] == "2026-06-01")
    assert (rep2_csv["value"], rep2_csv["currency"], rep2_csv["owner_id"],
            rep2_csv["source"]) == ("316672.94", "USD", "005B", "crafted")
    assert "dimensions" not in lines[0]


def test_week_grain_over_years_stays_one_row_per_kpi(crafted: Path) -> None:
    args = ["kpis", "--as-of", AS_OF, "--metric", "revenue", "--grain", "week",
            "--from", "2024-01-01"]
    table = run_cli(*args, cwd=crafted, env=COLUMNS_80)
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert len(table.stdout.splitlines()) < 12
    assert "2026-W24" in table.stdout  # the last complete week with data (deals 2026-06-10)


def test_wide_prints_every_period_in_blocks_that_fit(sample: Path) -> None:
    args = [*ARGS, "--metric", "customer_churn_rate", "--metric", "revenue", "--metric",
            "open_pipeline_value", "--by", "source", "--periods", "14", "--wide"]
    rows = _json_rows(args, sample)
    table = run_cli(*args, cwd=sample, env=COLUMNS_80)
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "…" not in table.stdout
    assert table.stdout.count("by month:") >= 2
    for row in rows:
        if row["period_start"] <= "2026-06-01":
            assert format_value(row["value"], row["unit"], "USD") in table.stdout


def test_list_shows_formulas_and_honours_the_format(sample: Path) -> None:
    table = run_cli("kpis", "--list", cwd=sample, env=COLUMNS_80)
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    flat = " ".join(table.stdout.split())
    listed = json.loads(run_cli("kpis", "--list", "--format", "json", cwd=sample).stdout)
    assert listed[0]["formula"] and listed[0]["precision"] == 0
    for item in listed:
        assert item["key"] in flat
        assert set(item["formula"].split()) <= set(flat.split()), item["key"]
    rows = list(csv.DictReader(io.StringIO(
        run_cli("kpis", "--list", "--format", "csv", cwd=sample).stdout)))
    assert [r["key"] for r in rows] == [item["key"] for item in listed]
    assert rows[0]["formula"] == listed[0]["formula"]


def test_help_shows_no_template_or_python_type() -> None:
    result = run_cli("kpis", "--help", env=COLUMNS_80)
    assert result.returncode == 0
    for leak in ("{", "<list", "[str]", "list[", "TEXT", "INTEGER"):
        assert leak not in result.stdout, leak
    assert "--wide" in result.stdout


def test_sparkline_and_natural_order() -> None:
    assert sparkline([1.0, None, 5.0, 3.0]) == "▁ █▅"
    assert sparkline([2.0, 2.0]) == "▄▄" and sparkline([None]) == " "
    names = ["Rep 10", "rep 2", "Rep 1", "Alex"]
    assert sorted(names, key=natural_key) == ["Alex", "Rep 1", "rep 2", "Rep 10"]


def test_to_ends_the_table_at_a_period_not_over_yet_and_says_so(sample: Path) -> None:
    args = [*ARGS, "--metric", "revenue", "--periods", "3"]
    default = run_cli(*args, cwd=sample, env=COLUMNS_80)
    assert "KPIs for 2026-06" in default.stdout and "partial period" not in default.stdout
    current = run_cli(*args, "--to", "2026-07-15", cwd=sample, env=COLUMNS_80)
    assert current.returncode == 0, current.stderr
    assert "KPIs for 2026-07" in current.stdout and "partial period" in current.stdout
