"""Signing in: private app tokens, OAuth refresh before expiry and on EXPIRED_AUTHENTICATION,
a refused refresh token stopping at once, a changed refresh token saved; and the real error
bodies classified as the resilience layer must read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crm_connect_hubspot.auth import REFRESH_MARGIN_SECONDS, TokenManager, refusal_reason
from crm_connect_hubspot.config import AuthMethod, HubSpotConfig
from crm_connect_hubspot.profile import HUBSPOT_PROFILE
from hs_support import reference
from hubspot.oauth.exceptions import ApiException

from crm_connect.connector import ConnectionContext
from crm_connect.errors import AuthenticationError
from crm_connect.resilience import Action, classify_response


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONNECT_HS_CLIENT_SECRET", "shh-client-secret")
    monkeypatch.setenv("CRM_CONNECT_HS_REFRESH_TOKEN", "refresh-1")


def oauth_manager(tmp_path: Path, answers: list[Any], clock: Clock
                  ) -> tuple[TokenManager, list[dict[str, str]]]:
    sent: list[dict[str, str]] = []

    def request_token(form: dict[str, str]) -> Any:
        sent.append(form)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    config = HubSpotConfig.model_validate({"client_id": "app-1"})
    manager = TokenManager(config, ConnectionContext("hs", tmp_path), request_token,
                           clock=clock)
    return manager, sent


def test_private_app_token_is_sent_as_it_is_and_a_401_is_final(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", "pat-na1-secret")
    config = HubSpotConfig.model_validate({})
    assert config.auth_method is AuthMethod.PRIVATE_APP
    manager = TokenManager(config, ConnectionContext("hs", tmp_path))
    assert manager.token() == "pat-na1-secret"
    with pytest.raises(AuthenticationError, match="auth set hs access_token"):
        manager.refresh()
    assert "pat-na1-secret" not in repr(manager)


@pytest.mark.usefixtures("oauth_env")
def test_oauth_refreshes_before_the_thirty_minute_expiry(tmp_path: Path) -> None:
    clock = Clock()
    answers: list[Any] = [{"access_token": "at-1", "refresh_token": "refresh-1",
                           "expires_in": 1800},
                          {"access_token": "at-2", "refresh_token": "refresh-1",
                           "expires_in": 1800}]
    manager, sent = oauth_manager(tmp_path, answers, clock)
    assert manager.token() == "at-1"
    assert sent[0] == {"grant_type": "refresh_token", "client_id": "app-1",
                       "client_secret": "shh-client-secret", "refresh_token": "refresh-1"}
    clock.now += 1800 - REFRESH_MARGIN_SECONDS - 1
    assert manager.token() == "at-1" and len(sent) == 1
    clock.now += 2
    assert manager.token() == "at-2" and len(sent) == 2


@pytest.mark.usefixtures("oauth_env")
def test_a_401_expired_authentication_refreshes_once(tmp_path: Path) -> None:
    body = reference("issue_error_401_expired_authentication.json")["body"]
    outcome = classify_response(401, {}, json.dumps(body), profile=HUBSPOT_PROFILE)
    assert outcome.action is Action.REFRESH and "EXPIRED_AUTHENTICATION" in outcome.reason
    clock = Clock()
    answers: list[Any] = [{"access_token": "at-1", "expires_in": 1800},
                          {"access_token": "at-2", "expires_in": 1800}]
    manager, sent = oauth_manager(tmp_path, answers, clock)
    changed: list[str] = []
    manager.on_change = changed.append
    manager.token()
    manager.refresh()  # what the policy calls on that 401
    assert manager.token() == "at-2" and changed == ["at-1", "at-2"] and len(sent) == 2


@pytest.mark.usefixtures("oauth_env")
@pytest.mark.parametrize("body", [
    {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
     "correlationId": "5a5b2a7e-d8c1-4b3c-9b1a-0e7f1e1b6e11"},
    {"error": "invalid_grant", "error_description": "refresh token is invalid"},
])
def test_a_refused_refresh_stops_at_once_with_a_message_to_sign_in_again(
        tmp_path: Path, body: dict[str, str]) -> None:
    refused = ApiException(status=400, reason="Bad Request")
    refused.body = json.dumps(body)
    manager, sent = oauth_manager(tmp_path, [refused], Clock())
    with pytest.raises(AuthenticationError) as caught:
        manager.token()
    message = str(caught.value)
    assert "Sign in again" in message and "auth set hs refresh_token" in message
    assert len(sent) == 1  # one token request, never a loop
    assert "refresh-1" not in message and "shh-client-secret" not in message


@pytest.mark.usefixtures("oauth_env")
def test_a_changed_refresh_token_is_saved(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[dict[str, str]] = []
    manager, _ = oauth_manager(tmp_path, [{"access_token": "at-1", "refresh_token": "refresh-2",
                                           "expires_in": 1800}], Clock())

    def capture(self: ConnectionContext, values: Any) -> None:
        saved.append(dict(values))

    monkeypatch.setattr(ConnectionContext, "save_secrets", capture)
    manager.token()
    assert saved == [{"refresh_token": "refresh-2"}]


def test_refusal_reason_reads_hubspot_and_oauth_bodies() -> None:
    assert refusal_reason(400, b'{"status":"BAD_REFRESH_TOKEN","message":"gone"}') == \
        "BAD_REFRESH_TOKEN: gone"
    assert refusal_reason(400, '{"error":"invalid_grant"}') == "invalid_grant"
    assert refusal_reason(503, '{"status":"error"}') is None
    assert refusal_reason(429, "{}") is None


@pytest.mark.parametrize(("name", "action"), [
    ("issue_error_429_ten_secondly_rolling.json", Action.RETRY),
    ("issue_error_429_secondly.json", Action.RETRY),
])
def test_real_rate_limit_bodies_are_waited_out(name: str, action: Action) -> None:
    payload = reference(name)
    outcome = classify_response(payload["status"], {"Retry-After": "1"},
                                json.dumps(payload["body"]), profile=HUBSPOT_PROFILE)
    assert outcome.action is action and outcome.retry_after == 1.0
    assert payload["body"]["policyName"] in outcome.reason


def test_a_daily_policy_429_is_a_spent_quota() -> None:
    body = dict(reference("issue_error_429_ten_secondly_rolling.json")["body"])
    body.update(policyName="DAILY", message="You have reached your daily limit.")
    assert classify_response(429, {}, json.dumps(body),
                             profile=HUBSPOT_PROFILE).action is Action.QUOTA


def test_config_rejects_secrets_in_the_file_and_unknown_streams() -> None:
    with pytest.raises(ValueError):
        HubSpotConfig.model_validate({"access_token": "pat-in-the-file"})
    with pytest.raises(ValueError, match="unknown streams"):
        HubSpotConfig.model_validate({"streams": ["deals", "opportunities"]})
    with pytest.raises(ValueError, match="has no field"):
        HubSpotConfig.model_validate({"mapping": {"accounts": {"churn": "churn_date"}}})
    config = HubSpotConfig.model_validate({"base_url": "http://127.0.0.1:8123/"})
    assert config.base_url == "http://127.0.0.1:8123"
    assert HubSpotConfig.model_validate({}).base_url == "https://api.hubapi.com"


def test_the_profile_reads_hubspot_headers_and_groups_search() -> None:
    reading = HUBSPOT_PROFILE.read_quota_headers({
        "X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "150",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "10"})
    assert reading is not None
    assert (reading.maximum, reading.remaining, reading.interval_seconds) == (190, 150, 10.0)
    assert (reading.daily_used, reading.daily_limit) == (249_990, 250_000)
    assert HUBSPOT_PROFILE.group_for("POST", "https://api.hubapi.com/crm/v3/objects/deals/search"
                                     ) == "search"
    assert HUBSPOT_PROFILE.group_for("GET", "https://api.hubapi.com/crm/v3/objects/deals"
                                     ) == "general"
    refused = classify_response(400, {}, '{"status": "BAD_REFRESH_TOKEN", "message": "gone"}',
                                profile=HUBSPOT_PROFILE)
    assert refused.action is Action.AUTH_FAILED
