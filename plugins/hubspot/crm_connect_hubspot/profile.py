"""What the core's resilience layer needs to know about HubSpot: :data:`HUBSPOT_PROFILE`.

* **general** limit: per app and portal, a rolling 10 seconds: 100 requests on Free and Starter,
  190 on Professional and Enterprise (250 with the API limit increase).  The
  ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` / ``-Interval-Milliseconds`` headers of each
  answer say which tier the portal is on; the limiter adapts to them.
* **search** limit: the CRM search endpoints (``POST /crm/v3/objects/{type}/search``) have
  their own 5 requests per second, and their answers carry no rate-limit headers.
* **daily** limit: 250,000 (Free/Starter) to 1,000,000 requests a day for a private app, reset
  at midnight in the portal's time zone; ``X-HubSpot-RateLimit-Daily`` /
  ``-Daily-Remaining`` report it (the quota guard stops a run that would spend too much of
  it), and a spent one answers 429 with ``"policyName": "DAILY"``: stop cleanly, resume next run.
* error markers: 401 ``"category": "EXPIRED_AUTHENTICATION"`` refreshes the OAuth token once,
  then retries; 429 ``"policyName": "TEN_SECONDLY_ROLLING"`` or ``"SECONDLY"`` is a rate limit
  to wait out; an OAuth refresh refused with ``BAD_REFRESH_TOKEN`` (HubSpot's ``status``) or
  ``invalid_grant`` is final: sign in again.
"""

from __future__ import annotations

from crm_connect.vendor import (
    ErrorMarker,
    GroupRule,
    Meaning,
    QuotaHeaders,
    RateLimitSettings,
    RefreshRules,
    VendorProfile,
)

__all__ = ["HUBSPOT_PROFILE", "REFUSED_REFRESH_CODES"]

REFUSED_REFRESH_CODES = ("BAD_REFRESH_TOKEN", "invalid_grant", "BAD_CLIENT_ID",
                         "BAD_CLIENT_SECRET", "invalid_client")
"""A token answer with one of these refuses the refresh for good: sign in again."""

HUBSPOT_PROFILE = VendorProfile(
    name="HubSpot",
    rate_limits={
        "general": RateLimitSettings(requests=100, per_seconds=10.0),
        "search": RateLimitSettings(requests=5, per_seconds=1.0, burst=1),
    },
    group_rules=(GroupRule("search", path=r"/search/?$", methods={"POST"}),),
    error_fields=("category", "policyName", "status"),
    error_markers=(
        ErrorMarker(Meaning.DAILY_QUOTA, code="DAILY", field="policyName", statuses={429}),
        ErrorMarker(Meaning.RATE_LIMITED, code="TEN_SECONDLY_ROLLING", field="policyName"),
        ErrorMarker(Meaning.RATE_LIMITED, code="SECONDLY", field="policyName"),
        ErrorMarker(Meaning.SESSION_EXPIRED, code="EXPIRED_AUTHENTICATION", field="category",
                    statuses={401}),
    ),
    quota_headers=QuotaHeaders(
        rate_max="X-HubSpot-RateLimit-Max", rate_remaining="X-HubSpot-RateLimit-Remaining",
        rate_interval="X-HubSpot-RateLimit-Interval-Milliseconds",
        rate_interval_seconds=0.001,
        daily_limit="X-HubSpot-RateLimit-Daily",
        daily_remaining="X-HubSpot-RateLimit-Daily-Remaining",
        daily_name="HubSpot daily API limit"),
    daily_reset_hint="HubSpot's daily limit resets at midnight in the portal's time zone",
    refresh=RefreshRules(statuses={401}, refused_codes=REFUSED_REFRESH_CODES),
)
