"""An in-memory CRM search with HubSpot's rules, for testing the incremental reader.

It interprets hubspot-api-client's ``PublicObjectSearchRequest`` the way the search API does:
AND-ed filters (``GT``/``GTE``/``EQ``/``LT`` on the cursor, ``GT`` on ``hs_object_id``), one
ascending sort, ``after`` offsets, and a 400 once the offset reaches the cap.  Records that
share a sort value come back in an order of its own (not by id), as the real index does.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from hubspot.crm.objects import (
    CollectionResponseWithTotalSimplePublicObjectForwardPaging,
    ForwardPaging,
    NextPage,
    PublicObjectSearchRequest,
    SimplePublicObject,
)
from hubspot.crm.objects.exceptions import ApiException


def iso(millis: int) -> str:
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeSearch:
    def __init__(self, cursor: str = "hs_lastmodifieddate", cap: int = 10_000,
                 seed: int = 7) -> None:
        self.cursor = cursor
        self.cap = cap
        self.records: dict[str, int] = {}  # id -> cursor ms
        self.requests: list[PublicObjectSearchRequest] = []
        self.hidden: set[str] = set()  # not indexed yet
        self._order = random.Random(seed)
        self._shuffle: dict[str, float] = {}

    def put(self, record_id: int | str, millis: int) -> None:
        key = str(record_id)
        self.records[key] = millis
        self._shuffle[key] = self._order.random()

    def _matches(self, record_id: str, millis: int, filters: list[Any]) -> bool:
        for item in filters:
            value = millis if item.property_name == self.cursor else int(record_id)
            bound = int(item.value)
            ok = {"GT": value > bound, "GTE": value >= bound, "EQ": value == bound,
                  "LT": value < bound, "LTE": value <= bound}[item.operator]
            if not ok:
                return False
        return True

    def __call__(self, request: PublicObjectSearchRequest) -> Any:
        self.requests.append(request)
        offset = int(request.after or 0)
        if offset >= self.cap:
            raise ApiException(status=400, reason="Bad Request")
        filters = [f for group in request.filter_groups or [] for f in group.filters]
        sort = request.sorts[0]["propertyName"]
        hits = [(rid, ms) for rid, ms in self.records.items()
                if rid not in self.hidden and self._matches(rid, ms, filters)]
        if sort == self.cursor:
            hits.sort(key=lambda hit: (hit[1], self._shuffle[hit[0]]))
        else:
            hits.sort(key=lambda hit: int(hit[0]))
        window = hits[offset:offset + request.limit]
        results = [SimplePublicObject(
            id=rid, properties={"hs_object_id": rid, self.cursor: iso(ms)},
            created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            updated_at=dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC), archived=False)
            for rid, ms in window]
        following = offset + request.limit
        paging = ForwardPaging(next=NextPage(after=str(following))) \
            if following < len(hits) else None
        return CollectionResponseWithTotalSimplePublicObjectForwardPaging(
            total=len(hits), results=results, paging=paging)
