"""What a plugin contributes to ``crm-connect demo``: its loopback sandbox.

A plugin implements the ``register_demo_sandboxes`` hook and calls ``register`` with a
:class:`DemoSandbox`: the connection name and connector the demo configures, and ``start``, a
context manager that starts the sandbox on a free loopback port, yields a
:class:`DemoConnection` (the connection's settings, its throwaway secrets and the date its data
ends at) and stops everything it started when the block ends, however it ends::

    @contextlib.contextmanager
    def start_demo() -> Iterator[DemoConnection]:
        with TinySandbox(records=500) as sandbox:
            yield DemoConnection(settings={"base_url": sandbox.url},
                                 secrets={"api_key": sandbox.api_key},
                                 data_ends=sandbox.now)

    @hookimpl
    def register_demo_sandboxes(register):
        register(DemoSandbox(connection="tiny_demo", connector="tiny", start=start_demo))

The demo writes ``settings`` into its ``crm-connect.toml``; ``secrets`` never go to a file:
they reach the connector through the environment (``CRM_CONNECT_<CONNECTION>_<FIELD>``) of the
demo's own process, for as long as the demo runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DemoConnection", "DemoSandbox"]


@dataclass(frozen=True)
class DemoConnection:
    """A running sandbox, as the demo's configuration needs it.

    :param settings: the ``[connections.NAME]`` table (``connector`` left out): plain values,
        tables and lists a TOML file can hold, and never a secret.
    :param secrets: secret field to its throwaway value (``password``, ``access_token``, ...).
    :param data_ends: when the sandbox's synthetic history ends (timezone-aware): the demo's
        KPIs are computed as of the latest of these.
    :param rates: exchange rates to the reporting currency (USD) for the currencies the
        sandbox's amounts come in.
    :param real_crm: setting to what it becomes for a real account of the vendor (``"remove"``
        when the default then applies): what the demo tells the user to change.
    """

    settings: Mapping[str, Any]
    secrets: Mapping[str, str]
    data_ends: dt.datetime
    rates: Mapping[str, float] = field(default_factory=dict)
    real_crm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoSandbox:
    """A plugin's demo sandbox.

    :param connection: the connection name the demo gives it (``tinycrm_demo``).
    :param connector: the connector the connection uses (registered by the same plugin).
    :param start: a context manager factory: entering starts the sandbox on a free loopback
        port and yields its :class:`DemoConnection`; leaving stops its threads and processes.
    :param description: one line for the user (what the sandbox holds).
    """

    connection: str
    connector: str
    start: Callable[[], AbstractContextManager[DemoConnection]]
    description: str = ""
