"""HubSpot's published limits, enforced with the real headers and 429 bodies: the general
ten-second window by tier, the search limit of five a second, the daily limit."""

from __future__ import annotations

import pytest
from crm_connect_hubspot.sandbox import (
    TIERS,
    Credentials,
    Portal,
    RateLimits,
    SandboxApi,
    TokenBook,
)

from .support import FakeClock, assert_shaped_like, call, reference


def limited(portal: Portal, clock: FakeClock, tier: str = "free", **options: int) -> SandboxApi:
    tokens = TokenBook(Credentials.for_seed(3), clock=clock)
    return SandboxApi(portal, tokens, RateLimits(tier, clock=clock, **options))


def test_every_answer_reports_the_window_and_a_private_app_its_daily_limit(
        portal: Portal, clock: FakeClock) -> None:
    api = limited(portal, clock, "professional")
    first = call(api, "GET", "/crm/v3/objects/deals?limit=1")
    second = call(api, "GET", "/crm/v3/objects/deals?limit=1")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Secondly"] == "19"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert second.headers["X-HubSpot-RateLimit-Remaining"] == "188"
    assert second.headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "17"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "625000"
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "624998"
    assert first.headers["X-HubSpot-Correlation-Id"]


def test_the_ten_second_window_refuses_with_the_real_429_and_then_recovers(
        portal: Portal, clock: FakeClock) -> None:
    api = limited(portal, clock, "free")
    for n in range(TIERS["free"].per_ten_seconds):
        assert call(api, "GET", "/crm/v3/owners").status == 200, n
        clock.advance(0.05)
    refused = call(api, "GET", "/crm/v3/owners")
    assert refused.status == 429
    assert_shaped_like(refused.body, "issue_error_429_ten_secondly_rolling.json")
    assert refused.body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert refused.body["errorType"] == "RATE_LIMIT"
    assert refused.body["message"] == "You have reached your ten_secondly_rolling limit."
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert api.limits.refused["TEN_SECONDLY_ROLLING"] == 1
    clock.advance(6.0)  # the first requests leave the rolling window
    assert call(api, "GET", "/crm/v3/owners").status == 200


def test_search_has_its_own_five_a_second_limit_and_no_limit_headers(
        portal: Portal, clock: FakeClock) -> None:
    api = limited(portal, clock, "free")
    for _ in range(5):
        answer = call(api, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
        assert answer.status == 200
        assert not any(h.startswith("X-HubSpot-RateLimit") for h in answer.headers)
    refused = call(api, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
    assert refused.status == 429
    assert_shaped_like(refused.body, "issue_error_429_secondly.json")
    assert refused.body["policyName"] == "SECONDLY"
    # the general budget is untouched by searches: both can be spent at once
    listed = call(api, "GET", "/crm/v3/objects/contacts?limit=1")
    assert listed.status == 200
    assert listed.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    clock.advance(1.0)
    assert call(api, "POST", "/crm/v3/objects/contacts/search", {"limit": 1}).status == 200


def test_a_spent_daily_limit_refuses_with_policy_daily_until_midnight(
        portal: Portal, clock: FakeClock) -> None:
    api = limited(portal, clock, "free", daily=3)
    for _ in range(3):
        assert call(api, "GET", "/crm/v3/owners").status == 200
    refused = call(api, "GET", "/crm/v3/owners")
    assert refused.status == 429
    assert refused.body["policyName"] == "DAILY"
    assert refused.body["message"] == "You have reached your daily limit."
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert call(api, "POST", "/crm/v3/objects/deals/search", {"limit": 1}).status == 429
    clock.advance(86_400)
    assert call(api, "GET", "/crm/v3/owners").status == 200


def test_oauth_apps_get_110_per_ten_seconds_and_no_daily_headers(portal: Portal,
                                                                 clock: FakeClock) -> None:
    """As the reference recordings of a public app show: Max 110, Secondly 11."""
    api = limited(portal, clock, "enterprise")
    token = api.tokens.issue()
    answer = call(api, "GET", "/crm/v3/pipelines/deals", token=token)
    assert answer.status == 200
    recorded = reference("nango_list_deals_with_associations.meta.json")["headers"]
    for name in ("Max", "Interval-Milliseconds", "Secondly"):
        assert answer.headers[f"X-HubSpot-RateLimit-{name}"] == recorded[
            f"x-hubspot-ratelimit-{name.lower()}"]
    assert "X-HubSpot-RateLimit-Daily" not in answer.headers
    for _ in range(109):
        assert call(api, "GET", "/crm/v3/owners", token=token).status == 200
    assert call(api, "GET", "/crm/v3/owners", token=token).status == 429
    # the private app has its own window
    assert call(api, "GET", "/crm/v3/owners").headers["X-HubSpot-RateLimit-Remaining"] == "189"


def test_an_unknown_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HubSpot tier"):
        RateLimits("platinum")
