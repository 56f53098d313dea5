"""The search incremental reader: ascending, re-seeking past the result cap, tie-break on the
object id, look-back without re-reading unchanged records, resumable from every page."""

from __future__ import annotations

from typing import Any

from crm_connect_hubspot.incremental import SearchReader
from fake_search import FakeSearch

BASE = 1_700_000_000_000
CAP = 100  # the real cap is 10,000; the rules are the same at any size
PAGE = 20


def reader(search: FakeSearch, lookback: int = 60) -> SearchReader:
    return SearchReader(search, "hs_lastmodifieddate", ["dealname"], page_size=PAGE,
                        lookback_seconds=lookback, cap=CAP)


def read_all(search: FakeSearch, state: dict[str, Any] | None = None
             ) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    ids: list[str] = []
    states: list[dict[str, Any]] = []
    for page in reader(search).read(state):
        ids += [obj.id for obj in page.objects]
        states.append(page.state)
    return ids, states[-1], states


def portal(spread: int = 300, tied: int = 250, after: int = 50) -> FakeSearch:
    """``spread`` records ten to a second, then ``tied`` records at one timestamp (more than
    the cap: a batch import), then ``after`` more."""
    search = FakeSearch(cap=CAP)
    for i in range(1, spread + 1):
        search.put(i, BASE + (i // 10) * 1000)
    for i in range(spread + 1, spread + tied + 1):
        search.put(i, BASE + 99_000)
    for i in range(spread + tied + 1, spread + tied + after + 1):
        search.put(i, BASE + 100_000 + i)
    return search


def test_reads_every_record_once_past_the_cap_and_a_tie_bigger_than_it() -> None:
    search = portal()
    ids, final, _ = read_all(search)
    assert sorted(ids, key=int) == [str(i) for i in range(1, 601)]
    assert len(ids) == len(set(ids)) == 600
    assert final["complete"] is True
    assert final["cursor"] == "2023-11-14T22:15:00.600Z"
    # never asked for an offset the search refuses (the fake answers 400 past the cap)
    assert all(int(request.after or 0) < CAP for request in search.requests)
    # the tie was read by id with an EQ on the timestamp
    tie = [request for request in search.requests
           if request.sorts[0]["propertyName"] == "hs_object_id"]
    assert tie and all(
        [(f.property_name, f.operator) for f in request.filter_groups[0].filters]
        == [("hs_lastmodifieddate", "EQ"), ("hs_object_id", "GT")] for request in tie)


def test_requests_are_ascending_two_hundred_a_page_with_properties_in_the_body() -> None:
    search = portal(spread=30, tied=0, after=0)
    list(SearchReader(search, "hs_lastmodifieddate", ["dealname", "amount"]).read(None))
    request = search.requests[0]
    assert request.limit == 200
    assert request.sorts == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert {"dealname", "amount", "hs_object_id", "hs_lastmodifieddate"} <= set(
        request.properties)


def test_a_second_read_returns_no_unchanged_record_and_sees_changes() -> None:
    search = portal()
    _, state, _ = read_all(search)
    again, state2, _ = read_all(search, state)
    assert again == []
    assert state2["cursor"] == state["cursor"]
    search.put(1000, BASE + 100_010)  # new, inside the look-back (the index lagged)
    search.put(5, BASE + 200_000)  # changed
    search.put(560, BASE + 99_000)  # new at exactly the tied timestamp
    changed, _, _ = read_all(search, state)
    assert sorted(changed) == ["1000", "5", "560"]


def test_a_record_the_index_showed_late_is_found_by_the_look_back() -> None:
    search = portal(spread=50, tied=0, after=0)
    search.put(999, BASE + 5_000)
    search.hidden.add("999")
    ids, state, _ = read_all(search)
    assert "999" not in ids
    search.hidden.clear()
    late, _, _ = read_all(search, state)
    assert late == ["999"]


def test_resuming_from_every_page_state_ends_with_the_same_records() -> None:
    search = portal()
    everything, _, states = read_all(search)
    for index, state in enumerate(states[:-1]):
        before = []
        for page in reader(search).read(None):
            before += [obj.id for obj in page.objects]
            if page.state == state:
                break
        rest, final, _ = read_all(search, state)
        assert set(before) | set(rest) == set(everything), f"resumed from page {index}"
        assert final["complete"] is True


def test_cursor_never_goes_backwards() -> None:
    search = portal()
    _, _, states = read_all(search)
    cursors = [state["cursor"] for state in states if state["cursor"]]
    assert cursors == sorted(cursors)


def test_first_read_from_a_start_date() -> None:
    import datetime as dt

    search = portal(spread=100, tied=0, after=0)
    since = dt.datetime.fromtimestamp((BASE + 5_000) / 1000, tz=dt.UTC)
    ids = [obj.id for page in reader(search).read(None, since=since) for obj in page.objects]
    assert sorted(ids, key=int) == [str(i) for i in range(50, 101)]


def test_a_400_past_a_lower_cap_than_expected_re_seeks_instead_of_failing() -> None:
    search = portal()
    search.cap = 60  # the portal refuses offsets the reader thought allowed
    ids, final, _ = read_all(search)
    assert len(ids) == len(set(ids)) == 600 and final["complete"] is True


def test_a_400_on_the_first_page_is_not_swallowed() -> None:
    import pytest
    from hubspot.crm.objects.exceptions import ApiException

    def refuse(request: object) -> object:
        raise ApiException(status=400, reason="Bad Request")

    with pytest.raises(ApiException):
        list(SearchReader(refuse, "hs_lastmodifieddate", []).read(None))
