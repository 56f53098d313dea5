"""CRM search as HubSpot answers it: offset paging, one sort, the 200-a-page and the
10,000-results caps with the real 400, archived records never found."""

from __future__ import annotations

from typing import Any

import pytest
from crm_connect_hubspot.sandbox import (
    Credentials,
    Portal,
    PortalSize,
    RateLimits,
    SandboxApi,
    TokenBook,
    generate_portal,
    iso_ms,
)

from .support import FakeClock, call


def cursor_query(stamp: int, *, after: int = 0, limit: int = 200,
                 prop: str = "hs_lastmodifieddate") -> dict[str, Any]:
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE",
                                           "value": str(stamp)}]}],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": [prop], "limit": limit, "after": after}


def read_all(api: SandboxApi, object_name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = call(api, "POST", f"/crm/v3/objects/{object_name}/search", body)
        assert page.status == 200, page.body
        rows += page.body["results"]
        following = page.body.get("paging", {}).get("next", {}).get("after")
        if following is None:
            return rows
        body = {**body, "after": following}


def test_paging_walks_every_live_record_once_in_cursor_order(api: SandboxApi,
                                                            portal: Portal) -> None:
    rows = read_all(api, "deals", cursor_query(0, limit=7))
    assert [int(r["id"]) for r in rows] == [i for _, i in portal.by_modified("deals")]
    stamps = [r["properties"]["hs_lastmodifieddate"] for r in rows]
    assert stamps == sorted(stamps)
    assert all(r["archived"] is False for r in rows)
    assert portal.archived("deals"), "the portal has archived deals search must not find"
    archived_ids = {str(r.id) for r in portal.archived("deals")}
    assert archived_ids.isdisjoint(r["id"] for r in rows)


def test_contacts_use_lastmodifieddate_and_the_filter_is_inclusive(api: SandboxApi,
                                                                  portal: Portal) -> None:
    stamp, record_id = portal.by_modified("contacts")[10]
    page = call(api, "POST", "/crm/v3/objects/contacts/search",
                cursor_query(stamp, prop="lastmodifieddate"))
    assert page.status == 200, page.body
    assert str(record_id) in [r["id"] for r in page.body["results"]]
    assert all(r["properties"]["lastmodifieddate"] >= iso_ms(stamp)
               for r in page.body["results"])
    iso = call(api, "POST", "/crm/v3/objects/contacts/search",
               {**cursor_query(0, prop="lastmodifieddate"),
                "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate",
                                               "operator": "GTE", "value": iso_ms(stamp)}]}]})
    assert iso.body["total"] == page.body["total"]


def test_a_page_past_ten_thousand_results_is_the_real_400() -> None:
    portal = generate_portal(PortalSize(companies=5), seed=1)
    portal.stamp_together("companies", 10_050)
    clock = FakeClock()
    api = SandboxApi(portal, TokenBook(Credentials.for_seed(1), clock=clock),
                     RateLimits(clock=clock, enforce=False))
    body = cursor_query(0)
    last_good = call(api, "POST", "/crm/v3/objects/companies/search", {**body, "after": 9800})
    assert last_good.status == 200
    assert last_good.body["total"] == 10_050  # the total counts past the cap
    assert last_good.body["paging"] == {"next": {"after": "10000"}}  # offered, yet refused:
    refused = call(api, "POST", "/crm/v3/objects/companies/search", {**body, "after": 10000})
    assert refused.status == 400
    assert refused.body["status"] == "error"
    assert refused.body["category"] == "VALIDATION_ERROR"
    assert "10000" in refused.body["message"]
    straddling = call(api, "POST", "/crm/v3/objects/companies/search", {**body, "after": 9900})
    assert straddling.status == 400


def test_ties_on_one_stamp_are_read_with_an_id_tie_break(api: SandboxApi,
                                                        portal: Portal) -> None:
    """More records on one stamp than a query returns: EQ on the stamp, GT on the id."""
    ids = portal.stamp_together("tickets", 30)
    stamp = portal.latest_modified("tickets")
    assert stamp is not None
    seen: list[str] = []
    last = 0
    while True:
        page = call(api, "POST", "/crm/v3/objects/tickets/search", {
            "filterGroups": [{"filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": str(stamp)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last)}]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "limit": 8})
        assert page.status == 200, page.body
        if not page.body["results"]:
            break
        seen += [r["id"] for r in page.body["results"]]
        last = int(seen[-1])
    assert seen == [str(i) for i in sorted(ids)]


