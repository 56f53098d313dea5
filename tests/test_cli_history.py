"""``crm-connect runs``, ``crm-connect quarantine`` and the sync summary's changed/deleted counts,
end to end through the installed command on a real DuckDB file fed by the files connector."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb

from conftest import run_cli, run_cli_process


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _append(path: Path, row: dict[str, str]) -> None:
    columns, _ = _rows(path)
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, fieldnames=columns).writerow(row)


def _last_run(project: Path) -> dict[str, Any]:
    result = run_cli("runs", "--format", "json", "--limit", "1", cwd=project)
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)
    return run  # type: ignore[no-any-return]


def _summary_row(stdout: str, stream: str) -> list[str]:
    """The cells of one stream's line in the sync summary table."""
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == f"finance/{stream}":
            return cells
    raise AssertionError(f"no row for {stream} in:\n{stdout}")


def test_resync_that_changes_nothing_says_0_changed(project: Path) -> None:
    first = run_cli("sync", cwd=project)
    assert first.returncode == 0, first.stderr
    header = next(line for line in first.stdout.splitlines() if "stream" in line)
    assert "changed" in header and "deleted" in header
    run = _last_run(project)
    assert run["status"] == "succeeded" and run["records"] > 0
    assert run["changed"] == run["records"] and run["deleted"] == 0

    again = run_cli("sync", cwd=project)
    assert again.returncode == 0, again.stderr
    deals = _summary_row(again.stdout, "deals")
    # The files connector re-reads the rows at its cursor (an overlap, by design): they are
    # read again, but nothing changed.
    assert int(deals[2]) >= 1 and deals[3:5] == ["0", "0"], deals
    run = _last_run(project)
    assert run["records"] >= 1 and run["changed"] == 0 and run["deleted"] == 0
    assert "0 changed, 0 deleted" in again.stderr  # the per-stream log lines off a terminal


def test_changed_and_deleted_rows_are_counted(project: Path) -> None:
    assert run_cli("sync", cwd=project).returncode == 0
    deals_csv = project / "exports" / "deals.csv"
    _, rows = _rows(deals_csv)
    changed = dict(rows[0], name="Renamed deal", updated_at="2030-01-01T00:00:00.000+0000")
    tombstone = dict(rows[1], is_deleted="True", updated_at="2030-01-01T00:00:00.000+0000")
    _append(deals_csv, changed)
    _append(deals_csv, tombstone)

    result = run_cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    deals = _summary_row(result.stdout, "deals")
    assert deals[3:5] == ["2", "1"], deals  # two rows changed, one of them is now deleted
    counts = _last_run(project)
    assert counts["changed"] == 2 and counts["deleted"] == 1
    assert counts["streams"]["finance/deals"]["deleted"] == 1
    # the tombstone read again is no new delete
    again = run_cli("sync", cwd=project)
    assert _summary_row(again.stdout, "deals")[3:5] == ["0", "0"]


def test_runs_lists_history_with_status_counts_and_errors(project: Path) -> None:
    empty = run_cli("runs", cwd=project)
    assert empty.returncode == 0 and "No sync runs yet" in empty.stdout
    assert not (project / "crm.duckdb").exists()  # looking leaves no store behind
    assert run_cli("sync", cwd=project).returncode == 0
    (project / "exports" / "deals.csv").write_text("not,a\n\"broken")
    failed = run_cli("sync", cwd=project)
    table = run_cli("runs", cwd=project, env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    assert any("succeeded" in line for line in lines)
    runs = json.loads(run_cli("runs", "--format", "json", cwd=project).stdout)
    assert [run["run_id"] for run in runs] == [2, 1]  # newest first
    assert runs[1]["status"] == "succeeded" and runs[1]["error"] is None
    assert runs[1]["seconds"] is not None and runs[1]["connections"] == ["finance"]
    if failed.returncode:
        assert runs[0]["status"] == "failed" and "finance/deals" in runs[0]["error"]
        assert "run 2: finance/deals" in table.stdout
    limited = json.loads(run_cli("runs", "--format", "json", "-n", "1", cwd=project).stdout)
    assert len(limited) == 1
    other = json.loads(run_cli("runs", "--format", "json", "--connection", "nope",
                               cwd=project).stdout)
    assert other == []
    bad = run_cli("runs", "--format", "xml", cwd=project)
    assert bad.returncode == 2 and "table or json" in bad.stderr


def test_quarantine_list_and_show(project: Path) -> None:
    accounts = project / "exports" / "accounts.csv"
    _, rows = _rows(accounts)
    _append(accounts, dict(rows[0], id="BAD1", created_at="[/]not a date [bold]"))
    result = run_cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "quarantine list" in result.stdout
    assert _summary_row(result.stdout, "accounts")[5] == "1"

    listed = run_cli("quarantine", "list", cwd=project, env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    assert all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
    flat = "".join(line.strip("│ ") for line in listed.stdout.splitlines())
    assert "BAD1" in flat and "created_at" in flat
    (entry,) = json.loads(run_cli("quarantine", "list", "--format", "json",
                                  cwd=project).stdout)
    assert entry["record_id"] == "BAD1" and entry["source"] == "finance"
    assert entry["location"].startswith("accounts.csv:")
    assert "[/]not a date [bold]" in entry["reason"]  # the vendor's value, as written
    assert entry["raw"]["created_at"] == "[/]not a date [bold]"
    default = run_cli("quarantine", cwd=project)  # no subcommand: the list
    assert default.returncode == 0 and "BAD1" in default.stdout

    shown = run_cli("quarantine", "show", entry["id"][:5], cwd=project, env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    assert all(len(line) <= 80 for line in shown.stdout.splitlines()), shown.stdout
    assert "Traceback" not in shown.stderr
    assert "reason:" in shown.stdout and "[/]not a date [bold]" in shown.stdout
    assert '"created_at": "[/]not a date [bold]"' in shown.stdout  # the raw payload
    assert entry["location"] in shown.stdout
    as_json = json.loads(run_cli("quarantine", "show", entry["id"], "--format", "json",
                                 cwd=project).stdout)
    assert as_json == entry

    # the same bad record read again keeps its id: a script can hold on to it
    assert run_cli("sync", "--full-refresh", cwd=project).returncode == 0
    (again,) = json.loads(run_cli("quarantine", "list", "--format", "json",
                                  cwd=project).stdout)
    assert again["id"] == entry["id"]

    missing = run_cli("quarantine", "show", "abcdef12", cwd=project)
    assert missing.returncode == 2 and "no quarantined record has the id 'abcdef12'" in \
        missing.stderr
    bad_id = run_cli("quarantine", "show", "[/]", cwd=project)
    assert bad_id.returncode == 2 and "'[/]' is not a quarantine id" in bad_id.stderr
    assert "Traceback" not in bad_id.stderr


def test_history_commands_read_a_store_a_sync_holds_with_a_clear_error(project: Path) -> None:
    assert run_cli("sync", cwd=project).returncode == 0
    holder = duckdb.connect(str(project / "crm.duckdb"))  # a writer holds the file lock
    try:
        # The lock is held by this process: the command must run in another one.
        held = run_cli_process("runs", cwd=project)
        held_quarantine = run_cli_process("quarantine", "list", cwd=project)
    finally:
        holder.close()
    assert held.returncode != 0 and "in use by another" in held.stderr
    assert "--wait SECONDS" in held.stderr and "Traceback" not in held.stderr
    assert held_quarantine.returncode != 0 and "in use by another" in held_quarantine.stderr
