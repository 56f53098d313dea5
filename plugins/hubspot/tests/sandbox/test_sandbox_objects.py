"""The v3 objects list (paging.next.after, archived=true), read, batch read and the URL limit."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from crm_connect_hubspot.sandbox import Portal, SandboxApi

from .support import call


def test_list_pages_by_after_until_no_paging_and_archived_lists_only_archived(
        api: SandboxApi, portal: Portal) -> None:
    seen: list[str] = []
    target = "/crm/v3/objects/companies?limit=5&properties=name,domain"
    while True:
        page = call(api, "GET", target)
        assert page.status == 200
        seen += [row["id"] for row in page.body["results"]]
        nxt = page.body.get("paging", {}).get("next")
        if nxt is None:
            break
        link = urlsplit(nxt["link"])
        assert parse_qs(link.query)["after"] == [nxt["after"]]
        assert parse_qs(link.query)["properties"] == ["name,domain"]
        target = f"{link.path}?{link.query}"
    assert seen == [str(r.id) for r in portal.live("companies")]
    archived = call(api, "GET", "/crm/v3/objects/companies?limit=100&archived=true")
    assert [row["id"] for row in archived.body["results"]] == [
        str(r.id) for r in portal.archived("companies")]
    assert all(row["archived"] is True and row["archivedAt"]
               for row in archived.body["results"])


def test_list_refuses_more_than_a_hundred_a_page(api: SandboxApi) -> None:
    answer = call(api, "GET", "/crm/v3/objects/deals?limit=101")
    assert answer.status == 400 and "limit" in answer.body["message"]


def test_unknown_properties_are_left_out_and_known_empty_ones_are_null(
        api: SandboxApi, portal: Portal) -> None:
    deal = next(r for r in portal.live("deals") if r.properties.get("hs_campaign") is None)
    answer = call(api, "GET", f"/crm/v3/objects/deals/{deal.id}?properties=hs_campaign,bogus")
    assert answer.body["properties"]["hs_campaign"] is None
    assert "bogus" not in answer.body["properties"]
    assert {"hs_object_id", "createdate", "hs_lastmodifieddate"} <= set(answer.body["properties"])
    assert answer.body["url"].endswith(f"/record/0-3/{deal.id}")


def test_batch_read_returns_found_records_and_a_207_for_the_missing(
        api: SandboxApi, portal: Portal) -> None:
    live = portal.live("tickets")[0].id
    archived = portal.archived("tickets")[0].id
    answer = call(api, "POST", "/crm/v3/objects/tickets/batch/read",
                  {"properties": ["subject"], "inputs": [{"id": str(live)},
                                                         {"id": str(archived)}]})
    assert answer.status == 207
    assert [r["id"] for r in answer.body["results"]] == [str(live)]
    assert answer.body["errors"][0]["context"]["ids"] == [str(archived)]
    with_archived = call(api, "POST", "/crm/v3/objects/tickets/batch/read?archived=true",
                         {"inputs": [{"id": str(archived)}]})
    assert with_archived.status == 200 and with_archived.body["results"][0]["archived"] is True
    too_many = call(api, "POST", "/crm/v3/objects/tickets/batch/read",
                    {"inputs": [{"id": str(i)} for i in range(101)]})
    assert too_many.status == 400


def test_v4_associations_read_in_batches_with_primary_labels(api: SandboxApi,
                                                             portal: Portal) -> None:
    deals = [r.id for r in portal.live("deals")]
    answer = call(api, "POST", "/crm/v4/associations/deals/companies/batch/read",
                  {"inputs": [{"id": str(i)} for i in deals]})
    assert answer.status in (200, 207)
    found = {row["from"]["id"]: row["to"] for row in answer.body["results"]}
    for deal in deals:
        expected = portal.associated("deals", "companies", deal)
        assert [t["toObjectId"] for t in found[str(deal)]] == [c for c, _ in expected]
        assert found[str(deal)][0]["associationTypes"][0]["typeId"] == 5  # deal to company, primary
    calls = call(api, "POST", "/crm/v4/associations/0-48/contact/batch/read",
                 {"inputs": [{"id": str(portal.live("calls")[0].id)}]})
    assert calls.status == 200
    assert calls.body["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 194


def test_a_url_past_the_limit_is_414_and_a_missing_route_404(api: SandboxApi) -> None:
    long_list = ",".join(f"custom_property_{n}" for n in range(600))
    answer = call(api, "GET", f"/crm/v3/objects/contacts?properties={long_list}")
    assert answer.status == 414
    assert call(api, "GET", "/crm/v3/nothing/here").status == 404
