"""SOQL for incremental reads: cursor windows, the (cursor, Id) tie-break, field-list splits.

A stream is read in *windows* of its cursor field.  The lower bound is inclusive (``>=``) on a
fresh run; a run resuming from a checkpoint continues strictly after the last (cursor, Id) it
stored, so nothing at a page boundary is missed or read twice.  Every query is ordered by
(cursor, Id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

__all__ = [
    "Window",
    "count_query",
    "id_in_query",
    "select_query",
    "soql_datetime",
    "soql_string",
    "split_fields",
    "url_length",
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


@dataclass(frozen=True)
class Window:
    """Records with ``start <= cursor < end`` (``None``: unbounded), or, when ``after_id`` is
    set, those strictly after ``(start, after_id)`` in (cursor, Id) order."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    after_id: str | None = None

    def where(self, cursor: str) -> str:
        parts = []
        if self.start is not None:
            literal = soql_datetime(self.start)
            if self.after_id is not None:
                parts.append(f"({cursor} > {literal} OR ({cursor} = {literal} AND "
                             f"Id > {soql_string(self.after_id)}))")
            else:
                parts.append(f"{cursor} >= {literal}")
        if self.end is not None:
            parts.append(f"{cursor} < {soql_datetime(self.end)}")
        return " AND ".join(parts)

    def split(self, now: dt.datetime, floor: dt.datetime) -> tuple[Window, Window] | None:
        """Two halves of this window; ``None`` when it is too short to split further."""
        start = self.start or floor
        end = self.end or now
        if end <= start:
            return None
        middle = start + (end - start) / 2
        middle = middle.replace(microsecond=0)
        if middle <= start or middle >= end:
            return None
        return (Window(self.start, middle, self.after_id), Window(middle, self.end))

    def seconds(self, now: dt.datetime, floor: dt.datetime) -> float:
        return ((self.end or now) - (self.start or floor)).total_seconds()

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the beginning"
        end = self.end.isoformat() if self.end else "now"
        return f"[{start}, {end})"


def select_query(sobject: str, fields: Sequence[str], cursor: str, window: Window) -> str:
    where = window.where(cursor)
    clause = f" WHERE {where}" if where else ""
    return (f"SELECT {', '.join(fields)} FROM {sobject}{clause} "
            f"ORDER BY {cursor} ASC, Id ASC")


def count_query(sobject: str, cursor: str, window: Window) -> str:
    where = window.where(cursor)
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
