"""The connector kit's conformance suite against the plugin's loopback sandbox: every check a
test item, through the real connector, its configuration file and its secrets."""

from __future__ import annotations

from collections.abc import Iterator

import crm_connect_salesforce.plugin
import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import CASSETTES, sandbox_options, write_project

from crm_connect.testing.conformance import ConformanceSuite, ConformanceTarget


@pytest.fixture(scope="module")
def conformance_org() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=1500, seed=5) as org:
        for sobject in ("Account", "Opportunity"):  # in the recycle bin: queryAll reads them
            org.org.delete(org.org.id_of(sobject, 3))
        yield org


class TestSalesforceConformance(ConformanceSuite):
    """REST reads in pages of 200 so that resuming from committed states is exercised; a
    deleted account and deal must come back flagged."""

    connection = "sf"
    cassettes = CASSETTES
    plugins = {"salesforce": crm_connect_salesforce.plugin}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_target(cls, conformance_org: SalesforceSandbox,
                           tmp_path_factory: pytest.TempPathFactory) -> ConformanceTarget:
        folder = tmp_path_factory.mktemp("sf-conformance")
        options = sandbox_options(conformance_org, bulk="never", page_size=200)
        config = write_project(folder, {cls.connection: options})
        credentials = conformance_org.credentials
        return ConformanceTarget(
            config, cls.connection, cassettes=cls.cassettes, plugins=cls.plugins,
            deleted_ids={"accounts": {conformance_org.org.id_of("Account", 3)},
                         "deals": {conformance_org.org.id_of("Opportunity", 3)}},
            secrets={"password": credentials.password,
                     "security_token": credentials.security_token})
