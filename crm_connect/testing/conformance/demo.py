"""The check of a plugin's ``crm-connect demo`` sandbox (its ``register_demo_sandboxes`` hook).

A plugin's test registers the plugin (the ``crm_plugin`` fixture) and checks its sandbox by the
connection name it registers::

    def test_the_demo_sandbox(crm_plugin):
        crm_plugin(plugin, "tinycrm")
        outcome = check_demo_sandbox("tinycrm_demo")
        assert outcome.status is Status.PASS, outcome.message

The check starts the sandbox and holds it to what the demo relies on: the connector it names
comes from the same plugin, it serves on every loopback URL of its settings while its block
runs, it has throwaway secrets that none of its settings shows, its data ends at an aware
datetime, ``real_crm`` names only settings the connector knows, and nothing listens any more
once the block has ended.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from crm_connect.plugins import connector_plugin, get_connectors, get_demo_sandboxes
from crm_connect.sandboxes import DemoConnection, DemoSandbox
from crm_connect.testing.conformance.outcomes import CheckOutcome, Status

__all__ = ["check_demo_sandbox"]

NAME = "demo_sandbox"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_demo_sandbox(connection: str) -> CheckOutcome:
    """Start the demo sandbox registered as ``connection`` and check what the demo needs.

    :param connection: the connection name the plugin's :class:`DemoSandbox` gives
        (``tinycrm_demo``); the plugin must be registered already.
    :returns: a passing outcome, or a failing one that says what to fix.
    """
    status, message = _verdict(connection)
    return CheckOutcome(NAME, status, message)


def _verdict(connection: str) -> tuple[Status, str]:
    sandboxes = get_demo_sandboxes()
    if connection not in sandboxes:
        known = ", ".join(sorted(sandboxes)) or "none"
        return Status.FAIL, (f"no demo sandbox is registered as {connection!r} (registered: "
                             f"{known}); register a DemoSandbox(connection={connection!r}, "
                             "...) in the plugin's register_demo_sandboxes hook")
    sandbox, plugin = sandboxes[connection]
    problem = _connector_problem(sandbox, plugin)
    if problem:
        return Status.FAIL, problem
    with sandbox.start() as running:
        urls = _loopback_urls(running.settings.values())
        if not urls:
            return Status.FAIL, ("none of the settings is a loopback URL (http://127.0.0.1:"
                                 "PORT); the demo's connection must point at the sandbox")
        problem = _running_problem(sandbox, running, urls)
    if problem:
        return Status.FAIL, problem
    still = [url for url in urls if _listening(url)]
    if still:
        return Status.FAIL, (f"{', '.join(still)} still listening after the sandbox's block "
                             "ended; stop every server and thread in start()'s exit")
    return Status.PASS, (f"{connection} served on {', '.join(urls)} and stopped with its "
                         "block; no secret in its settings")


def _connector_problem(sandbox: DemoSandbox, plugin: str) -> str | None:
    if sandbox.connector not in get_connectors():
        return (f"the sandbox names connector {sandbox.connector!r}, which no plugin "
                "registers; name the connector the plugin registers")
    other = connector_plugin(sandbox.connector)
    if other != plugin:
        return (f'connector {sandbox.connector!r} comes from plugin "{other}", not from '
                f'"{plugin}", which registered the sandbox; a plugin demonstrates its own '
                "connector")
    return None


def _running_problem(sandbox: DemoSandbox, running: DemoConnection,
                     urls: list[str]) -> str | None:
    silent = [url for url in urls if not _listening(url)]
    if silent:
        return (f"nothing listens on {', '.join(silent)} while the sandbox's block runs; "
                "start the server before yielding the DemoConnection")
    if not running.secrets or not all(running.secrets.values()):
        return "the DemoConnection has no secrets, or an empty one; give throwaway values"
    shown = repr(dict(running.settings))
    leaked = sorted(field for field, value in running.secrets.items() if value in shown)
    if leaked:
        return (f"the settings show the secret {', '.join(leaked)}; secrets go in "
                "DemoConnection.secrets only (they are never written to a file)")
    if running.data_ends.tzinfo is None:
        return "data_ends is a naive datetime; give it a timezone (UTC)"
    config_fields = set(get_connectors()[sandbox.connector].config_model.model_fields)
    unknown = sorted(set(running.real_crm) - set(running.settings) - config_fields)
    if unknown:
        return (f"real_crm names {', '.join(unknown)}, neither a setting of the sandbox nor "
                "a field of the connector's configuration")
    return None


def _loopback_urls(values: Iterable[Any]) -> list[str]:
    urls = []
    for value in values:
        if isinstance(value, Mapping):
            urls += _loopback_urls(value.values())
        elif (isinstance(value, str) and value.startswith(("http://", "https://"))
              and urllib.parse.urlsplit(value).hostname in _LOOPBACK):
            urls.append(value)
    return urls


def _listening(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.socket(socket.AF_INET6 if ":" in (parts.hostname or "") else socket.AF_INET
                       ) as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "", port)) == 0
