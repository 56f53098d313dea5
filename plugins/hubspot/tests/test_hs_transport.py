"""The transport over loopback HTTP: hubspot-api-client's requests in HubSpot's wire format,
real payloads parsed, faults handled by the resilience policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.connector import HubSpotConnector
from crm_connect_hubspot.incremental import SearchReader
from hs_stub import Stub, serve
from hs_support import reference

from crm_connect.connector import ConnectionContext
from crm_connect.errors import AuthenticationError, QuotaExceededError

FAST = {"backoff_initial_seconds": 0.0, "backoff_max_seconds": 0.01, "max_attempts": 4}
RATE_HEADERS = {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "189",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Daily": "1000000",
                "X-HubSpot-RateLimit-Daily-Remaining": "999000"}


@pytest.fixture
def stub() -> Iterator[Stub]:
    canned = [
        ("GET", r"/crm/v3/objects/deals", 200, "nango_list_deals_with_associations.json"),
        ("GET", r"/crm/v3/objects/contacts#archived", 200,
         "amp_list_contacts_paging_next_link.json"),
        ("POST", r"/crm/v3/objects/deals/search", 200, "nango_search_deals_paged.json"),
        ("POST", r"/crm/v3/objects/contacts/batch/read", 200, "amp_contacts_batch_read.json"),
        ("POST", r"/crm/v4/associations/contacts/companies/batch/read", 207,
         "amp_associations_v4_batch_read_contacts_to_companies_207.json"),
        ("GET", r"/crm/v3/pipelines/deals", 200, "nango_pipelines_deals.json"),
        ("GET", r"/crm/v3/owners/?", 200, "nango_owners.json"),
        ("GET", r"/account-info/v3/details", 200, "nango_account_info_details.json"),
    ]
    routes: dict[tuple[str, str], tuple[int, Any]] = {
        (method, path): (status, reference(name)) for method, path, status, name in canned}
    with serve(Stub(routes=routes, headers=RATE_HEADERS)) as running:
        yield running


def connector(tmp_path: Path, stub: Stub, monkeypatch: pytest.MonkeyPatch, *,
              oauth: bool = False) -> HubSpotConnector:
    options: dict[str, Any] = {"base_url": stub.url, "resilience": FAST}
    if oauth:
        options["client_id"] = "app-1"
        monkeypatch.setenv("CRM_CONNECT_HS_CLIENT_SECRET", "client-secret")
        monkeypatch.setenv("CRM_CONNECT_HS_REFRESH_TOKEN", "refresh-1")
    else:
        monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", stub.access_token)
    return HubSpotConnector(ConnectionContext("hs", tmp_path),
                            HubSpotConfig.model_validate(options))


def test_list_page_in_the_wire_format(tmp_path: Path, stub: Stub,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client = connector(tmp_path, stub, monkeypatch).client
    objects, following = client.list_page("contacts", ["email", "firstname"], after="394",
                                          archived=True)
    request = stub.requests_to("/crm/v3/objects/contacts")[0]
    assert request.query["after"] == ["394"] and request.query["limit"] == ["100"]
    assert request.query["archived"][0].lower() == "true"  # the client writes "True"
    assert request.query["properties"] == ["email", "firstname"]
    assert request.authorization == "Bearer token-0"
    assert following == "394" and len(objects) == 3
    assert all(obj.id and obj.created_at for obj in objects)


def test_search_body_and_answer(tmp_path: Path, stub: Stub,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    client = connector(tmp_path, stub, monkeypatch).client
    reader = SearchReader(client.search("deals"), "hs_lastmodifieddate", ["dealname"], cap=10)
    pages = reader.read({"mode": "search", "cursor": "2026-01-01T00:00:00.000Z",
                         "complete": True, "seen": {}})
    first = next(pages)
    body = stub.requests_to("/search")[0].body
    assert body["filterGroups"] == [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                                  "operator": "GTE",
                                                  "value": "1767225540000"}]}]
    assert body["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert body["limit"] == 200 and "dealname" in body["properties"]
    assert [obj.id for obj in first.objects][:1] and first.total == 21


def test_batch_read_and_v4_associations(tmp_path: Path, stub: Stub,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client = connector(tmp_path, stub, monkeypatch).client
    found = client.batch_read("contacts", ["1", "2"], ["email"])
    body = stub.requests_to("/batch/read")[0].body
    assert body["inputs"] == [{"id": "1"}, {"id": "2"}] and body["properties"] == ["email"]
    assert len(found) == 2
    links = client.associations("contacts", "companies", ["501", "103107104018"])
    assert stub.requests_to("/crm/v4/associations")[0].body == {
        "inputs": [{"id": "501"}, {"id": "103107104018"}]}
    assert links == {"501": ["29022297485"]}  # the 207's error is "no company": none


def test_pipelines_owners_and_currency(tmp_path: Path, stub: Stub,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = connector(tmp_path, stub, monkeypatch).client
    stages = client.pipelines("deals").stages
    assert stages["closedwon"].is_closed is True and stages["closedwon"].probability == 1.0
    assert stages["qualifiedtobuy"].pipeline_label == "Sales Pipeline"
    owners, following = client.owners_page(after=None, archived=False)
    assert [owner.id for owner in owners] == ["32900489", "88842095"] and following is None
    assert client.account_currency() == "USD"


def test_a_429_is_waited_out_and_retried(tmp_path: Path, stub: Stub,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    body = reference("issue_error_429_ten_secondly_rolling.json")["body"]
    stub.fault("/crm/v3/objects/deals", 429, body, {"Retry-After": "0"})
    objects, _ = connector(tmp_path, stub, monkeypatch).client.list_page(
        "deals", ["dealname"], after=None)
    assert len(objects) == 21 and len(stub.requests_to("/crm/v3/objects/deals")) == 2


def test_a_spent_daily_limit_stops_cleanly(tmp_path: Path, stub: Stub,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    body = dict(reference("issue_error_429_ten_secondly_rolling.json")["body"])
    body.update(policyName="DAILY", message="You have reached your daily limit.")
    stub.fault("/crm/v3/objects/deals", 429, body, {})
    with pytest.raises(QuotaExceededError, match="resumes"):
        connector(tmp_path, stub, monkeypatch).client.list_page("deals", [], after=None)
    assert len(stub.requests_to("/crm/v3/objects/deals")) == 1


def test_oauth_signs_in_and_refreshes_once_on_expired_authentication(
        tmp_path: Path, stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    client = connector(tmp_path, stub, monkeypatch, oauth=True).client
    client.list_page("deals", [], after=None)
    token = stub.requests_to("/oauth/v1/token")[0].body
    assert token == {"grant_type": "refresh_token", "client_id": "app-1",
                     "client_secret": "client-secret", "refresh_token": "refresh-1"}
    stub.access_token = "rotated-by-hubspot"  # the token HubSpot considers current changes
    stub.refresh_answer = None
    objects, _ = client.list_page("deals", [], after=None)
    assert len(objects) == 21 and stub.refreshes == 2
    assert stub.seen[-1].authorization == "Bearer token-2"


def test_a_refused_refresh_token_stops_at_once(tmp_path: Path, stub: Stub,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    stub.refresh_answer = (400, {"status": "BAD_REFRESH_TOKEN",
                                 "message": "missing or unknown refresh token",
                                 "correlationId": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"})
    with pytest.raises(AuthenticationError, match="Sign in again") as caught:
        connector(tmp_path, stub, monkeypatch, oauth=True).client.list_page("deals", [],
                                                                          after=None)
    assert stub.refreshes == 1 and "refresh-1" not in str(caught.value)


def test_a_missing_scope_is_named_with_what_to_do(tmp_path: Path, stub: Stub,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_connect_hubspot.client import HubSpotApiError

    stub.fault("/crm/v3/objects/deals", 403,
               reference("amp_error_403_MISSING_SCOPES.json"), {})
    with pytest.raises(HubSpotApiError) as caught:
        connector(tmp_path, stub, monkeypatch).client.list_page("deals", [], after=None)
    message = str(caught.value)
    assert "HTTP 403 MISSING_SCOPES" in message and "custom-object-read" in message
    assert "add the scope" in message
    assert len(stub.requests_to("/crm/v3/objects/deals")) == 1  # a 403 is not retried


def test_a_portal_without_marketing_campaigns_reads_none(
        tmp_path: Path, stub: Stub, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    hs = connector(tmp_path, stub, monkeypatch)  # the stub has no campaigns route: a 404
    stream = next(item for item in hs.streams() if item.name == "campaigns")
    assert list(hs.read(stream, None)) == []
    assert "offers no campaigns" in caplog.text
    tickets = next(item for item in hs.streams() if item.name == "tickets")
    from crm_connect_hubspot.client import HubSpotApiError

    with pytest.raises(HubSpotApiError):  # a CRM object every portal has: a real failure
        list(hs.read(tickets, None))
