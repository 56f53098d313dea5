"""What every part of the synthetic org shares: its constants, the plans a record's story is
made of, and the seeded helpers the record generators draw from."""

from __future__ import annotations

import datetime as dt
import functools
import random
from array import array
from dataclasses import dataclass
from typing import Any

from .ids import make_id
from .metadata import ObjectDef
from .orgdata import ROLES

UTC = dt.UTC
DEFAULT_NOW = dt.datetime(2026, 5, 1, tzinfo=UTC)
HISTORY = dt.timedelta(days=3 * 365)
DAY = dt.timedelta(days=1)
PAGE_BOUNDARY = 2000
TIE_HALF_WIDTH = 8

Record = dict[str, Any]


class SandboxError(Exception):
    """A mutation the org cannot make (unknown object, id or field)."""


@dataclass(frozen=True)
class OppPlan:
    kind: str  # Opportunity.Type
    created: dt.datetime
    close: dt.datetime  # actual close when closed, expected close otherwise
    closed: bool
    won: bool
    amount: float
    campaign: int | None


@dataclass(frozen=True)
class ContractPlan:
    start: dt.date
    term: int
    value: float
    renewed: bool | None  # the Renewed__c checkbox (None when the record leaves it unset)
    renewal_of: int | None  # index (within the account's chain) of the contract this renews


@dataclass(frozen=True)
class Story:
    """Everything about one account that its children need, derived from the seed."""

    name: str
    created: dt.datetime
    owner: int
    segment: str
    industry: str
    currency: str
    lead_source: str
    from_lead: bool
    lead_created: dt.datetime
    opps: tuple[OppPlan, OppPlan, OppPlan]
    customer_since: dt.datetime | None
    since_on_record: bool
    churned_at: dt.datetime | None
    contracts: tuple[ContractPlan, ...]


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return dt.date(year, month, min(day.day, last))


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def whole_seconds(value: dt.datetime) -> dt.datetime:
    """Salesforce keeps datetimes to the second."""
    return value.replace(microsecond=0)


class OrgBasics:
    """The org's sizes and the seeded helpers its record generators share."""

    seed: int
    now: dt.datetime
    start: dt.datetime
    span: dt.timedelta
    multi_currency: bool
    default_currency: str
    objects: dict[str, ObjectDef]
    n_accounts: int
    n_users: int
    n_campaigns: int
    _base: dict[str, int]
    _contract_account: array[int]
    _contract_seq: array[int]
    _first_contract: array[int]

    def base_count(self, obj: str) -> int:
        return self._base[obj]

    def id_of(self, obj: str, index: int) -> str:
        return make_id(self.objects[obj].key_prefix, index)

    def _rng(self, obj: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{obj}:{index}")

    def _pos_time(
        self, rng: random.Random, index: int, n: int, end_margin: dt.timedelta
    ) -> dt.datetime:
        span = self.span - end_margin
        return whole_seconds(self.start + span * ((index + rng.random()) / max(1, n)))

    def _before_now(self, lo: dt.datetime, wanted: dt.datetime, rng: random.Random) -> dt.datetime:
        """``wanted`` if it is in the past, else a time between ``lo`` and now."""
        if wanted <= self.now:
            return whole_seconds(wanted)
        lo = min(lo, self.now)
        return whole_seconds(lo + (self.now - lo) * rng.uniform(0.1, 0.95))

    def _users_with(self, roles: tuple[int, ...]) -> list[int]:
        return [u for u in range(self.n_users) if self._role_of(u) in roles] or [0]

    @functools.cached_property
    def _sales_users(self) -> list[int]:
        return self._users_with((1, 2, 3))

    @functools.cached_property
    def _support_users(self) -> list[int]:
        return self._users_with((5, 6))

    @functools.cached_property
    def _marketing_users(self) -> list[int]:
        return self._users_with((4,))

    @staticmethod
    def _role_of(user: int) -> int:
        return 0 if user == 0 else 1 + (user - 1) % (len(ROLES) - 1)

    def _uid(self, user: int) -> str:
        return make_id("005", user)

    def _audit(
        self,
        rec: Record,
        created: dt.datetime | None,
        modified: dt.datetime,
        by: int,
        rng: random.Random,
        deletable: bool = True,
    ) -> Record:
        """Fill the audit fields; a few records end up soft-deleted."""
        modified = max(modified, created) if created is not None else modified
        modified = min(whole_seconds(modified), self.now)
        if created is not None:
            rec["CreatedDate"] = whole_seconds(created)
            rec["CreatedById"] = self._uid(by)
        rec["LastModifiedDate"] = modified
        rec["LastModifiedById"] = self._uid(by)
        rec["SystemModstamp"] = modified
        if deletable:
            deleted = rng.random() < 0.004
            rec["IsDeleted"] = deleted
            if deleted:
                when = self._before_now(modified, modified + DAY * rng.uniform(0, 30), rng)
                rec["LastModifiedDate"] = rec["SystemModstamp"] = when
        return rec

    def _with_currency(self, rec: Record, currency: str) -> Record:
        if self.multi_currency:
            rec["CurrencyIsoCode"] = currency
        return rec
