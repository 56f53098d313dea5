"""Reading a CRM object incrementally through the search API, past its 10,000-result cap.

One search (``POST /crm/v3/objects/{type}/search``) pages by an ``after`` offset and answers
400 once that offset reaches 10,000.  :class:`SearchReader` never asks for it:

1. **Ascending segments.** Records with the cursor property (``hs_lastmodifieddate``;
   ``lastmodifieddate`` for contacts) ``>=`` the lower bound, sorted ascending, 200 a page.
   When a segment would pass the cap, it stops at the last value read, ``V``.
2. **Tie-break.** Records at exactly ``V`` may be only partly read (the cap may fall among
   them, and there may be more than 10,000 of them): they are read with ``cursor EQ V`` and
   ``hs_object_id GT last``, sorted by id, re-seeking from the last id whenever that search
   nears the cap.  The next segment starts strictly after ``V`` (``GT``).  So a portal with
   50,000 records changed in one batch import still syncs completely, each record once.
3. **Look-back.** A finished read saves the last value and the ids read near it.  The next
   run searches from ``search_lookback_seconds`` earlier, for records the search index had not
   seen yet, and skips those it already read at the same value: an unchanged record is not
   read twice, one that changed is.

Every page carries the state that resumes right after it.  The first sync and
``--full-refresh`` read the list endpoint instead (``paging.next.after``): see
:class:`ListReader`.  The request and response are hubspot-api-client's models.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm_connect.errors import CrmConnectError
from crm_connect_hubspot.records import HubSpotObject
from crm_connect_hubspot.split import SearchUnavailable
from crm_connect_hubspot.values import UnreadableValue, read_datetime

if TYPE_CHECKING:  # hubspot-api-client loads when a search is built, not with the plugin
    from hubspot.crm.objects import (  # type: ignore[import-untyped]
        Filter,
        PublicObjectSearchRequest,
    )

__all__ = [
    "SEARCH_CAP",
    "SEEN_LIMIT",
    "SearchPage",
    "SearchReader",
    "cursor_ms",
    "from_ms",
    "search_below",
    "to_ms",
]

log = logging.getLogger("crm_connect_hubspot.incremental")

SEARCH_CAP = 10_000
"""The deepest offset one search can page to."""
SEEN_LIMIT = 5_000
"""Ids near the end of a read kept in the state to skip re-reads (the newest ones)."""

SearchFn = Callable[["PublicObjectSearchRequest"], Any]
"""Sends one search (``search_api.do_search(object_type, request)`` under the policy) and
returns hubspot-api-client's ``CollectionResponseWithTotalSimplePublicObjectForwardPaging``."""


def to_ms(moment: dt.datetime) -> int:
    return int(moment.astimezone(dt.UTC).timestamp() * 1000)


