"""The Airflow TaskGroup in a real DAG run by ``dag.test()`` (Airflow's own runner, on a
metadata DB migrated once per test session in a temporary AIRFLOW_HOME) against the files
connector and a connector plugin reading the fault server over HTTP; the DuckDB store's records
and KPI snapshot checked. A spent quota defers the task until ``retry_after`` rather than failing
it. Airflow runs in processes of its own, with a timeout, so nothing can hang the session."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("airflow")

from test_run_exit_codes import env, serving, write_project  # noqa: F401

from crm_connect.testing import faults

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A temporary AIRFLOW_HOME with its metadata DB migrated (once: it takes a while)."""
    home = tmp_path_factory.mktemp("airflow")
    (home / "dags").mkdir()
    settings = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False"}
    done = subprocess.run([str(BIN / "airflow"), "db", "migrate"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **settings}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    yield settings


def run_dag(home: dict[str, str], project_env: dict[str, str], config: Path,
            body: str) -> subprocess.CompletedProcess[str]:
    """Write a DAG file into the dags folder and run it with ``dag.test()``."""
    dag_file = Path(home["AIRFLOW_HOME"]) / "dags" / "crm_nightly.py"
    dag_file.write_text(textwrap.dedent(f"""\
        import datetime as dt
        from airflow.sdk import DAG
        from crm_connect.integrations.airflow import crm_connect_task_group

        with DAG("crm_nightly", schedule=None, start_date=dt.datetime(2026, 1, 1),
                 catchup=False) as dag:
            crm_connect_task_group({str(config)!r}, retries=0)

        if __name__ == "__main__":
        """) + textwrap.indent(textwrap.dedent(body), "    "))
    return subprocess.run([sys.executable, str(dag_file)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **project_env, **home}, check=False)


def stored(folder: Path, sql: str) -> int:
    con = duckdb.connect(str(folder / "crm.duckdb"), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


STATES = """\
run = dag.test()
print("DAGRUN", run.state)
for ti in run.get_task_instances():
    print("TASK", ti.task_id, ti.state)
"""


def test_dag_syncs_each_connection_then_snapshots_the_kpis(
        tmp_path: Path, airflow_home: dict[str, str], env: dict[str, str]) -> None:  # noqa: F811
    with serving() as server:
        config = write_project(tmp_path, server) / "crm-connect.toml"
        done = run_dag(airflow_home, env, config, STATES)
    out = done.stdout
    assert "DAGRUN success" in out, (out[-3000:], done.stderr[-3000:])
    for task in ("crm_connect.sync_finance", "crm_connect.sync_paged",
                 "crm_connect.kpi_snapshot"):
        assert f"TASK {task} success" in out
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'paged'") == 25
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'finance'") > 0
    assert stored(tmp_path, "SELECT count(*) FROM kpi_snapshots") > 0


def test_a_spent_quota_defers_the_task_until_retry_after(
        tmp_path: Path, airflow_home: dict[str, str], env: dict[str, str]) -> None:  # noqa: F811
    script = {"/api/records": [None, faults.rate_limited(retry_after=90_000)]}
    body = """\
    from airflow.sdk.exceptions import TaskDeferred
    task = dag.get_task("crm_connect.sync_paged")
    try:
        task.execute({})
    except TaskDeferred as deferred:
        print("DEFERRED", deferred.trigger.moment.isoformat(), deferred.method_name)
    """
    with serving(path_script=script) as server:
        config = write_project(tmp_path, server, files=False) / "crm-connect.toml"
        before = dt.datetime.now(dt.UTC)
        done = run_dag(airflow_home, env, config, body)
    line = next((x for x in done.stdout.splitlines() if x.startswith("DEFERRED")), None)
    assert line is not None, (done.stdout[-3000:], done.stderr[-3000:])
    _, moment, method = line.split()
    assert method == "execute_complete"
    wait = dt.datetime.fromisoformat(moment) - before
    assert dt.timedelta(seconds=89_900) <= wait <= dt.timedelta(seconds=90_200)
    # Progress was saved before the deferral: the first page is stored.
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'paged'") == 10
