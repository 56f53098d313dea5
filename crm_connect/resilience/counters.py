"""What a process's vendor requests added up to, per connection: requests by limit group,
429 answers, retries, and the daily quotas the last answers reported.

Every :class:`~crm_connect.resilience.ResiliencePolicy` adds to the counters of its
connection, so whoever runs a sync (``crm-connect run``, its JSON log lines and its summary)
reads them without knowing which clients the connector built.  Counters only grow; take a
:func:`request_totals` before and after a piece of work and subtract (:meth:`RequestTotals.since`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["QuotaReading", "RequestTotals", "count_429", "count_request", "count_retry",
           "note_quota", "request_totals"]


@dataclass(frozen=True)
class QuotaReading:
    """A daily quota as the latest answer reported it."""

    name: str
    used: int
    limit: int

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass
class RequestTotals:
    """One connection's counters (a copy: it does not change after it is taken)."""

    requests: dict[str, int] = field(default_factory=dict)
    """Requests sent (attempts, retries included), by limit group."""
    http_429: int = 0
    retries: int = 0
    quotas: dict[str, QuotaReading] = field(default_factory=dict)

    def since(self, earlier: RequestTotals) -> RequestTotals:
        """What was counted after ``earlier`` was taken (quotas: the latest readings)."""
        groups = {group: count - earlier.requests.get(group, 0)
                  for group, count in self.requests.items()}
        return RequestTotals({group: n for group, n in groups.items() if n},
                             self.http_429 - earlier.http_429, self.retries - earlier.retries,
                             dict(self.quotas))

    @property
    def total(self) -> int:
        return sum(self.requests.values())


_lock = threading.Lock()
_totals: dict[str, RequestTotals] = {}


def _of(connection: str) -> RequestTotals:
    return _totals.setdefault(connection, RequestTotals())


def count_request(connection: str, group: str) -> None:
    """One attempt of a request of ``group`` was sent."""
    with _lock:
        totals = _of(connection)
        totals.requests[group] = totals.requests.get(group, 0) + 1


def count_429(connection: str) -> None:
    """The vendor answered "too many requests"."""
    with _lock:
        _of(connection).http_429 += 1


def count_retry(connection: str) -> None:
    """A failed attempt is being tried again."""
    with _lock:
        _of(connection).retries += 1


def note_quota(connection: str, name: str, used: int, limit: int) -> None:
    """An answer reported the daily quota ``name``: ``used`` of ``limit``."""
    with _lock:
        _of(connection).quotas[name] = QuotaReading(name, used, limit)


def request_totals(connection: str) -> RequestTotals:
    """A copy of the counters of ``connection`` in this process (zeros when it sent nothing)."""
    with _lock:
        totals = _totals.get(connection) or RequestTotals()
        return RequestTotals(dict(totals.requests), totals.http_429, totals.retries,
                             dict(totals.quotas))
