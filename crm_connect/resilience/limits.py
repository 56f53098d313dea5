"""Client-side rate limiting and the daily quota guard.

:class:`TokenBucket` spaces requests at the vendor's published rate; :class:`SlidingWindow`
keeps any window of the vendor's length under its published count; :class:`GroupLimiter`
combines them with a cap on requests in flight; :class:`QuotaTracker` follows the daily
quota through the usage headers the vendor sends.  All are safe to share between threads.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crm_connect.resilience.budget import WaitBeyondBudget
from crm_connect.resilience.settings import RateLimitSettings

__all__ = ["GroupLimiter", "QuotaTracker", "QuotaUsage", "SlidingWindow", "TokenBucket"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenBucket:
    """A thread-safe token bucket: ``capacity`` tokens, refilled at ``rate`` tokens a second.

    :meth:`acquire` takes one token, sleeping (outside the lock) until one is there.
    """

    def __init__(self, capacity: float, rate: float, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("a token bucket needs a positive capacity and rate")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._capacity = float(capacity)
        self._rate = float(rate)
        self._tokens = float(capacity)
        self._updated = clock()

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def rate(self) -> float:
        return self._rate

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now

    def acquire(self, deadline: float | None = None) -> float:
        """Take one token, waiting for it; returns the seconds waited.

        :param deadline: a time on this bucket's clock; a wait that would end after it is not
            started: :class:`WaitBeyondBudget` says how long it would have been.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = (1.0 - self._tokens) / self._rate
            if deadline is not None and now + delay > deadline:
                raise WaitBeyondBudget(delay, "the client-side rate limit")
            self._sleep(delay)
            waited += delay

    def reconfigure(self, capacity: float, rate: float) -> None:
        """Change the limits (e.g. the vendor's headers say the account allows more)."""
        with self._lock:
            self._refill(self._clock())
            self._capacity = float(capacity)
            self._rate = float(rate)
            self._tokens = min(self._tokens, self._capacity)

    def limit_tokens(self, available: float) -> None:
        """Hold no more than ``available`` tokens (the vendor says few requests remain)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, max(available, 0.0))

    def drain(self, seconds: float = 0.0) -> None:
        """Empty the bucket, and keep it empty ``seconds`` longer (after a 429)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0) - seconds * self._rate


