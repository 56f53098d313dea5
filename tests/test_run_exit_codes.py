"""Every way a ``crm-connect run`` ends, with its exit code and summary, in real processes: the
installed command, a connector plugin installed through an entry point that reads the fault
server over HTTP, the files connector beside it, and a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from example_crm import example_usage

from conftest import CLI, register_entry_point, run_cli_process
from crm_connect.exit_codes import ExitCode
from crm_connect.sample import write_sample_export
from crm_connect.testing import faults
from crm_connect.testing.faults import FaultServer

TESTS = Path(__file__).parent
ACCESS_TOKEN = "tok-ACCESS-9f3b2c71e5"
REFRESH_TOKEN = "tok-REFRESH-4d8a6e02b9"
FAST = """
[connections.paged.resilience]
backoff_initial_seconds = 0.01
backoff_max_seconds = 0.05
request_timeout_seconds = 2
max_attempts = 3
max_total_seconds = 20
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The paged connector installed (entry point ``run_paged``) and its secrets set."""
    site = register_entry_point(tmp_path / "site", "crm-connect-run-paged", "1.0", "run_paged",
                                "paged_plugin")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]),
            "CRM_CONNECT_LOAD_PLUGINS": "run_paged", "CRM_CONNECT_WORKERS": "0",
            "CRM_CONNECT_PAGED_ACCESS_TOKEN": ACCESS_TOKEN,
            "CRM_CONNECT_PAGED_REFRESH_TOKEN": REFRESH_TOKEN}


def serving(**options: Any) -> FaultServer:
    """The fault server, accepting the connection's secrets."""
    return FaultServer(access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, **options)


def write_project(folder: Path, server: FaultServer | None, *, files: bool = True,
                  gate: bool = False, page_size: int = 10) -> Path:
    text = ""
    if files:
        write_sample_export(folder / "exports", scale=0.05, seed=5)
        text += '[connections.finance]\nconnector = "files"\npath = "exports/"\n\n'
    if server is not None:
        text += (f'[connections.paged]\nconnector = "paged_api"\nbase_url = "{server.url}"\n'
                 f"page_size = {page_size}\n" + ('gate = "gate"\n' if gate else "") + FAST)
    (folder / "crm-connect.toml").write_text(text)
    return folder


