"""crm-connect-salesforce: the Salesforce connector plugin for crm-connect, and a loopback
``sandbox`` org (:mod:`crm_connect_salesforce.sandbox`) for demos, tests and cassettes.

The connector itself lives in :mod:`crm_connect_salesforce.connector`; the plugin module that
registers it through the ``crm_connect`` entry point is :mod:`crm_connect_salesforce.plugin`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crm-connect-salesforce")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
