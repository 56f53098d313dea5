"""Where refreshed and rotated tokens are kept between runs.

A vendor that rotates refresh tokens revokes the old one when it issues a new one, so the new
set must be saved before the run goes on, all of it at once, and must win next run over the
value it replaced (which may still sit in the environment or the keyring).  A *rotated set* is
one JSON document per connection::

    {"saved_at": "...", "salt": "...",
     "fields": {"refresh_token": {"value": "...", "replaces": "<salted hash>"}}}

``replaces`` is a salted SHA-256 of the value the field had in the environment or the keyring
when the set was saved (``""`` when it had none).  A rotated value is used only while that base
value is unchanged: a token set anew with ``auth set`` or a new environment variable wins over
an older rotation.  The hash is salted so that even a weak secret cannot be looked up.

The set lives in the system keyring (one entry, key ``<connection>:rotated``) when the machine
has one, else in a tokens file beside the store, created with 0600 permissions and replaced
atomically under a lock, so concurrent syncs of different connections do not lose each other's
tokens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets as random_secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import keyring.errors

__all__ = [
    "TOKENS_FILE_SUFFIX",
    "RotatedSet",
    "RotatedValue",
    "fingerprint",
    "read_rotated",
    "remove_rotated_field",
    "write_rotated",
]

KEYRING_SERVICE = "crm-connect"
TOKENS_FILE_SUFFIX = ".tokens.json"


def rotated_key(connection: str) -> str:
    """The keyring key of a connection's rotated set (``:`` never occurs in a field name)."""
    return f"{connection}:rotated"


def fingerprint(value: str | None, salt: str) -> str:
    """A salted hash of ``value``; ``""`` for no value."""
    if not value:
        return ""
    return hashlib.sha256(f"{salt}\0{value}".encode()).hexdigest()


@dataclass(frozen=True)
class RotatedValue:
    value: str
    replaces: str
    salt: str
    saved_at: str
    where: str
    """``"keyring"`` or the tokens file's path."""

    def __repr__(self) -> str:  # never show the value
        return f"RotatedValue(saved_at={self.saved_at!r}, where={self.where!r})"

    def current_for(self, base: str | None) -> bool:
        """Whether this rotation replaced ``base`` (the environment or keyring value now)."""
        return fingerprint(base, self.salt) == self.replaces


@dataclass(frozen=True)
class RotatedSet:
    fields: dict[str, RotatedValue]


def _document(connection: str, values: Mapping[str, str], bases: Mapping[str, str | None],
              previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The new rotated set: ``values`` over the fields of ``previous`` (kept as they were)."""
    salt = random_secrets.token_hex(16)
    fields: dict[str, Any] = {}
    if previous:
        old_salt = str(previous.get("salt", ""))
        for name, item in dict(previous.get("fields") or {}).items():
            if name not in values and isinstance(item, dict):
                fields[name] = {**item, "salt": str(item.get("salt") or old_salt)}
    for name, value in values.items():
        fields[name] = {"value": value, "replaces": fingerprint(bases.get(name), salt),
                        "salt": salt}
    return {"connection": connection, "saved_at": dt.datetime.now(dt.UTC).isoformat(),
            "salt": salt, "fields": fields}


def _parse(text: str | None, where: str) -> RotatedSet | None:
    if not text:
        return None
    try:
        document = json.loads(text)
        fields = {
            str(name): RotatedValue(str(item["value"]), str(item.get("replaces", "")),
                                    str(item.get("salt") or document.get("salt", "")),
                                    str(document.get("saved_at", "")), where)
            for name, item in dict(document.get("fields") or {}).items()
        }
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return RotatedSet(fields)


# -- keyring --------------------------------------------------------------------------------


def _keyring_text(connection: str) -> str | None:
    try:
        return keyring.get_password(KEYRING_SERVICE, rotated_key(connection))
    except keyring.errors.KeyringError:
        return None


def _keyring_write(connection: str, document: Mapping[str, Any] | None) -> None:
    key = rotated_key(connection)
    if document is None:
        with contextlib.suppress(keyring.errors.KeyringError):
            keyring.delete_password(KEYRING_SERVICE, key)
        return
    keyring.set_password(KEYRING_SERVICE, key, json.dumps(document))


# -- tokens file ----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` for a read-modify-write of the tokens file."""
    lock_path = path.with_name(path.name + ".lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _file_documents(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        documents = json.loads(text)
    except ValueError:
        return {}
    return documents if isinstance(documents, dict) else {}


def _replace_file(path: Path, documents: Mapping[str, Any]) -> None:
    """Write ``documents`` to a 0600 temporary file beside ``path`` and rename it over it."""
    descriptor, temporary = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(documents, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _file_update(path: Path, connection: str,
                 change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> bool:
    """Replace the connection's document in the file with ``change(old)`` under the lock;
    whether the file changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        documents = _file_documents(path)
        old = documents.get(connection)
        new = change(dict(old) if isinstance(old, dict) else None)
        if new is None:
            if connection not in documents:
                return False
            documents.pop(connection)
        else:
            documents[connection] = new
        _replace_file(path, documents)
    return True


# -- public ---------------------------------------------------------------------------------


def read_rotated(connection: str, tokens_file: Path, *, use_keyring: bool) -> RotatedSet:
    """The connection's rotated values, the newest of the keyring's and the file's per field."""
    found: dict[str, RotatedValue] = {}
    in_file = _file_documents(tokens_file).get(connection)
    sources = [_parse(json.dumps(in_file), str(tokens_file)) if in_file else None]
    if use_keyring:
        sources.append(_parse(_keyring_text(connection), "keyring"))
    for source in sources:
        for name, item in (source.fields if source else {}).items():
            if name not in found or item.saved_at > found[name].saved_at:
                found[name] = item
    return RotatedSet(found)


def _keyring_document(connection: str) -> dict[str, Any] | None:
    text = _keyring_text(connection)
    try:
        document = json.loads(text) if text else None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def write_rotated(connection: str, values: Mapping[str, str], bases: Mapping[str, str | None],
                  tokens_file: Path, *, use_keyring: bool) -> str:
    """Save ``values`` as one document, atomically; where it went (``"keyring"`` or the file).

    The keyring is tried first when ``use_keyring``; the tokens file otherwise, or when the
    keyring refuses.  ``OSError`` when the file cannot be written either.
    """
    if use_keyring:
        document = _document(connection, values, bases, _keyring_document(connection))
        try:
            _keyring_write(connection, document)
        except keyring.errors.KeyringError:
            pass
        else:
            return "keyring"
    _file_update(tokens_file, connection,
                 lambda old: _document(connection, values, bases, old))
    return str(tokens_file)


def _without(field: str, document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    fields = {name: item for name, item in dict(document.get("fields") or {}).items()
              if name != field}
    return {**document, "fields": fields} if fields else None


def remove_rotated_field(connection: str, field: str, tokens_file: Path, *,
                         use_keyring: bool) -> list[str]:
    """Drop ``field`` from the rotated sets; the places it was dropped from."""
    removed: list[str] = []
    if use_keyring:
        document = _keyring_document(connection)
        if document is not None and field in (document.get("fields") or {}):
            with contextlib.suppress(keyring.errors.KeyringError):
                _keyring_write(connection, _without(field, document))
                removed.append("keyring")
    in_file = _file_documents(tokens_file).get(connection)
    if isinstance(in_file, dict) and field in (in_file.get("fields") or {}) and _file_update(
            tokens_file, connection, lambda old: _without(field, old)):
        removed.append(str(tokens_file))
    return removed
