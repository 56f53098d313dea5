"""The sandbox's answers have the keys and JSON types of real HubSpot answers (the recordings
under shared/reference-payloads/hubspot)."""

from __future__ import annotations

from crm_connect_hubspot.sandbox import Portal, SandboxApi

from .support import assert_shaped_like, call, reference


def first_id(portal: Portal, object_name: str) -> int:
    return portal.sorted_ids(object_name, archived=False)[0]


def test_list_pages_are_shaped_like_real_ones(api: SandboxApi) -> None:
    contacts = call(api, "GET", "/crm/v3/objects/contacts?limit=3&properties=email,firstname")
    assert contacts.status == 200
    assert_shaped_like(contacts.body, "amp_list_contacts_paging_next_link.json")
    assert_shaped_like(contacts.body, "nango_list_contacts.json")
    for name, ref in (("companies", "nango_list_companies.json"),
                      ("deals", "nango_list_deals_with_associations.json"),
                      ("tickets", "nango_list_tickets.json")):
        page = call(api, "GET", f"/crm/v3/objects/{name}?limit=5")
        assert page.status == 200, page.body
        assert_shaped_like(page.body, ref)


def test_list_with_associations_is_shaped_like_the_tasks_recording(api: SandboxApi) -> None:
    page = call(api, "GET", "/crm/v3/objects/tasks?limit=10&associations=contacts,companies")
    assert any("associations" in row for row in page.body["results"])
    with_links = next(row for row in page.body["results"] if "associations" in row)
    assert_shaped_like({**page.body, "results": [with_links]},
                       "nango_list_tasks_with_associations.json")


def test_search_pages_are_shaped_like_real_ones(api: SandboxApi) -> None:
    body = {"limit": 5, "properties": ["dealname", "amount", "dealstage", "pipeline",
                                       "closedate", "createdate", "hs_lastmodifieddate"]}
    deals = call(api, "POST", "/crm/v3/objects/deals/search", body)
    assert deals.status == 200
    assert_shaped_like(deals.body, "nango_search_deals_paged.json")
    assert deals.body["paging"] == {"next": {"after": "5"}}  # the offset, as HubSpot pages
    contacts = call(api, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
    assert_shaped_like(contacts.body, "amp_search_contacts_p1_paging.json")
    tickets = call(api, "POST", "/crm/v3/objects/tickets/search",
                   {"limit": 10, "filterGroups": [{"filters": []}], "sorts": [], "after": ""})
    assert tickets.status == 200, tickets.body
    assert_shaped_like(tickets.body, "nango_search_tickets_paged.json")


def test_batch_reads_are_shaped_like_real_ones(api: SandboxApi, portal: Portal) -> None:
    ids = portal.sorted_ids("contacts", archived=False)[:2]
    ok = call(api, "POST", "/crm/v3/objects/contacts/batch/read",
              {"properties": ["email"], "inputs": [{"id": str(i)} for i in ids]})
    assert ok.status == 200
    assert_shaped_like(ok.body, "amp_contacts_batch_read.json")


def test_v4_association_reads_are_shaped_like_the_real_207(api: SandboxApi,
                                                           portal: Portal) -> None:
    contact = first_id(portal, "contacts")
    lonely = portal.create("contacts", {"email": "alone@example.com"})
    answer = call(api, "POST", "/crm/v4/associations/contacts/companies/batch/read",
                  {"inputs": [{"id": str(contact)}, {"id": str(lonely)}]})
    assert answer.status == 207
    assert_shaped_like(answer.body, "amp_associations_v4_batch_read_contacts_to_companies_207.json")
    labels = answer.body["results"][0]["to"][0]["associationTypes"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"} in labels
    assert {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None} in labels
    assert answer.body["errors"][0]["message"] == (
        f"No company is associated with contact {lonely}.")


def test_metadata_is_shaped_like_real_metadata(api: SandboxApi, portal: Portal) -> None:
    pipelines = call(api, "GET", "/crm/v3/pipelines/deals")
    assert_shaped_like(pipelines.body, "nango_pipelines_deals.json")
    assert_shaped_like(pipelines.body, "amp_pipelines_deals.json")
    default = pipelines.body["results"][0]
    reference_default = reference("nango_pipelines_deals.json")["results"][0]
    assert [s["id"] for s in default["stages"]] == [s["id"] for s in reference_default["stages"]]
    assert [s["metadata"] for s in default["stages"]] == [
        s["metadata"] for s in reference_default["stages"]]

    properties = call(api, "GET", "/crm/v3/properties/companies")
    assert_shaped_like(properties.body, "nango_properties_companies.json")
    assert_shaped_like(call(api, "GET", "/crm/v3/properties/deals").body,
                       "amp_properties_deals_sampled.json")
    owners = call(api, "GET", "/crm/v3/owners?limit=100")
    assert_shaped_like(owners.body, "nango_owners.json")
    owner = call(api, "GET", f"/crm/v3/owners/{owners.body['results'][0]['id']}")
    assert_shaped_like(owner.body, "nango_owner_get.json")
    assert_shaped_like(call(api, "GET", "/account-info/v3/details").body,
                       "nango_account_info_details.json")
    deal = call(api, "GET", f"/crm/v3/objects/deals/{first_id(portal, 'deals')}")
    assert_shaped_like(deal.body, "nango_deal_get.json")


def test_error_bodies_are_shaped_like_real_ones(api: SandboxApi) -> None:
    unknown = call(api, "POST", "/crm/v3/objects/butterflies/search", {"limit": 1})
    assert unknown.status == 400
    assert_shaped_like(unknown.body, "amp_error_search_invalid_object.json")
    assert unknown.body["message"] == "Unable to infer object type from: butterflies"
    no_token = call(api, "GET", "/crm/v3/objects/contacts", token="")
    assert no_token.status == 401
    assert_shaped_like(no_token.body, "issue_error_401_invalid_authentication.json")
    assert no_token.body["category"] == "INVALID_AUTHENTICATION"


def test_record_property_values_are_text_or_null(api: SandboxApi) -> None:
    """HubSpot sends every property value as a string (or null), numbers and dates included."""
    for name in ("companies", "contacts", "deals", "tickets", "calls", "emails", "meetings",
                 "notes", "tasks", "feedback_submissions"):
        defs = call(api, "GET", f"/crm/v3/properties/{name}").body["results"]
        wanted = ",".join(d["name"] for d in defs)
        page = call(api, "GET", f"/crm/v3/objects/{name}?limit=20&properties={wanted}")
        assert page.status == 200, (name, page.body)
        for row in page.body["results"]:
            assert set(row["properties"]) == {d["name"] for d in defs}
            for value in row["properties"].values():
                assert value is None or isinstance(value, str)
