"""The sandbox's fault kinds, as faults of the core's loopback kit with Salesforce's answers.

A fault is queued with a path pattern (a regular expression searched in the request path), an
optional method and a count (``None``: every matching request until cleared) in the server's
:class:`crm_connect.testing.faultbook.FaultBook`, the one fault model of the project.  Bodies
follow the real ones in ``reference-payloads/salesforce/`` where Salesforce has one.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from crm_connect.testing import faultbook
from crm_connect.testing.faultbook import Fault

from .wire import ERROR_INVALID_SESSION

ERROR_DAILY_LIMIT = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
"""403: the org's API requests of the last 24 hours are spent."""
ERROR_CONCURRENT_LIMIT = [
    {"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
"""403: too many long-running requests in flight in the org; a later retry succeeds."""
ERROR_RATE_LIMIT = [
    {
        "message": "Too many requests; retry after the time given in Retry-After.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
    }
]
"""429 with ``Retry-After``: a rate limit (not the daily total) to wait out."""
ERROR_UNAVAILABLE = [
    {
        "message": "Server temporarily unavailable, please retry your request.",
        "errorCode": "SERVER_UNAVAILABLE",
    }
]
ERROR_UNKNOWN = [
    {
        "message": "An unexpected error occurred. Please include this ErrorId if "
        "you contact support: 1234567890-12345 (-1234567890)",
        "errorCode": "UNKNOWN_EXCEPTION",
    }
]
SESSION_CHALLENGE = {"WWW-Authenticate": 'Token realm="salesforce"'}


class FaultKind(StrEnum):
    REQUEST_LIMIT_EXCEEDED = "request_limit_exceeded"  # 403 TotalRequests: daily quota spent
    CONCURRENT_LIMIT = "concurrent_limit"  # 403 ConcurrentPerOrgLongTxn: wait and retry
    INVALID_SESSION = "invalid_session"  # 401 INVALID_SESSION_ID; the token presented is revoked
    QUERY_TIMEOUT = "query_timeout"  # 400 QUERY_TIMEOUT, optionally only for wide WHERE windows
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After: a rate limit, not the daily total
    UNAVAILABLE = "unavailable"  # 503 SERVER_UNAVAILABLE
    SERVER_ERROR = "server_error"  # 500 UNKNOWN_EXCEPTION
    CONNECTION_RESET = "connection_reset"  # TCP reset, no response at all
    TRUNCATED_BODY = "truncated_body"  # the real response, cut off halfway through the body


def salesforce_fault(
    kind: FaultKind,
    *,
    retry_after: int = 1,
    window_days: float | None = None,
    revoke: Callable[[Any], None] | None = None,
) -> Fault:
    """The kit fault that gives ``kind``'s answer; ``revoke(request)`` invalidates the token
    an ``INVALID_SESSION`` request presented.  ``QUERY_TIMEOUT`` is claimed by the query
    endpoint, which knows how wide the query's window is."""
    label = kind.value
    match kind:
        case FaultKind.REQUEST_LIMIT_EXCEEDED:
            return faultbook.status(403, ERROR_DAILY_LIMIT, label=label)
        case FaultKind.CONCURRENT_LIMIT:
            return faultbook.status(403, ERROR_CONCURRENT_LIMIT, label=label)
        case FaultKind.INVALID_SESSION:
            return faultbook.expired_token(
                ERROR_INVALID_SESSION, headers=SESSION_CHALLENGE, effect=revoke, label=label
            )
        case FaultKind.QUERY_TIMEOUT:
            return faultbook.claimable(label, window_days=window_days)
        case FaultKind.RATE_LIMITED:
            return faultbook.rate_limited(retry_after, ERROR_RATE_LIMIT, label=label)
        case FaultKind.UNAVAILABLE:
            return faultbook.server_error(
                503, ERROR_UNAVAILABLE, retry_after=retry_after, label=label
            )
        case FaultKind.SERVER_ERROR:
            return faultbook.server_error(500, ERROR_UNKNOWN, label=label)
        case FaultKind.CONNECTION_RESET:
            return faultbook.connection_reset(label)
        case FaultKind.TRUNCATED_BODY:
            return faultbook.truncated_body(label)
