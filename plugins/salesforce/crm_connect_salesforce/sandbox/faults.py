"""Fault injection and the request log.

A fault is queued with a path pattern (a regular expression searched in the request path), an
optional method and a count (``None``: every matching request until cleared).  The first queued
fault that matches a request is applied to it.  Bodies follow the real ones in
``reference-payloads/salesforce/`` where Salesforce has one.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

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


@dataclass
class Fault:
    """A queued fault; ``hits`` counts the requests it was applied to."""

    kind: FaultKind
    path: str = ""
    count: int | None = 1
    method: str | None = None
    retry_after: int = 1
    window_days: float | None = None
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        self._pattern = re.compile(self.path)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def matches(self, method: str, path: str) -> bool:
        if self.exhausted:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern.search(path) is not None


@dataclass(frozen=True)
class LoggedRequest:
    """One request the sandbox answered (``status`` 0 when the connection was reset)."""

    method: str
    path: str
    query: str
    status: int
    fault: str | None
    at: float


class FaultBook:
    """The fault queue and the request log, shared by the server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: list[LoggedRequest] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(
        self, method: str, path: str, kinds: set[FaultKind] | None = None, accept: object = None
    ) -> Fault | None:
        """The first matching fault (of ``kinds``), counted as applied; ``None`` when none."""
        with self._lock:
            for fault in self._faults:
                if kinds is not None and fault.kind not in kinds:
                    continue
                if fault.matches(method, path):
                    if callable(accept) and not accept(fault):
                        continue
                    fault.hits += 1
                    return fault
        return None

    def log(self, method: str, path: str, query: str, status: int, fault: str | None) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, path, query, status, fault, time.time()))

    @property
    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
