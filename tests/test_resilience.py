"""The resilience policy's parts, checked against real vendor bodies and headers (copied from
shared/reference-payloads) and a real loopback server; no part of the policy is mocked."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from example_crm import EXAMPLE_CRM, USAGE_HEADER, example_usage
from vendor_answers import HUBSPOT_TOKEN_EXPIRED, SALESFORCE_SESSION_EXPIRED

from crm_connect.errors import AuthenticationError, QuotaExceededError, RetryExhaustedError
from crm_connect.resilience import (
    Action,
    BearerAuth,
    GroupLimiter,
    Limit,
    ObservedPoolManager,
    Outcome,
    RateLimitSettings,
    ResiliencePolicy,
    ResilienceSettings,
    ResilientSession,
    TokenBucket,
    classify_exception,
    classify_response,
    describe_request,
    no_retries,
    observed_pool,
    parse_retry_after,
    read_rate_limit_headers,
    register_response_classifier,
    unregister_response_classifier,
)
from crm_connect.testing import faults
from crm_connect.testing.faults import FaultServer

FAST = ResilienceSettings(backoff_initial_seconds=0.01, backoff_max_seconds=0.05,
                          request_timeout_seconds=0.25, max_attempts=4, max_total_seconds=5)

# Verbatim bodies from shared/reference-payloads.
SF_INVALID_SESSION = b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]'
SF_REQUEST_LIMIT = (b'[{"message": "TotalRequests Limit exceeded.", '
                    b'"errorCode": "REQUEST_LIMIT_EXCEEDED"}]')
SF_INVALID_GRANT = b'{"error":"invalid_grant","error_description":"expired access/refresh token"}'
HS_EXPIRED = (b'{"status": "error", "message": "The OAuth token used to make this call expired '
              b'0 second(s) ago.", "correlationId": "019cd9fe-d093-7d4f-99bc-45975fdcf7c6", '
              b'"category": "EXPIRED_AUTHENTICATION"}')
HS_TEN_SECONDLY = (b'{"status": "error", "message": "You have reached your ten_secondly_rolling '
                   b'limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}')
HS_DAILY = (b'{"status": "error", "message": "You have reached your daily limit.", '
            b'"errorType": "RATE_LIMIT", "policyName": "DAILY"}')


@pytest.mark.parametrize(("status", "body", "action"), [
    (200, None, Action.OK),
    (404, b'[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]',
     Action.OK),
    (400, b'[{"errorCode":"INVALID_FIELD","message":"No such column"}]', Action.OK),
    (403, b'[{"errorCode":"INSUFFICIENT_ACCESS","message":"no"}]', Action.OK),
    (408, None, Action.RETRY),
    (429, HS_TEN_SECONDLY, Action.RETRY),
    (500, None, Action.RETRY),
    (502, b"<html>bad gateway</html>", Action.RETRY),
    (503, None, Action.RETRY),
    (401, SF_INVALID_SESSION, Action.REFRESH),
    (401, HS_EXPIRED, Action.REFRESH),
    # What a vendor's REQUEST_LIMIT_EXCEEDED means is its plugin's knowledge (its profile's
    # error markers); a profile that does not know it passes the 403 on to the client.
    (403, SF_REQUEST_LIMIT, Action.OK),
    (429, HS_DAILY, Action.QUOTA),
    (400, SF_INVALID_GRANT, Action.AUTH_FAILED),
])
def test_classification_of_vendor_answers(status: int, body: bytes | None,
                                          action: Action) -> None:
    assert classify_response(status, {}, body, profile=EXAMPLE_CRM).action is action


def test_without_a_profile_only_the_http_rules_apply() -> None:
    """The core knows no vendor: a daily-policy 429 is a rate limit like any other 429, a 401
    refreshes whatever its body, and OAuth's invalid_grant is refused for good."""
    daily = classify_response(429, {}, HS_DAILY)
    assert (daily.action, daily.limit, daily.reason) == (Action.RETRY, Limit.RATE, "HTTP 429")
    assert classify_response(401, {}, SF_INVALID_SESSION).reason == "HTTP 401"
    named = classify_response(401, {}, SF_INVALID_SESSION, profile=EXAMPLE_CRM)
    assert (named.action, named.reason) == (Action.REFRESH, "HTTP 401 INVALID_SESSION_ID")
    assert classify_response(400, {}, SF_INVALID_GRANT).action is Action.AUTH_FAILED
    ten_secondly = classify_response(429, {"Retry-After": "1"}, HS_TEN_SECONDLY,
                                     profile=EXAMPLE_CRM)
    assert ten_secondly.reason == "HTTP 429 TEN_SECONDLY_ROLLING"
    assert (ten_secondly.retry_after, ten_secondly.group_exhausted) == (1.0, True)


