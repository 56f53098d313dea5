"""Fixtures of the Salesforce plugin's tests.

The root ``conftest.py`` sets ``CRM_CONNECT_LOAD_PLUGINS=""``: in-process tests register the
plugin with ``crm_plugin``; subprocess tests set ``CRM_CONNECT_LOAD_PLUGINS=salesforce``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
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
