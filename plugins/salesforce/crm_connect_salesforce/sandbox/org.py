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
import threading
from array import array
from collections.abc import Iterator
from typing import Any

from .ids import make_id, parse_id
from .metadata import ObjectDef, build_objects
from .orgbase import (
    DEFAULT_NOW,
    HISTORY,
    PAGE_BOUNDARY,
    TIE_HALF_WIDTH,
    UTC,
    Record,
    SandboxError,
    whole_seconds,
)
from .orgdata import ORG_CURRENCIES, ROLES
from .service import ServiceRecords

__all__ = ["DEFAULT_NOW", "Org", "Record", "SandboxError"]


class Org(ServiceRecords):
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
            self._clock = whole_seconds(self._clock + dt.timedelta(seconds=seconds))
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

    def merge(self, master_id: str, *merged_ids: str) -> Record:
        """Merge one or two records into ``master_id`` as Salesforce's merge does (Accounts,
        Contacts or Leads): each merged record goes to the recycle bin (``IsDeleted``, only
        ``queryAll`` returns it) with ``MasterRecordId`` naming the master, the records that
        looked it up now look up the master, and the master is modified.  Returns the master."""
        obj_name, _ = self._require(master_id)
        if self.objects[obj_name].field("MasterRecordId") is None:
            raise SandboxError(f"{obj_name} records cannot be merged")
        if not 1 <= len(merged_ids) <= 2 or master_id in merged_ids:
            raise SandboxError("a merge takes a master record and one or two others")
        for other in merged_ids:
            other_obj, _ = self._require(other)
            current = self.get(other)
            if other_obj != obj_name or current is None or current.get("IsDeleted"):
                raise SandboxError(f"{other!r} is not a live {obj_name} to merge")
        with self._lock:
            when = self.tick()
            for other in merged_ids:
                self._repoint(obj_name, other, master_id, when)
                self.update(other, stamp=when, IsDeleted=True, MasterRecordId=master_id)
            return self.update(master_id, stamp=when)

    def _repoint(self, obj_name: str, old_id: str, new_id: str, when: dt.datetime) -> None:
        """Every lookup to ``old_id`` (an ``obj_name``) now points at ``new_id``."""
        for name, obj in self.objects.items():
            lookups = [f.name for f in obj.fields if obj_name in f.reference_to
                       and f.name != "MasterRecordId"]
            if not lookups:
                continue
            for _, rec in list(self.iter_records(name, include_deleted=True)):
                changes = {key: new_id for key in lookups if rec.get(key) == old_id}
                if changes and rec["Id"] != old_id:
                    self.update(rec["Id"], stamp=when, **changes)

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
