"""Vendor profiles: what a connector plugin tells the core about its vendor's API.

The core's resilience layer (:mod:`crm_connect.resilience`) knows HTTP, not vendors.  What a
vendor's limits are and what its answers mean arrives from the plugin, as a
:class:`VendorProfile` declared on its connector class::

    from crm_connect import Connector
    from crm_connect.vendor import (
        ErrorMarker, GroupRule, Meaning, QuotaHeaders, RateLimitSettings, VendorProfile)

    EXAMPLE_PROFILE = VendorProfile(
        name="Example CRM",
        rate_limits={"general": RateLimitSettings(requests=100, per_seconds=10.0),
                     "search": RateLimitSettings(requests=5, per_seconds=1.0, burst=1)},
        group_rules=(GroupRule("search", path=r"/search/?$"),),
        error_fields=("category", "policyName"),
        error_markers=(ErrorMarker(Meaning.DAILY_QUOTA, code="DAILY", statuses={429}),),
        quota_headers=QuotaHeaders(daily_limit="X-Example-Daily",
                                   daily_remaining="X-Example-Daily-Remaining"),
        daily_reset_hint="Example CRM's daily limit resets at midnight UTC",
    )

    class ExampleConnector(Connector[ExampleConfig]):
        profile = EXAMPLE_PROFILE

:meth:`crm_connect.resilience.ResiliencePolicy.for_connector` reads ``type(connector).profile``;
the base :class:`~crm_connect.connector.Connector` declares :data:`NEUTRAL_PROFILE` (no rate limit,
no vendor error codes, no usage headers).  A connection's ``[connections.NAME.resilience]``
``rate_limits`` still override the profile's defaults, group by group and field by field.

This module sits at the bottom of the core: it imports nothing else from ``crm_connect``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "NEUTRAL_PROFILE",
    "ErrorMarker",
    "GroupRule",
    "Meaning",
    "QuotaHeaders",
    "QuotaReader",
    "RateLimitReading",
    "RateLimitSettings",
    "RefreshRules",
    "VendorProfile",
    "error_codes",
]


class RateLimitSettings(BaseModel):
    """The client-side limit of one limit group.

    ``requests`` per ``per_seconds`` is a sliding-window promise kept at the published rate: a
    token bucket of at most ``burst`` tokens refills at ``requests / per_seconds``, and a
    sliding window counting each request from its sending to ``per_seconds`` after its answer
    makes sure no window of ``per_seconds`` ever sees more than ``requests`` calls.
    ``max_concurrent`` caps the requests in flight at once (a vendor's concurrent long-running
    request limit).
    """

    model_config = ConfigDict(extra="forbid")

    requests: int | None = Field(
        default=None, ge=1, description="Requests allowed per window; None: no rate limit.")
    per_seconds: float = Field(default=1.0, gt=0, description="Length of the window, seconds.")
    burst: int | None = Field(
        default=None, ge=1,
        description="Requests that may go at once; default a tenth of `requests` (at least 1).")
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Requests in flight at once; None: no cap.")

    @model_validator(mode="after")
    def _burst_fits(self) -> RateLimitSettings:
        if self.requests is not None and self.burst is not None and self.burst > self.requests:
            raise ValueError(f"burst ({self.burst}) cannot exceed requests ({self.requests})")
        return self

    @property
    def effective_burst(self) -> int:
        """``burst``, or a tenth of ``requests`` (at least 1) when it is not set."""
        if self.requests is None:
            return 0
        return self.burst if self.burst is not None else max(1, self.requests // 10)


@dataclass(frozen=True)
class RateLimitReading:
    """What a response's headers say about the vendor's limits (see :class:`QuotaHeaders`)."""

    maximum: int | None = None
    remaining: int | None = None
    interval_seconds: float | None = None
    daily_used: int | None = None
    daily_limit: int | None = None
    daily_name: str | None = None

    @property
    def daily_spent(self) -> bool:
        """Whether the headers say the day's quota is used up."""
        return (self.daily_used is not None and bool(self.daily_limit)
                and self.daily_used >= (self.daily_limit or 0))


class Meaning(enum.Enum):
    """What a vendor's error answer means for the retry loop."""

    SESSION_EXPIRED = "session_expired"          # refresh the session once, then retry
    CREDENTIALS_REFUSED = "credentials_refused"  # refused for good: fail, never retry
    DAILY_QUOTA = "daily_quota"                  # the day's total is spent: stop cleanly
    RATE_LIMITED = "rate_limited"                # too many requests per interval: wait
    CONCURRENCY_LIMITED = "concurrency_limited"  # too many requests in flight: wait
    LIMITED = "limited"                          # another limit, refused before it ran: wait
    TRANSIENT = "transient"                      # a passing server fault: retry if safe
    NOT_RETRYABLE = "not_retryable"              # pass the answer on to the client as it is


