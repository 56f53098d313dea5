"""``crm-connect sync`` and ``connections test`` of a HubSpot connection, in-process, against
the loopback stub serving real payloads: records land in the store field by field, archived
ones marked deleted, and a record HubSpot sent unparseable lands in the quarantine."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hs_stub import Stub, serve
from hs_support import reference


@pytest.fixture
def portal() -> Iterator[Stub]:
    deals = reference("nango_list_deals_with_associations.json")
    won = deals["results"][1]
    won["properties"].update(dealstage="closedwon", closedate="2026-03-01T12:00:00Z",
                             amount="5000.00")
    broken = deals["results"][2]
    broken["properties"]["amount"] = "five thousand"
    archived = {"results": [copy.deepcopy(deals["results"][3])]}
    archived["results"][0].update(archived=True, archivedAt="2026-03-10T00:00:00Z",
                                  id="999000111")
    associations = {"status": "COMPLETE", "results": [
        {"from": {"id": won["id"]}, "to": [{"toObjectId": 4242, "associationTypes": [
            {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}]}]}]}
    routes: dict[tuple[str, str], tuple[int, Any]] = {
        ("GET", r"/crm/v3/objects/deals"): (200, deals),
        ("GET", r"/crm/v3/objects/deals#archived"): (200, archived),
        ("GET", r"/crm/v3/pipelines/deals"): (200, reference("nango_pipelines_deals.json")),
        ("GET", r"/account-info/v3/details"): (200, reference("nango_account_info_details.json")),
        ("POST", r"/crm/v4/associations/deals/companies/batch/read"): (200, associations),
        ("GET", r"/crm/v3/properties/deals"): (200, reference("amp_properties_deals_sampled.json")),
    }
    with serve(Stub(routes=routes)) as running:
        yield running


def project(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "crm-connect.toml").write_text(
        f'[connections.hs]\nconnector = "hubspot"\nbase_url = "{url}"\nstreams = ["deals"]\n'
        '[connections.hs.resilience]\nbackoff_initial_seconds = 0.0\n', encoding="utf-8")
    monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", "token-0")
    monkeypatch.chdir(tmp_path)


def test_sync_stores_deals_field_by_field(tmp_path: Path, portal: Stub,
                                          monkeypatch: pytest.MonkeyPatch,
                                          crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_hubspot import plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(plugin, "hubspot")
    project(tmp_path, portal.url, monkeypatch)
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as db:
        rows = {row[0]: row[1:] for row in db.execute(
            "SELECT id, name, amount, currency, stage, pipeline, is_closed, is_won, "
            "closed_at, account_id, is_deleted FROM deals WHERE source = 'hs'").fetchall()}
        quarantined = db.execute("SELECT reason FROM quarantine").fetchall()
    won = reference("nango_list_deals_with_associations.json")["results"][1]
    name, amount, currency, stage, pipeline, closed, is_won, closed_at, account, deleted = \
        rows[won["id"]]
    assert (name, amount, currency) == (won["properties"]["dealname"], Decimal("5000"), "USD")
    assert (stage, pipeline, closed, is_won) == ("Closed Won", "Sales Pipeline", True, True)
    assert closed_at.isoformat().startswith("2026-03-01T12:00:00")
    assert (account, deleted) == ("4242", False)
    assert rows["999000111"][-1] is True  # archived: marked deleted
    assert len(rows) == 21  # 21 listed - 1 unparseable + 1 archived
    assert any("five thousand" in reason for (reason,) in quarantined)
    # a second sync searches from the saved cursor and stores nothing new
    portal.routes[("POST", r"/crm/v3/objects/deals/search")] = (200, {"total": 0,
                                                                      "results": []})
    again = CliRunner().invoke(app, ["sync"])
    assert again.exit_code == 0, again.output
    assert portal.requests_to("/crm/v3/objects/deals/search")
    # a deal purged from HubSpot for good (in neither list) is marked deleted by the id
    # sweep of the next full refresh; the others stay as they are
    listed = portal.routes[("GET", r"/crm/v3/objects/deals")][1]
    purged = listed["results"].pop(0)["id"]
    refreshed = CliRunner().invoke(app, ["sync", "--full-refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as db:
        deleted = {row[0] for row in db.execute(
            "SELECT id FROM deals WHERE is_deleted").fetchall()}
    assert deleted == {purged, "999000111"}


def test_connections_test_names_what_the_portal_lacks(
        tmp_path: Path, portal: Stub, monkeypatch: pytest.MonkeyPatch,
        crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_hubspot import plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(plugin, "hubspot")
    project(tmp_path, portal.url, monkeypatch)
    result = CliRunner().invoke(app, ["connections", "test", "hs"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "deal_currency_code" in output
    assert "renewal_rate is not fed by HubSpot: HubSpot has no contracts object" in output
