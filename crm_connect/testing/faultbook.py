"""Faults a loopback server injects, the queue they wait in, and the request log.

A :class:`Fault` says what to do to a request: answer a status of the caller's choosing instead of
the route (429 with ``Retry-After``, a 5xx, a 401 for an expired token), drop the connection,
cut the route's answer halfway, or delay it.  The vendor's error bodies and headers are
parameters: the kit names no vendor.

A :class:`FaultBook` queues faults for the requests that match them (a regular expression
searched in the path, an optional method), ``count`` times (``None``: until cleared), optionally
after letting ``skip`` matching requests through.  The first queued fault that applies to a
request is used; :attr:`QueuedFault.hits` counts the requests it was applied to.

Every request the server answers lands in the book's log as a :class:`LoggedRequest`, with the
``Authorization`` header redacted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Fault",
    "FaultBook",
    "FaultKind",
    "LoggedRequest",
    "QueuedFault",
    "claimable",
    "connection_reset",
    "drip",
    "expired_token",
    "rate_limited",
    "retry_after_header",
    "server_error",
    "slow",
    "status",
    "truncated_body",
]

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class FaultKind(StrEnum):
    """How the server applies a fault."""

    STATUS = "status"  # answer status/body/headers instead of the route
    RESET = "reset"  # reset the TCP connection, answer nothing
    TRUNCATED = "truncated"  # the route's real answer, cut off halfway through the body
    SLOW = "slow"  # wait ``seconds``, then the route's answer
    DRIP = "drip"  # the route's answer, its body one byte every ``seconds``
    CLAIMABLE = "claimable"  # never applied by the server: a route handler claims it


@dataclass(frozen=True)
class Fault:
    """One failure to inject; build it with the functions of this module.

    :param kind: how the server applies it.
    :param label: what the request log calls it (``LoggedRequest.fault``).
    :param status: the status a ``STATUS`` fault answers.
    :param body: a ``STATUS`` fault's body: JSON-serialisable, or ``bytes`` sent as they are.
    :param headers: headers a ``STATUS`` fault adds to its answer.
    :param seconds: the delay of ``SLOW``, the per-byte delay of ``DRIP``.
    :param effect: called with the request when the fault is applied (e.g. expire a token).
    :param data: what a route handler needs to decide on a ``CLAIMABLE`` fault.
    """

    kind: FaultKind
    label: str
    status: int = 0
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    effect: Callable[[Any], None] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.label


def retry_after_header(retry_after: float | str | dt.datetime | None) -> dict[str, str]:
    """``{"Retry-After": ...}`` for seconds, an HTTP date (a datetime) or a raw string;
    ``{}`` for ``None``."""
    if retry_after is None:
        return {}
    if isinstance(retry_after, dt.datetime):
        return {"Retry-After": email.utils.format_datetime(retry_after, usegmt=True)}
    return {"Retry-After": str(retry_after)}


def status(code: int, body: Any = None, *, headers: Mapping[str, str] | None = None,
           label: str | None = None, effect: Callable[[Any], None] | None = None) -> Fault:
    """Answer ``code`` with ``body`` (a short generic JSON error when ``None``)."""
    if body is None:
        body = {"message": f"injected HTTP {code}"}
    return Fault(FaultKind.STATUS, label or f"status({code})", code, body, dict(headers or {}),
                 effect=effect)


def rate_limited(retry_after: float | str | dt.datetime | None = 1, body: Any = None, *,
                 headers: Mapping[str, str] | None = None, label: str = "rate_limited") -> Fault:
    """A 429 with ``Retry-After`` in seconds, as an HTTP date (a datetime), or absent (``None``)."""
    return status(429, body if body is not None else {"message": "Too many requests"},
                  headers={**retry_after_header(retry_after), **(headers or {})}, label=label)


def server_error(code: int = 500, body: Any = None, *,
                 retry_after: float | str | dt.datetime | None = None,
                 headers: Mapping[str, str] | None = None, label: str | None = None) -> Fault:
    """A 5xx answer, with ``Retry-After`` when given."""
    if not 500 <= code <= 599:
        raise ValueError(f"server_error needs a 5xx status, not {code}")
    return status(code, body if body is not None else {"message": "Internal error"},
                  headers={**retry_after_header(retry_after), **(headers or {})},
                  label=label or f"status({code})")


def expired_token(body: Any, *, headers: Mapping[str, str] | None = None,
                  effect: Callable[[Any], None] | None = None,
                  label: str = "expired_token") -> Fault:
    """A 401 with the vendor's ``body``; ``effect(request)`` runs first, so the server can make
    the token really invalid (revoke the one presented, rotate the current one)."""
    return status(401, body, headers=headers, label=label, effect=effect)


def connection_reset(label: str = "reset") -> Fault:
    """Reset the TCP connection without answering."""
    return Fault(FaultKind.RESET, label)


def truncated_body(label: str = "truncated") -> Fault:
    """Send the route's answer with its full ``Content-Length`` but only half the body, then
    close (a chunked answer is cut after its first chunk)."""
    return Fault(FaultKind.TRUNCATED, label)


def slow(seconds: float, label: str = "slow") -> Fault:
    """Wait ``seconds`` before answering normally: past a client's read timeout."""
    return Fault(FaultKind.SLOW, label, seconds=seconds)