def from_ms(millis: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


def iso_ms(millis: int) -> str:
    return from_ms(millis).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cursor_ms(obj: HubSpotObject, prop: str) -> int | None:
    """The record's cursor value in epoch milliseconds; ``None`` when it has none."""
    try:
        stamp = read_datetime(prop, obj.properties.get(prop)) or read_datetime(
            "updatedAt", obj.updated_at)
    except UnreadableValue:
        return None
    return to_ms(stamp) if stamp is not None else None


def _past_cap(exc: BaseException) -> bool:
    """A 400 on a paged search: what HubSpot answers past its result cap."""
    return getattr(exc, "status", None) == 400


def _id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


@dataclass
class SearchPage:
    """Records read and the stream state once they are stored."""

    objects: list[HubSpotObject]
    state: dict[str, Any]
    total: int | None = None


@dataclass
class _Position:
    """Where the read is.

    ``cursor`` is the highest value read (what the state reports: it never goes backwards);
    ``lower`` the bound the next search starts from (``strict``: exclusive), which a
    look-back puts below ``cursor``; ``tie_*`` the timestamp being read by id."""

    cursor: int | None
    lower: int | None = None
    strict: bool = False
    tie_cursor: int | None = None
    tie_last_id: int = -1
    tie_open: bool = False
    seen: dict[str, int] = field(default_factory=dict)

    def skip(self, obj: HubSpotObject, value: int) -> bool:
        if self.seen.get(obj.id) == value:
            return True
        return value == self.tie_cursor and _id(obj.id) <= self.tie_last_id

    def advance(self, obj: HubSpotObject, value: int, lookback_ms: int) -> None:
        if self.cursor is None or value > self.cursor:
            self.cursor = value
        if self.lower is None or value > self.lower or (value == self.lower
                                                          and not self.strict):
            self.lower, self.strict = value, False
        self.seen[obj.id] = value
        newest = max(self.seen.values())
        if len(self.seen) > SEEN_LIMIT or min(self.seen.values()) < newest - lookback_ms:
            kept = sorted(((v, i) for i, v in self.seen.items() if v >= newest - lookback_ms),
                          reverse=True)[:SEEN_LIMIT]
            self.seen = {i: v for v, i in kept}

    def state(self, *, complete: bool) -> dict[str, Any]:
        state: dict[str, Any] = {
            "mode": "search", "cursor": iso_ms(self.cursor) if self.cursor is not None else None,
            "complete": complete, "seen": dict(self.seen)}
        if not complete:
            state.update(lower=iso_ms(self.lower) if self.lower is not None else None,
                         strict=self.strict)
        if self.tie_cursor is not None:
            state.update(tie_cursor=iso_ms(self.tie_cursor), tie_last_id=str(self.tie_last_id),
                         tie_open=self.tie_open)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], lookback_ms: int) -> _Position:
        def moment(key: str) -> int | None:
            stamp = read_datetime(key, state.get(key))
            return to_ms(stamp) if stamp is not None else None

        seen = {str(k): int(v) for k, v in (state.get("seen") or {}).items()}
        cursor = moment("cursor")
        position = cls(cursor, moment("lower"), bool(state.get("strict", False)),
                       moment("tie_cursor"), _id(str(state.get("tie_last_id", "-1"))),
                       bool(state.get("tie_open", False)), seen)
        if state.get("complete", True):
            # look back for records the search index had not seen yet
            position.lower = cursor - lookback_ms if cursor is not None else None
            position.strict = False
        return position


