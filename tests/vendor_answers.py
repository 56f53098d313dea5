"""Vendor answers the core's resilience tests replay through the vendor-neutral fault server.

The kit in ``crm_connect.testing`` names no vendor: the bodies and headers that make a fault look
like a given CRM's are the tests' own, kept here (they follow ``reference-payloads/``).
"""

from __future__ import annotations

from crm_connect.testing import faults
from crm_connect.testing.faultbook import Fault

SALESFORCE_SESSION_EXPIRED = [{"message": "Session expired or invalid",
                               "errorCode": "INVALID_SESSION_ID"}]
HUBSPOT_TOKEN_EXPIRED = {
    "status": "error",
    "message": "The OAuth token used to make this call expired 0 second(s) ago.",
    "category": "EXPIRED_AUTHENTICATION",
}


def daily_quota_exceeded(vendor: str) -> Fault:
    """The vendor's spent-daily-quota answer: Salesforce ``403 REQUEST_LIMIT_EXCEEDED`` or a
    HubSpot ``429`` with ``"policyName": "DAILY"``."""
    if vendor == "salesforce":
        return faults.status(403, [{"message": "TotalRequests Limit exceeded.",
                                    "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    return faults.status(429, {"status": "error", "message": "You have reached your daily limit.",
                               "errorType": "RATE_LIMIT", "policyName": "DAILY"})
