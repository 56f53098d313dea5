"""Secrets: the system keyring (service ``crm-connect``, key ``<connection>.<field>``),
overridden by the environment variable ``CRM_CONNECT_<CONNECTION>_<FIELD>`` for servers and CI,
and the tokens a vendor refreshed or rotated during a sync.

Which value a field has (``crm-connect auth get`` shows where it comes from):

1. a *rotated* value (saved by a token refresh; see :mod:`crm_connect.rotated_tokens`), as
   long as the value it replaced is still the one in the environment or the keyring: a
   rotated refresh token wins over the stale ``CRM_CONNECT_..._REFRESH_TOKEN`` it replaced;
2. the environment variable ``CRM_CONNECT_<CONNECTION>_<FIELD>``;
3. the keyring entry ``<connection>.<field>``.

Storing a new value (``auth set``, or a new environment value) makes older rotations moot.
Rotated sets go to the keyring when the machine has one, else to a tokens file beside the store
(0600).  Secrets never sit in the configuration file, in logs or in error messages.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors

from crm_connect import rotated_tokens
from crm_connect.errors import ConfigError, MissingSecretError
from crm_connect.secret_names import env_var_name, keyring_key

__all__ = [
    "KEYRING_SERVICE",
    "SecretLocation",
    "delete_secret",
    "env_var_name",
    "get_secret",
    "locate_secret",
    "require_secret",
    "save_rotated_secrets",
    "set_secret",
    "tokens_file_for",
]

KEYRING_SERVICE = rotated_tokens.KEYRING_SERVICE
DEFAULT_TOKENS_FILE = "crm-connect.tokens.json"


def tokens_file_for(store_url: str, base_dir: Path) -> Path:
    """Where rotated tokens go on a machine without a keyring: beside the store's file
    (``crm.duckdb`` -> ``crm.duckdb.tokens.json``), else in the configuration's folder."""
    match = re.fullmatch(r"duckdb://(/?)(.*)", store_url)
    if match and match.group(2) not in ("", ":memory:"):
        path = Path(match.group(2))
        if not path.is_absolute():
            path = base_dir / path
        return path.with_name(path.name + rotated_tokens.TOKENS_FILE_SUFFIX)
    return base_dir / DEFAULT_TOKENS_FILE


def keyring_usable() -> bool:
    backend = keyring.get_keyring()
    try:
        return float(backend.priority) > 0
    except Exception:  # a backend whose priority cannot be read is not one to trust
        return False


def _keyring_value(connection: str, field: str) -> str | None:
    if not keyring_usable():
        return None
    try:
        stored: str | None = keyring.get_password(KEYRING_SERVICE, keyring_key(connection, field))
    except keyring.errors.KeyringError:
        return None
    return stored or None


@dataclass(frozen=True)
class SecretLocation:
    """Where a field's value comes from, and the other places that hold one (never values)."""

    connection: str
    field: str
    value: str | None = dataclasses.field(default=None, repr=False)
    source: str | None = None
    """``"environment"``, ``"keyring"``, ``"keyring (rotated)"``, ``"tokens file"``, or None."""
    detail: str = ""
    """The variable name, the keyring key or the file path, and when a rotation was saved."""
    shadowed: list[str] = dataclasses.field(default_factory=list)
    """Places that hold a value that is not used (what ``auth get`` lists as overridden)."""


def _base(connection: str, field: str) -> tuple[str | None, str | None, list[str]]:
    """The environment or keyring value, its source, and the places it shadows."""
    variable = env_var_name(connection, field)
    from_env = os.environ.get(variable) or None
    from_keyring = _keyring_value(connection, field)
    if from_env:
        shadowed = [f"keyring ({keyring_key(connection, field)})"] if from_keyring else []
        return from_env, "environment", shadowed
    if from_keyring:
        return from_keyring, "keyring", []
    return None, None, []