def drip(seconds_per_byte: float, label: str = "drip") -> Fault:
    """Answer normally but send the body one byte every ``seconds_per_byte``: each read
    succeeds within any read timeout while the whole answer takes far longer."""
    return Fault(FaultKind.DRIP, label, seconds=seconds_per_byte)


def claimable(label: str, **data: Any) -> Fault:
    """A fault the server never applies by itself: a route handler asks for it with
    :meth:`FaultBook.claim` once it knows enough (e.g. how wide a query's window is)."""
    return Fault(FaultKind.CLAIMABLE, label, data=data)


@dataclass(eq=False)
class QueuedFault:
    """A fault waiting in a :class:`FaultBook` for the requests it matches."""

    fault: Fault
    path: str = ""
    method: str | None = None
    count: int | None = 1
    skip: int = 0
    hits: int = 0
    seen: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    @property
    def kind(self) -> FaultKind:
        """How the queued fault is applied."""
        return self.fault.kind

    @property
    def exhausted(self) -> bool:
        """Whether the fault has been applied ``count`` times."""
        return self.count is not None and self.hits >= self.count

    def matches(self, method: str, path: str) -> bool:
        """Whether a request of ``method`` to ``path`` is one this fault is waiting for."""
        if self.exhausted:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern.search(path) is not None


@dataclass(frozen=True)
class LoggedRequest:
    """One request a loopback server received (``status`` 0 when nothing was answered)."""

    method: str
    path: str
    query: str
    status: int
    fault: str | None
    at: float
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class FaultBook:
    """The fault queue and the request log of one server, safe to share between its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[QueuedFault] = []
        self._log: list[LoggedRequest] = []

    def add(self, fault: Fault, *, path: str = "", method: str | None = None,
            count: int | None = 1, skip: int = 0) -> QueuedFault:
        """Queue ``fault`` for requests whose path matches the regex ``path`` (and ``method``):
        the ``skip`` first such requests go through, the next ``count`` get the fault."""
        queued = QueuedFault(fault, path, method, count, skip)
        with self._lock:
            self._queue.append(queued)
        return queued

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._queue.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault the server applies to this request, counted as applied; ``None``: none.

        Every queued fault that matches counts the request towards its ``skip``."""
        return self._pick(method, path, None, lambda queued: queued.kind != FaultKind.CLAIMABLE)

    def claim(self, method: str, path: str, label: str,
              accept: Callable[[Fault], bool] | None = None) -> Fault | None:
        """The first queued ``claimable`` fault named ``label`` that matches the request and
        that ``accept`` agrees to, counted as applied; ``None`` when there is none."""
        return self._pick(method, path, accept, lambda queued: (
            queued.kind == FaultKind.CLAIMABLE and queued.fault.label == label))

    def _pick(self, method: str, path: str, accept: Callable[[Fault], bool] | None,
              eligible: Callable[[QueuedFault], bool]) -> Fault | None:
        chosen: QueuedFault | None = None
        with self._lock:
            for queued in self._queue:
                if not eligible(queued) or not queued.matches(method, path):
                    continue
                queued.seen += 1
                if chosen is not None or queued.seen <= queued.skip:
                    continue
                if accept is not None and not accept(queued.fault):
                    continue
                chosen = queued
                queued.hits += 1
        return chosen.fault if chosen is not None else None

    def log(self, method: str, path: str, query: str, status: int = 0,
            fault: str | None = None, *, headers: Mapping[str, str] | None = None,
            body: bytes = b"") -> int:
        """Record a request as it arrives and return its position in the log; secret headers
        (``Authorization``, cookies) are redacted.  :meth:`settle` records the answer."""
        safe = {name: (REDACTED if name.lower() in _SECRET_HEADERS else value)
                for name, value in (headers or {}).items()}
        entry = LoggedRequest(method, path, query, status, fault, time.time(), safe, body)
        with self._lock:
            self._log.append(entry)
            return len(self._log) - 1

    def settle(self, position: int, status: int, fault: str | None) -> None:
        """Record the status answered (0: none) and the fault applied to a logged request."""
        with self._lock:
            if 0 <= position < len(self._log):
                entry = self._log[position]
                self._log[position] = dataclasses.replace(entry, status=status, fault=fault)

    @property
    def entries(self) -> list[LoggedRequest]:
        """The request log so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Empty the request log (requests still being answered are settled nowhere)."""
        with self._lock:
            self._log.clear()

    def count(self, path: str | None = None, method: str | None = None,
              status: int | None = None) -> int:
        """Logged requests whose path matches the regex ``path`` (and method/status if given)."""
        pattern = re.compile(path) if path else None
        return sum(1 for entry in self.entries
                   if (pattern is None or pattern.search(entry.path))
                   and (method is None or entry.method == method.upper())
                   and (status is None or entry.status == status))
