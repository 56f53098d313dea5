"""The synthetic org: deterministic records generated lazily from a seed, plus a mutation overlay.

Records are never stored.  Record ``i`` of an object is a pure function of ``(seed, object, i)``
(children derive their dates from their parent's *story*), so a 100k-record org costs almost no
memory: queries stream over indices and regenerate what they need.  Mutations made by tests
(update, soft/hard delete, create) live in a small overlay on top.

Time: the org's history runs over the three years before ``now`` (default
2026-05-01T00:00:00Z); nothing generated is later than ``now``.  Mutations are stamped by a logical
clock that starts at ``now`` and moves one second per mutation, so they always sort after the
generated data and runs are reproducible.

Shapes that exercise every KPI in KPIS.md: converted and unconverted leads with lead sources and
origins; new-business / upsell / renewal opportunities (won, lost, open with a future CloseDate)
tied to campaigns; customers with ``Customer_Since__c`` (or only a won deal to derive it from),
churn, contract chains with renewals (``Renewed__c`` and ``Renewal_Of__c``); calls, emails with
open/click flags, LinkedIn (social) tasks and meetings on leads and contacts; cases with first
response, resolution, interactions and handle time; NPS/CSAT/CES responses on several scales;
users active in the last week, long ago, or never; a few soft-deleted records everywhere.

Classic paging trap: for every object with more than 2,000 live records, the 16 records around
each multiple of 2,000 (in ``SystemModstamp, Id`` order) share one ``SystemModstamp`` (a mass
update), so a cursor that pages with ``>`` instead of ``>=`` loses records.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .ids import make_id, parse_id
from .metadata import (
    CURRENCIES,
    INDUSTRIES,
    LEAD_SOURCES,
    MARKETING_SOURCES,
    ORG_CURRENCIES,
    ROLES,
    SEGMENTS,
    ObjectDef,
    build_objects,
)

UTC = dt.UTC
DEFAULT_NOW = dt.datetime(2026, 5, 1, tzinfo=UTC)
HISTORY = dt.timedelta(days=3 * 365)
DAY = dt.timedelta(days=1)
PAGE_BOUNDARY = 2000
TIE_HALF_WIDTH = 8

Record = dict[str, Any]

_FIRST = (
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mia",
    "Lucas",
    "Sofia",
    "Ethan",
    "Amara",
    "Hiro",
    "Chen",
    "Priya",
    "Mateo",
    "Zoe",
    "Omar",
    "Lena",
    "Jonas",
    "Ines",
    "Kofi",
    "Yuki",
    "Nora",
    "Felix",
    "Leila",
    "Arjun",
    "Maya",
    "Tomas",
    "Elif",
    "Sven",
    "Rosa",
)
_LAST = (
    "Smith",
    "Garcia",
    "Chen",
    "Patel",
    "Okafor",
    "Muller",
    "Rossi",
    "Kim",
    "Nguyen",
    "Silva",
    "Novak",
    "Haddad",
    "Tanaka",
    "Johansson",
    "Dubois",
    "Kowalski",
    "Moreau",
    "Costa",
    "Reyes",
    "Schmidt",
    "Ito",
    "Larsen",
    "Bauer",
    "Fischer",
    "Ali",
    "Lopez",
    "Brown",
    "Walker",
    "Young",
    "King",
)
_CO_A = (
    "Blue",
    "Nordic",
    "Apex",
    "Quantum",
    "Silver",
    "Green",
    "Bright",
    "Summit",
    "Harbor",
    "Pioneer",
    "Crimson",
    "Atlas",
    "Lumen",
    "Vertex",
    "Cobalt",
    "Granite",
    "Sterling",
    "Orbit",
)
_CO_B = (
    "Data",
    "Logistics",
    "Health",
    "Robotics",
    "Foods",
    "Energy",
    "Analytics",
    "Textiles",
    "Systems",
    "Capital",
    "Media",
    "Labs",
    "Mobility",
    "Networks",
    "Retail",
    "Pharma",
)
_CO_C = ("Inc.", "Ltd", "GmbH", "LLC", "plc", "Corp.", "SA", "Group", "AB", "BV")
_CITIES = (
    ("San Francisco", "United States"),
    ("New York", "United States"),
    ("Austin", "United States"),
    ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"),
    ("Berlin", "Germany"),
    ("Paris", "France"),
    ("Amsterdam", "Netherlands"),
    ("Madrid", "Spain"),
    ("Toronto", "Canada"),
)
_CAMPAIGN_TYPE = {
    "Web": "Banner Ads",
    "Advertisement": "Advertisement",
    "Email": "Email",
    "Trade Show": "Trade Show",
    "Webinar": "Webinar",
}
_ORIGIN = {
    "Web": "Marketing",
    "Advertisement": "Marketing",
    "Email": "Marketing",
    "Trade Show": "Marketing",
    "Webinar": "Marketing",
    "Partner Referral": "Partner",
    "Cold Call": "Sales",
    "Employee Referral": "Other",
    "Other": "Other",
}
_OPEN_STAGES = (
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Value Proposition", 50),
    ("Id. Decision Makers", 60),
    ("Perception Analysis", 70),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
)
_COMMENTS = (
    "Great support team.",
    "Onboarding took too long.",
    "Easy to use.",
    "Pricing is confusing.",
    "Would recommend to a colleague.",
    None,
    None,
)


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


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return dt.date(year, month, min(day.day, last))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sec(value: dt.datetime) -> dt.datetime:
    """Salesforce keeps datetimes to the second."""
    return value.replace(microsecond=0)


class Org:
    """A deterministic synthetic Salesforce org of about ``records`` records."""

    def __init__(
        self,
        records: int = 2000,
        seed: int = 0,
        now: dt.datetime = DEFAULT_NOW,
        multi_currency: bool = True,
        custom_fields: bool = True,
        default_currency: str = "USD",
    ) -> None:
        if default_currency not in ORG_CURRENCIES:
            raise SandboxError(
                f"default_currency {default_currency!r} is not one of {', '.join(ORG_CURRENCIES)}"
            )
        self.seed = seed
        self.now = now.astimezone(UTC)
        self.start = self.now - HISTORY
        self.span = self.now - self.start
        self.multi_currency = multi_currency
        self.custom_fields = custom_fields
        self.default_currency = default_currency
        self.objects: dict[str, ObjectDef] = build_objects(multi_currency, custom_fields)
        self.by_lower = {name.lower(): o for name, o in self.objects.items()}
        self.by_prefix = {o.key_prefix: o for o in self.objects.values()}
        accounts = max(10, round(records / 16))
        self.n_accounts = accounts
        self.n_users = min(250, max(8, accounts // 40))
        self.n_campaigns = min(400, max(10, accounts // 25))
        self._base: dict[str, int] = {
            "UserRole": len(ROLES),
            "User": self.n_users,
            "Account": accounts,
            "Contact": 2 * accounts,
            "Lead": 3 * accounts,
            "Campaign": self.n_campaigns,
            "Opportunity": 3 * accounts,
            "Task": 4 * accounts,
            "Event": accounts,
            "Case": accounts,
            "Contract": 0,
            "Survey_Response__c": accounts,
            "Organization": 1,
        }
        # Contracts exist only for customers: index them once (two small int arrays).
        self._contract_account = array("l")
        self._contract_seq = array("l")
        self._first_contract = array("l", [-1]) * accounts
        for a in range(accounts):
            story = self.story(a)
            if story.contracts:
                self._first_contract[a] = len(self._contract_account)
            for seq in range(len(story.contracts)):
                self._contract_account.append(a)
                self._contract_seq.append(seq)
        self._base["Contract"] = len(self._contract_account)
        self._generators = {
            "UserRole": self._user_role,
            "User": self._user,
            "Account": self._account,
            "Contact": self._contact,
            "Lead": self._lead,
            "Campaign": self._campaign,
            "Opportunity": self._opportunity,
            "Task": self._task,
            "Event": self._event,
            "Case": self._case,
            "Contract": self._contract,
            "Survey_Response__c": self._survey,
            "Organization": self._organization,
        }
        # Without custom fields, generated records drop the ones the org does not have.
        self._hidden: dict[str, frozenset[str]] = {
            name: frozenset(f.name for f in full.fields)
            - {f.name for f in self.objects[name].fields}
            for name, full in build_objects(multi_currency).items()
            if name in self.objects
        }
        self._base = {name: count for name, count in self._base.items() if name in self.objects}
        self._lock = threading.RLock()
        self._clock = self.now
        self._overrides: dict[str, dict[int, Record]] = {name: {} for name in self.objects}
        self._removed: dict[str, set[int]] = {name: set() for name in self.objects}
        self._added: dict[str, list[Record]] = {name: [] for name in self.objects}
        self._ties: dict[str, dict[int, dt.datetime]] = {}

    # --- sizes and lookup ------------------------------------------------------------------

    def object(self, name: str) -> ObjectDef:
        obj = self.by_lower.get(name.lower())
        if obj is None:
            raise SandboxError(f"no sObject type {name!r} in the sandbox org")
        return obj

    def counts(self, include_deleted: bool = False) -> dict[str, int]:
        """Live records per object (soft-deleted ones too with ``include_deleted``)."""
        return {
            name: sum(1 for _ in self.iter_records(name, include_deleted=include_deleted))
            for name in self.objects
        }

    def base_count(self, obj: str) -> int:
        return self._base[obj]

    def id_of(self, obj: str, index: int) -> str:
        return make_id(self.objects[obj].key_prefix, index)

    def locate(self, record_id: str) -> tuple[str, int] | None:
        parsed = parse_id(record_id)
        if parsed is None:
            return None
        obj = self.by_prefix.get(parsed[0])
        if obj is None:
            return None
        return obj.name, parsed[1]

    def record(self, obj: str, index: int) -> Record | None:
        """The current record ``index`` of ``obj`` (``None`` when it does not exist)."""
        base = self._base[obj]
        with self._lock:
            if index in self._removed[obj]:
                return None
            if index >= base:
                pos = index - base
                added = self._added[obj]
                return dict(added[pos]) if 0 <= pos < len(added) else None
            override = self._overrides[obj].get(index)
        if index < 0:
            return None
        rec = self._generators[obj](index)
        for name in self._hidden[obj]:
            rec.pop(name, None)
        ties = self._ties_for(obj)
        if index in ties:
            rec["SystemModstamp"] = ties[index]
        if override:
            rec.update(override)
        return rec

    def get(self, record_id: str) -> Record | None:
        located = self.locate(record_id)
        if located is None:
            return None
        return self.record(*located)

    def iter_records(self, obj: str, include_deleted: bool = False) -> Iterator[tuple[int, Record]]:
        """``(index, record)`` for every record of ``obj``, in index (= Id) order."""
        total = self._base[obj] + len(self._added[obj])
        for index in range(total):
            rec = self.record(obj, index)
            if rec is None:
                continue
            if not include_deleted and rec.get("IsDeleted"):
                continue
            yield index, rec

    # --- mutations (the Python API tests use between syncs) ------------------------------------

    def tick(self, seconds: float = 1.0) -> dt.datetime:
        """Advance the logical clock and return the new time."""
        with self._lock:
            self._clock = _sec(self._clock + dt.timedelta(seconds=seconds))
            return self._clock

    @property
    def clock(self) -> dt.datetime:
        return self._clock

    def _check_fields(self, obj: ObjectDef, fields: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in fields.items():
            fdef = obj.field(key)
            if fdef is None:
                raise SandboxError(f"no field {key!r} on {obj.name}")
            if fdef.name in ("Id",):
                raise SandboxError("the Id of a record cannot change")
            out[fdef.name] = value
        return out

    def _name_fix(self, obj: ObjectDef, rec: Record) -> None:
        if obj.name in ("Contact", "Lead", "User") and ("FirstName" in rec or "LastName" in rec):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)

    def update(self, record_id: str, stamp: dt.datetime | None = None, **fields: Any) -> Record:
        """Change fields of a record; bumps ``LastModifiedDate`` and ``SystemModstamp``."""
        obj_name, index = self._require(record_id)
        obj = self.objects[obj_name]
        changes = self._check_fields(obj, fields)
        with self._lock:
            when = stamp or self.tick()
            current = self.record(obj_name, index)
            assert current is not None
            current.update(changes)
            self._name_fix(obj, current)
            if "LastModifiedDate" in current:
                current["LastModifiedDate"] = when
            current["SystemModstamp"] = when
            self._store(obj_name, index, current)
            return dict(current)

    def update_many(self, record_ids: list[str], **fields: Any) -> dt.datetime:
        """Update several records with one shared ``SystemModstamp`` (a mass update); returns it."""
        with self._lock:
            when = self.tick()
            for record_id in record_ids:
                self.update(record_id, stamp=when, **fields)
            return when

    def delete(self, record_id: str) -> Record:
        """Soft-delete (to the recycle bin): only ``queryAll`` returns it, ``IsDeleted`` true."""
        obj_name, _ = self._require(record_id)
        if not self.objects[obj_name].has_is_deleted:
            raise SandboxError(f"{obj_name} records cannot be deleted")
        return self.update(record_id, IsDeleted=True)

    def undelete(self, record_id: str) -> Record:
        return self.update(record_id, IsDeleted=False)

    def hard_delete(self, record_id: str) -> None:
        """Remove a record without a tombstone (an emptied recycle bin): no query returns it."""
        obj_name, index = self._require(record_id)
        with self._lock:
            self._removed[obj_name].add(index)
            self.tick()

    def create(self, obj_name: str, **fields: Any) -> Record:
        """Insert a record; returns it with its new ``Id``."""
        obj = self.object(obj_name)
        values = self._check_fields(obj, fields)
        with self._lock:
            when = self.tick()
            index = self._base[obj.name] + len(self._added[obj.name])
            rec: Record = {}
            for f in obj.fields:
                rec[f.name] = False if f.type == "boolean" and not f.nillable else None
            rec.update(values)
            rec["Id"] = make_id(obj.key_prefix, index)
            admin = self.id_of("User", 0)
            for key in ("CreatedById", "LastModifiedById"):
                if key in rec:
                    rec[key] = admin
            if "OwnerId" in rec and rec["OwnerId"] is None:
                rec["OwnerId"] = admin
            for key in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                if key in rec:
                    rec[key] = when
            if "IsDeleted" in rec:
                rec["IsDeleted"] = bool(rec.get("IsDeleted"))
            self._name_fix(obj, rec)
            self._added[obj.name].append(rec)
            return dict(rec)

    def _require(self, record_id: str) -> tuple[str, int]:
        located = self.locate(record_id)
        if located is None or self.record(*located) is None:
            raise SandboxError(f"no record with id {record_id!r}")
        return located

    def _store(self, obj: str, index: int, rec: Record) -> None:
        base = self._base[obj]
        if index >= base:
            self._added[obj][index - base] = rec
        else:
            self._overrides[obj][index] = rec

    # --- the page-boundary tie ------------------------------------------------------------

    def _ties_for(self, obj: str) -> dict[int, dt.datetime]:
        ties = self._ties.get(obj)
        if ties is not None:
            return ties
        with self._lock:
            if obj in self._ties:
                return self._ties[obj]
            found: dict[int, dt.datetime] = {}
            self._ties[obj] = found  # generators below must not recurse into this
            n = self._base[obj]
            if n > PAGE_BOUNDARY:
                gen = self._generators[obj]
                stamps = []
                for index in range(n):
                    rec = gen(index)
                    if not rec.get("IsDeleted"):
                        stamps.append((rec["SystemModstamp"], index))
                stamps.sort()
                for boundary in range(PAGE_BOUNDARY, len(stamps), PAGE_BOUNDARY):
                    block = stamps[boundary - TIE_HALF_WIDTH : boundary + TIE_HALF_WIDTH]
                    shared = block[-1][0]
                    for _, index in block:
                        found[index] = shared
            return found

    # --- random helpers -------------------------------------------------------------------

    def _rng(self, obj: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{obj}:{index}")

    def _pos_time(
        self, rng: random.Random, index: int, n: int, end_margin: dt.timedelta
    ) -> dt.datetime:
        span = self.span - end_margin
        return _sec(self.start + span * ((index + rng.random()) / max(1, n)))

    def _before_now(self, lo: dt.datetime, wanted: dt.datetime, rng: random.Random) -> dt.datetime:
        """``wanted`` if it is in the past, else a time between ``lo`` and now."""
        if wanted <= self.now:
            return _sec(wanted)
        lo = min(lo, self.now)
        return _sec(lo + (self.now - lo) * rng.uniform(0.1, 0.95))

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
        modified = min(_sec(modified), self.now)
        if created is not None:
            rec["CreatedDate"] = _sec(created)
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

    # --- the account story ------------------------------------------------------------------

    @functools.lru_cache(maxsize=16384)  # noqa: B019 - the org lives as long as its cache
    def story(self, a: int) -> Story:
        rng = self._rng("Account.story", a)
        created = self._pos_time(rng, a, self.n_accounts, dt.timedelta(days=45))
        segment = rng.choices(SEGMENTS, (60, 30, 10))[0]
        base_amount = {"SMB": 8000.0, "Mid-Market": 35000.0, "Enterprise": 140000.0}[segment]
        base_amount = round(base_amount * rng.uniform(0.5, 1.8), -2)
        source = rng.choices(LEAD_SOURCES, (20, 12, 12, 8, 8, 12, 14, 8, 6))[0]
        from_lead = rng.random() < 0.65
        lead_created = _sec(created - DAY * rng.uniform(3, 90))
        currency = rng.choices(CURRENCIES, (85, 10, 5))[0]
        name = f"{rng.choice(_CO_A)} {rng.choice(_CO_B)} {rng.choice(_CO_C)}"

        def deal(
            kind: str,
            opened: dt.datetime,
            cycle_days: float,
            p_win: float,
            amount: float,
            campaign: int | None = None,
        ) -> OppPlan:
            close = _sec(opened + DAY * cycle_days)
            closed = close <= self.now
            won = closed and rng.random() < p_win
            return OppPlan(kind, _sec(opened), close, closed, won, round(amount, -2), campaign)

        campaign = None
        if source in MARKETING_SOURCES and rng.random() < 0.7:
            campaign = self._campaign_for(source, created)
        first = deal(
            "New Business",
            created + dt.timedelta(seconds=rng.randint(0, 60)),
            rng.uniform(10, 120),
            0.5,
            base_amount,
            campaign,
        )
        since = first.close if first.won else None
        if since is None:
            # a second new-business attempt, later
            if first.closed:
                opened = self._before_now(
                    first.close, first.close + DAY * rng.uniform(60, 400), rng
                )
            else:
                opened = _sec(created + (self.now - created) * rng.uniform(0.05, 0.3))
            second = deal("New Business", opened, rng.uniform(10, 90), 0.3, base_amount * 0.8)
            if second.won:
                since = second.close
        # contracts (only customers) decide renewal and churn
        contracts: list[ContractPlan] = []
        churned_at: dt.datetime | None = None
        if since is not None:
            start = since.date()
            term = 12 if rng.random() < 0.7 else 24
            value = base_amount
            while True:
                end = _add_months(start, term) - DAY
                ended = end < self.now.date()
                renew = ended and rng.random() < 0.75
                seq = len(contracts)
                flag: bool | None = (rng.random() < 0.6) if renew else (False if ended else None)
                if renew and not flag:
                    flag = None  # renewed, but only Renewal_Of__c on the next contract says so
                contracts.append(
                    ContractPlan(
                        start, term, round(value * term / 12, -2), flag, seq - 1 if seq else None
                    )
                )
                if not ended:
                    break
                if not renew:
                    churn = _midnight(end) + DAY * rng.uniform(0, 20)
                    churned_at = _sec(churn) if churn <= self.now else None
                    break
                start, term, value = end + DAY, 12, value * rng.uniform(1.0, 1.1)
        if since is not None:
            # an upsell after the customer arrived
            lo = since
            hi = churned_at or self.now
            opened = _sec(lo + (hi - lo) * rng.uniform(0.1, 0.9))
            second = deal(
                "Existing Customer - Upgrade",
                opened,
                rng.uniform(7, 90),
                0.55,
                base_amount * rng.uniform(0.2, 0.5),
            )
            if churned_at is not None and second.close > churned_at:
                second = OppPlan(
                    second.kind, second.created, churned_at, True, False, second.amount, None
                )
            first_end = _add_months(contracts[0].start, contracts[0].term) - DAY
            renewed = len(contracts) > 1
            if first_end < self.now.date():
                close = _sec(_midnight(first_end) - DAY * rng.uniform(0, 15))
                opened = max(since + DAY, close - DAY * 60)
                third = OppPlan(
                    "Renewal",
                    opened,
                    max(close, opened),
                    True,
                    renewed,
                    round(contracts[1].value if renewed else base_amount, -2),
                    None,
                )
            else:
                opened = self._before_now(since + DAY, _midnight(first_end) - DAY * 90, rng)
                third = OppPlan(
                    "Renewal",
                    opened,
                    _midnight(first_end),
                    False,
                    False,
                    round(base_amount, -2),
                    None,
                )
        else:
            opened = _sec(
                max(created + dt.timedelta(hours=1), self.now - DAY * rng.uniform(1, 120))
            )
            third = OppPlan(
                "New Business",
                opened,
                _sec(opened + DAY * rng.uniform(20, 120)),
                False,
                False,
                round(base_amount * 1.1, -2),
                None,
            )
            if third.close <= self.now:
                third = OppPlan(
                    third.kind, third.created, self.now + DAY * 30, False, False, third.amount, None
                )
        return Story(
            name=name,
            created=created,
            owner=rng.choice(self._sales_users),
            segment=segment,
            industry=rng.choice(INDUSTRIES),
            currency=currency,
            lead_source=source,
            from_lead=from_lead,
            lead_created=lead_created,
            opps=(first, second, third),
            customer_since=since,
            since_on_record=since is not None and rng.random() < 0.7,
            churned_at=churned_at,
            contracts=tuple(contracts),
        )

    def _campaign_for(self, source: str, when: dt.datetime) -> int | None:
        """The latest acquisition campaign of the same channel that started before ``when``."""
        channel = MARKETING_SOURCES.index(source)
        latest = min(
            self.n_campaigns - 1, int((when - self.start) / self.span * self.n_campaigns) - 1
        )
        for m in range(latest, -1, -1):
            if m % len(MARKETING_SOURCES) == channel and m % 7 != 6:
                return m
        return None

    # --- generators, one per object -------------------------------------------------------

    def _user_role(self, i: int) -> Record:
        rng = self._rng("UserRole", i)
        rec: Record = {
            "Id": make_id("00E", i),
            "Name": ROLES[i],
            "DeveloperName": ROLES[i].replace(" ", "_").replace(".", ""),
            "ParentRoleId": None if i == 0 else make_id("00E", 0),
        }
        return self._audit(rec, None, self.start - DAY * 400, 0, rng, deletable=False)

    def _user(self, i: int) -> Record:
        rng = self._rng("User", i)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        if i == 0:
            first, last = "Sandbox", "Admin"
        username = (
            "sandbox@crm-connect.test" if i == 0 else f"{first}.{last}.{i}@crm-connect.test".lower()
        )
        active = i == 0 or rng.random() < 0.9
        roll = rng.random()
        if i == 0:
            last_login: dt.datetime | None = self.now - dt.timedelta(hours=1)
        elif roll < 0.5 and active:
            last_login = self.now - DAY * rng.uniform(0.01, 6.9)
        elif roll < 0.8 or not active:
            last_login = self.now - DAY * rng.uniform(8, 300)
        else:
            last_login = None  # never logged in
        created = self.start - DAY * rng.uniform(30, 400)
        rec: Record = {
            "Id": make_id("005", i),
            "Username": username,
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Email": username,
            "Alias": (first[:1] + last[:4]).lower(),
            "IsActive": active,
            "UserRoleId": make_id("00E", self._role_of(i)),
            "Title": ROLES[self._role_of(i)],
            "Department": (
                "Executive",
                "Sales",
                "Sales",
                "Sales",
                "Marketing",
                "Support",
                "Customer Success",
            )[self._role_of(i)],
            "UserType": "Standard",
            "LastLoginDate": _sec(last_login) if last_login else None,
            "TimeZoneSidKey": rng.choice(
                ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris")
            ),
        }
        self._with_currency(rec, "USD")
        modified = created + DAY * rng.uniform(0, 300)
        return self._audit(rec, created, modified, 0, rng, deletable=False)

    def _account(self, a: int) -> Record:
        s = self.story(a)
        rng = self._rng("Account", a)
        city, country = rng.choice(_CITIES)
        modified = s.created + dt.timedelta(minutes=rng.randint(0, 600))
        if s.customer_since and s.since_on_record:
            modified = max(modified, s.customer_since)
        if s.churned_at:
            modified = max(modified, s.churned_at)
        customer = s.customer_since is not None
        rec: Record = {
            "Id": make_id("001", a),
            "Name": s.name,
            "Type": ("Customer - Direct" if rng.random() < 0.8 else "Customer - Channel")
            if customer
            else "Prospect",
            "ParentId": None,
            "BillingCity": city,
            "BillingCountry": country,
            "Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "Website": "https://www."
            + s.name.split()[0].lower()
            + s.name.split()[1].lower()
            + ".example",
            "Industry": s.industry,
            "AnnualRevenue": float(
                round(
                    {"SMB": 2e6, "Mid-Market": 4e7, "Enterprise": 6e8}[s.segment]
                    * rng.uniform(0.3, 2.0),
                    -4,
                )
            ),
            "NumberOfEmployees": int(
                {"SMB": 40, "Mid-Market": 600, "Enterprise": 8000}[s.segment]
                * rng.uniform(0.3, 2.5)
            ),
            "AccountSource": s.lead_source,
            "LastActivityDate": None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        rec["Customer_Since__c"] = s.customer_since if s.since_on_record else None
        rec["Churned_At__c"] = s.churned_at
        rec["Segment__c"] = s.segment
        rec["Acquisition_Channel__c"] = s.lead_source
        return self._audit(rec, s.created, modified, s.owner, rng)

    def _contact(self, c: int) -> Record:
        a, k = c % self.n_accounts, c // self.n_accounts
        s = self.story(a)
        rng = self._rng("Contact", c)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        if k == 0:
            created = s.created
        else:
            created = self._before_now(s.created, s.created + DAY * rng.uniform(1, 300), rng)
        domain = s.name.split()[0].lower() + s.name.split()[1].lower() + ".example"
        rec: Record = {
            "Id": make_id("003", c),
            "AccountId": make_id("001", a),
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Email": f"{first}.{last}{c}@{domain}".lower(),
            "Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "Title": rng.choice(
                ("CTO", "VP Operations", "Head of Sales", "Buyer", "Engineer", "CFO")
            ),
            "LeadSource": s.lead_source if k == 0 else rng.choice(LEAD_SOURCES),
            "LastActivityDate": None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        modified = created + DAY * rng.uniform(0, 20)
        return self._audit(rec, created, self._before_now(created, modified, rng), s.owner, rng)

    def _lead_created(self, lead: int) -> dt.datetime:
        if lead < self.n_accounts and self.story(lead).from_lead:
            return self.story(lead).lead_created
        rng = self._rng("Lead.created", lead)
        return self._pos_time(rng, lead, 3 * self.n_accounts, dt.timedelta(days=1))

    def _lead(self, lead: int) -> Record:
        rng = self._rng("Lead", lead)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        converted = lead < self.n_accounts and self.story(lead).from_lead
        created = self._lead_created(lead)
        if converted:
            s = self.story(lead)
            source = s.lead_source
            company = s.name
            status = "Closed - Converted"
            modified = s.created
            owner = s.owner
        else:
            source = rng.choices(LEAD_SOURCES, (20, 12, 12, 8, 8, 12, 14, 8, 6))[0]
            company = f"{rng.choice(_CO_A)} {rng.choice(_CO_B)} {rng.choice(_CO_C)}"
            age = (self.now - created).days
            if age > 60:
                status = "Closed - Not Converted" if rng.random() < 0.6 else "Working - Contacted"
            else:
                status = "Open - Not Contacted" if rng.random() < 0.5 else "Working - Contacted"
            modified = self._before_now(created, created + DAY * rng.uniform(0, 30), rng)
            owner = rng.choice(self._sales_users)
        origin: str | None = _ORIGIN[source]
        if not converted and rng.random() < 0.03:
            origin = None
        rec: Record = {
            "Id": make_id("00Q", lead),
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Title": rng.choice(
                ("CTO", "VP Operations", "Head of Sales", "Buyer", "Engineer", "CFO")
            ),
            "Company": company,
            "Email": f"{first}.{last}.{lead}@lead.example".lower(),
            "LeadSource": source,
            "Status": status,
            "Industry": rng.choice(INDUSTRIES),
            "Rating": rng.choice(("Hot", "Warm", "Cold")),
            "IsConverted": converted,
            "ConvertedDate": self.story(lead).created.date() if converted else None,
            "ConvertedAccountId": make_id("001", lead) if converted else None,
            "ConvertedContactId": make_id("003", lead) if converted else None,
            "ConvertedOpportunityId": make_id("006", lead) if converted else None,
            "OwnerId": self._uid(owner),
        }
        self._with_currency(rec, self.story(lead).currency if converted else "USD")
        rec["Origin__c"] = origin
        return self._audit(rec, created, modified, owner, rng)

    def _campaign(self, m: int) -> Record:
        rng = self._rng("Campaign", m)
        retention = m % 7 == 6
        channel = "Email" if retention else MARKETING_SOURCES[m % len(MARKETING_SOURCES)]
        start = self.start + self.span * (m / self.n_campaigns) + DAY * rng.uniform(0, 3)
        end = start + DAY * rng.uniform(14, 90)
        budget = float(round(rng.uniform(3000, 40000), -2))
        if end.date() < self.now.date():
            status = "Aborted" if rng.random() < 0.05 else "Completed"
            actual = (
                budget * rng.uniform(0.7, 1.2)
                if status == "Completed"
                else budget * rng.uniform(0, 0.3)
            )
        else:
            status = "In Progress"
            actual = budget * (self.now - start) / (end - start)
        created = start - DAY * rng.uniform(7, 30)
        quarter = (start.month - 1) // 3 + 1
        purpose = "Retention" if retention else "Acquisition"
        name = f"{start.year} Q{quarter} {channel} {purpose} #{m + 1}"
        rec: Record = {
            "Id": make_id("701", m),
            "Name": name,
            "ParentId": None,
            "Type": "Email" if retention else _CAMPAIGN_TYPE[channel],
            "Status": status,
            "StartDate": start.date(),
            "EndDate": end.date(),
            "ExpectedRevenue": float(round(budget * rng.uniform(2, 6), -2)),
            "BudgetedCost": budget,
            "ActualCost": float(round(actual, 2)),
            "IsActive": status == "In Progress",
            "OwnerId": self._uid(rng.choice(self._marketing_users)),
        }
        self._with_currency(rec, "USD")
        rec["Channel__c"] = channel
        rec["Spend_Category__c"] = "Retention" if retention else "Acquisition"
        modified = self._before_now(created, min(end, self.now), rng)
        return self._audit(rec, created, modified, 0, rng)

    def _opportunity(self, j: int) -> Record:
        a, k = j % self.n_accounts, j // self.n_accounts
        s = self.story(a)
        plan = s.opps[k]
        rng = self._rng("Opportunity", j)
        if plan.closed:
            stage, probability = ("Closed Won", 100) if plan.won else ("Closed Lost", 0)
            forecast = "Closed" if plan.won else "Omitted"
        else:
            progress = min(
                0.99, max(0.0, (self.now - plan.created) / max(plan.close - plan.created, DAY))
            )
            stage, probability = _OPEN_STAGES[
                min(len(_OPEN_STAGES) - 1, int(progress * len(_OPEN_STAGES)))
            ]
            forecast = (
                "Commit"
                if probability >= 75
                else ("Best Case" if probability >= 50 else "Pipeline")
            )
        product = rng.choice(
            ("Platform", "Analytics Add-on", "Support Plan", "Seats", "Integration")
        )
        rec: Record = {
            "Id": make_id("006", j),
            "AccountId": make_id("001", a),
            "Name": f"{s.name} - {product}" + (" Renewal" if plan.kind == "Renewal" else ""),
            "StageName": stage,
            "Amount": plan.amount if rng.random() > 0.02 else None,
            "Probability": float(probability),
            "CloseDate": plan.close.date(),
            "Type": plan.kind,
            "LeadSource": s.lead_source
            if k == 0
            else (s.lead_source if rng.random() < 0.5 else "Other"),
            "IsClosed": plan.closed,
            "IsWon": plan.won,
            "ForecastCategoryName": forecast,
            "CampaignId": make_id("701", plan.campaign) if plan.campaign is not None else None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        modified = (
            plan.close
            if plan.closed
            else plan.created + (self.now - plan.created) * rng.uniform(0, 1)
        )
        return self._audit(rec, plan.created, modified, s.owner, rng)

    def _who_for_activity(
        self, rng: random.Random, lead_share: float
    ) -> tuple[Record, dt.datetime]:
        """Pick a lead or a contact for an activity and a time in its life; returns ids and time."""
        if rng.random() < lead_share:
            lead = rng.randrange(3 * self.n_accounts)
            created = self._lead_created(lead)
            when = created + DAY * rng.uniform(0.05, 14)
            if lead < self.n_accounts and self.story(lead).from_lead:
                owner = self.story(lead).owner
            else:
                owner = self._sales_users[lead % len(self._sales_users)]
            return {
                "WhoId": make_id("00Q", lead),
                "WhatId": None,
                "AccountId": None,
                "owner": owner,
            }, _sec(when)
        contact = rng.randrange(2 * self.n_accounts)
        a = contact % self.n_accounts
        s = self.story(a)
        born = s.created
        when = born + (self.now + DAY * 14 - born) * rng.random()
        what = (
            make_id("006", a + self.n_accounts * rng.randrange(3))
            if rng.random() < 0.5
            else make_id("001", a)
        )
        return {
            "WhoId": make_id("003", contact),
            "WhatId": what,
            "AccountId": make_id("001", a),
            "owner": s.owner,
        }, _sec(when)

    def _task(self, t: int) -> Record:
        rng = self._rng("Task", t)
        who, when = self._who_for_activity(rng, 0.4)
        owner = who.pop("owner")
        subtype = rng.choices(("Call", "Email", "LinkedIn", "Task"), (35, 35, 10, 20))[0]
        past = when <= self.now
        completed = past and rng.random() < 0.92
        direction: str | None = None
        call_type = None
        duration = None
        opened = clicked = False
        if subtype == "Call":
            direction = "Outbound" if rng.random() < 0.75 else "Inbound"
            call_type = direction
            subject = f"Call: {rng.choice(('Discovery', 'Follow-up', 'Check-in', 'Demo recap'))}"
            if completed:
                duration = rng.randint(30, 1800)
        elif subtype == "Email":
            direction = "Outbound" if rng.random() < 0.85 else "Inbound"
            subject = (
                f"Email: {rng.choice(('Intro', 'Proposal', 'Follow-up', 'Newsletter', 'Renewal'))}"
            )
            if direction == "Outbound":
                opened = rng.random() < 0.45
                clicked = opened and rng.random() < 0.3
        elif subtype == "LinkedIn":
            direction = "Outbound" if rng.random() < 0.5 else "Inbound"
            action = rng.choice(("Liked a post", "Shared a post", "Commented", "Connected"))
            subject = f"LinkedIn: {action}"
        else:
            subject = rng.choice(("Prepare proposal", "Update CRM", "Send contract", "Plan QBR"))
        status = (
            "Completed"
            if completed
            else ("Not Started" if not past or rng.random() < 0.5 else "In Progress")
        )
        done_at = _sec(when + dt.timedelta(minutes=rng.randint(1, 120))) if completed else None
        if done_at is not None and done_at > self.now:
            done_at = self.now
        created = min(when - DAY * rng.uniform(0, 2), self.now - dt.timedelta(minutes=5))
        rec: Record = {
            "Id": make_id("00T", t),
            **who,
            "Subject": subject,
            "ActivityDate": when.date(),
            "Status": status,
            "Priority": rng.choice(("High", "Normal", "Normal", "Low")),
            "IsClosed": completed,
            "TaskSubtype": subtype,
            "Type": {"Call": "Call", "Email": "Email", "LinkedIn": "Other", "Task": "Other"}[
                subtype
            ],
            "CallType": call_type,
            "CallDurationInSeconds": duration,
            "CompletedDateTime": done_at,
            "OwnerId": self._uid(owner),
            "Direction__c": direction,
            "Email_Opened__c": opened,
            "Email_Clicked__c": clicked,
        }
        return self._audit(rec, created, done_at or created, owner, rng)

    def _event(self, e: int) -> Record:
        rng = self._rng("Event", e)
        who, when = self._who_for_activity(rng, 0.3)
        owner = who.pop("owner")
        minutes = rng.choice((30, 45, 60))
        created = min(when - DAY * rng.uniform(1, 10), self.now - dt.timedelta(minutes=5))
        rec: Record = {
            "Id": make_id("00U", e),
            **who,
            "Subject": "Meeting: "
            + rng.choice(("Discovery", "Demo", "QBR", "Negotiation", "Onboarding")),
            "ActivityDate": when.date(),
            "ActivityDateTime": when,
            "StartDateTime": when,
            "EndDateTime": when + dt.timedelta(minutes=minutes),
            "DurationInMinutes": minutes,
            "EventSubtype": "Event",
            "Type": "Meeting",
            "OwnerId": self._uid(owner),
            "Direction__c": "Outbound" if rng.random() < 0.8 else "Inbound",
        }
        modified = min(when + dt.timedelta(minutes=minutes), self.now)
        return self._audit(rec, created, modified, owner, rng)

    def _customer_account(self, rng: random.Random, when: dt.datetime) -> int:
        limit = max(
            1,
            min(
                self.n_accounts, int((when - self.start) / (self.span - DAY * 45) * self.n_accounts)
            ),
        )
        pick = rng.randrange(limit)
        for _ in range(4):
            since = self.story(pick).customer_since
            if since is not None and since <= when:
                return pick
            pick = rng.randrange(limit)
        return pick

    def _case(self, i: int) -> Record:
        rng = self._rng("Case", i)
        created = self._pos_time(rng, i, self.n_accounts, dt.timedelta(hours=2))
        a = self._customer_account(rng, created)
        s = self.story(a)
        first = (
            _sec(created + dt.timedelta(hours=rng.lognormvariate(1.0, 1.2)))
            if rng.random() < 0.92
            else None
        )
        closed_at = _sec(created + dt.timedelta(hours=rng.uniform(1, 360)))
        closed = closed_at <= self.now
        if first is not None and (first > self.now or (closed and first > closed_at)):
            first = closed_at if closed else None
        interactions: float | None = float(1 if rng.random() < 0.35 else rng.randint(2, 8))
        if rng.random() < 0.05:
            interactions = None
        handle: float | None = round(rng.uniform(4, 180), 2) if rng.random() < 0.9 else None
        if closed:
            status = "Closed"
        elif first is None:
            status = "New"
        else:
            status = rng.choice(("Working", "Escalated", "Waiting on Customer"))
        owner = rng.choice(self._support_users)
        rec: Record = {
            "Id": make_id("500", i),
            "CaseNumber": f"{i + 1:08d}",
            "ContactId": make_id("003", a + self.n_accounts * rng.randrange(2)),
            "AccountId": make_id("001", a),
            "Subject": rng.choice(
                (
                    "Cannot log in",
                    "Invoice question",
                    "Sync error",
                    "Feature request",
                    "Data export",
                    "Password reset",
                    "Integration failing",
                )
            ),
            "Status": status,
            "Origin": rng.choices(("Phone", "Email", "Web", "Chat"), (30, 35, 20, 15))[0],
            "Priority": rng.choices(("High", "Medium", "Low"), (20, 50, 30))[0],
            "Type": rng.choice(("Question", "Problem", "Feature Request")),
            "IsClosed": closed,
            "ClosedDate": closed_at if closed else None,
            "IsEscalated": status == "Escalated",
            "OwnerId": self._uid(owner),
        }
        self._with_currency(rec, s.currency)
        rec["First_Response_At__c"] = first
        rec["Interactions__c"] = interactions
        rec["Handle_Time_Minutes__c"] = handle if closed or rng.random() < 0.3 else None
        modified = max(t for t in (created, first, closed_at if closed else None) if t is not None)
        return self._audit(rec, created, modified, owner, rng)

    def _contract(self, n: int) -> Record:
        a, seq = self._contract_account[n], self._contract_seq[n]
        s = self.story(a)
        plan = s.contracts[seq]
        rng = self._rng("Contract", n)
        end = _add_months(plan.start, plan.term) - DAY
        created = _midnight(plan.start) - DAY * rng.uniform(1, 20)
        activated = _sec(_midnight(plan.start) + dt.timedelta(hours=rng.uniform(8, 18)))
        expired = end < self.now.date()
        rec: Record = {
            "Id": make_id("800", n),
            "AccountId": make_id("001", a),
            "ContractNumber": f"{n + 1:08d}",
            "Status": "Activated",
            "StatusCode": "Expired" if expired else "Activated",
            "StartDate": plan.start,
            "EndDate": end,
            "ContractTerm": plan.term,
            "ActivatedDate": activated if activated <= self.now else None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        rec["Total_Value__c"] = plan.value
        rec["Renewed__c"] = bool(plan.renewed)
        if plan.renewed is None and not expired:
            rec["Renewed__c"] = False
        rec["Renewal_Of__c"] = make_id("800", n - 1) if plan.renewal_of is not None else None
        modified = min(self.now, max(activated, _midnight(end)) if expired else activated)
        return self._audit(rec, min(created, self.now - DAY), modified, s.owner, rng)

    def _survey(self, i: int) -> Record:
        rng = self._rng("Survey_Response__c", i)
        responded = self._pos_time(rng, i, self.n_accounts, dt.timedelta(hours=1))
        a = self._customer_account(rng, responded)
        kind = rng.choices(("NPS", "CSAT", "CES"), (50, 30, 20))[0]
        if kind == "NPS":
            low, high = 0.0, 10.0
            score = float(
                rng.choices(
                    (rng.randint(9, 10), rng.randint(7, 8), rng.randint(0, 6)), (45, 30, 25)
                )[0]
            )
        elif kind == "CSAT":
            low, high = (1.0, 5.0) if rng.random() < 0.8 else (1.0, 10.0)
            score = float(min(high, max(low, round(high - abs(rng.gauss(0, high * 0.25))))))
        else:
            low, high = (1.0, 7.0) if rng.random() < 0.7 else (1.0, 5.0)
            score = float(min(high, max(low, round(rng.uniform(low, high)))))
        owner = rng.choice(self._support_users)
        rec: Record = {
            "Id": make_id("a0S", i),
            "Name": f"SR-{i + 1:06d}",
            "OwnerId": self._uid(owner),
            "Type__c": kind,
            "Score__c": score,
            "Scale_Min__c": low,
            "Scale_Max__c": high,
            "Contact__c": make_id("003", a),
            "Account__c": make_id("001", a),
            "Responded_At__c": responded,
            "Comment__c": rng.choice(_COMMENTS),
        }
        created = responded + dt.timedelta(seconds=rng.randint(1, 90))
        return self._audit(rec, created, created, 0, rng)

    def _organization(self, i: int) -> Record:
        """The org's one ``Organization`` record: its corporate (default) currency and locale."""
        rng = self._rng("Organization", i)
        locale = {"EUR": "de_DE_EURO", "GBP": "en_GB"}.get(self.default_currency, "en_US")
        rec: Record = {
            "Id": make_id("00D", i),
            "Name": "crm-connect sandbox",
            "Division": None,
            "Country": "US",
            "Phone": None,
            "PrimaryContact": "Sandbox Admin",
            "DefaultLocaleSidKey": locale,
            "TimeZoneSidKey": "America/Los_Angeles",
            "LanguageLocaleKey": "en_US",
            "FiscalYearStartMonth": 1,
            "DefaultCurrencyIsoCode": self.default_currency,
            "OrganizationType": "Enterprise Edition",
            "InstanceName": "CS42",
            "IsSandbox": True,
        }
        return self._audit(rec, self.start - DAY * 500, self.start - DAY * 400, 0, rng,
                           deletable=False)
