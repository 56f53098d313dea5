"""The plugin module the ``crm_connect`` entry point ``hubspot`` names."""

from __future__ import annotations

from typing import Any

from crm_connect import hookimpl
from crm_connect_hubspot.connector import HubSpotConnector

__all__ = ["register_connectors", "register_demo_sandboxes"]


@hookimpl
def register_connectors(register: Any) -> None:
    register(HubSpotConnector)


@hookimpl
def register_demo_sandboxes(register: Any) -> None:
    from crm_connect_hubspot.sandbox.demo import demo_sandbox

    register(demo_sandbox())
