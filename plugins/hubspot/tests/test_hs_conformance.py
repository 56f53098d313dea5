"""The connector kit's conformance suite against the HubSpot plugin: every check a test item,
through the real connector, its configuration file and its secrets, against the loopback
sandbox portal (small pages, so that resuming from committed states is exercised); and its
cassette check on ``cassettes/hubspot``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crm_connect_hubspot.plugin
import pytest
from hs_support import REPO

from crm_connect.testing.conformance import (
    CHECKS,
    ConformanceSuite,
    ConformanceTarget,
    run_conformance,
)

CASSETTES = REPO / "cassettes" / "hubspot"
PLUGINS = {"hubspot": crm_connect_hubspot.plugin}


def write_config(folder: Path, base_url: str, extra: str = "") -> Path:
    path = folder / "crm-connect.toml"
    path.write_text(
        '[store]\nurl = "duckdb:///crm.duckdb"\n\n[connections.hs]\nconnector = "hubspot"\n'
        f'base_url = "{base_url}"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def conformance_portal() -> Iterator[Any]:
    sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")
    with sandbox.HubSpotSandbox(records=800, seed=5, enforce_limits=False) as portal:
        yield portal


class TestHubSpotConformance(ConformanceSuite):
    """List pages of 20 and stored pages of 20 records; archived records come back flagged."""

    connection = "hs"
    cassettes = CASSETTES
    plugins = PLUGINS

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_target(cls, conformance_portal: Any,
                           tmp_path_factory: pytest.TempPathFactory) -> ConformanceTarget:
        folder = tmp_path_factory.mktemp("hs-conformance")
        config = write_config(folder, conformance_portal.base_url,
                              "page_size = 20\nsearch_page_size = 20\nbatch_size = 20\n"
                              'mapping.accounts = { churned_at = "churn_date" }\n'
                              # limits are not what these checks are about: no waiting
                              "[connections.hs.resilience.rate_limits.general]\n"
                              "requests = 1000\n"
                              "[connections.hs.resilience.rate_limits.search]\n"
                              "requests = 100\n")
        archived = {stream: {str(record.id) for record in
                             conformance_portal.portal.archived(object_name)}
                    for stream, object_name in (("deals", "deals"), ("accounts", "companies"))}
        return ConformanceTarget(
            config, cls.connection, cassettes=cls.cassettes, plugins=cls.plugins,
            deleted_ids=archived,
            secrets={"access_token": conformance_portal.credentials.access_token})


def _cassette_check(tmp_path: Path, cassettes: Path) -> Any:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    target = ConformanceTarget(config, "hs", cassettes=cassettes, plugins=PLUGINS,
                               secrets={"access_token": "pat-na1-00000000-test-token"})
    [outcome] = run_conformance(
        target, [check for check in CHECKS if check.name == "cassettes_hold_no_secret"])
    return outcome


def test_conformance_suite_finds_no_secret_in_the_cassettes(tmp_path: Path) -> None:
    outcome = _cassette_check(tmp_path, CASSETTES)
    assert outcome.status == "pass", outcome.message


def test_conformance_suite_finds_an_unscrubbed_token(tmp_path: Path) -> None:
    leaked = tmp_path / "cassettes"
    leaked.mkdir()
    text = (CASSETTES / "test_hs_first_sync_replayed.yaml").read_text(encoding="utf-8")
    (leaked / "leaked.yaml").write_text(
        text.replace("- REDACTED", "- Bearer pat-na1-00000000-test-token", 1),
        encoding="utf-8")
    outcome = _cassette_check(tmp_path, leaked)
    assert outcome.status == "fail" and "leaked.yaml" in outcome.message
