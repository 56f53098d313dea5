"""SOQL for incremental reads: cursor windows, the (cursor, Id) tie-break, field-list splits.

A stream is read in *windows* of its cursor field (:class:`crm_connect.incremental.Window`).
The lower bound is inclusive (``>=``) on a
fresh run; a run resuming from a checkpoint continues strictly after the last (cursor, Id) it
stored, so nothing at a page boundary is missed or read twice.  Every query is ordered by
(cursor, Id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from urllib.parse import quote_plus

from crm_connect.incremental import Window

__all__ = [
    "Window",
    "count_query",
    "id_in_query",
    "select_query",
    "soql_datetime",
    "soql_string",
    "split_fields",
    "url_length",
    "window_where",
]


def soql_datetime(value: dt.datetime) -> str:
    """A SOQL dateTime literal in UTC: ``2026-05-01T07:25:37Z`` (milliseconds when set)."""
    value = value.astimezone(dt.UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def window_where(window: Window, cursor: str) -> str:
    """The SOQL condition of a cursor window (:class:`crm_connect.incremental.Window`):
    ``cursor >= start``, or strictly after ``(start, after_id)``, and ``cursor < end``."""
    parts = []
    if window.start is not None:
        literal = soql_datetime(window.start)
        if window.after_id is not None:
            parts.append(f"({cursor} > {literal} OR ({cursor} = {literal} AND "
                         f"Id > {soql_string(window.after_id)}))")
        else:
            parts.append(f"{cursor} >= {literal}")
    if window.end is not None:
        parts.append(f"{cursor} < {soql_datetime(window.end)}")
    return " AND ".join(parts)


def select_query(sobject: str, fields: Sequence[str], cursor: str, window: Window) -> str:
    where = window_where(window, cursor)
    clause = f" WHERE {where}" if where else ""
    return (f"SELECT {', '.join(fields)} FROM {sobject}{clause} "
            f"ORDER BY {cursor} ASC, Id ASC")


def count_query(sobject: str, cursor: str, window: Window) -> str:
    where = window_where(window, cursor)
    return f"SELECT COUNT() FROM {sobject}" + (f" WHERE {where}" if where else "")


def id_in_query(sobject: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    listed = ", ".join(soql_string(record_id) for record_id in ids)
    return f"SELECT {', '.join(fields)} FROM {sobject} WHERE Id IN ({listed})"


def url_length(base_url: str, soql: str) -> int:
    """Length of the GET URL simple-salesforce sends for ``soql`` (``.../queryAll/?q=...``)."""
    return len(base_url) + len("queryAll/?q=") + len(quote_plus(soql))


def split_fields(fields: Sequence[str], keep: Sequence[str], budget: int) -> list[list[str]]:
    """Split ``fields`` into groups whose comma-joined, URL-encoded length fits ``budget``.

    Every group starts with ``keep`` (``Id`` and the cursor), which the joins need.
    """
    groups: list[list[str]] = []
    current: list[str] = list(keep)
    size = len(quote_plus(", ".join(current)))
    for name in fields:
        if name in keep:
            continue
        cost = len(quote_plus(", " + name))
        if size + cost > budget and len(current) > len(keep):
            groups.append(current)
            current = list(keep)
            size = len(quote_plus(", ".join(current)))
        current.append(name)
        size += cost
    if len(current) > len(keep) or not groups:
        groups.append(current)
    return groups
