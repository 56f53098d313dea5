"""A merge in HubSpot (companies, contacts): the record kept lists the ids merged into it in
``hs_merged_object_ids`` and those ids stop existing.  Through the installed command, the
connector stores each merged-away id as deleted with ``merged_into_id`` naming the record
kept, and ``crm-connect resolve`` puts it in that record's cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")

CLI = str(Path(sys.executable).parent / "crm-connect")


@pytest.fixture
def portal() -> Iterator[Any]:
    with sandbox.HubSpotSandbox(records=600, seed=11, enforce_limits=False) as running:
        yield running


def run(folder: Path, portal: Any, *args: str) -> None:
    env = {**os.environ, "CRM_CONNECT_LOAD_PLUGINS": "hubspot",
           "CRM_CONNECT_HS_ACCESS_TOKEN": portal.credentials.access_token}
    done = subprocess.run([CLI, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def query(folder: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(folder / "crm.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def clusters(folder: Path, entity: str) -> dict[str, str]:
    return dict(query(folder, "SELECT id, cluster_id FROM resolved_entities "
                              f"WHERE entity = '{entity}'"))


def test_a_merged_away_record_joins_the_kept_records_cluster(portal: Any,
                                                             tmp_path: Path) -> None:
    import hubspot
    from hubspot.crm.companies import PublicMergeInput as CompanyMerge
    from hubspot.crm.contacts import PublicMergeInput as ContactMerge

    truth = portal.portal
    kept, gone = (str(record.id) for record in truth.live("companies")[:2])
    for company, domain in ((kept, "northwind-traders.io"), (gone, "contoso-shipping.de")):
        # two companies with real-looking domains of their own, as in a real portal
        truth.update("companies", company, {"domain": domain, "website": f"https://{domain}"})
    (tmp_path / "crm-connect.toml").write_text(
        f'[connections.hs]\nconnector = "hubspot"\nbase_url = "{portal.base_url}"\n'
        'streams = ["accounts", "contacts"]\n', encoding="utf-8")
    run(tmp_path, portal, "sync")
    run(tmp_path, portal, "resolve")

    assert clusters(tmp_path, "accounts")[gone] != clusters(tmp_path, "accounts")[kept]
    person, twin = (str(record.id) for record in truth.live("contacts")[:2])
    assert clusters(tmp_path, "contacts")[twin] != clusters(tmp_path, "contacts")[person]
    client = hubspot.HubSpot(**portal.client_options())
    client.crm.companies.basic_api.merge(
        CompanyMerge(primary_object_id=kept, object_id_to_merge=gone))
    answer = client.crm.contacts.basic_api.merge(
        ContactMerge(primary_object_id=person, object_id_to_merge=twin))
    assert answer.id == person
    read = client.crm.contacts.basic_api.get_by_id(twin, properties=["hs_merged_object_ids"])
    assert read.id == person and read.properties["hs_merged_object_ids"] == twin

    run(tmp_path, portal, "sync")
    run(tmp_path, portal, "resolve")
    assert query(tmp_path, f"SELECT is_deleted, merged_into_id FROM accounts WHERE id = '{gone}'"
                 ) == [(True, kept)]
    accounts = clusters(tmp_path, "accounts")
    assert accounts[gone] == accounts[kept]
    people = clusters(tmp_path, "contacts")
    assert people[twin] == people[person]
    assert query(tmp_path, "SELECT merged_into_id FROM resolved_entities "
                           f"WHERE entity = 'contacts' AND id = '{twin}'") == [(person,)]
    # the kept record's merge list is the merge, not a vendor field left in extra
    (extra,) = query(tmp_path, f"SELECT extra FROM contacts WHERE id = '{person}'")[0]
    assert "hs_merged_object_ids" not in str(extra or "")
