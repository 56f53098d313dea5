"""A Salesforce and a HubSpot connection in one store: ``kpis --by source`` gives a row per
source, and where the KPI is additive the sources add up to the total."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hubspot_sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")
salesforce_sandbox = pytest.importorskip("crm_connect_salesforce.sandbox")

ADDITIVE = ("leads_created", "open_deals", "accounts_created")


@pytest.mark.slow
def test_kpis_by_source_add_up_to_the_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            crm_plugin: Callable[[Any, str], None]) -> None:
    import crm_connect_hubspot.plugin
    import crm_connect_salesforce.plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(crm_connect_salesforce.plugin, "salesforce")
    crm_plugin(crm_connect_hubspot.plugin, "hubspot")
    monkeypatch.chdir(tmp_path)
    with salesforce_sandbox.SalesforceSandbox(records=600, seed=3) as org, \
            hubspot_sandbox.HubSpotSandbox(records=600, seed=3, enforce_limits=False) as portal:
        (tmp_path / "crm-connect.toml").write_text(
            "[connections.sf]\nconnector = \"salesforce\"\n"
            f"username = \"{org.credentials.username}\"\nlogin_url = \"{org.instance_url}\"\n"
            f"ca_bundle = \"{org.cert_path}\"\nbulk = \"never\"\n\n"
            "[connections.hs]\nconnector = \"hubspot\"\n"
            f"base_url = \"{portal.base_url}\"\n", encoding="utf-8")
        monkeypatch.setenv("CRM_CONNECT_SF_PASSWORD", org.credentials.password)
        monkeypatch.setenv("CRM_CONNECT_SF_SECURITY_TOKEN", org.credentials.security_token)
        monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", portal.credentials.access_token)
        synced = CliRunner().invoke(app, ["sync"])
        assert synced.exit_code == 0, synced.output
    metrics = [arg for key in ADDITIVE for arg in ("--metric", key)]
    common = [*metrics, "--grain", "year", "--from", "2024-01-01", "--to", "2027-01-01",
              "--as-of", "2026-12-31T00:00:00Z", "--format", "json"]
    by_source = CliRunner().invoke(app, ["kpis", *common, "--by", "source"])
    assert by_source.exit_code == 0, by_source.output
    total = CliRunner().invoke(app, ["kpis", *common])
    assert total.exit_code == 0, total.output
    parts: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in json.loads(by_source.output):
        if row["dimensions"].get("source") and row["value"] is not None:
            parts[(row["metric"], row["period_start"])][row["dimensions"]["source"]] = \
                row["value"]
    assert {source for split in parts.values() for source in split} == {"sf", "hs"}
    compared = 0
    for row in json.loads(total.output):
        if row["dimensions"] or row["value"] is None:
            continue
        split = parts.get((row["metric"], row["period_start"]), {})
        assert sum(split.values()) == pytest.approx(row["value"]), row
        compared += 1
    assert compared >= len(ADDITIVE)
