"""Secrets: the system keyring (service ``crm-connect``, key ``<connection>.<field>``), overridden
by the environment variable ``CRM_CONNECT_<CONNECTION>_<FIELD>`` for servers and CI.

Secrets never sit in the configuration file, in logs or in error messages.
"""

from __future__ import annotations

import os
import re

import keyring
import keyring.errors

from crm_connect.errors import ConfigError, MissingSecretError

__all__ = ["KEYRING_SERVICE", "env_var_name", "get_secret", "require_secret", "set_secret"]

KEYRING_SERVICE = "crm-connect"


def env_var_name(connection: str, field: str) -> str:
    """``CRM_CONNECT_<CONNECTION>_<FIELD>``, upper case, other characters as ``_``."""
    raw = f"CRM_CONNECT_{connection}_{field}".upper()
    return re.sub(r"[^A-Z0-9_]", "_", raw)


def keyring_key(connection: str, field: str) -> str:
    return f"{connection}.{field}"


def _keyring_usable() -> bool:
    backend = keyring.get_keyring()
    try:
        return float(backend.priority) > 0
    except Exception:  # a backend whose priority cannot be read is not one to trust
        return False


def get_secret(connection: str, field: str) -> str | None:
    """The secret from the environment, else from the keyring, else ``None``.

    A keyring that is missing or broken is not an error here: it only means the secret is not
    there.  :func:`require_secret` turns that into a message that says what to do.
    """
    value = os.environ.get(env_var_name(connection, field))
    if value:
        return value
    if not _keyring_usable():
        return None
    try:
        stored: str | None = keyring.get_password(KEYRING_SERVICE, keyring_key(connection, field))
    except keyring.errors.KeyringError:
        return None
    return stored or None


def require_secret(connection: str, field: str) -> str:
    """The secret, or :class:`MissingSecretError` naming the connection, field and both fixes."""
    value = get_secret(connection, field)
    if value is None:
        detail = "" if _keyring_usable() else "no usable system keyring on this machine"
        raise MissingSecretError(connection, field, detail)
    return value


def set_secret(connection: str, field: str, value: str) -> None:
    """Store the secret in the system keyring.

    :raises ConfigError: when the machine has no usable keyring backend; the message says which
        environment variable to use instead.
    """
    variable = env_var_name(connection, field)
    if not _keyring_usable():
        raise ConfigError(
            f"no usable system keyring on this machine ({type(keyring.get_keyring()).__name__}). "
            f"Set the environment variable {variable} instead."
        )
    try:
        keyring.set_password(KEYRING_SERVICE, keyring_key(connection, field), value)
    except keyring.errors.KeyringError as exc:
        raise ConfigError(
            f"the system keyring refused to store {connection}.{field}: "
            f"{type(exc).__name__}. Set the environment variable {variable} instead."
        ) from None
