"""The Salesforce plugin's contribution to ``crm-connect demo``: a sandbox that serves while its
block runs, whose settings hold no secret, and that is gone when the block ends."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from crm_connect.plugins import get_demo_sandboxes


def listening(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "", parts.port or 0)) == 0


def test_the_plugin_registers_a_demo_sandbox_that_stops_with_its_block(
        crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_salesforce import plugin

    crm_plugin(plugin, "salesforce")
    sandbox, plugin = get_demo_sandboxes()["salesforce_demo"]
    assert (plugin, sandbox.connector) == ("salesforce", "salesforce")
    with sandbox.start() as connection:
        url = connection.settings["login_url"]
        assert listening(url)
        assert connection.secrets and all(connection.secrets.values())
        shown = repr(dict(connection.settings))
        assert not any(secret in shown for secret in connection.secrets.values())
        assert connection.data_ends.tzinfo is not None
        assert set(connection.real_crm) <= {*connection.settings, "mapping", "username"}
    assert not listening(url)
