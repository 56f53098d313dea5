"""``crm-connect run --parallel N``: on a Postgres store, each connection's sync in a process
of its own, at the same time, a failed one not stopping the others, and the KPI step once
after all of them; on DuckDB (one writer) the syncs run one after another, saying so."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_server import PostgresServer
from test_run_exit_codes import ACCESS_TOKEN, FAST, REFRESH_TOKEN, serving

from conftest import CLI, CliCall, register_entry_point
from crm_connect.exit_codes import ExitCode
from crm_connect.pgstore import PASSWORD_ENV
from crm_connect.testing import faults

TESTS = Path(__file__).parent
QUICKSTART = TESTS.parent / "examples" / "quickstart" / "exports"


@pytest.fixture
def pg_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, password=os.environ[PASSWORD_ENV]) as con:
        return list(con.execute(sql).fetchall())


def _paged(name: str, url: str, gate: bool = False) -> str:
    return (f'[connections.{name}]\nconnector = "paged_api"\nbase_url = "{url}"\n'
            + ('gate = "gate"\n' if gate else "")
            + FAST.replace("connections.paged.", f"connections.{name}."))


def _lines(stream: Any, into: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        into.put(json.loads(line))
    into.put(None)


@pytest.mark.slow
def test_parallel_syncs_on_postgres_a_failure_kept_apart_and_one_kpi_step(
        tmp_path: Path, pg_url: str) -> None:
    site = register_entry_point(tmp_path / "site", "crm-connect-run-paged", "1.0", "run_paged",
                                "paged_plugin")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]),
           "CRM_CONNECT_LOAD_PLUGINS": "run_paged", "CRM_CONNECT_WORKERS": "0"}
    for name in ("slow", "failing"):
        env[f"CRM_CONNECT_{name.upper()}_ACCESS_TOKEN"] = ACCESS_TOKEN
        env[f"CRM_CONNECT_{name.upper()}_REFRESH_TOKEN"] = REFRESH_TOKEN
    os.mkfifo(tmp_path / "gate")
    with serving() as good, \
            serving(path_script={"/api/records": [faults.server_error(503)] * 10}) as bad:
        (tmp_path / "crm-connect.toml").write_text(
            f'[store]\nurl = "{pg_url}"\n\n'
            + _paged("slow", good.url, gate=True) + "\n" + _paged("failing", bad.url) + "\n"
            + f'[connections.finance]\nconnector = "files"\npath = "{QUICKSTART}"\n')
        process = subprocess.Popen(
            [CLI, "run", "--parallel", "3", "--log-format", "json", "--summary", "s.json"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=_lines, args=(process.stderr, events), daemon=True).start()
        try:
            # "slow" waits at its gate after its first page: the other two finish meanwhile,
            # which only processes of their own can do.
            finished: set[str] = set()
            while finished != {"finance", "failing"}:
                line = events.get(timeout=300)
                assert line is not None, "the run ended before its gate was opened"
                if line["event"] == "connection_finished":
                    finished.add(line["connection"])
                    assert line["connection"] != "slow"
            with open(tmp_path / "gate", "w") as gate:
                gate.write("go")
            assert process.wait(timeout=300) == ExitCode.FAILED
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    rest: list[dict[str, Any]] = []
    while (line := events.get(timeout=60)) is not None:
        rest.append(line)
    summary = json.loads((tmp_path / "s.json").read_text())
    statuses = {name: c["status"] for name, c in summary["connections"].items()}
    assert statuses == {"slow": "succeeded", "failing": "failed", "finance": "succeeded"}
    assert summary["connections"]["slow"]["streams"]["accounts"]["records_read"] == 25
    assert summary["status"] == "failed" and summary["exit_code"] == 1
    assert summary["kpis"]["status"] == "succeeded" and summary["kpis"]["rows_written"] > 0
    assert [line["event"] for line in rest].count("kpis_finished") == 1
    # One sync run per connection, each in a process of its own.
    runs = _rows(pg_url, "SELECT connections, pid FROM sync_runs")
    assert sorted(name for names, _ in runs for name in names) == ["failing", "finance", "slow"]
    assert len({pid for _, pid in runs}) == 3
    snapshots = _rows(pg_url, "SELECT count(*) FROM kpi_snapshots")[0][0]
    assert snapshots == summary["kpis"]["rows_written"]


def test_parallel_on_duckdb_syncs_one_after_another_and_says_so(project: Path,
                                                                cli: CliCall) -> None:
    with (project / "crm-connect.toml").open("a") as config:
        config.write('\n[connections.again]\nconnector = "files"\npath = "exports/"\n')
    result = cli("run", "--parallel", "4", "--summary", "s.json", cwd=project)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "single writer (DuckDB)" in " ".join(result.stderr.split())
    summary = json.loads((project / "s.json").read_text())
    assert {c["status"] for c in summary["connections"].values()} == {"succeeded"}
    assert set(summary["connections"]) == {"finance", "again"}
