"""The time budget of one request: every wait counts against it.

A request may spend ``max_total_seconds`` in all: its attempts, the backoff between them, the
``Retry-After`` waits the server asks for and the waits of the client-side rate limit.  A wait
that would overrun what is left is not started: the request stops at once and says when to
try again; a wait of a day or more is a quota, not a pause.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["QUOTA_WAIT_SECONDS", "WaitBeyondBudget", "describe_wait", "resume_time"]

QUOTA_WAIT_SECONDS = 24 * 3600.0
"""A server asking to wait this long (or longer) reports a spent quota."""


class WaitBeyondBudget(Exception):
    """A rate-limit wait would overrun the request's time budget; nothing was waited."""

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(f"{what}: {seconds:.1f} s")
        self.seconds = seconds
        self.what = what


def describe_wait(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.5 h"``, ``"2 days"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def resume_time(seconds: float, *, now: dt.datetime | None = None) -> str:
    """When a wait of ``seconds`` from now ends, in UTC to the minute (rounded up)."""
    now = now or dt.datetime.now(dt.UTC)
    when = now + dt.timedelta(seconds=seconds)
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return f"{when:%Y-%m-%d %H:%M} UTC"
