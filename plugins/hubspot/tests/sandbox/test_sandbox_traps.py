"""The portal sets the traps incremental readers fall into, and a careful reader gets past them:
records created at exactly the previous cursor, changes between rounds, archived records."""

from __future__ import annotations

from typing import Any

from crm_connect_hubspot.sandbox import Portal, SandboxApi, change_round

from .support import call


def search_from(api: SandboxApi, cursor: int, operator: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    body: dict[str, Any] = {
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                       "operator": operator, "value": str(cursor)}]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["hs_lastmodifieddate"], "limit": 50}
    while True:
        page = call(api, "POST", "/crm/v3/objects/deals/search", body)
        assert page.status == 200, page.body
        rows += page.body["results"]
        after = page.body.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return rows
        body = {**body, "after": after}


def test_a_reader_filtering_with_gt_loses_the_records_at_the_cursor(api: SandboxApi,
                                                                    portal: Portal) -> None:
    cursor = portal.latest_modified("deals")
    assert cursor is not None
    changes = change_round(portal, seed=4, objects=["deals"])
    strict = {row["id"] for row in search_from(api, cursor, "GT")}
    inclusive = {row["id"] for row in search_from(api, cursor, "GTE")}
    at_cursor = {str(i) for i in changes.at_cursor["deals"]}
    assert at_cursor and at_cursor.isdisjoint(strict)  # lost by '>'
    assert at_cursor <= inclusive
    live_changed = {str(i) for i in changes.touched("deals")} - {
        str(i) for i in changes.archived["deals"]}
    assert live_changed <= inclusive  # '>=' sees every live change of the round


def test_archived_records_leave_search_and_show_in_the_archived_list(api: SandboxApi,
                                                                    portal: Portal) -> None:
    changes = change_round(portal, seed=5, objects=["deals"], archives=2)
    gone = {str(i) for i in changes.archived["deals"]}
    found = {row["id"] for row in search_from(api, 0, "GTE")}
    assert gone and gone.isdisjoint(found)
    listed = call(api, "GET", "/crm/v3/objects/deals?archived=true&limit=100")
    assert gone <= {row["id"] for row in listed.body["results"]}


def test_a_lagging_update_is_found_only_by_a_reader_that_looks_back(api: SandboxApi,
                                                                   portal: Portal) -> None:
    changes = change_round(portal, seed=6, objects=["deals"], updates=3, lagging=1)
    late = changes.lagging["deals"]
    assert len(late) == 1
    first_read = search_from(api, changes.cursor["deals"], "GTE")
    assert str(late[0]) not in {row["id"] for row in first_read}
    cursor = max(portal.modified_ms("deals", portal.record("deals", int(row["id"])))
                 for row in first_read)
    portal.release_to_search()
    late_stamp = portal.modified_ms("deals", portal.record("deals", late[0]))
    assert late_stamp < cursor  # it carries a stamp below what the first read got to
    assert str(late[0]) not in {row["id"] for row in search_from(api, cursor, "GTE")}
    looked_back = search_from(api, cursor - 60_000, "GTE")
    assert str(late[0]) in {row["id"] for row in looked_back}