def summary_of(folder: Path, name: str = "summary.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / name).read_text())
    return data


def stored_ids(folder: Path, source: str) -> list[str]:
    con = duckdb.connect(str(folder / "crm.duckdb"), read_only=True)
    try:
        return [row[0] for row in con.execute(
            "SELECT id FROM accounts WHERE source = ? ORDER BY id", [source]).fetchall()]
    finally:
        con.close()


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli_process("run", "--summary", "summary.json", *args, cwd=folder, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_0_when_everything_succeeds_with_request_totals(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    script = {"/api/records": [None, faults.rate_limited(retry_after=0)]}
    with serving(path_script=script) as server:
        result = run(write_project(tmp_path, server), env)
    assert result.returncode == ExitCode.OK, result.stderr
    summary = summary_of(tmp_path)
    assert summary["status"] == "succeeded"
    accounts = summary["connections"]["paged"]["streams"]["accounts"]
    assert accounts["records_read"] == accounts["upserted"] == 25
    assert accounts["requests"] == {"general": 4}  # 3 pages and the one answered 429
    assert accounts["http_429"] == 1 and accounts["retries"] == 1
    assert summary["connections"]["finance"]["status"] == "succeeded"
    assert summary["kpis"]["rows_written"] > 0


def test_1_when_a_connection_fails_and_the_others_are_kept(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    script = {"/api/records": [faults.server_error(503)] * 10}
    with serving(path_script=script) as server:
        result = run(write_project(tmp_path, server), env)
    assert result.returncode == ExitCode.FAILED, result.stderr
    summary = summary_of(tmp_path)
    assert summary["status"] == "failed" and summary["retry_after"] is None
    paged = summary["connections"]["paged"]
    assert paged["status"] == "failed"
    assert "503" in paged["streams"]["accounts"]["error"]
    assert paged["streams"]["accounts"]["requests"] == {"general": 3}
    assert paged["streams"]["accounts"]["retries"] == 2
    assert summary["connections"]["finance"]["status"] == "succeeded"
    assert len(stored_ids(tmp_path, "finance")) > 0  # the other connection is kept...
    assert summary["kpis"]["status"] == "succeeded"  # ...and snapshotted
    assert summary["kpis"]["rows_written"] > 0
    assert "paged/accounts" in result.stderr and "503" in result.stderr


def _assert_deferred(folder: Path, result: subprocess.CompletedProcess[str],
                     earliest: dt.datetime, latest: dt.datetime) -> dict[str, Any]:
    assert result.returncode == ExitCode.DEFERRED, result.stderr
    summary = summary_of(folder)
    assert summary["status"] == "deferred" and summary["exit_code"] == 75
    retry_after = dt.datetime.fromisoformat(summary["retry_after"])
    assert earliest <= retry_after <= latest
    paged = summary["connections"]["paged"]
    assert paged["status"] == "deferred"
    assert paged["quota"]["resets_at"] == summary["retry_after"]
    assert stored_ids(folder, "paged") == [str(n) for n in sorted(range(1, 11), key=str)]
    assert "Run again after" in result.stderr
    return summary


def test_75_when_the_server_asks_to_wait_a_day_with_its_time_in_the_summary(
        tmp_path: Path, env: dict[str, str]) -> None:
    script = {"/api/records": [None, faults.rate_limited(retry_after=90_000)]}
    with serving(path_script=script) as server:
        before = dt.datetime.now(dt.UTC)
        result = run(write_project(tmp_path, server, files=False), env)
        _assert_deferred(tmp_path, result, before + dt.timedelta(seconds=89_990),
                         dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90_070))
        # Progress was saved: the next run resumes after the stored page and succeeds.
        again = run(tmp_path, env)
        assert again.returncode == ExitCode.OK, again.stderr
        assert len(stored_ids(tmp_path, "paged")) == 25


def test_75_when_the_daily_quota_is_spent_without_a_renewal_time(
        tmp_path: Path, env: dict[str, str]) -> None:
    daily = faults.status(429, {"status": "error", "message": "You have reached your daily "
                                "limit.", "policyName": "DAILY"})
    with serving(path_script={"/api/records": [None, daily]}) as server:
        before = dt.datetime.now(dt.UTC)
        result = run(write_project(tmp_path, server, files=False), env)
    # Not said when it renews: a day after the stop, when any daily quota has.
    summary = _assert_deferred(tmp_path, result, before + dt.timedelta(hours=24),
                               dt.datetime.now(dt.UTC) + dt.timedelta(hours=24, minutes=1))
    assert "daily quota is spent" in summary["connections"]["paged"]["streams"]["accounts"][
        "error"]


def test_75_reports_quota_used_and_left_from_the_usage_headers(tmp_path: Path,
                                                               env: dict[str, str]) -> None:
    with serving(usage_headers=example_usage, daily_limit=14, daily_used=3) as server:
        result = run(write_project(tmp_path, server, files=False, page_size=2), env,
                     "--log-format", "json")
    assert result.returncode == ExitCode.DEFERRED, result.stderr
    summary = summary_of(tmp_path)
    quota = summary["connections"]["paged"]["quota"]
    assert quota["used"] is not None and quota["left"] == 14 - quota["used"]
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    finished = [line for line in lines if line["event"] == "stream_finished"]
    assert finished and finished[0]["quota_left"] == quota["left"]
    assert finished[0]["status"] == "stopped"


def test_no_secret_in_the_logs_or_the_summary(tmp_path: Path, env: dict[str, str]) -> None:
    """The tokens go out in every request and the refresh; the run's output never has them."""
    script = {"/api/records": [None, faults.expire_token(), None, faults.server_error(503)]
              + [faults.server_error(503)] * 5}
    with serving(path_script=script) as server:
        project = write_project(tmp_path, server)
        outputs = []
        for log_format in ("json", "text"):
            result = run_cli_process("-vv", "run", "--summary", "summary.json",
                                     "--log-format", log_format, cwd=project, env=env)
            assert result.returncode == ExitCode.FAILED, result.stderr
            outputs += [result.stdout, result.stderr, (project / "summary.json").read_text()]
        assert server.refresh_count == 1  # the refresh token was sent, and used
    assert any("paged" in text for text in outputs)
    for text in outputs:
        for secret in (ACCESS_TOKEN, REFRESH_TOKEN, "access-token-1"):
            assert secret not in text


# -- the lock: 73, --wait, and a killed run --------------------------------------------------


@pytest.fixture
def paused_run(tmp_path: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A ``crm-connect -v run paged`` that stored its first page and waits mid-stream."""
    with serving() as server:
        project = write_project(tmp_path, server, files=False, gate=True)
        os.mkfifo(project / "gate")
        process = subprocess.Popen([CLI, "-v", "run", "paged", "--summary", "paused.json"],
                                   cwd=project,
                                   env={**os.environ, **env}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if "paged/accounts: stored 10 records" in line:
                    break
            else:
                pytest.fail(f"the run never stored its first page: {process.communicate()}")
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _open_gate(folder: Path) -> threading.Thread:
    def write() -> None:
        with open(folder / "gate", "w") as gate:
            gate.write("go")

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_73_while_another_run_holds_the_lock_and_wait_outlasts_it(
        tmp_path: Path, env: dict[str, str], paused_run: subprocess.Popen[str]) -> None:
    locked = run(tmp_path, env, "paged")
    assert locked.returncode == ExitCode.LOCKED, locked.stderr
    summary = summary_of(tmp_path)
    assert summary["status"] == "locked" and "another crm-connect process" in summary["error"]
    assert f"PID {paused_run.pid}" in locked.stderr

    waiting = subprocess.Popen([CLI, "run", "paged", "--wait", "120", "--summary", "w.json"],
                               cwd=tmp_path, env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _open_gate(tmp_path).join(timeout=60)  # the paused run finishes, the waiting one goes
        assert paused_run.wait(timeout=120) == ExitCode.OK
        _open_gate(tmp_path)  # the waiting run, got in, reads a page and meets the gate too
        _, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == ExitCode.OK, err
    assert summary_of(tmp_path, "w.json")["status"] == "succeeded"


def test_a_lock_left_by_a_killed_run_is_recovered(
        tmp_path: Path, env: dict[str, str], paused_run: subprocess.Popen[str]) -> None:
    paused_run.send_signal(signal.SIGKILL)
    assert paused_run.wait(timeout=60) == -signal.SIGKILL
    # The configuration keeps its gate: open it for the next run once it gets there.
    _open_gate(tmp_path)
    result = run(tmp_path, env, "paged")
    assert result.returncode == ExitCode.OK, result.stderr
    assert stored_ids(tmp_path, "paged") == sorted(str(n) for n in range(1, 26))


def test_1_when_a_scheduler_terminates_the_run_with_the_summary_written(
        tmp_path: Path, paused_run: subprocess.Popen[str]) -> None:
    paused_run.send_signal(signal.SIGTERM)
    _, err = paused_run.communicate(timeout=60)
    assert paused_run.returncode == ExitCode.FAILED, err
    assert "Traceback" not in err
    summary = summary_of(tmp_path, "paused.json")
    assert summary["status"] == "failed" and summary["exit_code"] == 1
    assert summary["error"].startswith("terminated (SIGTERM)")
    assert "next run resumes" in summary["error"]
    assert len(stored_ids(tmp_path, "paged")) == 10  # the first page is kept
