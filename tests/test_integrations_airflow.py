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

pytest.importorskip("crm_connect_hubspot.sandbox")
pytest.importorskip("crm_connect_salesforce.sandbox")

from orchestrator_sandboxes import assert_source_independent_totals, sandboxes

QUOTA = 20
"""The portal's daily request limit in the quota test: spent part-way through the sync."""

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
        tmp_path: Path, airflow_home: dict[str, str]) -> None:
    with sandboxes(tmp_path) as running:
        done = run_dag(airflow_home, running.env, running.config, STATES)
        out = done.stdout
        assert "DAGRUN success" in out, (out[-3000:], done.stderr[-3000:])
        for task in ("crm_connect.sync_finance", "crm_connect.sync_hs", "crm_connect.sync_sf",
                     "crm_connect.kpi_snapshot"):
            assert f"TASK {task} success" in out
        # Each vendor's records are all stored: the sandbox's own truth, archived ones too.
        for table, obj in (("accounts", "companies"), ("deals", "deals")):
            assert stored(tmp_path, f"SELECT count(*) FROM {table} WHERE source = 'hs'") == (
                running.hubspot_truth(obj)), table
        for table, sobject in (("accounts", "Account"), ("deals", "Opportunity")):
            assert stored(tmp_path, f"SELECT count(*) FROM {table} WHERE source = 'sf'") == (
                running.salesforce_truth(sobject)), table
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'finance'") > 0
    assert stored(tmp_path, "SELECT count(*) FROM kpi_snapshots") > 0
    assert_source_independent_totals(tmp_path)
    # No throwaway secret reached the DAG's output or the files it left.
    leaked = [v for k, v in running.env.items() if "TOKEN" in k or "PASSWORD" in k
              or "SECRET" in k]
    assert not any(secret in out + done.stderr for secret in leaked)
    left = [f.read_bytes() for f in tmp_path.rglob("*")
            if f.is_file() and f.suffix in (".toml", ".json", ".log", ".txt")]
    assert left and not any(s.encode() in text for s in leaked for text in left)


def test_a_spent_daily_quota_defers_the_task_until_it_resets_and_progress_is_kept(
        tmp_path: Path, airflow_home: dict[str, str]) -> None:
    body = """\
    from airflow.sdk.exceptions import TaskDeferred
    task = dag.get_task("crm_connect.sync_hs")
    try:
        task.execute({})
    except TaskDeferred as deferred:
        print("DEFERRED", deferred.trigger.moment.isoformat(), deferred.method_name)
    """
    resume = """\
    counts = dag.get_task("crm_connect.sync_hs").execute_complete({})
    print("RESUMED", counts["records_read"])
    """
    with sandboxes(tmp_path, files=False, salesforce=False,
                   daily_limit=QUOTA) as running:
        before = dt.datetime.now(dt.UTC)
        done = run_dag(airflow_home, running.env, running.config, body)
        line = next((x for x in done.stdout.splitlines() if x.startswith("DEFERRED")), None)
        assert line is not None, (done.stdout[-3000:], done.stderr[-3000:])
        _, moment, method = line.split()
        assert method == "execute_complete"
        # The connector stops at its share of the daily quota, before the portal refuses, so
        # the run knows no reset time: its summary's retry_after is a day after it stopped,
        # and the trigger fires then.
        wait = dt.datetime.fromisoformat(moment) - before
        assert dt.timedelta(hours=24) - dt.timedelta(seconds=5) <= wait <= dt.timedelta(
            hours=24, seconds=120)
        # Progress was saved before the deferral: some of the portal is stored, not all.
        tables = (("accounts", "companies"), ("contacts", "contacts"), ("deals", "deals"))
        held = sum(stored(tmp_path, f"SELECT count(*) FROM {table}") for table, _ in tables)
        truth = sum(running.hubspot_truth(obj) for _, obj in tables)
        assert 0 < held < truth, (held, truth)
        # The quota renewed, the woken task resumes and the rest arrives, nothing twice.
        running.hubspot.limits.daily = 1_000_000
        again = run_dag(airflow_home, running.env, running.config, resume)
        assert "RESUMED" in again.stdout, (again.stdout[-3000:], again.stderr[-3000:])
        for table, obj in tables:
            assert stored(tmp_path, f"SELECT count(*) FROM {table}") == stored(
                tmp_path, f"SELECT count(DISTINCT id) FROM {table}") == (
                running.hubspot_truth(obj)), table
