"""The Salesforce plugin's contribution to ``crm-connect demo``: a sandbox that serves while its
block runs, whose settings hold no secret, and that is gone when the block ends (the kit's
check, :func:`crm_connect.testing.conformance.check_demo_sandbox`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_connect.testing.conformance import Status, check_demo_sandbox


def test_the_plugin_registers_a_demo_sandbox_that_stops_with_its_block(
        crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_salesforce import plugin

    crm_plugin(plugin, "salesforce")
    outcome = check_demo_sandbox("salesforce_demo")
    assert outcome.status is Status.PASS, outcome.message
