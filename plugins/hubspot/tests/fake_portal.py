"""An in-memory HubSpot portal behind the connector's client interface, for connector tests
that need no HTTP (the transport is tested against loopback servers elsewhere).

It keeps live and archived records per object type, answers list pages by offset, searches
with :class:`fake_search.FakeSearch`'s rules, batch reads, v4 association batches, pipelines,
owners and campaigns, and counts every call by kind.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from crm_connect_hubspot.records import HubSpotObject, Pipelines
from fake_search import FakeSearch, iso

BASE = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakePortal:
    def __init__(self, *, cap: int = 10_000) -> None:
        self.cap = cap
        self.live: dict[str, dict[str, dict[str, Any]]] = {}
        self.archived: dict[str, dict[str, dict[str, Any]]] = {}
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.calls: Counter[str] = Counter()
        self.association_batches: list[int] = []
        self.pipeline_payload: dict[str, Any] = {"results": []}
        self.owners: list[dict[str, Any]] = []
        self.page_size = 100

    # -- building the portal ------------------------------------------------------------------

    def put(self, object_type: str, record_id: int | str, modified_ms: int,
            **properties: str) -> None:
        cursor = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        key = str(record_id)
        self.archived.get(object_type, {}).pop(key, None)
        self.live.setdefault(object_type, {})[key] = {
            "id": key, "createdAt": iso(BASE), "updatedAt": iso(modified_ms),
            "archived": False,
            "properties": {"hs_object_id": key, cursor: iso(modified_ms),
                           "createdate": iso(BASE), **properties}}

    def archive(self, object_type: str, record_id: int | str, at_ms: int) -> None:
        record = self.live[object_type].pop(str(record_id))
        record.update(archived=True, archivedAt=iso(at_ms))
        self.archived.setdefault(object_type, {})[str(record_id)] = record

    def associate(self, from_type: str, from_id: int | str, to_type: str,
                  *to_ids: int | str) -> None:
        self.links.setdefault((from_type, to_type), {})[str(from_id)] = [str(i) for i in to_ids]

    # -- the client interface -------------------------------------------------------------------

    def _objects(self, payloads: Iterable[dict[str, Any]], properties: Sequence[str]
                 ) -> list[HubSpotObject]:
        found = []
        for payload in payloads:
            obj = HubSpotObject.from_json(payload)
            obj.properties = {key: value for key, value in obj.properties.items()
                              if key in properties or key in ("hs_object_id", "createdate")}
            found.append(obj)
        return found

    def list_page(self, object_type: str, properties: Sequence[str], *, after: str | None,
                  archived: bool = False) -> tuple[list[HubSpotObject], str | None]:
        self.calls["list_archived" if archived else "list"] += 1
        records = sorted((self.archived if archived else self.live).get(object_type, {})
                         .values(), key=lambda record: int(record["id"]))
        start = int(after or 0)
        chunk = records[start:start + self.page_size]
        following = start + self.page_size
        return (self._objects(chunk, properties),
                str(following) if following < len(records) else None)

    def url_length(self, object_type: str, properties: Sequence[str]) -> int:
        return 60 + sum(len(name) + 3 for name in properties)

    def batch_read(self, object_type: str, ids: Sequence[str], properties: Sequence[str], *,
                   archived: bool = False) -> list[HubSpotObject]:
        self.calls["batch_read"] += 1
        pool = (self.archived if archived else self.live).get(object_type, {})
        return self._objects([pool[i] for i in ids if i in pool], properties)

    def search(self, object_type: str) -> Callable[[Any], Any]:
        def send(request: Any) -> Any:
            self.calls["search"] += 1
            cursor = request.sorts[0]["propertyName"] if request.sorts[0]["propertyName"] != \
                "hs_object_id" else None
            engine = FakeSearch(cursor or _cursor_of(request), cap=self.cap)
            for record in self.live.get(object_type, {}).values():
                stamp = record["properties"][engine.cursor]
                engine.put(record["id"], _ms(stamp))
            answer = engine(request)
            for item in answer.results:
                item.properties = {
                    key: value for key, value in
                    self.live[object_type][item.id]["properties"].items()
                    if key in request.properties}
            return answer

        return send

    def associations(self, from_type: str, to_type: str, ids: Iterable[str]
                     ) -> dict[str, list[str]]:
        wanted = list(ids)
        self.calls["associations"] += 1
        self.association_batches.append(len(wanted))
        table = self.links.get((from_type, to_type), {})
        return {record_id: table[record_id] for record_id in wanted if record_id in table}

    def pipelines(self, object_type: str) -> Pipelines:
        self.calls["pipelines"] += 1
        return Pipelines.from_json(self.pipeline_payload)

    def property_names(self, object_type: str) -> set[str]:
        self.calls["properties"] += 1
        names: set[str] = set()
        for record in self.live.get(object_type, {}).values():
            names |= set(record["properties"])
        return names

    def owners_page(self, *, after: str | None, archived: bool
                    ) -> tuple[list[HubSpotObject], str | None]:
        self.calls["owners"] += 1
        return [HubSpotObject.from_owner(owner) for owner in self.owners
                if owner.get("archived", False) is archived], None

    def campaigns_page(self, properties: Sequence[str], *, after: str | None
                       ) -> tuple[list[HubSpotObject], str | None]:
        self.calls["campaigns"] += 1
        return [], None

    def account_currency(self) -> str | None:
        return "USD"

    def close(self) -> None:
        pass


def _ms(stamp: str) -> int:
    return int(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _cursor_of(request: Any) -> str:
    for group in request.filter_groups or []:
        for item in group.filters:
            if item.property_name != "hs_object_id":
                return str(item.property_name)
    return "hs_lastmodifieddate"
