"""Synthetic failures injected into :class:`~crm_connect.resilience.ResiliencePolicy`.

The conformance suite uses this to prove that a connector sends its requests through the
policy and that the policy retries them: inside :func:`inject_failures`, the next attempts of
requests made through any policy fail with the given outcomes before they reach the vendor
(a 429 with ``Retry-After: 0``, then a 503 with ``Retry-After: 0``, by default), and the
policy retries them as it would real ones.  Outside of it, nothing changes.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_connect.resilience.classify import Action, Outcome

__all__ = ["INJECTED", "InjectedFailures", "inject_failures", "take_injected_failure"]

INJECTED = "injected by crm-connect"
"""What the reason of an injected failure says (and the retry warnings that quote it)."""

_STATUS_REASONS = {429: "Too Many Requests", 500: "Internal Server Error",
                   502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _outcome(status: int) -> Outcome:
    reason = _STATUS_REASONS.get(status)
    if reason is None:
        raise ValueError(f"cannot inject HTTP {status}: only 429 and 5xx are retried")
    return Outcome(Action.RETRY, f"HTTP {status} {reason} ({INJECTED})",
                   retry_after=0.0, unprocessed=True)


@dataclass
class InjectedFailures:
    """The failures still to inject, and what happened to the ones injected.

    :param statuses: the HTTP statuses the next attempts fail with, in order.
    :param injected: the requests (``METHOD /path``) that met an injected failure.
    :param policies: the policies that met one; their ``retries`` counters say whether they
        retried.
    """

    statuses: Sequence[int]
    injected: list[str] = field(default_factory=list)
    policies: list[Any] = field(default_factory=list)
    _pending: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        for status in self.statuses:
            _outcome(status)
        self._pending.extend(self.statuses)

    @property
    def all_injected(self) -> bool:
        return not self._pending


_lock = threading.Lock()
_active: InjectedFailures | None = None


@contextlib.contextmanager
def inject_failures(statuses: Sequence[int] = (429, 503)) -> Iterator[InjectedFailures]:
    """Make the next attempts of requests through any policy fail with ``statuses``."""
    global _active
    injection = InjectedFailures(statuses)
    with _lock:
        if _active is not None:
            raise RuntimeError("failures are already being injected")
        _active = injection
    try:
        yield injection
    finally:
        with _lock:
            _active = None


def take_injected_failure(policy: Any, description: str) -> Outcome | None:
    """The failure the policy's next attempt meets instead of sending, if one is pending."""
    if _active is None:
        return None
    with _lock:
        injection = _active
        if injection is None or not injection._pending:
            return None
        status = injection._pending.popleft()
        injection.injected.append(description)
        if policy not in injection.policies:
            injection.policies.append(policy)
    return _outcome(status)