def locate_secret(connection: str, field: str, tokens_file: Path | None = None
                  ) -> SecretLocation:
    """The value of a secret and where it comes from (see the module's docstring)."""
    value, source, shadowed = _base(connection, field)
    details = {"environment": env_var_name(connection, field),
               "keyring": f"service {KEYRING_SERVICE!r}, key {keyring_key(connection, field)!r}"}
    if tokens_file is not None or keyring_usable():
        rotated = rotated_tokens.read_rotated(
            connection, tokens_file or Path(os.devnull), use_keyring=keyring_usable()
        ).fields.get(field)
        if rotated is not None:
            place = "keyring (rotated)" if rotated.where == "keyring" else "tokens file"
            where = "" if rotated.where == "keyring" else f"{rotated.where}, "
            if rotated.current_for(value):
                if source is not None:
                    shadowed = [f"{source} ({details[source]})", *shadowed]
                return SecretLocation(connection, field, rotated.value, place,
                                      f"{where}saved by a token refresh at {rotated.saved_at}",
                                      shadowed)
            shadowed = [*shadowed, f"{place} ({where}older than the {source} value)"]
    if source is None:
        return SecretLocation(connection, field, shadowed=shadowed)
    return SecretLocation(connection, field, value, source, details[source], shadowed)


def get_secret(connection: str, field: str, tokens_file: Path | None = None) -> str | None:
    """The secret (see the precedence in the module's docstring), or ``None``.

    A keyring that is missing or broken is not an error here: it only means the secret is not
    there.  :func:`require_secret` turns that into a message that says what to do.
    """
    return locate_secret(connection, field, tokens_file).value


def require_secret(connection: str, field: str, tokens_file: Path | None = None) -> str:
    """The secret, or :class:`MissingSecretError` naming the connection, field and both fixes."""
    value = get_secret(connection, field, tokens_file)
    if value is None:
        detail = "" if keyring_usable() else "no usable system keyring on this machine"
        raise MissingSecretError(connection, field, detail)
    return value


def set_secret(connection: str, field: str, value: str, tokens_file: Path | None = None
               ) -> None:
    """Store the secret in the system keyring; a rotated value saved earlier is dropped.

    :raises ConfigError: when the machine has no usable keyring backend; the message says which
        environment variable to use instead.
    """
    variable = env_var_name(connection, field)
    if not keyring_usable():
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
    _forget_rotation(connection, field, tokens_file)


def _forget_rotation(connection: str, field: str, tokens_file: Path | None) -> list[str]:
    try:
        return rotated_tokens.remove_rotated_field(
            connection, field, tokens_file or Path(os.devnull), use_keyring=keyring_usable())
    except OSError as exc:
        raise ConfigError(
            f"cannot update the tokens file {tokens_file} ({exc.strerror}); a token saved "
            f"there for {connection}.{field} may still be used") from None


def delete_secret(connection: str, field: str, tokens_file: Path | None = None) -> list[str]:
    """Remove the secret from the keyring and the rotated sets; the places it was removed from.

    The environment cannot be changed from here: :func:`locate_secret` still finds a value set
    there.
    """
    removed: list[str] = []
    if keyring_usable() and _keyring_value(connection, field) is not None:
        try:
            keyring.delete_password(KEYRING_SERVICE, keyring_key(connection, field))
        except keyring.errors.KeyringError as exc:
            raise ConfigError(
                f"the system keyring refused to delete {connection}.{field}: "
                f"{type(exc).__name__}") from None
        removed.append("keyring")
    for place in _forget_rotation(connection, field, tokens_file):
        removed.append("keyring (rotated)" if place == "keyring" else f"tokens file {place}")
    return removed


def save_rotated_secrets(connection: str, values: Mapping[str, str], tokens_file: Path) -> str:
    """Save a refreshed or rotated token set as one unit; where it went.

    The set goes to the keyring when the machine has one, else to ``tokens_file`` (0600,
    replaced atomically).  Each value wins over the environment or keyring value it replaces
    until a new one is stored there.

    :raises ConfigError: when it can be saved nowhere: the message says what to do, since the
        vendor may already have revoked the old token.
    """
    if not values:
        return ""
    bases = {name: _base(connection, name)[0] for name in values}
    try:
        return rotated_tokens.write_rotated(connection, values, bases, tokens_file,
                                            use_keyring=keyring_usable())
    except OSError as exc:
        names = ", ".join(sorted(values))
        raise ConfigError(
            f"connection {connection!r}: the vendor issued new {names} but they cannot be "
            f"saved: no usable system keyring, and the tokens file {tokens_file} cannot be "
            f"written ({exc.strerror}). Rotating tokens need a place to live: make that "
            f"folder writable or install a keyring backend. If the vendor revoked the old "
            f"token, authorize again and store the new one with `crm-connect auth set "
            f"{connection} FIELD`.") from None
