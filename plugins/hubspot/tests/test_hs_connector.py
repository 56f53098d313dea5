"""The connector's reading plan over an in-memory portal: list on the first sync, search after,
archived records marked deleted, associations in batches, resumable pages, the check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.connector import HubSpotConnector
from fake_portal import BASE, FakePortal
from hs_support import reference

from crm_connect.connector import ConnectionContext, Page, Stream
from crm_connect.schema import entity_model

MINUTE = 60_000


def make(tmp_path: Path, portal: FakePortal, **options: Any) -> HubSpotConnector:
    config = HubSpotConfig.model_validate(options)
    connector = HubSpotConnector(ConnectionContext("hs", tmp_path), config)
    connector._client = portal  # type: ignore[assignment]
    return connector


def stream(connector: HubSpotConnector, name: str) -> Stream:
    return next(item for item in connector.streams() if item.name == name)


def read(connector: HubSpotConnector, name: str, state: dict[str, Any] | None = None
         ) -> tuple[list[dict[str, Any]], list[Page]]:
    pages = list(connector.read(stream(connector, name), state))
    records = [record for page in pages for record in page.records]
    for record in records:
        entity_model(stream(connector, name).entity).model_validate({**record, "source": "hs"})
    return records, pages


def last_state(pages: list[Page]) -> dict[str, Any]:
    states = [page.state for page in pages if page.state is not None]
    return states[-1]


def deals_portal(count: int = 250) -> FakePortal:
    portal = FakePortal()
    portal.pipeline_payload = reference("nango_pipelines_deals.json")
    for number in range(1, count + 1):
        stage = "closedwon" if number % 5 == 0 else "appointmentscheduled"
        portal.put("deals", number, BASE + number * MINUTE, dealname=f"Deal {number}",
                   amount=str(number * 100), dealstage=stage, pipeline="default",
                   closedate="2026-02-01T00:00:00Z")
        portal.associate("deals", number, "companies", 9000 + number)
    return portal


def test_first_sync_lists_then_reads_archived_and_batches_associations(tmp_path: Path) -> None:
    portal = deals_portal()
    portal.archive("deals", 7, BASE + 400 * MINUTE)
    # list only (a first sync otherwise searches from the top at once: tests/test_hs_split.py)
    connector = make(tmp_path, portal, currency="EUR", first_sync_search=False)
    records, pages = read(connector, "deals")
    assert portal.calls["search"] == 0 and portal.calls["list"] == 3
    assert portal.calls["list_archived"] == 1
    by_id = {record["id"]: record for record in records}
    assert len(by_id) == len(records) == 250
    assert by_id["7"]["is_deleted"] is True
    assert by_id["10"]["is_won"] is True and by_id["11"]["is_won"] is False
    assert by_id["11"]["account_id"] == "9011" and by_id["11"]["currency"] == "EUR"
    # one association request for up to 1,000 records, never one per record; archived
    # records need none
    assert portal.association_batches == [249]
    final = last_state(pages)
    assert final["mode"] == "search" and final["complete"] is True
    assert final["archived_cursor"] is not None


def test_associations_are_read_a_thousand_records_at_a_time(tmp_path: Path) -> None:
    portal = deals_portal(2500)
    records, _ = read(make(tmp_path, portal), "deals")
    assert len(records) == 2500 and portal.calls["list"] == 25
    assert portal.association_batches == [1000, 1000, 500]
    assert all(record["account_id"] == str(9000 + int(record["id"])) for record in records)


def test_incremental_runs_search_and_store_only_what_changed(tmp_path: Path) -> None:
    portal = deals_portal()
    connector = make(tmp_path, portal)
    _, pages = read(connector, "deals")
    state = last_state(pages)
    # the first sync's cursor is when it began: move the portal past it
    import time

    later = int(time.time() * 1000) + 10 * MINUTE
    again, pages = read(connector, "deals", state)
    assert again == [] and portal.calls["search"] >= 1
    state = last_state(pages)
    portal.put("deals", 3, later, dealname="Deal 3 renamed", dealstage="closedlost",
               pipeline="default", amount="300")
    portal.put("deals", 999, later + 1, dealname="New", dealstage="appointmentscheduled",
               pipeline="default")
    portal.archive("deals", 4, later + 2)
    changed, pages = read(connector, "deals", state)
    by_id = {record["id"]: record for record in changed}
    assert set(by_id) == {"3", "999", "4"}
    assert by_id["3"]["is_closed"] is True and by_id["3"]["is_won"] is False
    assert by_id["4"]["is_deleted"] is True
    state = last_state(pages)
    assert read(connector, "deals", state)[0] == []


def test_a_read_resumed_from_every_page_ends_with_the_same_records(tmp_path: Path) -> None:
    portal = deals_portal(120)
    portal.archive("deals", 5, BASE + 500 * MINUTE)
    connector = make(tmp_path, portal)
    everything, pages = read(connector, "deals")
    expected = {record["id"] for record in everything}
    seen: list[str] = []
    for page in pages:
        seen += [record["id"] for record in page.records]
        if page.state is None:
            continue
        rest, _ = read(connector, "deals", page.state)
        assert set(seen) | {record["id"] for record in rest} == expected


def test_long_property_lists_are_read_by_batch_read_not_a_long_url(tmp_path: Path) -> None:
    portal = deals_portal(30)
    mapping = {"deals": {"lead_source": "|".join(f"custom_source_{n}" for n in range(600))}}
    connector = make(tmp_path, portal, mapping=mapping, max_url_length=2000)
    records, _ = read(connector, "deals")
    assert len(records) == 30
    assert portal.calls["batch_read"] == 1


def test_unparseable_values_go_to_quarantine_with_the_reason(tmp_path: Path) -> None:
    portal = deals_portal(3)
    portal.put("deals", 2, BASE + 2 * MINUTE, amount="ten thousand", dealstage="closedwon",
               pipeline="default")
    connector = make(tmp_path, portal)
    records, pages = read(connector, "deals")
    rejected = [item for page in pages for item in page.rejected]
    assert [record["id"] for record in records] == ["1", "3"]
    assert len(rejected) == 1 and "amount = 'ten thousand' is not a number" in rejected[0].reason


def test_engagements_link_contacts_as_leads(tmp_path: Path) -> None:
    portal = FakePortal()
    portal.put("calls", 1, BASE + MINUTE, hs_call_direction="OUTBOUND",
               hs_timestamp="2026-01-02T10:00:00Z", hs_call_status="COMPLETED")
    portal.associate("calls", 1, "contacts", 501)
    portal.associate("calls", 1, "companies", 77)
    records, _ = read(make(tmp_path, portal), "calls")
    assert records[0]["lead_id"] == records[0]["contact_id"] == "501"
    assert records[0]["account_id"] == "77" and records[0]["direction"] == "outbound"


def test_owners_are_listed_whole_and_only_changes_stored(tmp_path: Path) -> None:
    portal = FakePortal()
    portal.owners = reference("nango_owners.json")["results"]
    connector = make(tmp_path, portal)
    users, pages = read(connector, "users")
    assert {user["id"] for user in users} == {"32900489", "88842095"}
    state = last_state(pages)
    assert read(connector, "users", state)[0] == []
    portal.owners[0] = {**portal.owners[0], "archived": True}
    changed, _ = read(connector, "users", state)
    assert [(u["id"], u["is_active"], u["is_deleted"]) for u in changed] == [
        ("32900489", False, True)]


def test_check_names_missing_properties_and_the_kpis_hubspot_cannot_feed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONNECT_LOAD_PLUGINS", "")
    portal = deals_portal(2)
    connector = make(tmp_path, portal, streams=["deals"],
                     mapping={"deals": {"campaign_id": "my_campaign"}})
    result = connector.check()
    assert result.ok is False
    assert any("my_campaign" in problem and "mapping.deals" in problem
               for problem in result.problems)
    assert any("deal_currency_code" in warning for warning in result.warnings)
    assert "renewal_rate" in result.details["kpis_not_fed"]
    ok = make(tmp_path, portal, streams=["deals"]).check()
    assert ok.ok is True and ok.problems == []
    assert "customer_churn_rate" in ok.details["kpis_not_fed"]
    mapped = make(tmp_path, portal, streams=["deals"],
                  mapping={"accounts": {"churned_at": "churn_date"}}).check()
    assert "customer_churn_rate" not in mapped.details["kpis_not_fed"]


def test_the_state_cursor_covers_every_record_stored_and_never_goes_back(
        tmp_path: Path) -> None:
    portal = deals_portal(50)
    portal.archive("deals", 9, BASE + 900 * MINUTE)
    portal.live.setdefault("deals", {})
    portal.archived["deals"]["9"]["updatedAt"] = "2026-01-01T15:00:00.000Z"  # after all live
    connector = make(tmp_path, portal)
    records, pages = read(connector, "deals")
    final = last_state(pages)
    newest = max(record["updated_at"] for record in records)
    assert final["cursor"] == "2026-01-01T15:00:00.000Z" == newest.isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    # the next search still starts from the live records' newest change
    assert final["search_from"] == "2026-01-01T00:50:00.000Z"
    portal.put("deals", 20, BASE + 60 * MINUTE, dealname="changed after the live read",
               dealstage="closedlost", pipeline="default")
    changed, pages = read(connector, "deals", final)
    assert [record["id"] for record in changed] == ["20"]
    cursors = [page.state["cursor"] for page in pages
               if page.state is not None and page.state.get("cursor")]
    assert cursors == sorted(cursors) and cursors[0] >= final["cursor"]


def test_a_full_list_read_doubles_as_an_id_sweep(tmp_path: Path) -> None:
    portal = deals_portal(2500)
    portal.archive("deals", 8, BASE + 3000 * MINUTE)
    connector = make(tmp_path, portal)
    _, pages = read(connector, "deals")
    sweeps = [page.id_sweep for page in pages]
    assert all(sweep is not None for sweep in sweeps)
    assert [sweep.first for sweep in sweeps if sweep] == [True] + [False] * (len(sweeps) - 1)
    assert [sweep.last for sweep in sweeps if sweep] == [False] * (len(sweeps) - 1) + [True]
    listed = {record_id for sweep in sweeps if sweep for record_id in sweep.ids}
    assert listed == {str(number) for number in range(1, 2501)}  # archived 8 included
    # an incremental run proves nothing about ids it did not read: no sweep
    _, later = read(connector, "deals", last_state(pages))
    assert all(page.id_sweep is None for page in later)
    # engagements share the activities entity: never swept
    portal.put("calls", 1, BASE + MINUTE, hs_call_direction="OUTBOUND")
    _, calls = read(connector, "calls")
    assert all(page.id_sweep is None for page in calls)


def test_every_nth_incremental_run_sweeps_ids_when_asked(tmp_path: Path) -> None:
    portal = deals_portal(30)
    connector = make(tmp_path, portal, id_sweep_every=2)
    _, pages = read(connector, "deals")
    state = last_state(pages)
    _, first_run = read(connector, "deals", state)  # the 1st incremental run: no sweep
    assert all(page.id_sweep is None for page in first_run)
    state = last_state(first_run)
    assert state["runs_since_id_check"] == 1
    del portal.live["deals"]["4"]  # purged: in neither list
    _, second_run = read(connector, "deals", state)  # the 2nd: an id-only sweep after it
    sweeps = [page.id_sweep for page in second_run if page.id_sweep is not None]
    assert sweeps and sweeps[0].first and sweeps[-1].last
    listed = {record_id for sweep in sweeps for record_id in sweep.ids}
    assert "4" not in listed and len(listed) == 29
    assert last_state(second_run)["runs_since_id_check"] == 0
