"""The names under which a connection's secret is looked for: the environment variable
``CRM_CONNECT_<CONNECTION>_<FIELD>`` and the keyring entry ``<connection>.<field>``.

Kept apart from :mod:`crm_connect.secrets` (which reads and writes the values) so that error
messages can name both places without depending on the keyring.
"""

from __future__ import annotations

import re

__all__ = ["env_var_name", "keyring_key"]


def env_var_name(connection: str, field: str) -> str:
    """``CRM_CONNECT_<CONNECTION>_<FIELD>``, upper case, other characters as ``_``."""
    raw = f"CRM_CONNECT_{connection}_{field}".upper()
    return re.sub(r"[^A-Z0-9_]", "_", raw)


def keyring_key(connection: str, field: str) -> str:
    """The key of a connection's secret in the keyring (service ``crm-connect``)."""
    return f"{connection}.{field}"
