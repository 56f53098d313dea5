"""What a response or an exception means for the retry loop.

:func:`classify_response` looks at an HTTP status, its headers and (for errors) its body;
:func:`classify_exception` at an exception raised by a client library.  The rules here are the
vendor-neutral ones (429 is a rate limit, 5xx and dropped connections are transient, 401 asks
for a refresh).  What a vendor's own error codes mean (a spent daily total, a concurrency
limit) is the vendor plugin's knowledge: it registers a classifier with
:func:`register_response_classifier` (HTTP answers) or :func:`register_exception_classifier`
(its client's exceptions), consulted before the rules here.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

__all__ = [
    "Action",
    "ExceptionClassifier",
    "Limit",
    "Outcome",
    "RateLimitReading",
    "ResponseClassifier",
    "classify_exception",
    "classify_response",
    "parse_retry_after",
    "read_rate_limit_headers",
    "register_exception_classifier",
    "register_response_classifier",
    "unregister_exception_classifier",
    "unregister_response_classifier",
]


class Action(enum.Enum):
    OK = "ok"                    # pass the result on (success, or a 4xx the caller handles)
    RETRY = "retry"              # transient: wait and try again
    REFRESH = "refresh"          # the session or token expired: refresh once, then retry
    QUOTA = "quota"              # a daily quota is spent: stop the sync cleanly
    AUTH_FAILED = "auth_failed"  # credentials refused for good (e.g. invalid_grant)


class Limit(enum.Enum):
    """Which kind of vendor limit an answer reports."""

    RATE = "rate"                # requests per interval: wait it out (Retry-After)
    CONCURRENCY = "concurrency"  # requests in flight at once: wait for others to finish
    DAILY = "daily"              # the day's total is spent: stop, resume after it renews


@dataclass(frozen=True)
class Outcome:
    """What to do after one attempt.

    :param unprocessed: the server certainly did not act on the request (the connection was
        refused, or it answered "too many requests" / "session expired"), so repeating it is
        safe whatever its method; otherwise only idempotent requests are repeated.
    """

    action: Action
    reason: str = ""
    retry_after: float | None = None
    group_exhausted: bool = False  # a 429 from a rate limit: slow the whole group down
    limit: Limit | None = None
    unprocessed: bool = False

    @property
    def retryable(self) -> bool:
        return self.action is Action.RETRY


OK = Outcome(Action.OK)

_classifiers_lock = threading.Lock()

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


ResponseClassifier = Callable[[int, Mapping[str, str], bytes | str | None], Outcome | None]
"""Given an error answer's status, headers and body, returns its outcome when it knows the
answer, ``None`` otherwise.  Only answers with a status of 400 or more are shown to it."""

_response_classifiers: list[ResponseClassifier] = []


def register_response_classifier(classifier: ResponseClassifier) -> None:
    """Teach the policy what a vendor's error answers mean; consulted before the built-in
    rules, the latest registered first.  Registering the same function twice is harmless."""
    with _classifiers_lock:
        if classifier not in _response_classifiers:
            _response_classifiers.insert(0, classifier)


def unregister_response_classifier(classifier: ResponseClassifier) -> None:
    with _classifiers_lock:
        if classifier in _response_classifiers:
            _response_classifiers.remove(classifier)


def classify_response(status: int, headers: Mapping[str, str] | None = None,
                      body: bytes | str | None = None) -> Outcome:
    """The outcome of an HTTP response."""
    if status < 400:
        return OK
    headers = headers or {}
    with _classifiers_lock:
        classifiers = list(_response_classifiers)
    for classifier in classifiers:
        outcome = classifier(status, headers, body)
        if outcome is not None:
            return outcome
    codes = _error_codes(_load_json(body))
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if status == 429 and codes.get("DAILY") is not None:  # HubSpot daily policy
        return Outcome(Action.QUOTA, f"HubSpot DAILY limit: {codes['DAILY']}".rstrip(": "),
                       limit=Limit.DAILY)
    if "invalid_grant" in codes:  # OAuth: the refresh token (or password) is refused for good
        return Outcome(Action.AUTH_FAILED, f"invalid_grant: {codes['invalid_grant']}")
    if status == 401:
        marker = next((code for code in ("INVALID_SESSION_ID", "EXPIRED_AUTHENTICATION",
                                         "INVALID_AUTHENTICATION") if code in codes), None)
        return Outcome(Action.REFRESH, f"HTTP 401 {marker}" if marker else "HTTP 401",
                       unprocessed=True)
    if status == 429:  # a rate limit, whatever the body says: the request was not acted on
        policy = next((code for code in codes if code.isupper() and "SECONDLY" in code), None)
        return Outcome(Action.RETRY, "HTTP 429" + (f" {policy}" if policy else ""),
                       retry_after, group_exhausted=True, limit=Limit.RATE, unprocessed=True)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome(Action.RETRY, f"HTTP {status}", retry_after)
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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``args``, ``reason``, ``__cause__``), a few levels deep."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 16:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _never_sent(exc: BaseException) -> str | None:
    """Why the request never reached the server (refused, unresolvable, no connection within
    the connect timeout); ``None`` when it may have been sent."""
    causes = list(_causes(exc))
    for kind, reason in _NEVER_SENT:
        if any(isinstance(cause, kind) for cause in causes):
            return reason
    return None


# Most precise first: urllib3's NewConnectionError is itself a ConnectTimeoutError.
_NEVER_SENT: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (urllib3.exceptions.NameResolutionError, "host name not found"),
    (urllib3.exceptions.NewConnectionError, "connection failed"),
    ((requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError),
     "connect timeout"),
)


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
    refused = _never_sent(exc)
    if refused is not None:
        return Outcome(Action.RETRY, refused, unprocessed=True)
    if isinstance(exc, requests.exceptions.ConnectionError) and any(
            isinstance(arg, urllib3.exceptions.ProtocolError | ConnectionResetError)
            for arg in exc.args):
        return Outcome(Action.RETRY, "connection dropped")
    for kind, reason in _TRANSPORT_ERRORS:
        if isinstance(exc, kind):
            return Outcome(Action.RETRY, reason)
    return None
