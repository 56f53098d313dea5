"""crm-connect-hubspot: the HubSpot connector plugin for crm-connect, and a loopback ``sandbox``
portal (:mod:`crm_connect_hubspot.sandbox`) for demos, tests and cassettes.

The connector lives in :mod:`crm_connect_hubspot.connector`; the plugin module that registers
it through the ``crm_connect`` entry point is :mod:`crm_connect_hubspot.plugin`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crm-connect-hubspot")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
