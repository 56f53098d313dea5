"""The ``contacts`` and ``leads`` streams read HubSpot's contacts once per run.

Checked through the installed command's code path (the CLI in process) against the sandbox: a
sync of both streams stores exactly what a sync of each alone stores, with the contacts
listed once; incremental runs share too; a leads stream whose state differs from the contacts'
(an earlier run stopped between them) still reads every lead by itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")

UNTHROTTLED = ("[connections.hs.resilience.rate_limits.search]\nrequests = 100\n"
               "[connections.hs.resilience.rate_limits.general]\nrequests = 1000\n")

CONTACTS_LIST = r"^/crm/v3/objects/contacts/?$"
CONTACTS_SEARCH = r"^/crm/v3/objects/contacts/search/?$"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, crm_plugin: Callable[[Any, str], None]
        ) -> Callable[..., Any]:
    from crm_connect_hubspot import plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(plugin, "hubspot")

    def run(folder: Path, *args: str) -> Any:
        monkeypatch.chdir(folder)
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result

    return run


def project(folder: Path, portal: Any, streams: list[str], monkeypatch: pytest.MonkeyPatch,
            page_size: int = 100) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "crm-connect.toml").write_text(
        f'[connections.hs]\nconnector = "hubspot"\nbase_url = "{portal.base_url}"\n'
        f"streams = {json.dumps(streams)}\npage_size = {page_size}\nbatch_size = 100\n"
        "first_sync_search = false\n"  # list only: request counts that do not race
        + UNTHROTTLED, encoding="utf-8")
    monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", portal.credentials.access_token)
    return folder


def table(folder: Path, entity: str) -> dict[str, tuple[Any, ...]]:
    with duckdb.connect(str(folder / "crm.duckdb"), read_only=True) as db:
        columns = [name for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND column_name NOT IN ('synced_at', 'run_id', 'ingested_at') "
            "ORDER BY column_name", [entity]).fetchall()]
        listed = ", ".join(f'"{name}"' for name in columns)
        return {str(row[0]): tuple(row[1:]) for row in db.execute(
            f'SELECT id, {listed} FROM "{entity}"').fetchall()}


def test_both_streams_read_contacts_once_and_store_what_each_alone_stores(
        tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox.HubSpotSandbox(records=700, seed=5, enforce_limits=False) as portal:
        alone = {name: project(tmp_path / name, portal, [name], monkeypatch)
                 for name in ("contacts", "leads")}
        listed = {}
        for name, folder in alone.items():
            before = portal.request_count(CONTACTS_LIST)
            cli(folder, "sync")
            listed[name] = portal.request_count(CONTACTS_LIST) - before
        both = project(tmp_path / "both", portal, ["contacts", "leads"], monkeypatch)
        before = portal.request_count(CONTACTS_LIST)
        cli(both, "sync")
        assert portal.request_count(CONTACTS_LIST) - before == listed["contacts"] > 2
        assert listed["leads"] == listed["contacts"]
        for name, folder in alone.items():
            stored = table(both, name)
            assert len(stored) == len(portal.portal.live("contacts")) + len(
                portal.portal.archived("contacts"))
            assert stored == table(folder, name)

        # an incremental run: both streams from the same state, one search of the changes
        changes = portal.change_round(seed=3)
        before = portal.request_count(CONTACTS_SEARCH)
        cli(alone["contacts"], "sync")
        searched = portal.request_count(CONTACTS_SEARCH) - before
        cli(alone["leads"], "sync")
        before = portal.request_count(CONTACTS_SEARCH)
        cli(both, "sync")
        assert portal.request_count(CONTACTS_SEARCH) - before == searched >= 1
        for name, folder in alone.items():
            assert table(both, name) == table(folder, name)
        leads = table(both, "leads")
        for record_id in changes.touched("contacts"):
            assert str(record_id) in leads


def test_leads_behind_the_contacts_read_every_lead_themselves(
        tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox.HubSpotSandbox(records=500, seed=8, enforce_limits=False) as portal:
        folder = project(tmp_path, portal, ["contacts"], monkeypatch)
        cli(folder, "sync")
        project(tmp_path, portal, ["contacts", "leads"], monkeypatch)
        cli(folder, "sync")  # contacts go on incrementally; leads start from nothing
        held = len(portal.portal.live("contacts")) + len(portal.portal.archived("contacts"))
        assert len(table(folder, "leads")) == held
        assert table(folder, "leads").keys() == table(folder, "contacts").keys()