class SlidingWindow:
    """At most ``requests`` requests in any ``seconds`` long window, as the vendor counts them.

    The vendor counts a request when it arrives, somewhere between the moment it is sent and
    the moment its answer is back.  A request holds its place from :meth:`enter` (sent) until
    ``seconds`` after :meth:`leave` (answered): the window can never see more than
    ``requests`` of them, whatever the network's delays, and in steady state it lets
    ``requests`` through per ``seconds`` plus one round trip (the published rate, not a share
    of it).
    """

    def __init__(self, requests: int, seconds: float, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if requests < 1 or seconds <= 0:
            raise ValueError("a sliding window needs a positive count and length")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._requests = requests
        self._seconds = float(seconds)
        self._in_flight = 0
        self._answered: deque[float] = deque()  # when answers came back, oldest first

    def reconfigure(self, requests: int, seconds: float) -> None:
        with self._lock:
            self._requests, self._seconds = max(1, requests), float(seconds)

    def _delay(self, now: float) -> float:
        while self._answered and self._answered[0] + self._seconds <= now:
            self._answered.popleft()
        if self._in_flight + len(self._answered) < self._requests:
            return 0.0
        if not self._answered:  # every place is held by a request still in flight
            return min(self._seconds, 0.01)
        return self._answered[0] + self._seconds - now

    def enter(self, deadline: float | None = None) -> float:
        """Take a place in the window, waiting for one; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 1e-9:  # not a rounding error's worth left
                    self._in_flight += 1
                    return waited
            if deadline is not None and now + delay > deadline:
                raise WaitBeyondBudget(delay, "the client-side rate limit")
            self._sleep(delay)
            waited += delay

    def leave(self) -> None:
        """The request's answer is back: its place frees ``seconds`` from now."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._answered.append(self._clock())


class GroupLimiter:
    """The limits of one limit group of one connection: a token bucket and a concurrency cap."""

    def __init__(self, group: str, settings: RateLimitSettings, *, explicit: bool = False,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.group = group
        self.settings = settings
        self._explicit = explicit
        self._lock = threading.Lock()
        self.bucket = self._make_bucket(settings, clock, sleep)
        self.window = (SlidingWindow(settings.requests, settings.per_seconds, clock=clock,
                                     sleep=sleep) if settings.requests is not None else None)
        self._slots = (threading.BoundedSemaphore(settings.max_concurrent)
                       if settings.max_concurrent else None)

    @staticmethod
    def _bucket_shape(requests: int, per_seconds: float, burst: int) -> tuple[float, float]:
        # the published rate; the sliding window keeps every window at `requests` or fewer
        return float(burst), requests / per_seconds

    def _make_bucket(self, settings: RateLimitSettings, clock: Clock,
                     sleep: Sleep) -> TokenBucket | None:
        if settings.requests is None:
            return None
        capacity, rate = self._bucket_shape(settings.requests, settings.per_seconds,
                                            settings.effective_burst)
        return TokenBucket(capacity, rate, clock=clock, sleep=sleep)

    @contextlib.contextmanager
    def slot(self, deadline: float | None = None) -> Iterator[float]:
        """Wait for a token and a free slot; hold the slot while the request runs.

        :param deadline: a ``time.monotonic()`` time no wait may run past
            (:class:`WaitBeyondBudget` instead).
        """
        waited = self.bucket.acquire(deadline) if self.bucket is not None else 0.0
        with contextlib.ExitStack() as held:
            if self.window is not None:
                waited += self.window.enter(deadline)
                held.callback(self.window.leave)
            if self._slots is not None:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self._slots.acquire(timeout=timeout):
                    raise WaitBeyondBudget(timeout or 0.0,
                                           "the client-side cap on requests in flight")
                held.callback(self._slots.release)
            yield waited

    def adapt(self, maximum: int | None, remaining: int | None,
              interval_seconds: float | None) -> None:
        """Follow the vendor's rate-limit headers for this group.

        A larger ``maximum`` than the default (a higher tier of the vendor's plans) raises the
        bucket unless the configuration set the group's ``requests`` itself; ``remaining`` caps
        the tokens, so another process using the same account slows this one down instead of
        causing 429s.
        """
        if self.bucket is None:
            return
        with self._lock:
            current = self.settings
            if (maximum and interval_seconds and not self._explicit
                    and (maximum != current.requests or interval_seconds != current.per_seconds)):
                updated = current.model_copy(update={"requests": maximum,
                                                     "per_seconds": interval_seconds,
                                                     "burst": None})
                self.settings = updated
                self.bucket.reconfigure(*self._bucket_shape(
                    maximum, interval_seconds, updated.effective_burst))
                if self.window is not None:
                    self.window.reconfigure(maximum, interval_seconds)
        if remaining is not None:
            # Keep a small reserve: other clients of the account may be sending too.
            self.bucket.limit_tokens(remaining - 1)


@dataclass(frozen=True)
class QuotaUsage:
    """Daily quota usage as the latest response reported it."""

    name: str
    used: int
    limit: int
    used_this_run: int

    @property
    def share_this_run(self) -> float:
        return self.used_this_run / self.limit if self.limit else 0.0


class QuotaTracker:
    """Follows one daily quota through usage headers.

    The first response of the run sets the baseline; the run's own use is the latest reading
    minus the baseline plus the first request itself.  A reading lower than the baseline means
    the quota renewed: the baseline starts again.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._first: int | None = None
        self._latest: int | None = None
        self._limit: int | None = None

    def observe(self, used: int, limit: int) -> None:
        with self._lock:
            if self._first is None or used < (self._latest or 0):
                self._first = used
            self._latest = used
            self._limit = limit

    def usage(self) -> QuotaUsage | None:
        with self._lock:
            if self._first is None or self._latest is None or not self._limit:
                return None
            return QuotaUsage(self.name, self._latest, self._limit,
                              self._latest - self._first + 1)
