"""The fastest a first sync of a HubSpot portal can go under the published limits.

Used by ``benchmarks/hubspot_sync.py``.  The ceiling is a property of the limits and of the data
the connector needs, not of the connector: count the fewest requests that read every record and
the associations the canonical records need, then divide by the rate the limits allow.

* general limit (list, batch read, v4 associations, pipelines, owners, campaigns): a rolling
  window of ``per_ten_seconds`` requests per 10 s (100 on Free/Starter).  The first window's
  requests may go at once, every later one waits for a slot: ``G`` requests take
  ``(G - per_ten_seconds) / rate`` seconds at best, ``rate = per_ten_seconds / 10``.
* list pages hold 100 records (``limit`` <= 100), a v4 associations batch read takes 1,000 ids,
  a search page holds 200 records and search has its own budget of 5 requests a second (it
  cannot see archived records).
* plan "list" (what the issue prescribes for a first sync): every object type listed once
  (live and ``archived=true``), each association type the connector maps read for the live
  records in batches of 1,000, plus the fixed reads (owners active and archived, pipelines of
  deals and tickets, account details, campaigns).
* plan "list + search": live records split between the search budget (1,000 records/s) and list
  pages on the general budget, which also carries the associations, archived lists and fixed
  reads; the split that finishes both at once bounds any reader of the two budgets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

LIST_PAGE = 100
SEARCH_PAGE = 200
ASSOCIATIONS_BATCH = 1000
SEARCH_PER_SECOND = 5
FIXED_READS = {"owners": 2, "pipelines": 2, "account details": 1, "campaigns": 1}
"""Whole-list reads that do not grow with the portal: owners (active and archived), the deal
and ticket pipelines, the account's details (its currency), the campaigns."""


@dataclass(frozen=True)
class ObjectCount:
    """One object type of the portal: live and archived records, association types mapped."""

    object_type: str
    live: int
    archived: int
    associations: tuple[str, ...]

    @property
    def list_requests(self) -> int:
        return math.ceil(self.live / LIST_PAGE) + max(1, math.ceil(self.archived / LIST_PAGE))

    @property
    def association_requests(self) -> int:
        return len(self.associations) * math.ceil(self.live / ASSOCIATIONS_BATCH)


@dataclass(frozen=True)
class Ceiling:
    records: int
    list_requests: int
    association_requests: int
    fixed_requests: int
    per_ten_seconds: int
    list_seconds: float
    both_seconds: float

    @property
    def general_requests(self) -> int:
        return self.list_requests + self.association_requests + self.fixed_requests

    @property
    def list_rate(self) -> float:
        """Records per second of the list plan at the general limit."""
        return self.records / self.list_seconds if self.list_seconds else math.inf

    @property
    def both_rate(self) -> float:
        return self.records / self.both_seconds if self.both_seconds else math.inf


def _general_seconds(requests: float, per_ten_seconds: int) -> float:
    return max(0.0, requests - per_ten_seconds) / (per_ten_seconds / 10.0)


def ceiling(objects: list[ObjectCount], per_ten_seconds: int) -> Ceiling:
    """The ceiling of a first sync of ``objects`` under a general limit of ``per_ten_seconds``."""
    records = sum(o.live + o.archived for o in objects)
    lists = sum(o.list_requests for o in objects)
    associations = sum(o.association_requests for o in objects)
    fixed = sum(FIXED_READS.values())
    list_seconds = _general_seconds(lists + associations + fixed, per_ten_seconds)
    # Both budgets: live records x by search (SEARCH_PAGE * SEARCH_PER_SECOND a second), the
    # rest listed on the general budget beside everything that only it can read.  Both finish
    # together when x / s = (other + (live - x) / LIST_PAGE) / g.
    live = sum(o.live for o in objects)
    other = sum(max(1, math.ceil(o.archived / LIST_PAGE)) for o in objects) + associations + fixed
    other = max(0, other - per_ten_seconds)  # the first window's burst
    search_rate = SEARCH_PAGE * SEARCH_PER_SECOND
    general_rate = per_ten_seconds / 10.0
    x = (other / general_rate + live / (LIST_PAGE * general_rate)) / (
        1 / search_rate + 1 / (LIST_PAGE * general_rate))
    x = min(max(x, 0.0), float(live))
    both_seconds = max(x / search_rate, (other + (live - x) / LIST_PAGE) / general_rate)
    return Ceiling(records=records, list_requests=lists, association_requests=associations,
                   fixed_requests=fixed, per_ten_seconds=per_ten_seconds,
                   list_seconds=list_seconds, both_seconds=both_seconds)


def objects_from_counts(counts: Mapping[str, Mapping[str, int]],
                        streams: Mapping[str, tuple[str, tuple[str, ...]]]
                        ) -> list[ObjectCount]:
    """Per object type, from a sync run's per-stream counts (``records`` includes the
    ``deleted``, i.e. archived, ones) and the connector's streams (stream -> object type and
    association types).  Several streams of one object type (contacts and leads) are one read
    whose association types are the union of theirs."""
    found: dict[str, ObjectCount] = {}
    for stream, (object_type, associations) in streams.items():
        if stream not in counts or object_type in ("owners", "campaigns"):
            continue
        numbers = counts[stream]
        archived = int(numbers.get("deleted", 0))
        live = int(numbers.get("records", 0)) - archived
        known = found.get(object_type)
        union = tuple(dict.fromkeys((*(known.associations if known else ()), *associations)))
        found[object_type] = ObjectCount(object_type, live, archived, union)
    return list(found.values())
