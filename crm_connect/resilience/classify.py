"""What a response or an exception means for the retry loop.

:func:`classify_response` looks at an HTTP status, its headers and (for errors) its body;
:func:`classify_exception` at an exception raised by a client library.  Plugins whose client
raises its own exception types add a classifier with :func:`register_exception_classifier`.
Vendor markers are recognised whatever the connection's vendor: they cannot be mistaken.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

__all__ = [
    "Action",
    "ExceptionClassifier",
    "Outcome",
    "RateLimitReading",
    "classify_exception",
    "classify_response",
    "parse_retry_after",
    "read_rate_limit_headers",
    "register_exception_classifier",
    "unregister_exception_classifier",
]


class Action(enum.Enum):
    OK = "ok"                    # pass the result on (success, or a 4xx the caller handles)
    RETRY = "retry"              # transient: wait and try again
    REFRESH = "refresh"          # the session or token expired: refresh once, then retry
    QUOTA = "quota"              # a daily quota is spent: stop the sync cleanly
    AUTH_FAILED = "auth_failed"  # credentials refused for good (e.g. invalid_grant)


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str = ""
    retry_after: float | None = None
    group_exhausted: bool = False  # a 429 from a rate limit: slow the whole group down

    @property
    def retryable(self) -> bool:
        return self.action is Action.RETRY


OK = Outcome(Action.OK)

RETRYABLE_STATUSES = frozenset({408, 429})


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _load_json(body: bytes | str | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_codes(payload: Any) -> dict[str, str]:
    """The vendor's error markers: Salesforce ``errorCode``s, HubSpot ``category`` and
    ``policyName``, OAuth ``error``; with their messages (never a credential)."""
    found: dict[str, str] = {}
    items = payload if isinstance(payload, list) else [payload]
    for item in items:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message") or item.get("error_description") or "")
        for key in ("errorCode", "category", "policyName", "error"):
            value = item.get(key)
            if isinstance(value, str):
                found[value] = message
    return found


def classify_response(status: int, headers: Mapping[str, str] | None = None,
                      body: bytes | str | None = None) -> Outcome:
    """The outcome of an HTTP response."""
    if status < 400:
        return OK
    headers = headers or {}
    codes = _error_codes(_load_json(body))
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if "REQUEST_LIMIT_EXCEEDED" in codes:  # Salesforce: the org's daily API requests are spent
        detail = codes["REQUEST_LIMIT_EXCEEDED"] or "TotalRequests Limit exceeded."
        return Outcome(Action.QUOTA, f"REQUEST_LIMIT_EXCEEDED: {detail}")
    if status == 429 and codes.get("DAILY") is not None:  # HubSpot daily policy
        return Outcome(Action.QUOTA, f"HubSpot DAILY limit: {codes['DAILY']}".rstrip(": "))
    if "invalid_grant" in codes:  # OAuth: the refresh token (or password) is refused for good
        return Outcome(Action.AUTH_FAILED, f"invalid_grant: {codes['invalid_grant']}")
    if status == 401:
        marker = next((code for code in ("INVALID_SESSION_ID", "EXPIRED_AUTHENTICATION",
                                         "INVALID_AUTHENTICATION") if code in codes), None)
        return Outcome(Action.REFRESH, f"HTTP 401 {marker}" if marker else "HTTP 401")
    if status in RETRYABLE_STATUSES or status >= 500:
        policy = next((code for code in codes if code.isupper() and "SECONDLY" in code), None)
        reason = f"HTTP {status}" + (f" {policy}" if policy else "")
        return Outcome(Action.RETRY, reason, retry_after, group_exhausted=status == 429)
    return OK


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


@dataclass(frozen=True)
class RateLimitReading:
    """What a response's headers say about the limits, parsed from any vendor's names."""

    maximum: int | None = None
    remaining: int | None = None
    interval_seconds: float | None = None
    daily_used: int | None = None
    daily_limit: int | None = None
    daily_name: str | None = None


_SFORCE_USAGE = re.compile(r"api-usage\s*=\s*(\d+)\s*/\s*(\d+)")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitReading | None:
    """Parse ``X-HubSpot-RateLimit-*`` and ``Sforce-Limit-Info``; ``None`` when absent."""
    sforce = _header(headers, "Sforce-Limit-Info")
    if sforce:
        match = _SFORCE_USAGE.search(sforce)
        if match:
            return RateLimitReading(daily_used=int(match.group(1)),
                                    daily_limit=int(match.group(2)),
                                    daily_name="Salesforce daily API request limit")
    maximum = _int(_header(headers, "X-HubSpot-RateLimit-Max"))
    remaining = _int(_header(headers, "X-HubSpot-RateLimit-Remaining"))
    interval_ms = _int(_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds"))
    daily = _int(_header(headers, "X-HubSpot-RateLimit-Daily"))
    daily_remaining = _int(_header(headers, "X-HubSpot-RateLimit-Daily-Remaining"))
    if maximum is None and remaining is None and daily is None:
        return None
    return RateLimitReading(
        maximum=maximum, remaining=remaining,
        interval_seconds=interval_ms / 1000 if interval_ms else None,
        daily_used=daily - daily_remaining if daily is not None and daily_remaining is not None
        else None,
        daily_limit=daily, daily_name="HubSpot daily API limit" if daily is not None else None,
    )


ExceptionClassifier = Callable[[BaseException], Outcome | None]
"""Returns the outcome of an exception it knows, ``None`` for one it does not."""

_classifiers: list[ExceptionClassifier] = []
_classifiers_lock = threading.Lock()


def register_exception_classifier(classifier: ExceptionClassifier) -> None:
    """Teach the policy a client library's exceptions; consulted before the built-in rules."""
    with _classifiers_lock:
        if classifier not in _classifiers:
            _classifiers.insert(0, classifier)


