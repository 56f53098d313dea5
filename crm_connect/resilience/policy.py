"""The retry, refresh, rate-limit and quota policy of one connection.

:class:`ResiliencePolicy` runs one logical request: it checks the daily quota, waits for the
connection's rate limit, sends, and decides from the response or the exception what comes
next.  tenacity drives the loop: exponential backoff with jitter, ``Retry-After`` honoured, a
cap on attempts and on total time.  Nothing else retries: requests adapters and urllib3 pools
are built with retries off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_before_delay

from crm_connect.errors import (
    AuthenticationError,
    CrmConnectError,
    NotRetriedError,
    QuotaExceededError,
    RetryExhaustedError,
)
from crm_connect.resilience import counters
from crm_connect.resilience.budget import (
    QUOTA_WAIT_SECONDS,
    WaitBeyondBudget,
    describe_wait,
    resume_time,
)
from crm_connect.resilience.classify import (
    OK,
    Action,
    Limit,
    Outcome,
    classify_exception,
)
from crm_connect.resilience.injection import take_injected_failure
from crm_connect.resilience.limits import GroupLimiter, QuotaTracker, QuotaUsage
from crm_connect.resilience.settings import RateLimitSettings, ResilienceSettings
from crm_connect.vendor import NEUTRAL_PROFILE, VendorProfile

__all__ = ["IDEMPOTENT_METHODS", "RefreshCallback", "ResiliencePolicy", "describe_request",
           "is_idempotent"]

log = logging.getLogger("crm_connect.resilience")

T = TypeVar("T")
R = TypeVar("R")

RefreshCallback = Callable[[], Mapping[str, str] | None]
"""Refreshes the connection's session or token.  It may return the secrets that changed
(``{"access_token": ..., "refresh_token": ...}``); the policy saves them to the keyring.  It
raises :class:`~crm_connect.errors.AuthenticationError` when the vendor refuses the refresh."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""HTTP methods whose repetition has the effect of one request (RFC 9110, 9.2.2)."""


def is_idempotent(method: str) -> bool:
    """Whether requests of ``method`` are retried without a plugin marking them safe."""
    return method.upper() in IDEMPOTENT_METHODS


def _method_of(description: str) -> str | None:
    word = description.split(" ", 1)[0]
    return word if word.isupper() and word.isalpha() else None


def describe_request(method: str, url: str) -> str:
    """``GET /path``: method and path only, never the query string (it may hold a token)."""
    path = urlsplit(url).path or "/"
    return f"{method.upper()} {path}"


_QUERY_STRING = re.compile(r"\?[^\s'\"?#]*=[^\s'\"#]*")


def redact(text: str) -> str:
    """Drop URL query strings (``?a=b...``), where client libraries put tokens and keys."""
    return _QUERY_STRING.sub("?...", text)


