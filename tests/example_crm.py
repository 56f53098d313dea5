"""A vendor profile for core tests: an imaginary "Example CRM" declared with the core's generic
mechanisms only (limit groups, error markers, usage headers), the way a plugin declares its own.

Its answers have the shape of real CRM APIs: a ``policyName`` naming the limit a 429 hit, a
``category`` naming why a 401 came, rate-limit headers with an interval in milliseconds, and a
daily usage header (``example_usage`` writes it, for the fault server's ``usage_headers``).
"""

from __future__ import annotations

from collections.abc import Mapping

from crm_connect.vendor import (
    ErrorMarker,
    GroupRule,
    Meaning,
    QuotaHeaders,
    RateLimitSettings,
    VendorProfile,
)

USAGE_HEADER = "X-Example-Api-Usage"


def example_usage(used: int, limit: int) -> Mapping[str, str]:
    """Example CRM's daily usage header, as every answer carries it."""
    return {USAGE_HEADER: f"api-usage={used}/{limit}"}


EXAMPLE_CRM = VendorProfile(
    name="Example CRM",
    rate_limits={"general": RateLimitSettings(requests=100, per_seconds=10.0),
                 "search": RateLimitSettings(requests=5, per_seconds=1.0, burst=1)},
    group_rules=(GroupRule("search", path=r"/search/?$"),),
    error_fields=("category", "policyName", "errorCode"),
    error_markers=(
        ErrorMarker(Meaning.DAILY_QUOTA, field="policyName", code="DAILY", statuses={429}),
        ErrorMarker(Meaning.RATE_LIMITED, field="policyName", code="TEN_SECONDLY_ROLLING"),
        ErrorMarker(Meaning.RATE_LIMITED, field="policyName", code="SECONDLY"),
        ErrorMarker(Meaning.SESSION_EXPIRED, code="EXPIRED_AUTHENTICATION", statuses={401}),
        ErrorMarker(Meaning.SESSION_EXPIRED, code="INVALID_SESSION_ID", statuses={401}),
    ),
    quota_headers=QuotaHeaders(
        rate_max="X-Example-RateLimit-Max", rate_remaining="X-Example-RateLimit-Remaining",
        rate_interval="X-Example-RateLimit-Interval-Milliseconds", rate_interval_seconds=0.001,
        daily_limit="X-Example-RateLimit-Daily",
        daily_remaining="X-Example-RateLimit-Daily-Remaining",
        daily_usage=USAGE_HEADER, daily_usage_pattern=r"api-usage=(\d+)/(\d+)",
        daily_name="Example CRM daily API limit"),
    daily_reset_hint="Example CRM's daily limit resets at midnight UTC",
)
