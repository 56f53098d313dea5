"""hubspot-api-client, pointed at the running sandbox with ``host=``, accepts its answers."""

from __future__ import annotations

from collections.abc import Iterator

import hubspot
import pytest
from crm_connect_hubspot.sandbox import HubSpotSandbox, PortalSize
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(size=PortalSize(companies=10), seed=11, tier="enterprise") as running:
        yield running


@pytest.fixture(scope="module")
def client(sandbox: HubSpotSandbox) -> hubspot.HubSpot:
    return hubspot.HubSpot(**sandbox.client_options())


def test_basic_api_pages_live_and_archived_contacts(sandbox: HubSpotSandbox,
                                                    client: hubspot.HubSpot) -> None:
    ids: list[str] = []
    after = None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=25, after=after,
                                                      properties=["email", "lifecyclestage"])
        ids += [contact.id for contact in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert ids == [str(r.id) for r in sandbox.portal.live("contacts")]
    first = sandbox.portal.live("contacts")[0]
    assert page.results[-1].properties["lastmodifieddate"]
    archived = client.crm.contacts.basic_api.get_page(limit=100, archived=True)
    assert {c.id for c in archived.results} == {str(r.id) for r in
                                                sandbox.portal.archived("contacts")}
    assert all(c.archived and c.archived_at is not None for c in archived.results)
    assert first.properties["email"]


def test_search_api_do_search_pages_by_the_cursor(sandbox: HubSpotSandbox,
                                                  client: hubspot.HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                     "value": "0"}]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["email"], limit=200, after="0")
    answer = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert answer.total == len(sandbox.portal.live("contacts"))
    assert [c.id for c in answer.results] == [str(i) for _, i in
                                              sandbox.portal.by_modified("contacts")][:200]


def test_search_past_the_cap_raises_the_client_s_api_exception(client: hubspot.HubSpot) -> None:
    request = PublicObjectSearchRequest(limit=100, after="9950")
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert raised.value.status == 400
    assert "VALIDATION_ERROR" in str(raised.value.body)


def test_pipelines_owners_and_properties(client: hubspot.HubSpot) -> None:
    pipelines = client.crm.pipelines.pipelines_api.get_all(object_type="deals")
    default = next(p for p in pipelines.results if p.id == "default")
    won = next(s for s in default.stages if s.id == "closedwon")
    assert won.metadata == {"isClosed": "true", "probability": "1.0"}
    owners = client.crm.owners.owners_api.get_page(limit=100)
    assert owners.results and all(o.archived is False for o in owners.results)
    inactive = client.crm.owners.owners_api.get_page(limit=100, archived=True)
    assert all(o.archived for o in inactive.results)
    properties = client.crm.properties.core_api.get_all(object_type="companies")
    assert "customer_segment" in {p.name for p in properties.results}


def test_v4_associations_batch_read(sandbox: HubSpotSandbox, client: hubspot.HubSpot) -> None:
    deals = [str(r.id) for r in sandbox.portal.live("deals")]
    answer = client.crm.associations.v4.batch_api.get_page(
        from_object_type="deals", to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=(
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": i} for i in deals])))
    linked = {row._from.id: [to.to_object_id for to in row.to] for row in answer.results}
    assert set(linked) == set(deals)
    # the payload carries toObjectId as a number, as HubSpot does; the client models it as text
    assert linked[deals[0]] == [str(c) for c, _ in
                                sandbox.portal.associated("deals", "companies", int(deals[0]))]


def test_the_client_refreshes_oauth_tokens_at_the_token_endpoint(
        sandbox: HubSpotSandbox) -> None:
    anonymous = hubspot.HubSpot(host=sandbox.base_url)
    creds = sandbox.credentials
    tokens = anonymous.oauth.tokens_api.create(
        grant_type="refresh_token", client_id=creds.client_id,
        client_secret=creds.client_secret, refresh_token=creds.refresh_token)
    assert tokens.expires_in == 1800
    with_token = hubspot.HubSpot(access_token=tokens.access_token, host=sandbox.base_url)
    assert with_token.crm.deals.basic_api.get_page(limit=1).results


def test_the_client_trusts_the_tls_sandbox_through_its_ca_setting() -> None:
    with HubSpotSandbox(size=PortalSize(companies=5), seed=2, tls=True) as secure:
        assert secure.base_url.startswith("https://")
        client = hubspot.HubSpot(**secure.client_options(), ssl_ca_cert=str(secure.cert_path))
        page = client.crm.companies.basic_api.get_page(limit=3)
        assert len(page.results) == 3
