"""Test helpers for crm-connect and its plugins.

Plugin authors add ``pytest_plugins = ["crm_connect.testing"]`` to their ``conftest.py`` and get:

``memory_keyring``
    an in-memory keyring backend in place of the system one for the test.
``crm_plugin``
    ``crm_plugin(module_or_object, name)`` registers a plugin for the test and always
    unregisters it afterwards.

The loopback server kit: ``crm_connect.testing.server`` (``LoopbackServer``: routes, optional
TLS, a request log), ``crm_connect.testing.faultbook`` (``FaultBook`` and the faults: 429 with
``Retry-After``, 5xx, connection resets, truncated bodies, expired tokens, slow answers) and
``crm_connect.testing.tls`` (a throwaway self-signed certificate).  ``crm_connect.testing.faults``
builds on it a server that pages a JSON API, for resilience tests;
``pytest_plugins = ["crm_connect.testing.faults"]`` adds its ``fault_server`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keyring

try:
    import pytest
except ModuleNotFoundError:  # the loopback kit runs without pytest; the fixtures need it
    from crm_connect.testing import _without_pytest as pytest  # type: ignore[no-redef]

from crm_connect.testing.memory_keyring import MemoryKeyring

__all__ = ["MemoryKeyring"]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Replace the system keyring with an in-memory one for the duration of a test."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def crm_plugin() -> Iterator[Callable[[Any, str], None]]:
    """Register plugins for one test; they are unregistered afterwards, whatever happens."""
    from crm_connect.plugins import register_plugin, unregister_plugin

    names: list[str] = []

    def register(plugin: Any, name: str) -> None:
        register_plugin(plugin, name)
        names.append(name)

    try:
        yield register
    finally:
        for name in reversed(names):
            unregister_plugin(name)
