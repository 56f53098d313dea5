"""Reading ahead: the next search runs on its own budget while the associations of the last
records are read on the general one; failures and early stops behave as without it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.connector import HubSpotConnector
from crm_connect_hubspot.prefetch import read_ahead
from fake_portal import BASE, FakePortal

from crm_connect.connector import ConnectionContext


def test_items_errors_and_early_stops() -> None:
    assert list(read_ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("HubSpot went away")

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="went away"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1]
    produced: list[int] = []

    def endless() -> Iterator[int]:
        number = 0
        while True:
            produced.append(number)
            yield number
            number += 1

    ahead = read_ahead(endless(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()  # the consumer stops: so does the producer, a few items ahead at most
    stopped_at = len(produced)
    assert stopped_at <= 3 + 2 + 2
    assert len(produced) == stopped_at


def test_the_next_search_overlaps_the_associations_of_the_last_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    portal = FakePortal()
    for number in range(1, 61):
        portal.put("calls", number, BASE + number * 60_000, hs_call_direction="OUTBOUND")
        portal.associate("calls", number, "contacts", 500 + number)
    searches = threading.Semaphore(0)
    overlapped: list[bool] = []
    search = portal.search

    def counted_search(object_type: str) -> Any:
        send = search(object_type)

        def call(request: Any) -> Any:
            searches.release()
            return send(request)

        return call

    associations = portal.associations

    def watched(from_type: str, to_type: str, ids: Any) -> dict[str, list[str]]:
        if not overlapped:
            # the first page's search, then the next one while these associations are read
            # (one after the other, the next search could not start before they return)
            overlapped.append(searches.acquire(timeout=5) and searches.acquire(timeout=5))
        return associations(from_type, to_type, ids)

    monkeypatch.setattr(portal, "search", counted_search)
    monkeypatch.setattr(portal, "associations", watched)
    config = HubSpotConfig.model_validate({"search_page_size": 20, "batch_size": 20,
                                           "streams": ["calls"]})
    connector = HubSpotConnector(ConnectionContext("hs", tmp_path), config)
    connector._client = portal  # type: ignore[assignment]
    stream = connector.streams()[0]
    state = {"mode": "search", "cursor": "2025-01-01T00:00:00.000Z", "complete": True,
             "seen": {}}
    records = [record for page in connector.read(stream, state) for record in page.records]
    assert len(records) == 60 and all(record["contact_id"] for record in records)
    assert overlapped == [True]
