"""HubSpot's published API limits, enforced, and the headers and 429 bodies that report them.

* general: a rolling ten-second window per app: a private app's by the portal's tier (Free and
  Starter 100, Professional and Enterprise 190, the API limit increase pack 250), a public
  (OAuth) app's 110 whatever the tier, as recorded in the reference headers; every answer carries
  ``X-HubSpot-RateLimit-Max``/``-Remaining``/``-Interval-Milliseconds`` and the secondly
  pair, and a private app's answers ``X-HubSpot-RateLimit-Daily``/``-Daily-Remaining`` (OAuth
  calls have no daily limit and get no daily headers).  Over the limit: 429 with policy
  ``TEN_SECONDLY_ROLLING``.
* search: five requests per second, a budget of its own; search answers carry no rate-limit
  headers.  Over it: 429 with policy ``SECONDLY``.
* daily (private apps): 250,000 on Free and Starter, 625,000 on Professional, 1,000,000 on
  Enterprise, resetting at midnight (the sandbox portal's time zone is UTC).  Spent: 429 with
  policy ``DAILY``.

A refused request spends nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .exchange import ApiResponse, correlation_id

__all__ = ["TIERS", "RateLimits", "Tier"]

WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 5
OAUTH_PER_TEN_SECONDS = 110


@dataclass(frozen=True)
class Tier:
    per_ten_seconds: int
    daily: int


TIERS: dict[str, Tier] = {
    "free": Tier(100, 250_000),
    "starter": Tier(100, 250_000),
    "professional": Tier(190, 625_000),
    "enterprise": Tier(190, 1_000_000),
    "api_limit_increase": Tier(250, 1_000_000),
}


class RateLimits:
    """The limits of one portal and app.

    :param tier: a key of :data:`TIERS`; ``per_ten_seconds`` and ``daily`` override its values.
    :param clock: seconds since the epoch (tests pass a fake clock to move time at will).
    :param enforce: ``False`` reports the headers but never refuses.
    """

    def __init__(self, tier: str = "free", *, clock: Callable[[], float] = time.time,
                 per_ten_seconds: int | None = None, daily: int | None = None,
                 search_per_second: int = SEARCH_PER_SECOND,
                 oauth_per_ten_seconds: int = OAUTH_PER_TEN_SECONDS, enforce: bool = True,
                 app_id: int = 2813337) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown HubSpot tier {tier!r} (known: {', '.join(TIERS)})")
        self.tier = tier
        self.per_ten_seconds = per_ten_seconds or TIERS[tier].per_ten_seconds
        self.daily = daily if daily is not None else TIERS[tier].daily
        self.search_per_second = search_per_second
        self.oauth_per_ten_seconds = oauth_per_ten_seconds
        self.enforce = enforce
        self.clock = clock
        self.app_id = app_id
        self.daily_used = 0
        self.refused: collections.Counter[str] = collections.Counter()
        self._day: dt.date | None = None
        self._windows: dict[str, collections.deque[float]] = {
            "private": collections.deque(), "oauth": collections.deque()}
        self._search: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def maximum(self, auth: str) -> int:
        """The ten-second limit of the app ``auth`` names (``private`` or ``oauth``)."""
        return self.per_ten_seconds if auth == "private" else self.oauth_per_ten_seconds

    def spend_daily(self, count: int) -> None:
        """Count ``count`` requests against today's limit, as if they had been made."""
        with self._lock:
            self._roll_day(self.clock())
            self.daily_used += count

    def admit(self, group: str, auth: str) -> tuple[ApiResponse | None, dict[str, str]]:
        """Let one request of ``group`` (``general`` or ``search``) through, or refuse it.

        Returns ``(None, headers)`` when admitted (the headers its answer carries) or
        ``(the 429, headers)``.
        """
        with self._lock:
            now = self.clock()
            self._roll_day(now)
            window = self._windows["private" if auth == "private" else "oauth"]
            _trim(window, now - WINDOW_SECONDS)
            _trim(self._search, now - 1.0)
            private = auth == "private"
            if self.enforce and private and self.daily_used >= self.daily:
                return self._refuse("DAILY", group, now, private)
            if group == "search":
                if self.enforce and len(self._search) >= self.search_per_second:
                    return self._refuse("SECONDLY", group, now, private)
                self._search.append(now)
                self.daily_used += 1
                return None, {}
            if self.enforce and len(window) >= self.maximum(auth):
                return self._refuse("TEN_SECONDLY_ROLLING", group, now, private)
            window.append(now)
            self.daily_used += 1
            return None, self._headers(now, private)

    def _roll_day(self, now: float) -> None:
        day = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        if day != self._day:
            self._day, self.daily_used = day, 0

    def _headers(self, now: float, private: bool) -> dict[str, str]:
        window = self._windows["private" if private else "oauth"]
        maximum = self.maximum("private" if private else "oauth")
        secondly = max(1, maximum // 10)
        last_second = sum(1 for stamp in window if stamp > now - 1.0)
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(maximum),
            "X-HubSpot-RateLimit-Remaining": str(max(0, maximum - len(window))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - last_second)),
        }
        if private:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily
                                                                     - self.daily_used))
        return headers

    def _refuse(self, policy: str, group: str, now: float,
                private: bool) -> tuple[ApiResponse, dict[str, str]]:
        self.refused[policy] += 1
        names = {"DAILY": "api-calls-daily", "SECONDLY": "search-secondly",
                 "TEN_SECONDLY_ROLLING": "api-calls-ten-secondly"}
        kind = "private-app" if private else "oauth"
        body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT", "correlationId": correlation_id(),
                "policyName": policy,
                "groupName": f"publicapi:{kind}-{names[policy]}:{self.app_id}"}
        if policy == "SECONDLY":  # as recorded: the secondly body also names the request
            body["requestId"] = correlation_id().replace("-", "")
        headers = self._headers(now, private) if group != "search" else {}
        return ApiResponse(429, body, headers), headers


def _trim(window: collections.deque[float], horizon: float) -> None:
    while window and window[0] <= horizon:
        window.popleft()
