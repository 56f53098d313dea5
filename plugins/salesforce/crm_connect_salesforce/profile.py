"""What the core's resilience layer needs to know about Salesforce: :data:`SALESFORCE_PROFILE`.

* Limits: Salesforce has no per-second limit; an org allows 25 concurrent long-running
  (> 20 s) requests, and a daily total of API requests over a rolling 24 hours, which every
  REST answer reports in ``Sforce-Limit-Info: api-usage=USED/LIMIT``.
* ``INVALID_SESSION_ID`` (HTTP 401): the session expired; log in again once.
* ``REQUEST_LIMIT_EXCEEDED`` names several limits, and only the message tells them apart:
  ``TotalRequests Limit exceeded.`` is the spent daily total (stop cleanly: retrying only burns
  other tools' share); ``ConcurrentPerOrgLongTxn Limit exceeded.`` or ``ConcurrentRequests ...
  Limit exceeded.``: too many long-running requests in flight in the org (its other
  integrations count too), refused before it ran, so wait and retry; any other limit: a short
  wait may clear it, unless ``Sforce-Limit-Info`` says the day's total is spent.
* An HTTP 429 is a rate limit to wait out, whatever its body says (the core's rule).
"""

from __future__ import annotations

from crm_connect.vendor import (
    ErrorMarker,
    Meaning,
    QuotaHeaders,
    RateLimitSettings,
    VendorProfile,
)

__all__ = ["LIMIT_CODE", "SALESFORCE_PROFILE"]

LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"

SALESFORCE_PROFILE = VendorProfile(
    name="Salesforce",
    rate_limits={"general": RateLimitSettings(max_concurrent=25)},
    error_fields=("errorCode",),
    error_markers=(
        ErrorMarker(Meaning.SESSION_EXPIRED, code="INVALID_SESSION_ID", statuses={401}),
        ErrorMarker(Meaning.DAILY_QUOTA, code=LIMIT_CODE, message_contains="TotalRequests"),
        ErrorMarker(Meaning.CONCURRENCY_LIMITED, code=LIMIT_CODE, message_contains="Concurrent",
                    note="too many long-running requests in the org at once"),
        ErrorMarker(Meaning.LIMITED, code=LIMIT_CODE),
    ),
    quota_headers=QuotaHeaders(daily_usage="Sforce-Limit-Info",
                               daily_usage_pattern=r"api-usage\s*=\s*(\d+)\s*/\s*(\d+)",
                               daily_name="Salesforce daily API request limit"),
    daily_reset_hint="Salesforce counts API requests over a rolling 24 hours",
)
