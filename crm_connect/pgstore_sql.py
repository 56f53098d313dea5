"""The SQL and text helpers of the Postgres store (:mod:`crm_connect.pgstore`): column types,
placeholders, lock keys, Arrow columns from result rows, and text Postgres can hold."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pa_compute

from crm_connect.errors import StoreError

__all__ = ["arrow_column", "json_text", "lock_key", "native_placeholders", "postgres_type",
           "redacted", "storable_text", "without_nul"]

_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "DOUBLE": "double precision",
          "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "JSON": "jsonb",
          "DECIMAL(38, 9)": "numeric(38, 9)"}
_LOCK_NAMESPACE = "crm-connect sync of connection "
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.S)
_ARROW_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
    701: pa.float64(), 25: pa.string(), 1043: pa.string(), 19: pa.string(),
    1042: pa.string(), 114: pa.string(), 3802: pa.string(), 1082: pa.date32(),
    1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"), 1186: pa.duration("us"),
}


def postgres_type(kind: str) -> str:
    """One of the contract's column types (``TIMESTAMP NOT NULL``, ...) in Postgres."""
    base = kind.removesuffix(" NOT NULL")
    if base not in _TYPES:
        raise StoreError(f"unknown column type {kind!r}")
    return _TYPES[base] + (" NOT NULL" if kind != base else "")


def native_placeholders(sql: str) -> str:
    """``?`` placeholders (outside literals and comments) numbered ``$1``, ``$2``...: the
    form the server binds itself, so a ``%`` in the text needs no escaping."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def lock_key(connection: str) -> int:
    """The advisory lock key of a connection: 64 bits of a hash of its name."""
    digest = hashlib.sha256((_LOCK_NAMESPACE + connection).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def redacted(url: str) -> str:
    """``url`` without a password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def arrow_column(values: list[Any], oid: int) -> pa.Array:
    wanted = _ARROW_BY_OID.get(oid)
    if wanted is not None:
        return pa.array(values, type=wanted)
    try:
        return pa.array(values)
    except (pa.ArrowException, ValueError, TypeError):
        return pa.array([None if value is None else str(value) for value in values],
                        type=pa.string())


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str | None) -> str | None:
    """``text`` with NUL and lone surrogates written out as ``\\uXXXX`` (Postgres refuses
    both)."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def json_text(value: Any) -> str:
    """``value`` as JSON text that ``jsonb`` accepts: a NUL (which it refuses even escaped)
    and a lone surrogate are kept as the visible text ``\\uXXXX``."""
    text = json.dumps(value, default=str, ensure_ascii=False).replace("\\u0000", "\\\\u0000")
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda match: f"\\\\u{ord(match.group()):04x}", text)


def without_nul(page: pa.Table, types: dict[str, str]) -> pa.Table:
    """A page whose text holds no NUL, which Postgres cannot store: written ``\\u0000``, the
    visible text (vectorised, and only for the columns that have one)."""
    for index, name in enumerate(page.column_names):
        column = page.column(index)
        if not pa.types.is_string(column.type):
            continue
        is_json = types.get(name) == "JSON"
        needle = "\\u0000" if is_json else "\x00"
        if not pa_compute.any(pa_compute.match_substring(column, needle)).as_py():
            continue
        replacement = "\\\\u0000" if is_json else "\\u0000"
        page = page.set_column(index, name, pa_compute.replace_substring(
            column, needle, replacement))
    return page