def _squeeze(text: str) -> str:
    return text.replace(" ", "").lower()


@dataclass(frozen=True)
class ErrorMarker:
    """One rule saying what an error answer means.

    A marker matches an answer with a status of 400 or more when every condition it sets holds:

    :param meaning: what a matching answer means.
    :param code: a value of one of the profile's :attr:`VendorProfile.error_fields` in the JSON
        body (a top-level object, or any object of a top-level array), e.g. an ``errorCode``.
    :param field: look for ``code`` in this body field only.
    :param statuses: the HTTP statuses it applies to (empty: any).  A 429 is a rate limit
        whatever its body says, unless a marker names 429 here or means ``RATE_LIMITED``.
    :param message_contains: the error's message contains this (case and spaces ignored).
    :param note: added to the reason, in parentheses, to explain the answer to the user.
    """

    meaning: Meaning
    code: str | None = None
    field: str | None = None
    statuses: frozenset[int] | set[int] = frozenset()
    message_contains: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "statuses", frozenset(self.statuses))

    def match(self, status: int, codes: list[tuple[str, str, str]]) -> tuple[str, str] | None:
        """``(code, message)`` of the error this marker recognises in ``codes`` (``(field,
        code, message)`` triples of one answer), ``("", "")`` for a status-only marker, or
        ``None``."""
        if self.statuses and status not in self.statuses:
            return None
        if status == 429 and 429 not in self.statuses and self.meaning is not Meaning.RATE_LIMITED:
            return None
        if self.code is None and self.message_contains is None:
            return ("", "")
        for found_field, code, message in codes:
            if self.field is not None and found_field != self.field:
                continue
            if self.code is not None and code != self.code:
                continue
            if (self.message_contains is not None
                    and _squeeze(self.message_contains) not in _squeeze(message)):
                continue
            return code, message
        return None


