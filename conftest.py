"""Shared by the core tests and the plugin tests under plugins/."""

from __future__ import annotations

import os

# Whatever plugins happen to be installed on the machine must not leak into the tests: only the
# built-ins load unless a test registers a plugin itself (or runs a subprocess with its own env).
os.environ["CRM_CONNECT_LOAD_PLUGINS"] = ""
os.environ.pop("CRM_CONNECT_CONFIG", None)
os.environ["PYTHON_KEYRING_BACKEND"] = "crm_connect.testing.memory_keyring.MemoryKeyring"

pytest_plugins = ["crm_connect.testing"]


def pytest_unconfigure() -> None:
    """Nothing prints after pytest's summary line (CI reads it last): a library object that
    logs from ``__del__`` at interpreter exit (py4j's closing connections) would otherwise
    print a "Logging error" to the stream pytest's capture has closed."""
    import logging

    logging.raiseExceptions = False
