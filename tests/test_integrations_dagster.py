"""The Dagster assets materialized in-process with a real (temporary) Dagster instance: the
files connector and a connector plugin reading the fault server over HTTP, each synced by its
own asset running the installed ``crm-connect run``, then the KPI snapshot asset; the DuckDB
store's records and snapshot rows checked. A spent quota asks Dagster for a retry after
``retry_after``; a broken connection fails its asset with the summary's error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

dg = pytest.importorskip("dagster")

from test_run_exit_codes import env, serving, write_project  # noqa: E402, F401

from crm_connect.integrations.dagster import KPI_ASSET, CrmConnectResource, crm_connect_assets  # noqa: E402
from crm_connect.testing import faults  # noqa: E402

pytest.importorskip("crm_connect_hubspot.sandbox")
pytest.importorskip("crm_connect_salesforce.sandbox")

from orchestrator_sandboxes import assert_source_independent_totals, sandboxes  # noqa: E402


def instance(folder: Path) -> Any:
    """A real Dagster instance in a temporary folder (runs, event log, storage)."""
    (folder / "dagster").mkdir()
    return dg.instance_for_test(temp_dir=str(folder / "dagster"))


def stored(folder: Path, sql: str) -> int:
    con = duckdb.connect(str(folder / "crm.duckdb"), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


@pytest.fixture
def project_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The assets' ``crm-connect run`` processes inherit the plugin and its secrets."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_assets_sync_each_connection_then_snapshot_the_kpis(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sandboxes(tmp_path) as running:
        for name, value in running.env.items():
            monkeypatch.setenv(name, value)
        config = running.config
        assets = crm_connect_assets(config)
        assert [a.key.to_user_string() for a in assets] == [
            "crm_sync_finance", "crm_sync_hs", "crm_sync_sf", KPI_ASSET]
        with instance(tmp_path) as dagster:
            result = dg.materialize(
                assets, instance=dagster,
                resources={"crm_connect": CrmConnectResource(config_path=str(config))})
        assert result.success
        # Each vendor's records are all stored: the sandbox's own truth, archived ones too.
        for table, obj in (("accounts", "companies"), ("deals", "deals"),
                           ("contacts", "contacts"), ("tickets", "tickets")):
            assert stored(tmp_path, f"SELECT count(*) FROM {table} WHERE source = 'hs'") == (
                running.hubspot_truth(obj)), table
        for table, sobject in (("accounts", "Account"), ("deals", "Opportunity"),
                               ("contacts", "Contact"), ("tickets", "Case")):
            assert stored(tmp_path, f"SELECT count(*) FROM {table} WHERE source = 'sf'") == (
                running.salesforce_truth(sobject)), table
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'finance'") > 0
    snapshot = stored(tmp_path, "SELECT count(*) FROM kpi_snapshots")
    assert snapshot > 0
    assert_source_independent_totals(tmp_path)
    # The summaries' counts are the assets' metadata.
    for node in ("crm_sync_hs", "crm_sync_sf"):
        meta = result.asset_materializations_for_node(node)[0].metadata
        assert meta["status"].value == "succeeded"
        assert meta["records_read"].value > 0
        assert meta["upserted"].value == meta["records_read"].value
    kpis = result.asset_materializations_for_node(KPI_ASSET)[0].metadata
    assert kpis["kpi_rows_written"].value == snapshot
    # The snapshot ran after all three syncs.
    order = [e.node_name for e in result.all_events if e.is_step_success]
    assert order[-1] == KPI_ASSET and len(order) == 4


@pytest.mark.usefixtures("project_env")
def test_a_spent_quota_asks_dagster_to_retry_after_it_resets(tmp_path: Path) -> None:
    script = {"/api/records": [None, faults.rate_limited(retry_after=90_000)]}
    with serving(path_script=script) as server:
        config = write_project(tmp_path, server, files=False) / "crm-connect.toml"
        sync = crm_connect_assets(config)[0]
        before = dt.datetime.now(dt.UTC)
        with pytest.raises(dg.RetryRequested) as raised:
            sync(crm_connect=CrmConnectResource(config_path=str(config)))
    assert 89_900 <= raised.value.seconds_to_wait <= 90_070
    assert dt.datetime.now(dt.UTC) - before < dt.timedelta(seconds=170)
    # Progress was saved: the first page is stored.
    assert stored(tmp_path, "SELECT count(*) FROM accounts WHERE source = 'paged'") == 10


@pytest.mark.usefixtures("project_env")
def test_a_failed_connection_fails_its_asset_with_the_summary_error(tmp_path: Path) -> None:
    script = {"/api/records": [faults.status(404, {"message": "no such object"})] * 3}
    with serving(path_script=script) as server:
        config = write_project(tmp_path, server, files=False) / "crm-connect.toml"
        with instance(tmp_path) as dagster:
            result = dg.materialize(
                crm_connect_assets(config), instance=dagster, raise_on_error=False,
                resources={"crm_connect": CrmConnectResource(config_path=str(config))})
    assert not result.success
    failure = next(e for e in result.all_node_events if e.is_step_failure)
    assert failure.node_name == "crm_sync_paged"
    assert "sync of paged" in str(failure.event_specific_data)
    # The KPI snapshot did not run on a failed sync.
    assert not any(e.node_name == KPI_ASSET and e.is_step_success
                   for e in result.all_node_events)
