"""Test helpers for crm-connect and its plugins.

Plugin authors add ``pytest_plugins = ["crm_connect.testing"]`` to their ``conftest.py`` and get
(from :mod:`crm_connect.testing.pytest_plugin`):

``memory_keyring``
    an in-memory keyring backend in place of the system one for the test.
``crm_plugin``
    ``crm_plugin(module_or_object, name)`` registers a plugin for the test and always
    unregisters it afterwards.

:mod:`crm_connect.testing.conformance` is the conformance suite: subclass its
``ConformanceSuite`` to run every check against a connector (see ``docs/writing-a-plugin.md``).

The loopback server kit: ``crm_connect.testing.server`` (``LoopbackServer``: routes, optional
TLS, a request log), ``crm_connect.testing.faultbook`` (``FaultBook`` and the faults: 429 with
``Retry-After``, 5xx, connection resets, truncated bodies, expired tokens, slow answers) and
``crm_connect.testing.tls`` (a throwaway self-signed certificate).  ``crm_connect.testing.faults``
builds on it a server that pages a JSON API, for resilience tests;
``pytest_plugins = ["crm_connect.testing.faults"]`` adds its ``fault_server`` fixture.
"""

from __future__ import annotations

from crm_connect.testing.memory_keyring import MemoryKeyring

__all__ = ["MemoryKeyring"]

# The fixtures live in a module of their own: importing this package needs no pytest.
pytest_plugins = ["crm_connect.testing.pytest_plugin"]
