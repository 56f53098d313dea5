"""Fixtures of the Salesforce plugin's tests.

The root ``conftest.py`` sets ``CRM_CONNECT_LOAD_PLUGINS=""``: in-process tests register the
plugin with ``crm_plugin``; subprocess tests set ``CRM_CONNECT_LOAD_PLUGINS=salesforce``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import REFERENCE, reference

from crm_connect.connector import ConnectionContext

__all__ = ["REFERENCE", "reference"]

@pytest.fixture
def make_connector(tmp_path: Path) -> Callable[..., SalesforceConnector]:
    """A connector built from options, as the configuration file would give them."""

    def make(**options: Any) -> SalesforceConnector:
        options.setdefault("username", "ops@example.com")
        options.setdefault("currency", "USD")
        config = SalesforceConfig.model_validate(options)
        return SalesforceConnector(ConnectionContext("sf", tmp_path), config)

    return make


# --- the sandbox the test_sandbox_* files drive ----------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    # ~11k records: 2,064 opportunities, 2,064 leads, 2,752 tasks, so several objects page
    with SalesforceSandbox(records=11000, seed=3) as sb:
        yield sb


@pytest.fixture()
def small() -> Iterator[SalesforceSandbox]:
    """A fresh small org for tests that mutate data or spend the quota."""
    with SalesforceSandbox(records=800, seed=11) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """A fault a test_sandbox_* test queued on the shared sandbox never leaks into the next."""
    yield
    if request.module.__name__.startswith("test_sandbox_") and "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").clear_faults()
