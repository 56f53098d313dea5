"""``crm-connect run``: sync, KPI snapshot and summary in one command, with the exit codes,
the summary file and the JSON log lines a scheduler reads (a real DuckDB file, the files
connector, the installed command)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import CliCall
from crm_connect.exit_codes import ExitCode

STREAM_KEYS = {"status", "records_read", "upserted", "quarantined", "deleted", "requests",
               "http_429", "retries", "duration_s", "error"}


def snapshot_rows(project: Path) -> int:
    con = duckdb.connect(str(project / "crm.duckdb"), read_only=True)
    try:
        tables = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        if "kpi_snapshots" not in tables:
            return 0
        row = con.execute("SELECT count(*) FROM kpi_snapshots").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def read_summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_run_syncs_saves_the_kpi_snapshot_of_the_touched_periods_and_summarises(
        project: Path, cli: CliCall) -> None:
    result = cli("run", "--summary", "out/summary.json", cwd=project)
    assert result.returncode == ExitCode.OK, result.stderr
    summary = read_summary(project / "out" / "summary.json")
    assert summary["exit_code"] == 0 and summary["status"] == "succeeded"
    assert summary["retry_after"] is None
    assert summary["started_at"] <= summary["finished_at"]
    finance = summary["connections"]["finance"]
    assert finance["status"] == "succeeded"
    assert set(finance["quota"]) == {"used", "left", "resets_at"}
    deals = finance["streams"]["deals"]
    assert set(deals) == STREAM_KEYS
    assert deals["records_read"] == deals["upserted"] > 0 and deals["error"] is None
    kpis = summary["kpis"]
    assert kpis["rows_written"] > 0 and kpis["rows_written"] == snapshot_rows(project)
    # The sample's records span a year of months: every month they touch is saved.
    assert len(kpis["periods"]) >= 6
    assert kpis["periods"] == sorted(kpis["periods"])
    assert all(period.endswith("-01") for period in kpis["periods"])  # [reporting] grain
    assert "KPI snapshot" in result.stdout and "finance" in result.stdout

    again = cli("run", "--summary", "out/summary.json", cwd=project)
    assert again.returncode == ExitCode.OK, again.stderr
    second = read_summary(project / "out" / "summary.json")
    assert second["connections"]["finance"]["streams"]["deals"]["upserted"] == 0
    assert second["kpis"] == {"rows_written": 0, "periods": [], "status": "succeeded"}
    assert snapshot_rows(project) == kpis["rows_written"]


def test_the_grain_of_the_snapshot_is_the_configurations(project: Path, cli: CliCall) -> None:
    with (project / "crm-connect.toml").open("a") as config:
        config.write('\n[reporting]\ngrain = "quarter"\n')
    result = cli("run", "--summary", "s.json", cwd=project)
    assert result.returncode == ExitCode.OK, result.stderr
    periods = read_summary(project / "s.json")["kpis"]["periods"]
    assert periods and all(p[5:] in ("01-01", "04-01", "07-01", "10-01") for p in periods)


def test_skip_kpis_then_kpis_only_is_what_an_orchestrator_runs(project: Path,
                                                               cli: CliCall) -> None:
    synced = cli("run", "finance", "--skip-kpis", "--summary", "sync.json", cwd=project)
    assert synced.returncode == ExitCode.OK, synced.stderr
    assert read_summary(project / "sync.json")["kpis"]["status"] == "skipped"
    assert snapshot_rows(project) == 0

    kpis = cli("run", "--kpis-only", "--summary", "kpis.json", cwd=project)
    assert kpis.returncode == ExitCode.OK, kpis.stderr
    summary = read_summary(project / "kpis.json")
    assert summary["connections"] == {}
    assert summary["kpis"]["rows_written"] == snapshot_rows(project) > 0
    # What the syncs changed is snapshotted once: a second KPI task finds nothing new.
    assert cli("run", "--kpis-only", "--summary", "kpis.json", cwd=project).returncode == 0
    assert read_summary(project / "kpis.json")["kpis"]["rows_written"] == 0


def test_run_writes_the_html_report_after_the_kpi_step(project: Path, cli: CliCall) -> None:
    result = cli("run", "--report", "report.html", cwd=project)
    assert result.returncode == ExitCode.OK, result.stderr
    page = (project / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "finance" in page and "<script src=" not in page


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "no connection named 'nope'"),
    (["--skip-kpis", "--kpis-only"], "cannot be used together"),
    (["--kpis-only", "finance"], "--kpis-only takes no connection"),
    (["--parallel", "0"], "--parallel must be 1 or more"),
    (["--log-format", "xml"], "unknown --log-format 'xml'"),
    (["--report", "no/such/folder/r.html"], "does not exist"),
])
def test_usage_errors_exit_2_and_still_write_the_summary(
        project: Path, cli: CliCall, args: list[str], message: str) -> None:
    result = cli("run", *args, "--summary", "s.json", cwd=project)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    if "--log-format" not in args:  # an option typer itself refuses ends before the run
        summary = read_summary(project / "s.json")
        assert summary["exit_code"] == 2 and summary["status"] == "usage_error"
        assert message in summary["error"]


def test_a_bad_configuration_file_exits_2_with_a_summary(tmp_path: Path, cli: CliCall) -> None:
    (tmp_path / "crm-connect.toml").write_text("[connections.x\n")
    result = cli("run", "--summary", "s.json", cwd=tmp_path)
    assert result.returncode == ExitCode.USAGE
    assert "invalid TOML" in result.stderr
    assert read_summary(tmp_path / "s.json")["status"] == "usage_error"
    assert cli("run", "--no-such-option", cwd=tmp_path).returncode == ExitCode.USAGE


def test_json_logs_are_one_object_per_line_with_the_runs_events(project: Path,
                                                                cli: CliCall) -> None:
    result = cli("run", "--log-format", "json", cwd=project)
    assert result.returncode == ExitCode.OK, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and all({"timestamp", "level", "event", "message"} <= set(line)
                         for line in lines)
    events = [line["event"] for line in lines]
    for name in ("run_started", "sync_started", "stream_started", "stream_finished",
                 "sync_finished", "connection_finished", "kpis_finished", "run_finished"):
        assert name in events, name
    deals = next(line for line in lines
                 if line["event"] == "stream_finished" and line["stream"] == "deals")
    assert deals["connection"] == "finance" and deals["status"] == "succeeded"
    assert deals["counts"]["records_read"] > 0 and deals["requests"] == {}
    finished = lines[-1]
    assert finished["event"] == "run_finished" and finished["exit_code"] == 0
    assert result.stdout == ""  # no table: the JSON lines say it all


def test_help_names_every_option_and_the_exit_codes_within_80_columns(cli: CliCall) -> None:
    result = cli("run", "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    for option in ("--wait", "--skip-kpis", "--kpis-only", "--report", "--parallel",
                   "--summary", "--log-format"):
        assert option in result.stdout
    assert "75 deferred" in " ".join(result.stdout.split())
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def _shape(value: Any) -> Any:
    """The keys of nested objects (streams and connections by a placeholder name)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return None


def test_the_documented_summary_has_the_shape_of_a_real_one(project: Path,
                                                             cli: CliCall) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "scheduling.md").read_text()
    block = next(b for b in re.findall(r"```json\n(.*?)```", docs, re.DOTALL)
                 if '"exit_code"' in b)
    documented = json.loads(block)
    assert cli("run", "--summary", "s.json", cwd=project).returncode == ExitCode.OK
    real = read_summary(project / "s.json")

    def one(mapping: dict[str, Any]) -> Any:
        return next(iter(mapping.values()))

    assert _shape(documented).keys() == _shape(real).keys()
    doc_connection, real_connection = one(documented["connections"]), one(real["connections"])
    assert doc_connection.keys() == real_connection.keys()
    assert one(doc_connection["streams"]).keys() == one(real_connection["streams"]).keys()
    assert doc_connection["quota"].keys() == real_connection["quota"].keys()
    assert documented["kpis"].keys() == real["kpis"].keys()