def test_a_registered_response_classifier_is_consulted_first() -> None:
    def vendor_rules(status: int, headers: Mapping[str, str],
                     body: bytes | str | None) -> Outcome | None:
        text = body.decode() if isinstance(body, bytes) else body or ""
        if status == 403 and "TotalRequests" in text:
            return Outcome(Action.QUOTA, "daily total spent", limit=Limit.DAILY)
        return None

    register_response_classifier(vendor_rules)
    register_response_classifier(vendor_rules)  # twice: still one entry
    try:
        assert classify_response(403, {}, SF_REQUEST_LIMIT).action is Action.QUOTA
        assert classify_response(500, {}, None).action is Action.RETRY  # not its business
    finally:
        unregister_response_classifier(vendor_rules)
    assert classify_response(403, {}, SF_REQUEST_LIMIT).action is Action.OK


def test_a_429_is_a_rate_limit_whatever_its_body_says() -> None:
    outcome = classify_response(429, {"Retry-After": "2"}, SF_REQUEST_LIMIT)
    assert (outcome.action, outcome.limit, outcome.retry_after) == (Action.RETRY, Limit.RATE, 2.0)
    assert outcome.unprocessed and outcome.group_exhausted


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    now = dt.datetime(2026, 5, 6, 11, 29, 30, tzinfo=dt.UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("Wed, 06 May 2026 11:29:40 GMT", now=now) == 10.0
    assert parse_retry_after("Wed, 06 May 2026 11:29:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert classify_response(429, {"retry-after": "3"}, None).retry_after == 3.0


def test_vendor_usage_headers_are_read() -> None:
    usage = read_rate_limit_headers({USAGE_HEADER.lower(): "api-usage=24/15000"},
                                    profile=EXAMPLE_CRM)
    assert usage is not None
    assert (usage.daily_used, usage.daily_limit) == (24, 15000)
    rates = read_rate_limit_headers({  # header names in any case, the interval in ms
        "x-example-ratelimit-interval-milliseconds": "10000", "x-example-ratelimit-max": "110",
        "x-example-ratelimit-remaining": "108", "X-Example-RateLimit-Daily": "250000",
        "X-Example-RateLimit-Daily-Remaining": "249000"}, profile=EXAMPLE_CRM)
    assert rates is not None
    assert (rates.maximum, rates.remaining, rates.interval_seconds) == (110, 108, 10.0)
    assert (rates.daily_used, rates.daily_limit) == (1000, 250000)
    assert rates.daily_name == "Example CRM daily API limit"
    assert read_rate_limit_headers({"content-type": "application/json"},
                                   profile=EXAMPLE_CRM) is None
    # the core alone reads no vendor's headers
    assert read_rate_limit_headers({USAGE_HEADER: "api-usage=24/15000"}) is None


def test_transport_failures_are_retryable_and_certificate_errors_are_not() -> None:
    for exc in (requests.exceptions.ReadTimeout(), requests.exceptions.ChunkedEncodingError(),
                requests.exceptions.ConnectionError(), TimeoutError(), ValueError("x")):
        outcome = classify_exception(exc)
        if isinstance(exc, ValueError):
            assert outcome is None
        else:
            assert outcome is not None and outcome.action is Action.RETRY
    assert classify_exception(requests.exceptions.SSLError()) is None


def test_settings_defaults_are_the_vendors_published_limits() -> None:
    settings = ResilienceSettings()
    example = settings.limits_for(EXAMPLE_CRM.rate_limits)
    assert (example["general"].requests, example["general"].per_seconds) == (100, 10.0)
    assert (example["search"].requests, example["search"].per_seconds) == (5, 1.0)
    neutral = settings.limits_for()
    assert (neutral["general"].requests, neutral["general"].max_concurrent) == (None, None)
    assert settings.max_daily_quota_share == 0.5
    tuned = ResilienceSettings.model_validate(
        {"rate_limits": {"general": {"requests": 190}}, "max_attempts": 3})
    assert tuned.limits_for(EXAMPLE_CRM.rate_limits)["general"].requests == 190
    assert tuned.limits_for(EXAMPLE_CRM.rate_limits)["general"].per_seconds == 10.0
    with pytest.raises(ValueError, match="extra"):
        ResilienceSettings.model_validate({"max_attemps": 3})


def test_token_bucket_never_exceeds_its_window_across_threads() -> None:
    limit = GroupLimiter("general", RateLimitSettings(requests=10, per_seconds=0.5, burst=2))
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            with limit.slot(), lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 24
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s - start < 0.5 - 0.01]
        assert len(in_window) <= 10


def test_bucket_follows_vendor_headers_unless_configured() -> None:
    default = GroupLimiter("general", RateLimitSettings(requests=100, per_seconds=10.0))
    default.adapt(190, 150, 10.0)
    assert default.settings.requests == 190
    configured = GroupLimiter("general", RateLimitSettings(requests=50, per_seconds=10.0),
                              explicit=True)
    configured.adapt(190, 150, 10.0)
    assert configured.settings.requests == 50
    bucket = TokenBucket(5, 50.0)
    started = time.monotonic()
    bucket.limit_tokens(0)  # "Remaining: 0": the next request waits for a refill
    bucket.acquire()
    assert time.monotonic() - started >= 0.015


def test_retry_after_is_honoured() -> None:
    with FaultServer(script={0: faults.rate_limited(retry_after=1)}) as server:
        session = ResilientSession(ResiliencePolicy("hs", FAST),
                                   auth=BearerAuth(lambda: "access-token-0"))
        started = time.monotonic()
        assert session.get(f"{server.url}/api/records").status_code == 200
        assert time.monotonic() - started >= 0.95
        assert server.count() == 2


def test_a_retry_after_beyond_the_time_budget_stops_at_once() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    with FaultServer(script={0: faults.rate_limited(retry_after=later)}) as server:
        session = ResilientSession(ResiliencePolicy("hs", FAST))
        started = time.monotonic()
        with pytest.raises(RetryExhaustedError, match="asked to wait"):
            session.get(f"{server.url}/api/records")
        assert time.monotonic() - started < 1
        assert server.count() == 1


def test_retry_log_names_connection_request_attempt_and_wait_but_no_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    secret = "pat-na1-11111111-2222"
    with FaultServer(script={0: faults.server_error(503)}, access_token=secret) as server, \
            caplog.at_level(logging.DEBUG):
        session = ResilientSession(ResiliencePolicy("hs_marketing", FAST),
                                   auth=BearerAuth(lambda: secret))
        response = session.get(f"{server.url}/api/records?hapikey={secret}&after=0")
        assert response.status_code == 200
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = line.getMessage()
    assert message.startswith("hs_marketing: GET /api/records: HTTP 503 (attempt 1 of 4); "
                              "retrying in ")
    assert secret not in caplog.text
    assert secret not in repr(session.auth)
    assert describe_request("GET", f"https://x/y?token={secret}") == "GET /y"


def test_authentication_errors_never_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    secret = "00Dxx0000001gPL!AQ4AQFmysecret"

    def refresh() -> None:
        raise requests.exceptions.HTTPError(
            f"400 Client Error for url: https://login.salesforce.com/services/oauth2/token"
            f"?grant_type=refresh_token&refresh_token={secret}")

    with FaultServer(script={0: faults.expire_token()},
                     auth_error=SALESFORCE_SESSION_EXPIRED) as server, \
            caplog.at_level(logging.DEBUG):
        session = ResilientSession(ResiliencePolicy("sf_prod", FAST, profile=EXAMPLE_CRM,
                                                    refresh=refresh),
                                   auth=BearerAuth(lambda: secret))
        with pytest.raises(AuthenticationError) as caught:
            session.get(f"{server.url}/api/records")
    assert "refreshing the session failed" in str(caught.value)
    assert "INVALID_SESSION_ID" in caplog.text
    assert secret not in str(caught.value)
    assert secret not in caplog.text


def test_a_second_401_after_refresh_is_final() -> None:
    refreshes: list[int] = []
    with FaultServer(script={0: faults.expire_token()}) as server:
        policy = ResiliencePolicy("hs", FAST, refresh=lambda: refreshes.append(1))
        session = ResilientSession(policy, auth=BearerAuth(lambda: "access-token-0"))
        with pytest.raises(AuthenticationError, match="even after a refresh"):
            session.get(f"{server.url}/api/records")
        assert refreshes == [1]
        assert server.count() == 2


def test_quota_share_is_measured_from_first_to_latest_reading() -> None:
    policy = ResiliencePolicy("sf", ResilienceSettings(max_daily_quota_share=0.1),
                              profile=EXAMPLE_CRM)
    policy.observe({USAGE_HEADER: "api-usage=500/1000"})
    policy.observe({USAGE_HEADER: "api-usage=599/1000"})
    policy.check_quota()  # 100 requests: exactly 10 %, not more
    policy.observe({USAGE_HEADER: "api-usage=600/1000"})
    with pytest.raises(QuotaExceededError, match=r"101 requests, 10% of the Example CRM daily"):
        policy.check_quota()
    spent = ResiliencePolicy("hs", profile=EXAMPLE_CRM)
    spent.observe({"X-Example-RateLimit-Daily": "1000",
                   "X-Example-RateLimit-Daily-Remaining": "0"})
    with pytest.raises(QuotaExceededError,
                       match=r"Example CRM daily API limit is spent.*resets at midnight UTC"):
        spent.check_quota()


def test_call_wraps_any_client_and_passes_other_errors_through() -> None:
    class ApiException(Exception):  # the shape of hubspot-api-client's exception
        def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            super().__init__(status)
            self.status, self.body, self.headers = status, body, headers

    answers: list[Any] = [ApiException(429, HS_TEN_SECONDLY, {"Retry-After": "0"}),
                          ApiException(502, b"", {}), "page"]

    def fetch() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    policy = ResiliencePolicy("hs", FAST, profile=EXAMPLE_CRM)
    assert policy.call(fetch, description="GET /crm/v3/objects/contacts") == "page"
    with pytest.raises(ApiException):
        policy.call(lambda: fetch_missing(ApiException))
    with pytest.raises(QuotaExceededError, match="DAILY"):
        policy.call(lambda: (_ for _ in ()).throw(ApiException(429, HS_DAILY, {})))


def fetch_missing(kind: type[Exception]) -> str:
    raise kind(404, b'{"status":"error","category":"OBJECT_NOT_FOUND"}', {})  # type: ignore[call-arg]


def test_a_urllib3_client_goes_through_the_policy() -> None:
    """A client on urllib3: its pool never retries by itself, times out, and reports every
    answer's usage headers to the policy, which does the retrying."""
    with FaultServer(script={0: faults.server_error(503), 1: faults.reset()},
                     usage_headers=example_usage, daily_limit=1000, daily_used=10) as server:
        policy = ResiliencePolicy("api", FAST, profile=EXAMPLE_CRM)
        pool = observed_pool(policy)
        answer = policy.execute(
            lambda: pool.request("GET", f"{server.url}/api/records?limit=2",
                                 headers={"Authorization": "Bearer access-token-0"}),
            description="GET /api/records",
            inspect=lambda answer: classify_response(answer.status, answer.headers, answer.data,
                                                     profile=policy.profile))
        assert answer.status == 200 and len(answer.json()["results"]) == 2
        assert server.count() == 3  # urllib3 never retried on its own
        (usage,) = policy.quota_usage()
        assert (usage.name, usage.limit) == ("Example CRM daily API limit", 1000)


def test_a_generated_api_client_goes_through_the_policy() -> None:
    """An OpenAPI-generated client (here hubspot-api-client's, when installed) built with the
    core's urllib3 pieces: retries off, its pool observed, every call through the policy."""
    generated = pytest.importorskip("hubspot")
    discovery = pytest.importorskip("hubspot.discovery.discovery_base")
    records = [{"id": str(n), "properties": {"email": f"c{n}@example.com"},
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z",
                "archived": False} for n in range(1, 6)]
    script = {0: faults.server_error(503), 1: faults.reset(), 2: faults.expire_token()}
    with FaultServer(records, page_size=2, script=script, auth_error=HUBSPOT_TOKEN_EXPIRED,
                     records_path="/crm/v3/objects/contacts") as server:
        client: Any = None

        def refresh() -> dict[str, str]:
            client.access_token = "access-token-1"
            server.access_token = "access-token-1"  # the server's OAuth flow, short-circuited
            return {"access_token": "access-token-1"}

        def api_factory(package: Any, name: str, config: dict[str, Any]) -> Any:
            api = discovery.DiscoveryBase._default_api_factory(package, name, config)
            rest = api.api_client.rest_client
            rest.pool_manager = ObservedPoolManager(rest.pool_manager, policy)
            return api

        policy = ResiliencePolicy("hs", FAST, profile=EXAMPLE_CRM, refresh=refresh)
        client = generated.HubSpot(access_token="access-token-0", host=server.url,
                                   retry=no_retries(), api_factory=api_factory)
        ids: list[str] = []
        after = None
        while True:
            page = policy.call(
                lambda after=after: client.crm.contacts.basic_api.get_page(limit=2, after=after),
                description="GET /crm/v3/objects/contacts")
            ids += [item.id for item in page.results]
            if page.paging is None:
                break
            after = page.paging.next.after
        assert ids == [str(n) for n in range(1, 6)]
        assert server.count() == 3 + len(script)  # urllib3 never retried on its own


def test_a_401_from_the_token_endpoint_does_not_recurse() -> None:
    token = {"value": "access-token-0"}
    with FaultServer(script={0: faults.expire_token()},
                     path_script={"/oauth/token": [faults.status(401, {"error": "x"})]}
                     ) as server:
        def refresh() -> dict[str, str]:
            answer = session.post(f"{server.url}/oauth/token",
                                  data={"refresh_token": "refresh-token-0"})
            token["value"] = answer.json()["access_token"]
            return {"access_token": token["value"]}

        session = ResilientSession(ResiliencePolicy("hs", FAST, refresh=refresh),
                                   auth=BearerAuth(lambda: token["value"]))
        with pytest.raises(AuthenticationError, match="cannot refresh"):
            session.get(f"{server.url}/api/records")
        assert server.count("/oauth/token") == 1