def unregister_exception_classifier(classifier: ExceptionClassifier) -> None:
    with _classifiers_lock:
        if classifier in _classifiers:
            _classifiers.remove(classifier)


_TRANSPORT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.Timeout, "timeout"),
    (urllib3.exceptions.TimeoutError, "timeout"),
    (socket.timeout, "timeout"),
    (TimeoutError, "timeout"),
    (requests.exceptions.ChunkedEncodingError, "truncated body"),
    (urllib3.exceptions.IncompleteRead, "truncated body"),
    (urllib3.exceptions.ProtocolError, "connection dropped"),
    (requests.exceptions.ContentDecodingError, "truncated body"),
    (requests.exceptions.ConnectionError, "connection failed"),
    (urllib3.exceptions.NewConnectionError, "connection failed"),
    (ConnectionError, "connection dropped"),
    (json.JSONDecodeError, "truncated body"),  # also requests.exceptions.JSONDecodeError
)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _http_exception(exc: BaseException) -> Outcome | None:
    """Client errors that carry an HTTP status (hubspot-api-client's ``ApiException``,
    simple-salesforce's ``SalesforceError``, requests' ``HTTPError``)."""
    status = _status_of(exc)
    if status is None:
        return None
    headers = getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if headers is None and response is not None:
        headers = getattr(response, "headers", None)
    body = getattr(exc, "body", None)
    if body is None:
        body = getattr(exc, "content", None)
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body, default=str)
    return classify_response(status, dict(headers or {}), body)


def classify_exception(exc: BaseException) -> Outcome | None:
    """The outcome of ``exc``; ``None`` when it is not the resilience layer's business."""
    with _classifiers_lock:
        classifiers = list(_classifiers)
    for classifier in classifiers:
        outcome = classifier(exc)
        if outcome is not None:
            return outcome
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return classify_exception(exc.reason)
    outcome = _http_exception(exc)
    if outcome is not None:
        return outcome if outcome.action is not Action.OK else None
    if isinstance(exc, requests.exceptions.SSLError):
        return None  # a certificate problem does not go away by retrying
    if isinstance(exc, requests.exceptions.ConnectionError) and any(
            isinstance(arg, urllib3.exceptions.ProtocolError | ConnectionResetError)
            for arg in exc.args):
        return Outcome(Action.RETRY, "connection dropped")
    for kind, reason in _TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            return Outcome(Action.RETRY, reason)
    return None
