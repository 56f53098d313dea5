"""What the resilience layer needs to know about HubSpot: its limits and its error markers.

* **general** limit: per app and portal, a rolling 10 seconds: 100 requests on Free and Starter,
  190 on Professional and Enterprise (250 with the API add-on).  The
  ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` / ``-Interval-Milliseconds`` headers of each
  answer say which tier the portal is on; the limiter adapts to them.
* **search** limit: the CRM search endpoints (``POST /crm/v3/objects/{type}/search``) have
  their own 5 requests per second, and their answers carry no rate-limit headers.
* **daily** limit: 250,000 (Free/Starter) to 1,000,000 requests a day, reset at midnight in the
  portal's time zone; ``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining`` report it, and a
  spent one answers 429 with ``"policyName": "DAILY"``.
* error markers: 401 ``"category": "EXPIRED_AUTHENTICATION"`` (refresh once, then retry),
  429 ``"errorType": "RATE_LIMIT"`` with ``policyName`` ``TEN_SECONDLY_ROLLING`` or
  ``SECONDLY`` (wait and retry), ``DAILY`` (stop cleanly, resume next run), OAuth
  ``BAD_REFRESH_TOKEN`` / ``invalid_grant`` (final: sign in again).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HUBSPOT_LIMITS", "HUBSPOT_MARKERS", "VENDOR", "LimitGroup", "group_for_path"]

VENDOR = "hubspot"


@dataclass(frozen=True)
class LimitGroup:
    name: str
    requests: int
    per_seconds: float
    burst: int | None = None


HUBSPOT_LIMITS: tuple[LimitGroup, ...] = (
    LimitGroup("general", 100, 10.0),
    LimitGroup("search", 5, 1.0, burst=1),
)
"""The published limits of the lowest tier; headers raise ``general`` on higher tiers."""

DAILY_LIMIT_FREE = 250_000

HUBSPOT_MARKERS: dict[str, str] = {
    "EXPIRED_AUTHENTICATION": "refresh",
    "INVALID_AUTHENTICATION": "refresh",
    "TEN_SECONDLY_ROLLING": "rate",
    "SECONDLY": "rate",
    "DAILY": "quota",
    "BAD_REFRESH_TOKEN": "auth_failed",
    "invalid_grant": "auth_failed",
}
"""Error marker (``category``, ``policyName``, OAuth ``error``/``status``) -> what it means."""


def group_for_path(path: str) -> str:
    """The limit group a request path counts against."""
    return "search" if path.rstrip("/").endswith("/search") else "general"