class SearchReader:
    """Reads one object type through ``search`` from a saved state (see the module's text).

    :param search: sends one search request (with the policy's retries and search limit).
    :param cursor: the cursor property.
    :param properties: the properties to ask for (sent in the request body: no URL limit).
    :param page_size: records per search page (at most 200).
    :param lookback_seconds: how far before the saved cursor a finished read restarts.
    :param cap: the search's deepest offset (10,000; smaller in tests).
    """

    def __init__(self, search: SearchFn, cursor: str, properties: list[str], *,
                 page_size: int = 200, lookback_seconds: int = 60,
                 cap: int = SEARCH_CAP) -> None:
        self.search = search
        self.cursor = cursor
        self.properties = list(dict.fromkeys([*properties, "hs_object_id", cursor]))
        self.page_size = page_size
        self.lookback_ms = lookback_seconds * 1000
        self.cap = cap
        self.requests = 0

    def read(self, state: dict[str, Any] | None, *, since: dt.datetime | None = None
             ) -> Iterator[SearchPage]:
        """Pages from ``state`` (``None``: from ``since``, or from the beginning)."""
        if state and state.get("mode") == "search":
            position = _Position.from_state(state, self.lookback_ms)
        else:
            start = to_ms(since) if since is not None else None
            position = _Position(start, start)
        if position.tie_open and position.tie_cursor is not None:
            yield from self._tie(position)
        while True:
            capped = yield from self._segment(position)
            if capped is None:
                break
            if capped != position.tie_cursor:  # the same tie again: its ids so far are read
                position.tie_cursor, position.tie_last_id = capped, -1
            position.tie_open = True
            yield from self._tie(position)
        yield SearchPage([], position.state(complete=True))

    # -- the two kinds of search ------------------------------------------------------------

    def _request(self, filters: list[Filter], sort: str, after: int | None
                 ) -> PublicObjectSearchRequest:
        from hubspot.crm.objects import (
            FilterGroup,
            PublicObjectSearchRequest,
        )

        return PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)] if filters else [],
            sorts=[{"propertyName": sort, "direction": "ASCENDING"}],
            properties=self.properties, limit=self.page_size,
            after=str(after) if after else None)

    def _send(self, request: PublicObjectSearchRequest) -> tuple[list[HubSpotObject],
                                                                  int | None, int | None]:
        self.requests += 1
        response = self.search(request)
        objects = [HubSpotObject.from_model(item) for item in response.results or []]
        paging = getattr(response, "paging", None)
        following = getattr(getattr(paging, "next", None), "after", None)
        return objects, (_id(following) if following else None), getattr(response, "total",
                                                                          None)

    def _segment(self, position: _Position) -> Generator[SearchPage, None, int | None]:
        """One ascending search from the lower bound; returns the value it stopped at when
        the cap cut it short, ``None`` when it read to the end."""
        from hubspot.crm.objects import Filter

        filters = []
        if position.lower is not None:
            filters.append(Filter(property_name=self.cursor,
                                  operator="GT" if position.strict else "GTE",
                                  value=str(position.lower)))
        after: int | None = None
        last: int | None = None
        while True:
            try:
                objects, following, total = self._send(self._request(filters, self.cursor,
                                                                      after))
            except Exception as exc:
                if after is None or not _past_cap(exc) or last is None:
                    raise
                # the portal's cap is lower than ours: re-seek from the last value read
                log.info("search on %s refused offset %d (HTTP 400); re-seeking", self.cursor,
                         after)
                return last
            fresh = []
            for obj in objects:
                value = cursor_ms(obj, self.cursor)
                if value is None or position.skip(obj, value):
                    continue
                fresh.append(obj)
                position.advance(obj, value, self.lookback_ms)
            if fresh:
                yield SearchPage(fresh, position.state(complete=False), total)
            if objects:
                last = cursor_ms(objects[-1], self.cursor)
            if following is None or not objects:
                return None
            if following + self.page_size > self.cap:
                log.info("search on %s reached the %d-result cap at %s; re-seeking",
                         self.cursor, self.cap, iso_ms(last) if last else "?")
                return last if last is not None else position.lower
            after = following

    def _tie(self, position: _Position) -> Iterator[SearchPage]:
        """Every record at exactly ``tie_cursor``, by id, past the cap; then strictly after."""
        from hubspot.crm.objects import Filter

        value = position.tie_cursor
        assert value is not None
        after: int | None = None
        bound = position.tie_last_id
        while True:
            filters = [Filter(property_name=self.cursor, operator="EQ", value=str(value)),
                       Filter(property_name="hs_object_id", operator="GT", value=str(bound))]
            try:
                objects, following, _ = self._send(self._request(filters, "hs_object_id",
                                                                 after))
            except Exception as exc:
                if after is None or not _past_cap(exc):
                    raise
                after, bound = None, position.tie_last_id
                continue
            fresh = [obj for obj in objects if position.seen.get(obj.id) != value]
            if objects:
                position.tie_last_id = max(position.tie_last_id,
                                           *(_id(obj.id) for obj in objects))
            if fresh or objects:
                yield SearchPage(fresh, position.state(complete=False))
            if following is None or not objects:
                break
            if following + self.page_size > self.cap:
                after, bound = None, position.tie_last_id  # re-seek from the last id read
                continue
            after = following
        if position.cursor is None or value > position.cursor:
            position.cursor = value
        position.lower, position.strict, position.tie_open = value, True, False
        position.seen = {i: v for i, v in position.seen.items() if v != value}


def search_below(search: SearchFn, properties: list[str], page_size: int
                 ) -> Callable[[int | None], list[HubSpotObject]]:
    """A search of the records with ids below a bound, highest first, one page a call: the
    search half of a first sync (:mod:`~crm_connect_hubspot.split`).  Each call is a new
    search from the lowest id read, so none reaches the 10,000-result cap."""

    def page(below: int | None) -> list[HubSpotObject]:
        from hubspot.crm.objects import (
            Filter,
            FilterGroup,
            PublicObjectSearchRequest,
        )

        filters = ([Filter(property_name="hs_object_id", operator="LT", value=str(below))]
                   if below is not None else [])
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)] if filters else [],
            sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            properties=properties, limit=page_size)
        try:
            response = search(request)
        except CrmConnectError as exc:  # not a searchable object here: the list reads it
            if getattr(exc, "status", None) in (400, 403, 404):
                raise SearchUnavailable(str(exc)) from exc
            raise
        found = [HubSpotObject.from_model(item) for item in response.results or []]
        ids = [_id(obj.id) for obj in found]
        bound = below if below is not None else 1 << 62
        if any(later >= earlier for earlier, later in zip([bound, *ids], ids, strict=False)):
            # records would be lost between the two ends: let the list read them all
            raise SearchUnavailable("the search did not answer by id, highest first")
        return found

    return page
