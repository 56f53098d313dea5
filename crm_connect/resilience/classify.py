"""What a response or an exception means for the retry loop.

:func:`classify_response` looks at an HTTP status, its headers and (for errors) its body;
:func:`classify_exception` at an exception raised by a client library.  The rules here are the
vendor-neutral ones (429 is a rate limit, 5xx and dropped connections are transient, 401 asks
for a refresh).  What a vendor's own error codes mean (a spent daily total, a concurrency
limit) is the vendor plugin's knowledge, given as data: the error markers of its
:class:`~crm_connect.vendor.VendorProfile`, which the policy passes as ``profile``.  A rule that
data cannot express may still be registered with :func:`register_response_classifier` (HTTP
answers) or :func:`register_exception_classifier` (a client's exceptions), consulted first.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import requests
import urllib3.exceptions

from crm_connect.vendor import NEUTRAL_PROFILE, Meaning, RateLimitReading, VendorProfile

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
    "profile_outcome",
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
                      body: bytes | str | None = None, *,
                      profile: VendorProfile = NEUTRAL_PROFILE) -> Outcome:
    """The outcome of an HTTP response, read with ``profile``'s knowledge of the vendor.

    In order: registered classifiers; codes the profile's refresh rules call refused for good
    (``invalid_grant``); the profile's error markers (:func:`profile_outcome`); then the core's
    rules: a refresh status (401) refreshes once, 429 waits (``Retry-After`` honoured), 408 and
    5xx retry, any other answer is passed on to the caller.
    """
    if status < 400:
        return OK
    headers = headers or {}
    with _classifiers_lock:
        classifiers = list(_response_classifiers)
    for classifier in classifiers:
        outcome = classifier(status, headers, body)
        if outcome is not None:
            return outcome
    codes = profile.error_codes(body)
    refused = next(((code, message) for _, code, message in codes
                    if code in profile.refresh.refused_codes), None)
    if refused is not None:
        return Outcome(Action.AUTH_FAILED, f"{refused[0]}: {refused[1]}".rstrip(": "))
    outcome = profile_outcome(profile, status, headers, body)
    if outcome is not None:
        return outcome
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if status in profile.refresh.statuses:
        return Outcome(Action.REFRESH, f"HTTP {status}", unprocessed=True)
    if status == 429:  # a rate limit, whatever the body says: the request was not acted on
        return _limited(profile, headers, Outcome(
            Action.RETRY, "HTTP 429", retry_after, group_exhausted=True, limit=Limit.RATE,
            unprocessed=True))
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome(Action.RETRY, f"HTTP {status}", retry_after)
    return OK


def _limited(profile: VendorProfile, headers: Mapping[str, str], outcome: Outcome) -> Outcome:
    """A limit answer whose usage headers say the day's quota is spent is a quota stop."""
    reading = profile.read_quota_headers(headers)
    if reading is not None and reading.daily_spent:
        return Outcome(Action.QUOTA, outcome.reason, limit=Limit.DAILY)
    return outcome


_STATUS_REASONS = frozenset({Meaning.SESSION_EXPIRED, Meaning.RATE_LIMITED, Meaning.TRANSIENT})


def profile_outcome(profile: VendorProfile, status: int, headers: Mapping[str, str] | None,
                    body: bytes | str | None) -> Outcome | None:
    """The outcome the first of ``profile``'s error markers matching an error answer gives, or
    ``None`` when no marker matches (the core's rules then decide)."""
    if status < 400:
        return None
    found = profile.meaning_of(status, body)
    if found is None:
        return None
    marker, code, message = found
    headers = headers or {}
    meaning = marker.meaning
    if meaning in _STATUS_REASONS or not (code or message):
        reason = f"HTTP {status} {code}".rstrip()
    else:
        reason = f"{code or f'HTTP {status}'}: {message}".rstrip(": ")
    if marker.note:
        reason += f" ({marker.note})"
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if meaning is Meaning.SESSION_EXPIRED:
        return Outcome(Action.REFRESH, reason, unprocessed=True)
    if meaning is Meaning.CREDENTIALS_REFUSED:
        return Outcome(Action.AUTH_FAILED, reason)
    if meaning is Meaning.DAILY_QUOTA:
        return Outcome(Action.QUOTA, reason, limit=Limit.DAILY)
    if meaning is Meaning.RATE_LIMITED:
        return _limited(profile, headers, Outcome(
            Action.RETRY, reason, retry_after, group_exhausted=True, limit=Limit.RATE,
            unprocessed=True))
    if meaning is Meaning.CONCURRENCY_LIMITED:
        return _limited(profile, headers, Outcome(
            Action.RETRY, reason, retry_after, limit=Limit.CONCURRENCY, unprocessed=True))
    if meaning is Meaning.LIMITED:
        return _limited(profile, headers,
                        Outcome(Action.RETRY, reason, retry_after, unprocessed=True))
    if meaning is Meaning.TRANSIENT:
        return Outcome(Action.RETRY, reason, retry_after)
    return OK


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def read_rate_limit_headers(headers: Mapping[str, str], *,
                            profile: VendorProfile = NEUTRAL_PROFILE) -> RateLimitReading | None:
    """What a response's headers say about the limits, read as ``profile`` declares
    (:attr:`VendorProfile.quota_headers`); ``None`` when they say nothing."""
    return profile.read_quota_headers(headers)


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


def _http_exception(exc: BaseException, profile: VendorProfile) -> Outcome | None:
    """Client errors that carry an HTTP status (``status`` or ``response.status_code``, with
    ``headers`` and ``body`` or ``content``, as generated API clients and requests'
    ``HTTPError`` have them)."""
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
    return classify_response(status, dict(headers or {}), body, profile=profile)


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


def classify_exception(exc: BaseException, *,
                       profile: VendorProfile = NEUTRAL_PROFILE) -> Outcome | None:
    """The outcome of ``exc``; ``None`` when it is not the resilience layer's business.

    An exception carrying an HTTP answer is read with :func:`classify_response` and
    ``profile``."""
    with _classifiers_lock:
        classifiers = list(_classifiers)
    for classifier in classifiers:
        outcome = classifier(exc)
        if outcome is not None:
            return outcome
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return classify_exception(exc.reason, profile=profile)
    outcome = _http_exception(exc, profile)
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
