"""Faults through the kit's fault book, with HubSpot's answers, and TLS."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from crm_connect_hubspot.sandbox import FaultKind, HubSpotSandbox, PortalSize


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(size=PortalSize(companies=6), seed=5, tier="enterprise") as running:
        yield running


def get(sandbox: HubSpotSandbox, path: str, token: str | None = None,
        context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"{sandbox.base_url}{path}", headers={
        "Authorization": f"Bearer {token or sandbox.access_token}"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def test_an_injected_429_carries_hubspot_s_body_and_is_logged(sandbox: HubSpotSandbox) -> None:
    sandbox.inject(FaultKind.RATE_LIMITED, path="/crm/v3/objects/deals$", retry_after=2)
    status, headers, body = get(sandbox, "/crm/v3/objects/deals?limit=1")
    assert status == 429 and headers["Retry-After"] == "2"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert get(sandbox, "/crm/v3/objects/deals?limit=1")[0] == 200
    assert sandbox.request_count(r"/crm/v3/objects/deals$", status=429) == 1
    assert all(r.headers.get("Authorization") in (None, "<redacted>") for r in sandbox.requests)


def test_an_injected_expired_token_really_expires_the_oauth_tokens(
        sandbox: HubSpotSandbox) -> None:
    token = sandbox.tokens.issue()
    sandbox.inject(FaultKind.EXPIRED_TOKEN, path="/crm/v3/owners")
    status, _, body = get(sandbox, "/crm/v3/owners", token)
    assert (status, body["category"]) == (401, "EXPIRED_AUTHENTICATION")
    status, _, body = get(sandbox, "/crm/v3/owners", token)
    assert (status, body["category"]) == (401, "EXPIRED_AUTHENTICATION")


@pytest.mark.parametrize("kind, code", [(FaultKind.SERVER_ERROR, 500),
                                        (FaultKind.BAD_GATEWAY, 502),
                                        (FaultKind.UNAVAILABLE, 503),
                                        (FaultKind.DAILY_LIMIT, 429)])
def test_server_errors_and_the_daily_limit(sandbox: HubSpotSandbox, kind: FaultKind,
                                           code: int) -> None:
    sandbox.inject(kind, path="/crm/v3/pipelines")
    status, _, body = get(sandbox, "/crm/v3/pipelines/deals")
    assert status == code and body["status"] == "error"


def test_the_sandbox_serves_tls_with_a_throwaway_certificate() -> None:
    with HubSpotSandbox(size=PortalSize(companies=5), tls=True) as sandbox:
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        assert sandbox.cert_path is not None
        context = ssl.create_default_context(cafile=str(sandbox.cert_path))
        status, _, body = get(sandbox, "/crm/v3/objects/companies?limit=2",
                                    context=context)
        assert status == 200 and len(body["results"]) == 2
        assert body["paging"]["next"]["link"].startswith(sandbox.base_url)