@dataclass(frozen=True)
class GroupRule:
    """Requests that count against a limit group other than ``general``.

    :param group: the limit group (a key of :attr:`VendorProfile.rate_limits`).
    :param path: a regular expression searched in the request's URL path.
    :param methods: the HTTP methods it applies to (empty: any).
    """

    group: str
    path: str
    methods: frozenset[str] | set[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def applies(self, method: str, url: str) -> bool:
        """Whether a ``method`` request to ``url`` counts against :attr:`group`."""
        if self.methods and method.upper() not in self.methods:
            return False
        return re.search(self.path, urlsplit(url).path or "/") is not None


def _header(headers: Mapping[str, str], name: str | None) -> str | None:
    if name is None:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class QuotaHeaders:
    """Where a vendor's responses report its limits; every header name is optional.

    :param rate_max: the requests allowed per interval (may raise the client-side bucket).
    :param rate_remaining: the requests left in the current interval.
    :param rate_interval: the interval's length, in ``rate_interval_seconds`` units.
    :param rate_interval_seconds: one unit of ``rate_interval`` in seconds (0.001: ms).
    :param rate_group: the limit group these rate headers describe.
    :param daily_limit: the daily quota; with ``daily_remaining`` or ``daily_used``.
    :param daily_usage: one header holding both used and limit (``api-usage=25/15000``),
        read with ``daily_usage_pattern``, whose first two groups are used and limit.
    :param daily_name: how messages name the daily quota.
    """

    rate_max: str | None = None
    rate_remaining: str | None = None
    rate_interval: str | None = None
    rate_interval_seconds: float = 1.0
    rate_group: str = "general"
    daily_limit: str | None = None
    daily_remaining: str | None = None
    daily_used: str | None = None
    daily_usage: str | None = None
    daily_usage_pattern: str = r"(\d+)\s*/\s*(\d+)"
    daily_name: str = "daily API quota"

    def read(self, headers: Mapping[str, str]) -> RateLimitReading | None:
        """What ``headers`` say, or ``None`` when they carry none of these headers."""
        used, limit = self._daily(headers)
        maximum = _int(_header(headers, self.rate_max))
        remaining = _int(_header(headers, self.rate_remaining))
        interval = _int(_header(headers, self.rate_interval))
        if maximum is None and remaining is None and limit is None:
            return None
        return RateLimitReading(
            maximum=maximum, remaining=remaining,
            interval_seconds=interval * self.rate_interval_seconds if interval else None,
            daily_used=used, daily_limit=limit,
            daily_name=self.daily_name if limit is not None else None)

    def _daily(self, headers: Mapping[str, str]) -> tuple[int | None, int | None]:
        usage = _header(headers, self.daily_usage)
        if usage:
            found = re.search(self.daily_usage_pattern, usage)
            if found:
                return int(found.group(1)), int(found.group(2))
        limit = _int(_header(headers, self.daily_limit))
        used = _int(_header(headers, self.daily_used))
        remaining = _int(_header(headers, self.daily_remaining))
        if used is None and limit is not None and remaining is not None:
            used = limit - remaining
        return used, limit


QuotaReader = Callable[[Mapping[str, str]], RateLimitReading | None]
"""Reads a response's headers in a format :class:`QuotaHeaders` cannot describe."""


@dataclass(frozen=True)
class RefreshRules:
    """When a session or token is refreshed, and when the credentials are refused for good.

    :param statuses: answers with these statuses ask for one refresh, then a retry.
    :param refused_codes: error codes (in the profile's error fields or OAuth's ``error``) that
        mean the credentials or the refresh token are refused for good: fail at once.
    """

    statuses: frozenset[int] | set[int] = frozenset({401})
    refused_codes: tuple[str, ...] = ("invalid_grant",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "statuses", frozenset(self.statuses))


def _load_json(body: bytes | str | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _items(payload: Any) -> Iterator[Mapping[str, Any]]:
    for item in payload if isinstance(payload, list) else [payload]:
        if isinstance(item, Mapping):
            yield item


def error_codes(body: bytes | str | None, fields: tuple[str, ...],
                message_fields: tuple[str, ...] = ("message", "error_description"),
                ) -> list[tuple[str, str, str]]:
    """``(field, code, message)`` for each of ``fields`` set to a string in an error body (a
    JSON object or array of objects); the message is the first of ``message_fields`` set."""
    found: list[tuple[str, str, str]] = []
    for item in _items(_load_json(body)):
        message = next((str(item[key]) for key in message_fields if item.get(key)), "")
        for key in fields:
            value = item.get(key)
            if isinstance(value, str):
                found.append((key, value, message))
    return found


@dataclass(frozen=True)
class VendorProfile:
    """What the core knows about one vendor's API; a connector declares it as ``profile``.

    :param name: the vendor's name, for messages.
    :param rate_limits: the published limits per limit group (``general`` for every request
        no :attr:`group_rules` entry claims); the connection's ``rate_limits`` override them.
    :param group_rules: which requests count against which other group, first match wins.
    :param error_fields: body fields holding the vendor's error codes (``errorCode``, ...).
    :param message_fields: body fields holding the error's message, first found wins.
    :param error_markers: what the vendor's error answers mean, first match wins; answers no
        marker matches follow the core's rules (401 refresh, 429 and 408 wait, 5xx retry,
        other 4xx passed on).
    :param quota_headers: where responses report the rate limit and the daily quota.
    :param quota_reader: reads headers :class:`QuotaHeaders` cannot describe; used instead.
    :param daily_reset_hint: when the daily quota renews, for the message of a stop.
    :param refresh: when a session is refreshed and when credentials are refused for good.
    """

    name: str = "the vendor"
    rate_limits: Mapping[str, RateLimitSettings] = field(
        default_factory=lambda: {"general": RateLimitSettings()})
    group_rules: tuple[GroupRule, ...] = ()
    error_fields: tuple[str, ...] = ()
    message_fields: tuple[str, ...] = ("message", "error_description")
    error_markers: tuple[ErrorMarker, ...] = ()
    quota_headers: QuotaHeaders = field(default_factory=QuotaHeaders)
    quota_reader: QuotaReader | None = None
    daily_reset_hint: str = ""
    refresh: RefreshRules = field(default_factory=RefreshRules)

    def group_for(self, method: str, url: str) -> str:
        """The limit group a ``method`` request to ``url`` counts against."""
        return next((rule.group for rule in self.group_rules if rule.applies(method, url)),
                    "general")

    def read_quota_headers(self, headers: Mapping[str, str]) -> RateLimitReading | None:
        """What a response's headers say about the limits; ``None`` when they say nothing."""
        if self.quota_reader is not None:
            return self.quota_reader(headers)
        return self.quota_headers.read(headers)

    def error_codes(self, body: bytes | str | None) -> list[tuple[str, str, str]]:
        """``(field, code, message)`` of the vendor's (and OAuth's) error codes in ``body``."""
        fields = tuple(dict.fromkeys(
            (*self.error_fields, *(m.field for m in self.error_markers if m.field), "error")))
        return error_codes(body, fields, self.message_fields)

    def meaning_of(self, status: int, body: bytes | str | None,
                   ) -> tuple[ErrorMarker, str, str] | None:
        """The first marker matching an error answer, with the code and message it matched."""
        codes = self.error_codes(body)
        for marker in self.error_markers:
            found = marker.match(status, codes)
            if found is not None:
                return marker, *found
        return None


NEUTRAL_PROFILE = VendorProfile()
"""The profile of a connector that declares none: no rate limit, the core's rules only."""