class _RedactQueryStrings(logging.Filter):
    """urllib3 logs every request's URL at DEBUG, query string included: cut it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redacting_filter = _RedactQueryStrings()


def _protect_transport_logs() -> None:
    for name in ("urllib3.connectionpool", "urllib3.poolmanager"):
        logger = logging.getLogger(name)
        if _redacting_filter not in logger.filters:
            logger.addFilter(_redacting_filter)


class _Connector(Protocol):
    @property
    def connection(self) -> str: ...

    @property
    def config(self) -> Any: ...

    @property
    def context(self) -> Any: ...


class _RetrySignal(Exception):
    """Raised inside an attempt to make tenacity try again."""

    def __init__(self, outcome: Outcome, *, immediate: bool = False,
                 cause: BaseException | None = None) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome
        self.immediate = immediate
        self.cause = cause


class ResiliencePolicy:
    """One connection's retry, auth refresh, client-side rate limit and daily quota guard.

    :param connection: the connection's name (in log lines and errors).
    :param settings: the connection's ``[connections.NAME.resilience]`` settings.
    :param profile: what the vendor's limits are and what its answers mean (the connector's
        :class:`~crm_connect.vendor.VendorProfile`); the neutral profile by default.
    :param refresh: called once when a request meets an expired session or token.
    :param save_secret: saves one field of what ``refresh`` returns.
    :param save_secrets: saves all of what ``refresh`` returns at once
        (``ConnectionContext.save_secrets``); preferred over ``save_secret``.
    :param sleep: how to wait (tests may pass their own).

    Create one policy per connection and share it between the connection's clients and
    threads: the limits and the quota readings live in it.
    """

    def __init__(self, connection: str, settings: ResilienceSettings | None = None, *,
                 profile: VendorProfile = NEUTRAL_PROFILE,
                 refresh: RefreshCallback | None = None,
                 save_secret: Callable[[str, str], None] | None = None,
                 save_secrets: Callable[[Mapping[str, str]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.settings = settings or ResilienceSettings()
        self.profile = profile
        self.refresh = refresh
        self.save_secret = save_secret
        self.save_secrets = save_secrets
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limiters = {
            group: GroupLimiter(group, limit, explicit=self.settings.is_explicit(group),
                                sleep=sleep)
            for group, limit in self.settings.limits_for(profile.rate_limits).items()
        }
        self._quotas: dict[str, QuotaTracker] = {}
        self._refresh_lock = threading.Lock()
        self._auth_generation = 0
        self._local = threading.local()  # .refreshing: this thread is inside ``refresh``
        self.retries = 0
        """How many attempts this policy has retried (conformance checks read it)."""
        _protect_transport_logs()

    @classmethod
    def for_connector(cls, connector: _Connector, *,
                      refresh: RefreshCallback | None = None) -> ResiliencePolicy:
        """The policy of a connector: its class's ``profile`` (the vendor's limits and error
        markers), its ``resilience`` settings, its keyring for rotated secrets."""
        settings = getattr(connector.config, "resilience", None) or ResilienceSettings()
        profile = getattr(type(connector), "profile", None)
        if not isinstance(profile, VendorProfile):
            profile = NEUTRAL_PROFILE
        return cls(connector.connection, settings, profile=profile, refresh=refresh,
                   save_secrets=connector.context.save_secrets)

    # -- limits ---------------------------------------------------------------------------

    def limiter(self, group: str) -> GroupLimiter:
        """The limiter of ``group``; a group with no configured limit gets none."""
        with self._lock:
            if group not in self._limiters:
                limit = self.settings.rate_limits.get(group, RateLimitSettings())
                self._limiters[group] = GroupLimiter(group, limit, explicit=True,
                                                     sleep=self._sleep)
            return self._limiters[group]

    def group_for(self, method: str, url: str) -> str:
        """The limit group a request counts against, as the profile's group rules say."""
        return self.profile.group_for(method, url)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's rate-limit and usage headers (any response, any status)."""
        reading = self.profile.read_quota_headers(headers)
        if reading is None:
            return
        if reading.maximum is not None or reading.remaining is not None:
            limiter = self.limiter(self.profile.quota_headers.rate_group)
            limiter.adapt(reading.maximum, reading.remaining, reading.interval_seconds)
        if reading.daily_used is not None and reading.daily_limit and reading.daily_name:
            with self._lock:
                tracker = self._quotas.setdefault(reading.daily_name,
                                                  QuotaTracker(reading.daily_name))
            tracker.observe(reading.daily_used, reading.daily_limit)
            counters.note_quota(self.connection, reading.daily_name, reading.daily_used,
                                reading.daily_limit)

    def quota_usage(self) -> list[QuotaUsage]:
        """The daily quotas seen so far, as the latest responses reported them."""
        with self._lock:
            trackers = list(self._quotas.values())
        return [usage for tracker in trackers if (usage := tracker.usage()) is not None]

    def check_quota(self) -> None:
        """Raise :class:`QuotaExceededError` when a daily quota is spent, or when this run used
        more than ``max_daily_quota_share`` of it."""
        share = self.settings.max_daily_quota_share
        for usage in self.quota_usage():
            if usage.used >= usage.limit:
                raise QuotaExceededError(
                    f"the {usage.name} is spent ({usage.used:,} of {usage.limit:,} requests "
                    f"used). {self._resume_hint()}", connection=self.connection)
            if usage.share_this_run > share:
                raise QuotaExceededError(
                    f"this run has used {usage.used_this_run:,} requests, "
                    f"{usage.share_this_run:.0%} of the {usage.name} of {usage.limit:,} "
                    f"(max_daily_quota_share is {share:.0%}; {usage.used:,} used in all). "
                    f"{self._resume_hint()}", connection=self.connection)

    def _resume_hint(self) -> str:
        renews = self.profile.daily_reset_hint
        hint = "Stopped cleanly with the state saved; the next run resumes where this one stopped"
        return f"{hint} ({renews})." if renews else f"{hint}."

    # -- the loop -------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], *, group: str = "general",
             description: str = "call", idempotent: bool | None = None) -> T:
        """Run ``fn`` (one vendor request through any client) under the policy.

        Exceptions are classified with :func:`~crm_connect.resilience.classify_exception`:
        transient ones are retried, an expired token refreshed once, a spent quota raised as
        :class:`QuotaExceededError`; the others propagate unchanged.

        :param description: ``"METHOD /path"``, as :func:`describe_request` writes it.
        :param idempotent: whether ``fn`` is safe to repeat after a failure that may have
            come after the server acted on it.  By default it follows the method that
            ``description`` starts with (GET, HEAD, OPTIONS, PUT, DELETE are; POST, PATCH are
            not); a description without a method counts as a read.  Pass ``True`` for a POST
            that only reads (a search, a batch read, a login), ``False`` for anything that
            creates or changes something.
        """
        if idempotent is None:
            method = _method_of(description)
            idempotent = method is None or is_idempotent(method)
        return self.execute(fn, group=group, description=description, idempotent=idempotent)

    def execute(self, attempt: Callable[[], T], *, group: str = "general",
                description: str = "call",
                inspect: Callable[[T], Outcome] | None = None,
                idempotent: bool = True) -> T:
        """Run ``attempt`` until it succeeds or the policy gives up.

        :param inspect: the outcome of a result that did not raise (an HTTP response);
            results are passed on as they are when it is ``None``.
        :param idempotent: ``False``: retry only failures where the server certainly did not
            act on the request (:attr:`Outcome.unprocessed`: connection refused, 429, a
            refused session); any other failure raises :class:`NotRetriedError`.
        """
        limiter = self.limiter(group)
        refreshed = False
        started = time.monotonic()
        deadline = started + self.settings.max_total_seconds  # every wait counts against it

        def one_attempt() -> T:
            nonlocal refreshed
            self.check_quota()
            generation = self._auth_generation
            sent, failure, cause = self._send(attempt, limiter, description, deadline)
            if failure is None:
                result = cast(T, sent)
                outcome = inspect(result) if inspect is not None else OK
                if outcome.action is Action.OK:
                    return result
            else:
                outcome = failure
            if outcome.limit is Limit.RATE or "429" in outcome.reason:
                counters.count_429(self.connection)
            if outcome.action is Action.REFRESH:
                if refreshed:
                    raise AuthenticationError(
                        f"{description}: the vendor refused the credentials even after a "
                        f"refresh ({outcome.reason}). Check the connection's secrets "
                        f"(`crm-connect auth set {self.connection} FIELD`).",
                        connection=self.connection)
                refreshed = True
                self._refresh(generation, description, outcome)
                raise _RetrySignal(outcome, immediate=True, cause=cause)
            if outcome.action is Action.RETRY and not idempotent and not outcome.unprocessed:
                raise NotRetriedError(
                    f"{description}: {outcome.reason}. Not retried: the server may already "
                    "have carried the request out, and repeating it is not safe. Run the "
                    "sync again: it resumes from the last saved page.",
                    connection=self.connection) from cause
            self._act(outcome, limiter, description, deadline, cause)
            raise AssertionError("unreachable")  # pragma: no cover

        retrying = Retrying(
            stop=(stop_after_attempt(self.settings.max_attempts)
                  | stop_before_delay(self.settings.max_total_seconds)),
            wait=self._wait,
            retry=retry_if_exception_type(_RetrySignal),
            before_sleep=lambda state: self._log_retry(state, description),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(one_attempt)
        except _RetrySignal as signal:
            elapsed = time.monotonic() - started
            attempts = retrying.statistics.get("attempt_number", 1)
            summary = (
                f"{description} failed after {attempts} attempt(s) in {elapsed:.1f} s "
                f"(last: {signal.outcome.reason}"
                + (f", the server asked to wait {signal.outcome.retry_after:.0f} s"
                   if signal.outcome.retry_after else "") + ")")
            raise RetryExhaustedError(
                f"{summary}. The vendor or the network may be down; run the sync again "
                "later: it resumes from the last saved page.", connection=self.connection,
                summary=summary,
            ) from signal.cause

    def _send(self, attempt: Callable[[], R], limiter: GroupLimiter, description: str,
              deadline: float) -> tuple[R | None, Outcome | None, BaseException | None]:
        """One attempt inside the rate limit: its result, or the outcome of the exception it
        raised and that exception.  The concurrency slot is free again when it returns."""
        with contextlib.ExitStack() as held:
            try:
                # a wait of a day is a quota whatever the budget
                latest = min(deadline, time.monotonic() + QUOTA_WAIT_SECONDS)
                waited = held.enter_context(limiter.slot(latest))
            except WaitBeyondBudget as exc:
                raise self._beyond_budget(description, exc.seconds,
                                          f"{exc.what} ({limiter.group})") from None
            if waited > 0.05:
                log.debug("%s: %s waited %.2f s for the %s rate limit", self.connection,
                          description, waited, limiter.group)
            counters.count_request(self.connection, limiter.group)
            injected = take_injected_failure(self, description)  # see resilience.injection
            if injected is not None:
                return None, injected, None
            try:
                result = attempt()
            except CrmConnectError:
                raise
            except Exception as exc:
                outcome = classify_exception(exc, profile=self.profile)
                if outcome is None:
                    raise
                self._observe_exception(exc)
                return None, outcome, exc
        return result, None, None

    def _beyond_budget(self, description: str, wait: float, who: str) -> CrmConnectError:
        """The error for a wait the request's time budget cannot hold (a day or more: a
        quota)."""
        until = resume_time(wait)
        if wait >= QUOTA_WAIT_SECONDS:
            return QuotaExceededError(
                f"{description}: {who} asked to wait {describe_wait(wait)} (until {until}): "
                f"that is a spent quota, not a pause to sit out. {self._resume_hint()} Run it "
                f"again after {until}.", connection=self.connection,
                retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait))
        return RetryExhaustedError(
            f"{description}: {who} asked to wait {describe_wait(wait)}, more than is left of "
            f"this request's time budget (max_total_seconds = "
            f"{self.settings.max_total_seconds:g}). Stopped without waiting; run the sync "
            f"again after {until}: it resumes from the last saved page.",
            connection=self.connection)

    def _act(self, outcome: Outcome, limiter: GroupLimiter, description: str,
             deadline: float, cause: BaseException | None = None) -> None:
        """Raise what ``outcome`` (anything but OK and REFRESH) calls for."""
        if outcome.action is Action.RETRY:
            if outcome.group_exhausted and limiter.bucket is not None:
                limiter.bucket.drain(outcome.retry_after or 0.0)
            wait = outcome.retry_after
            if wait is not None and (wait >= QUOTA_WAIT_SECONDS
                                     or time.monotonic() + wait > deadline):
                raise self._beyond_budget(description, wait,
                                          f"the server ({outcome.reason})") from cause
            raise _RetrySignal(outcome, cause=cause)
        if outcome.action is Action.QUOTA:
            used = "; ".join(f"{u.used:,} of {u.limit:,} used" for u in self.quota_usage())
            raise QuotaExceededError(
                f"{description}: the vendor's daily quota is spent ({outcome.reason}"
                + (f"; {used}" if used else "") + f"). {self._resume_hint()}",
                connection=self.connection)
        if outcome.action is Action.AUTH_FAILED:
            raise AuthenticationError(
                f"{description}: the vendor refused the credentials ({outcome.reason}). "
                "This does not go away by retrying: sign in again and store the new secret "
                f"with `crm-connect auth set {self.connection} FIELD`.",
                connection=self.connection)
        raise AssertionError(f"unexpected outcome {outcome}")  # pragma: no cover

    def _refresh(self, generation: int, description: str, outcome: Outcome) -> None:
        if self.refresh is None or getattr(self._local, "refreshing", False):
            raise AuthenticationError(
                f"{description}: the session or token is no longer valid ({outcome.reason}) "
                f"and this connection cannot refresh it. Store a new one with "
                f"`crm-connect auth set {self.connection} FIELD`.", connection=self.connection)
        with self._refresh_lock:
            if generation != self._auth_generation:
                return  # another thread refreshed while this request was in flight
            log.warning("%s: %s: %s; refreshing the session once", self.connection,
                        description, outcome.reason)
            self._local.refreshing = True
            try:
                changed = self.refresh()
            except CrmConnectError:
                raise
            except Exception as exc:
                raise AuthenticationError(
                    f"{description}: refreshing the session failed "
                    f"({type(exc).__name__}: {redact(str(exc))}). Sign in again and store the "
                    f"new secret with `crm-connect auth set {self.connection} FIELD`.",
                    connection=self.connection) from None
            finally:
                self._local.refreshing = False
            self._auth_generation += 1
        if changed:
            self._save(changed)

    def _save(self, changed: Mapping[str, str]) -> None:
        """Save a refreshed token set in one piece (a rotated refresh token is worthless
        without the rest of its set, and the old one may be revoked already)."""
        if self.save_secrets is not None:
            self.save_secrets(dict(changed))
        elif self.save_secret is not None:
            for field_name, value in changed.items():
                self.save_secret(field_name, value)

    def _observe_exception(self, exc: BaseException) -> None:
        headers = getattr(exc, "headers", None)
        if headers is None:
            headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers:
            self.observe(dict(headers))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetrySignal):
            if exc.immediate:
                return 0.0
            if exc.outcome.retry_after is not None:
                return exc.outcome.retry_after
        settings = self.settings
        ceiling = min(settings.backoff_max_seconds,
                      settings.backoff_initial_seconds * 2.0 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"

    def _log_retry(self, state: RetryCallState, description: str) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = exc.outcome.reason if isinstance(exc, _RetrySignal) else repr(exc)
        self.retries += 1
        counters.count_retry(self.connection)
        log.warning("%s: %s: %s (attempt %d of %d); retrying in %.2f s", self.connection,
                    description, reason, state.attempt_number, self.settings.max_attempts,
                    state.upcoming_sleep)
