"""Bulk API 2.0 jobs are never created twice: the job id is in the stream's state before the
first poll, so a killed sync's job is found next run and reused (same query, still usable) or
aborted; a cut-off answer to the create POST is not retried.  A query that Salesforce reports
done before the records it announced marks no deletes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from sf_support import CLI, run_cli, sandbox_env, sandbox_options, write_project

from crm_connect.connector import ConnectionContext, Page

JOBS = r"/jobs/query$"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=2000, seed=21) as org:
        assert org.counts(include_deleted=True)["Lead"] > 300  # more than one REST page
        yield org


@pytest.fixture
def org(sandbox: SalesforceSandbox) -> Iterator[SalesforceSandbox]:
    sandbox.clear_faults()
    sandbox.clear_log()
    sandbox.bulk_polls = 1
    yield sandbox
    sandbox.clear_faults()
    sandbox.bulk_polls = 1


@pytest.fixture
def connect(org: SalesforceSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., SalesforceConnector]:
    for name, value in sandbox_env(org).items():
        monkeypatch.setenv(name, value)

    def make(**options: Any) -> SalesforceConnector:
        options.setdefault("streams", ["leads"])
        options.setdefault("bulk", "always")
        config = SalesforceConfig.model_validate(sandbox_options(org, **options))
        return SalesforceConnector(ConnectionContext("sf", tmp_path), config)

    return make


def start_then_kill(connector: SalesforceConnector) -> dict[str, Any]:
    """Run a read until the job is created and its id saved, then stop it there, as a killed
    sync would (the job stays InProgress meanwhile)."""
    stream = connector.streams()[0]
    pages = connector.read(stream, None)
    first = next(pages)
    pages.close()
    connector.close()
    assert first.records == [] and first.state is not None
    return first.state


def job_states(org: SalesforceSandbox) -> dict[str, str]:
    session = org.session()
    answer = session.get(f"{org.instance_url}/services/data/v60.0/jobs/query",
                         headers={"Authorization": f"Bearer {org.access_token}"}).json()
    return {job["id"]: job["state"] for job in answer["records"]}


def read_rest(connector: SalesforceConnector, state: dict[str, Any] | None) -> list[Page]:
    return list(connector.read(connector.streams()[0], state))


def test_the_job_id_is_saved_before_polling_and_reused_by_the_next_run(
        connect: Callable[..., SalesforceConnector], org: SalesforceSandbox) -> None:
    before = set(job_states(org))
    org.bulk_polls = 10**9  # the job stays InProgress while the first run is "killed"
    state = start_then_kill(connect())
    job_id = state["bulk"]["job_id"]
    assert state["bulk"]["locator"] is None and state["bulk"]["query"]
    assert set(job_states(org)) - before == {job_id}
    assert org.request_count(rf"/jobs/query/{job_id}$", method="GET") == 0  # saved first

    org.bulk_polls = 1
    pages = read_rest(connect(), state)
    assert set(job_states(org)) - before == {job_id}  # no second job
    assert sum(len(page.records) for page in pages) == org.counts(True)["Lead"]
    assert job_states(org)[job_id] == "JobComplete"


def test_a_job_for_another_query_is_aborted_and_replaced(
        connect: Callable[..., SalesforceConnector], org: SalesforceSandbox,
        caplog: pytest.LogCaptureFixture) -> None:
    org.bulk_polls = 10**9
    state = start_then_kill(connect())
    old = state["bulk"]["job_id"]
    org.bulk_polls = 1
    with caplog.at_level(logging.WARNING):
        pages = read_rest(connect(extra_fields="mapped"), state)  # the query changed
    assert org.request_count(rf"/jobs/query/{old}$", method="PATCH") == 1
    states = job_states(org)
    assert states[old] == "Aborted"
    assert org.request_count(JOBS, method="POST") == 2
    assert sum(len(page.records) for page in pages) == org.counts(True)["Lead"]
    assert f"aborting Bulk job {old} of an earlier run (another query)" in caplog.text


def test_a_finished_or_vanished_job_is_replaced_without_abort(
        connect: Callable[..., SalesforceConnector], org: SalesforceSandbox) -> None:
    state = start_then_kill(connect())
    state["bulk"]["job_id"] = "750Sb00000GoneAAA"
    pages = read_rest(connect(), state)
    assert org.request_count(r"/jobs/query/", method="PATCH") == 0
    assert org.request_count(JOBS, method="POST") == 2
    assert sum(len(page.records) for page in pages) == org.counts(True)["Lead"]


def test_a_cut_off_answer_to_the_job_creation_is_not_retried(
        connect: Callable[..., SalesforceConnector], org: SalesforceSandbox) -> None:
    from crm_connect.errors import ConnectorError

    fault = org.inject(FaultKind.TRUNCATED_BODY, JOBS, method="POST")
    before = len(job_states(org))
    with pytest.raises(ConnectorError, match=r"answer was lost .* not sent again"):
        read_rest(connect(), None)
    # the first POST was answered (cut off); a repeat would have made a second job
    assert fault.hits == 1
    assert len(job_states(org)) == before + 1  # Salesforce made one job, and only one


# -- done before totalSize ----------------------------------------------------------------------


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("bulk", ["never", "always"])
def test_full_refresh_marks_no_deletes_when_the_read_ends_early(
        org: SalesforceSandbox, tmp_path: Path, bulk: str) -> None:
    write_project(tmp_path, {"sf": sandbox_options(
        org, streams=["leads"], bulk=bulk, page_size=200, bulk_page_size=200)})
    env = sandbox_env(org)
    db = tmp_path / "crm.duckdb"
    first = run_cli("sync", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    live = query(db, "SELECT count(*) FROM leads WHERE NOT is_deleted")[0][0]
    total = org.counts(True)["Lead"]

    org.answer_done_early()  # the full refresh's read ends after its first page
    full = run_cli("sync", "--full-refresh", cwd=tmp_path, env=env)
    assert full.returncode == 0, full.stdout + full.stderr
    assert query(db, "SELECT count(*) FROM leads WHERE NOT is_deleted")[0][0] == live
    assert f"reported the Lead query done after 200 of the {total:,} records" \
        in full.stderr
    assert "no rows are marked deleted from this read" in full.stderr


@pytest.mark.slow
def test_a_killed_syncs_job_is_reused_by_the_next_sync(org: SalesforceSandbox,
                                                       tmp_path: Path) -> None:
    """End to end: ``crm-connect sync`` killed while it waits for its Bulk job."""
    write_project(tmp_path, {"sf": sandbox_options(org, streams=["leads"], bulk="always")})
    env = {**os.environ, **sandbox_env(org)}
    org.bulk_polls = 10**9
    polling = r"/jobs/query/\w+$"
    process = subprocess.Popen([CLI, "sync"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not org.request_count(polling, method="GET") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert org.request_count(polling, method="GET"), "the sync never polled its job"
    finally:
        process.kill()
        process.wait()
    (state,) = query(tmp_path / "crm.duckdb",
                     "SELECT state FROM sync_state WHERE stream = 'leads'")[0]
    job_id = json.loads(state)["bulk"]["job_id"]

    org.bulk_polls = 1
    again = run_cli("sync", cwd=tmp_path, env=sandbox_env(org))
    assert again.returncode == 0, again.stdout + again.stderr
    assert org.request_count(JOBS, method="POST") == 1  # the killed run's job, read
    assert org.request_count(rf"/jobs/query/{job_id}/results", method="GET") >= 1
    assert query(tmp_path / "crm.duckdb", "SELECT count(*) FROM leads")[0][0] == \
        org.counts(True)["Lead"]