def test_generated_page_boundaries_share_a_stamp() -> None:
    """The five records around each 200th share one stamp: a '>' cursor would lose some."""
    big = generate_portal(PortalSize(companies=60), seed=2)
    ordered = big.by_modified("contacts")
    assert len(ordered) > 200
    assert len({stamp for stamp, _ in ordered[198:203]}) == 1


@pytest.mark.parametrize("body, fragment", [
    ({"limit": 201}, "limit"),
    ({"limit": 10, "filterGroups": [{"filters": []}] * 6}, "filterGroups"),
    ({"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                     "operator": "GTE", "value": "0"}] * 7}]}, "filters"),
    ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ",
                                     "value": "1"}]}]}, "nope"),
    ({"sorts": ["createdate", "hs_object_id"]}, "sort"),
])
def test_requests_hubspot_refuses_are_400s(api: SandboxApi, body: dict[str, Any],
                                           fragment: str) -> None:
    answer = call(api, "POST", "/crm/v3/objects/companies/search", body)
    assert answer.status == 400
    assert fragment in answer.body["message"]
    assert answer.body["category"] == "VALIDATION_ERROR"


def test_filter_operators_and_descending_sort(api: SandboxApi, portal: Portal) -> None:
    won = call(api, "POST", "/crm/v3/objects/deals/search", {
        "filterGroups": [{"filters": [{"propertyName": "dealstage", "operator": "IN",
                                       "values": ["closedwon", "150482113"]}]},
                         {"filters": [{"propertyName": "amount", "operator": "BETWEEN",
                                       "value": "0", "highValue": "100"}]}],
        "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
        "properties": ["amount", "dealstage"], "limit": 200})
    expected = [r for r in portal.live("deals")
                if r.properties["dealstage"] in ("closedwon", "150482113")
                or 0 <= float(r.properties["amount"] or -1) <= 100]
    assert won.body["total"] == len(expected) > 0
    amounts = [float(r["properties"]["amount"]) for r in won.body["results"]]
    assert amounts == sorted(amounts, reverse=True)
    unset = call(api, "POST", "/crm/v3/objects/deals/search", {
        "filterGroups": [{"filters": [{"propertyName": "hs_campaign",
                                       "operator": "NOT_HAS_PROPERTY"}]}], "limit": 1})
    assert unset.body["total"] == sum(1 for r in portal.live("deals")
                                      if not r.properties.get("hs_campaign"))


def test_records_the_index_has_not_caught_up_with_appear_later_below_the_cursor(
        api: SandboxApi, portal: Portal) -> None:
    """The search index lags: an early change shows up after a later one was read, with a
    stamp below the cursor that later read left behind (what a look-back is for)."""
    early, late = (r.id for r in portal.live("deals")[:2])
    first = portal.update("deals", early, {"amount": "10"})
    second = portal.update("deals", late, {"amount": "20"})
    portal.hold_from_search("deals", [early])
    seen = call(api, "POST", "/crm/v3/objects/deals/search", cursor_query(first))
    assert [r["id"] for r in seen.body["results"]] == [str(late)]
    listed = call(api, "GET", f"/crm/v3/objects/deals/{early}")
    assert listed.body["properties"]["amount"] == "10"  # reads by id are not lagging
    portal.release_to_search("deals")
    after_cursor = call(api, "POST", "/crm/v3/objects/deals/search", cursor_query(second))
    assert [r["id"] for r in after_cursor.body["results"]] == [str(late)]
    looking_back = call(api, "POST", "/crm/v3/objects/deals/search", cursor_query(first))
    assert [r["id"] for r in looking_back.body["results"]] == [str(early), str(late)]


@pytest.mark.parametrize("operator, expected", [
    ("GT", lambda s, x: s > x), ("GTE", lambda s, x: s >= x), ("LT", lambda s, x: s < x),
    ("LTE", lambda s, x: s <= x), ("EQ", lambda s, x: s == x)])
def test_cursor_operators_on_the_stamp_are_exact(api: SandboxApi, portal: Portal,
                                                operator: str, expected: Any) -> None:
    ordered = portal.by_modified("notes")
    pivot = ordered[len(ordered) // 2][0]
    answer = call(api, "POST", "/crm/v3/objects/notes/search", {
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                       "operator": operator, "value": str(pivot)}]}],
        "limit": 1})
    assert answer.body["total"] == sum(1 for stamp, _ in ordered if expected(stamp, pivot))
