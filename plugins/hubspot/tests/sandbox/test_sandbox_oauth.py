"""OAuth as HubSpot answers it: the refresh_token grant, 30-minute tokens, 401
EXPIRED_AUTHENTICATION, and a refused refresh (BAD_REFRESH_TOKEN, invalid_grant)."""

from __future__ import annotations

from crm_connect_hubspot.sandbox import (
    TOKEN_LIFETIME_SECONDS,
    Credentials,
    Portal,
    RateLimits,
    SandboxApi,
    TokenBook,
)

from .support import FakeClock, assert_shaped_like, call


def oauth_api(portal: Portal, clock: FakeClock, **options: bool) -> SandboxApi:
    tokens = TokenBook(Credentials.for_seed(9), clock=clock, **options)
    return SandboxApi(portal, tokens, RateLimits(clock=clock, enforce=False))


def refresh(api: SandboxApi, refresh_token: str | None = None) -> tuple[int, dict[str, str]]:
    creds = api.tokens.credentials
    answer = call(api, "POST", "/oauth/v1/token", token="", form={
        "grant_type": "refresh_token", "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "refresh_token": refresh_token or api.tokens.refresh_token})
    return answer.status, answer.body


def test_refresh_gives_a_thirty_minute_token_that_then_expires(portal: Portal,
                                                               clock: FakeClock) -> None:
    api = oauth_api(portal, clock)
    status, body = refresh(api)
    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == TOKEN_LIFETIME_SECONDS == 1800
    assert body["refresh_token"] == api.tokens.credentials.refresh_token
    token = body["access_token"]
    assert call(api, "GET", "/crm/v3/owners", token=token).status == 200
    clock.advance(1800 + 12)
    expired = call(api, "GET", "/crm/v3/owners", token=token)
    assert expired.status == 401
    assert_shaped_like(expired.body, "issue_error_401_expired_authentication.json")
    assert expired.body["category"] == "EXPIRED_AUTHENTICATION"
    assert expired.body["message"] == (
        "The OAuth token used to make this call expired 12 second(s) ago.")
    status, body = refresh(api)
    assert status == 200
    assert call(api, "GET", "/crm/v3/owners", token=body["access_token"]).status == 200
    assert api.tokens.refreshes == 2


def test_expire_all_forces_the_401_on_the_next_call(portal: Portal, clock: FakeClock) -> None:
    api = oauth_api(portal, clock)
    _, body = refresh(api)
    api.tokens.expire_all()
    answer = call(api, "GET", "/crm/v3/objects/deals?limit=1", token=body["access_token"])
    assert answer.status == 401 and answer.body["category"] == "EXPIRED_AUTHENTICATION"


def test_a_refused_refresh_is_bad_refresh_token_invalid_grant(portal: Portal,
                                                             clock: FakeClock) -> None:
    api = oauth_api(portal, clock)
    status, body = refresh(api, "na1-not-the-right-one")
    assert status == 400
    assert body["status"] == "BAD_REFRESH_TOKEN"
    assert body["error"] == "invalid_grant"
    assert body["message"] == "missing or unknown refresh token"
    api.tokens.refuse_refresh()
    status, body = refresh(api)
    assert (status, body["status"]) == (400, "BAD_REFRESH_TOKEN")
    assert api.tokens.refused == 2


def test_a_rotated_refresh_token_replaces_the_old_one(portal: Portal, clock: FakeClock) -> None:
    api = oauth_api(portal, clock, rotate_refresh_token=True)
    original = api.tokens.refresh_token
    status, body = refresh(api)
    assert status == 200 and body["refresh_token"] != original
    assert refresh(api, original)[0] == 400
    assert refresh(api, body["refresh_token"])[0] == 200


def test_wrong_client_and_grant_are_refused(portal: Portal, clock: FakeClock) -> None:
    api = oauth_api(portal, clock)
    creds = api.tokens.credentials
    wrong_client = call(api, "POST", "/oauth/v1/token", token="", form={
        "grant_type": "refresh_token", "client_id": "nope", "client_secret": creds.client_secret,
        "refresh_token": creds.refresh_token})
    assert (wrong_client.status, wrong_client.body["status"]) == (400, "BAD_CLIENT_ID")
    wrong_grant = call(api, "POST", "/oauth/v1/token", token="", form={
        "grant_type": "password", "client_id": creds.client_id})
    assert wrong_grant.status == 400 and wrong_grant.body["error"] == "unsupported_grant_type"


def test_the_private_app_token_never_expires(portal: Portal, clock: FakeClock) -> None:
    api = oauth_api(portal, clock)
    clock.advance(10 * 86_400)
    assert call(api, "GET", "/crm/v3/properties/deals").status == 200
