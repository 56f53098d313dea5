"""``POST /crm/v3/objects/{objectType}/search``: filter groups, one sort, offset paging, and the
real limits: at most 200 results a page, five filter groups of at most six filters (18 in all),
and a 400 for any page that reaches past the 10,000th result (``total`` still counts them all,
and the page before still offers ``paging.next.after``).  Archived records are never found, nor
records the portal holds back as not yet indexed (:meth:`Portal.hold_from_search`).

Filters on the modification stamp and on ``hs_object_id`` are answered from the portal's sorted
index, so a cursor query over 100,000 records stays cheap.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .catalog import property_defs
from .exchange import ApiResponse, error_response
from .payloads import record_payload, wanted_properties
from .portal import Portal, StoredRecord, ms_of

__all__ = ["MAX_PAGE", "SEARCH_CAP", "search"]

SEARCH_CAP = 10_000
MAX_PAGE = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
              "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
_TEXT_SEARCHED = ("name", "domain", "email", "firstname", "lastname", "dealname", "subject",
                  "hs_email_subject", "hs_call_title", "hs_meeting_title", "hs_task_subject")

Entry = tuple[int, int]  # (modified ms, id)
Test = Callable[[Entry, StoredRecord], bool]


class SearchError(ValueError):
    """A request HubSpot would refuse with a 400."""


@dataclass(frozen=True)
class _Filter:
    prop: str
    operator: str
    value: Any
    values: list[Any]
    high: Any


def search(portal: Portal, object_name: str, body: Any) -> ApiResponse:
    """Run one search request ``body`` against ``object_name``."""
    if not isinstance(body, dict):
        return error_response(400, "Invalid input JSON: the request body must be an object",
                              "VALIDATION_ERROR")
    try:
        limit, after = _paging(body)
        if after + limit > SEARCH_CAP:
            return error_response(
                400, f"The search API returns at most {SEARCH_CAP} results for one query: "
                f"after={after} with limit={limit} reaches past it. Narrow the query.",
                "VALIDATION_ERROR")
        groups = _filter_groups(portal, object_name, body.get("filterGroups") or [])
        matches = _matching(portal, object_name, groups, str(body.get("query") or ""))
        _sort(portal, object_name, matches, body.get("sorts") or [])
    except SearchError as problem:
        return error_response(400, str(problem), "VALIDATION_ERROR")
    properties = wanted_properties(portal, object_name, body.get("properties"))
    table = portal.records[portal.kind(object_name).name]
    page = matches[after: after + limit]
    result: dict[str, Any] = {
        "total": len(matches),
        "results": [record_payload(portal, object_name, table[record_id], properties)
                    for _, record_id in page],
    }
    if after + limit < len(matches):
        result["paging"] = {"next": {"after": str(after + limit)}}
    return ApiResponse(200, result)


def _paging(body: dict[str, Any]) -> tuple[int, int]:
    try:
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise SearchError("limit and after must be whole numbers") from None
    if not 0 < limit <= MAX_PAGE:
        raise SearchError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    if after < 0:
        raise SearchError(f"after must not be negative, not {after}")
    return limit, after


def _filter_groups(portal: Portal, object_name: str, raw: Any) -> list[list[_Filter]]:
    if not isinstance(raw, list) or len(raw) > MAX_GROUPS:
        raise SearchError(f"at most {MAX_GROUPS} filterGroups are allowed")
    defs = property_defs(portal.kind(object_name).name)
    groups: list[list[_Filter]] = []
    total = 0
    for group in raw:
        filters = group.get("filters") or [] if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(f"a filter group holds at most {MAX_FILTERS_PER_GROUP} filters")
        total += len(filters)
        parsed = []
        for item in filters:
            prop, operator = item.get("propertyName"), str(item.get("operator", "EQ")).upper()
            if prop not in defs:
                raise SearchError(f"Property \"{prop}\" does not exist on {object_name}")
            if operator not in _OPERATORS:
                raise SearchError(f"Unknown filter operator {operator!r}")
            parsed.append(_Filter(prop, operator, item.get("value"),
                                  list(item.get("values") or []), item.get("highValue")))
        if parsed:
            groups.append(parsed)
    if total > MAX_FILTERS:
        raise SearchError(f"at most {MAX_FILTERS} filters are allowed in all")
    return groups


def _matching(portal: Portal, object_name: str, groups: list[list[_Filter]],
              query: str) -> list[Entry]:
    ordered = portal.by_modified(object_name)
    table = portal.records[portal.kind(object_name).name]
    modified = portal.kind(object_name).modified
    if not groups:
        candidates: list[Entry] = list(ordered)
        tests: list[list[Test]] = [[]]
    elif len(groups) == 1 and all(f.prop == modified for f in groups[0]):
        # the cursor query: the sorted index answers it exactly
        candidates = _stamp_slice(ordered, groups[0])
        tests = [[]]
    else:
        low, high = _stamp_bounds(groups, modified)
        start = bisect.bisect_left(ordered, (low, -1)) if low is not None else 0
        end = bisect.bisect_right(ordered, (high, 1 << 62)) if high is not None else len(ordered)
        candidates = ordered[start:end]
        tests = [[_compile(portal, object_name, f, modified) for f in group] for group in groups]
    words = query.lower().split()
    lagging = portal.unindexed[portal.kind(object_name).name]
    matches = []
    for entry in candidates:
        if lagging and entry[1] in lagging:
            continue
        record = table[entry[1]]
        if not any(all(test(entry, record) for test in group) for group in tests):
            continue
        if words and not _has_words(record, words):
            continue
        matches.append(entry)
    return matches


def _stamp_slice(ordered: list[Entry], group: list[_Filter]) -> list[Entry]:
    start, end = 0, len(ordered)
    for f in group:
        try:
            value = ms_of(str(f.value)) if f.value is not None else None
            high = ms_of(str(f.high)) if f.high is not None else None
        except ValueError:
            raise SearchError(f"{f.value!r} is not a valid datetime for {f.prop}") from None
        if value is None or f.operator not in ("GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"):
            raise SearchError(f"{f.operator} needs a value on {f.prop}")
        first = bisect.bisect_left(ordered, (value, -1))
        past = bisect.bisect_right(ordered, (value, 1 << 62))
        if f.operator in ("GTE", "EQ", "BETWEEN"):
            start = max(start, first)
        if f.operator == "GT":
            start = max(start, past)
        if f.operator in ("LTE", "EQ"):
            end = min(end, past)
        if f.operator == "LT":
            end = min(end, first)
        if f.operator == "BETWEEN" and high is not None:
            end = min(end, bisect.bisect_right(ordered, (high, 1 << 62)))
    return ordered[start:end] if start < end else []


def _stamp_bounds(groups: list[list[_Filter]], modified: str) -> tuple[int | None, int | None]:
    """Bounds on the modification stamp that every group implies (``None``: unbounded)."""
    lows: list[int | None] = []
    highs: list[int | None] = []
    for group in groups:
        low: int | None = None
        high: int | None = None
        for f in group:
            if f.prop != modified:
                continue
            try:
                if f.operator in ("GT", "GTE", "EQ", "BETWEEN"):
                    low = max(low or 0, ms_of(str(f.value)))
                if f.operator in ("LT", "LTE", "EQ"):
                    value = ms_of(str(f.value))
                    high = value if high is None else min(high, value)
                if f.operator == "BETWEEN":
                    value = ms_of(str(f.high))
                    high = value if high is None else min(high, value)
            except ValueError:
                raise SearchError(f"{f.value!r} is not a valid datetime for {f.prop}") from None
        lows.append(low)
        highs.append(high)
    overall_low = None if any(v is None for v in lows) else min(v for v in lows if v is not None)
    overall_high = (None if any(v is None for v in highs)
                    else max(v for v in highs if v is not None))
    return overall_low, overall_high


def _compile(portal: Portal, object_name: str, f: _Filter, modified: str) -> Test:
    kind = property_defs(portal.kind(object_name).name)[f.prop].type
    convert = _converter(kind, f.prop)
    if f.operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = f.operator == "HAS_PROPERTY"
        return lambda entry, record: (record.properties.get(f.prop) not in (None, "")) == wanted
    if f.operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(f.value or "").lower().strip("*")
        negate = f.operator.startswith("NOT")

        def contains(entry: Entry, record: StoredRecord) -> bool:
            return (token in str(record.properties.get(f.prop) or "").lower()) != negate
        return contains
    try:
        value = convert(f.value) if f.value is not None else None
        high = convert(f.high) if f.high is not None else None
        values = [convert(v) for v in f.values]
    except ValueError:
        raise SearchError(f"{f.value!r} is not a valid value for {f.prop} ({kind})") from None

    def read(entry: Entry, record: StoredRecord) -> Any:
        if f.prop == modified:
            return entry[0]
        if f.prop == "hs_object_id":
            return entry[1]
        raw = record.properties.get(f.prop)
        if raw in (None, ""):
            return None
        try:
            return convert(raw)
        except ValueError:
            return None

    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda x: x == value, "NEQ": lambda x: x != value,
        "LT": lambda x: x < value, "LTE": lambda x: x <= value,
        "GT": lambda x: x > value, "GTE": lambda x: x >= value,
        "BETWEEN": lambda x: value <= x <= high,
        "IN": lambda x: x in values, "NOT_IN": lambda x: x not in values,
    }
    check = compare[f.operator]
    tolerant_of_null = f.operator in ("NEQ", "NOT_IN")

    def test(entry: Entry, record: StoredRecord) -> bool:
        current = read(entry, record)
        if current is None:
            return tolerant_of_null
        return check(current)
    return test


def _converter(kind: str, prop: str) -> Callable[[Any], Any]:
    if prop == "hs_object_id":
        return lambda v: int(str(v))
    if kind in ("datetime", "date"):
        return lambda v: ms_of(str(v))
    if kind == "number":
        return lambda v: float(str(v))
    return lambda v: str(v).lower()


def _sort(portal: Portal, object_name: str, matches: list[Entry], raw: Any) -> None:
    if not isinstance(raw, list) or len(raw) > 1:
        raise SearchError("a search sorts by at most one property")
    if not raw:
        matches.sort(key=lambda entry: entry[1])
        return
    item = raw[0]
    if isinstance(item, str):
        prop, descending = item.lstrip("-"), item.startswith("-")
    elif isinstance(item, dict):
        prop = str(item.get("propertyName"))
        descending = str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise SearchError("a sort is a property name or {propertyName, direction}")
    kind = portal.kind(object_name)
    defs = property_defs(kind.name)
    if prop not in defs:
        raise SearchError(f"Property \"{prop}\" does not exist on {object_name}")
    if prop == kind.modified:
        key: Callable[[Entry], Any] = lambda entry: entry  # noqa: E731 - already (stamp, id)
    elif prop == "hs_object_id":
        key = lambda entry: entry[1]  # noqa: E731
    else:
        convert = _converter(defs[prop].type, prop)
        table = portal.records[kind.name]

        def key(entry: Entry) -> Any:
            raw_value = table[entry[1]].properties.get(prop)
            try:
                value = convert(raw_value) if raw_value not in (None, "") else None
            except ValueError:
                value = None
            return (value is None, value if value is not None else 0, entry[1])
    matches.sort(key=key, reverse=descending)


def _has_words(record: StoredRecord, words: list[str]) -> bool:
    text = " ".join(str(record.properties.get(p) or "") for p in _TEXT_SEARCHED).lower()
    return all(word in text for word in words)
