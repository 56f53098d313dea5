"""The sandbox's fault kinds, as faults of the core's loopback kit with HubSpot's answers.

A fault is queued with a path pattern (a regular expression searched in the request path), an
optional method and a count (``None``: every matching request until cleared) in the server's
:class:`crm_connect.testing.faultbook.FaultBook`.  It is applied before the sandbox routes,
authenticates or counts the request.  Bodies follow the real ones in
``reference-payloads/hubspot/``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from crm_connect.testing import faultbook
from crm_connect.testing.faultbook import Fault

from .exchange import correlation_id

__all__ = ["FaultKind", "hubspot_fault"]


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429 TEN_SECONDLY_ROLLING: the general window
    SEARCH_RATE_LIMITED = "search_rate_limited"  # 429 SECONDLY: the search limit
    DAILY_LIMIT = "daily_limit"  # 429 DAILY: today's requests are spent
    EXPIRED_TOKEN = "expired_token"  # 401 EXPIRED_AUTHENTICATION; OAuth tokens really expire
    SERVER_ERROR = "server_error"  # 500
    BAD_GATEWAY = "bad_gateway"  # 502, HubSpot's processing-limit timeout
    UNAVAILABLE = "unavailable"  # 503
    CONNECTION_RESET = "connection_reset"  # TCP reset, no answer at all
    TRUNCATED_BODY = "truncated_body"  # the real answer, cut off halfway through the body


def _limit_body(policy: str) -> dict[str, Any]:
    body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT", "correlationId": correlation_id(), "policyName": policy,
            "groupName": f"publicapi:private-app-{policy.lower()}:2813337"}
    if policy == "SECONDLY":
        body["requestId"] = correlation_id().replace("-", "")
    return body


def hubspot_fault(kind: FaultKind, *, retry_after: float | None = None,
                  expire: Callable[[Any], None] | None = None) -> Fault:
    """The kit fault that gives ``kind``'s answer.  ``expire(request)`` runs when an
    ``EXPIRED_TOKEN`` fault is applied (the sandbox expires its OAuth tokens, so the refresh
    that follows is needed, not cosmetic)."""
    label = kind.value
    match kind:
        case FaultKind.RATE_LIMITED:
            return faultbook.rate_limited(retry_after, _limit_body("TEN_SECONDLY_ROLLING"),
                                          label=label)
        case FaultKind.SEARCH_RATE_LIMITED:
            return faultbook.rate_limited(retry_after, _limit_body("SECONDLY"), label=label)
        case FaultKind.DAILY_LIMIT:
            return faultbook.rate_limited(None, _limit_body("DAILY"), label=label)
        case FaultKind.EXPIRED_TOKEN:
            body = {"status": "error",
                    "message": "The OAuth token used to make this call expired 0 second(s) ago.",
                    "correlationId": correlation_id(), "category": "EXPIRED_AUTHENTICATION",
                    "context": {"expire time": ["2026-05-01T00:00:00.000Z"]}}
            return faultbook.expired_token(body, effect=expire, label=label)
        case FaultKind.SERVER_ERROR:
            return faultbook.server_error(500, _error("internal error"), label=label)
        case FaultKind.BAD_GATEWAY:
            return faultbook.server_error(502, _error("Bad Gateway"), label=label,
                                          retry_after=retry_after)
        case FaultKind.UNAVAILABLE:
            return faultbook.server_error(503, _error("Service Unavailable"), label=label,
                                          retry_after=retry_after)
        case FaultKind.CONNECTION_RESET:
            return faultbook.connection_reset(label)
        case FaultKind.TRUNCATED_BODY:
            return faultbook.truncated_body(label)
    raise ValueError(f"unknown fault kind {kind!r}")


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": correlation_id()}
