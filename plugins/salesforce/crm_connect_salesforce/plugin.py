"""The plugin module the ``crm_connect`` entry point ``salesforce`` names."""

from __future__ import annotations

from typing import Any

from crm_connect import hookimpl
from crm_connect_salesforce.connector import SalesforceConnector

__all__ = ["register_connectors", "register_demo_sandboxes"]


@hookimpl
def register_connectors(register: Any) -> None:
    register(SalesforceConnector)


@hookimpl
def register_demo_sandboxes(register: Any) -> None:
    from crm_connect_salesforce.sandbox.demo import demo_sandbox

    register(demo_sandbox())
