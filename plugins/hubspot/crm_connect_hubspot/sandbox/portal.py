"""The sandbox portal's records, associations, owners and campaigns, and the ways a test changes
them between sync rounds.

Every CRM record is held as HubSpot holds it: an id and a map of property values that are all
text (or ``None``), plus its archived flag.  Creation and modification stamps are properties
(``createdate``/``hs_createdate``, ``hs_lastmodifieddate``/``lastmodifieddate``, per object type).

Time: generated data lies before :data:`DEFAULT_NOW` (2026-05-01T00:00:00Z).  Changes made through
:meth:`Portal.update`, :meth:`Portal.create` and :meth:`Portal.archive` are stamped by a logical
clock that starts at ``now`` and moves one second per change unless the caller gives the stamp,
so runs are reproducible and changes always sort after the generated history.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_connect.schema import parse_datetime

from .catalog import ObjectType, object_type, object_types, property_defs

__all__ = ["DEFAULT_NOW", "Portal", "PortalError", "StoredRecord", "iso_ms", "ms_of"]

UTC = dt.UTC
DEFAULT_NOW = dt.datetime(2026, 5, 1, tzinfo=UTC)
PropertyValue = str | None


_KINDS = dict(object_types())


class PortalError(LookupError):
    """A test asked the portal for something it does not have."""


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes datetimes: ``2026-02-25T16:26:25.880Z``."""
    seconds, milli = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}.{milli:03d}Z"


def ms_of(value: str | dt.datetime) -> int:
    """A HubSpot datetime as epoch milliseconds: digits are epoch milliseconds (as search
    filters send them), anything else is read by the core's :func:`parse_datetime`."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    parsed = parse_datetime(value)
    if not isinstance(parsed, dt.datetime):
        raise ValueError(f"{value!r} is not a datetime")
    return round(parsed.timestamp() * 1000)


@dataclass(slots=True)
class StoredRecord:
    """One CRM record: its id, its property values (text), whether it is archived."""

    id: int
    properties: dict[str, PropertyValue]
    archived: bool = False
    archived_at: int | None = None


@dataclass
class _Index:
    live_ids: list[int] = field(default_factory=list)
    archived_ids: list[int] = field(default_factory=list)
    by_modified: list[tuple[int, int]] = field(default_factory=list)


class Portal:
    """A HubSpot portal's data.  Build one with :func:`~.generate.generate_portal`.

    :param portal_id: the hub id, in record URLs and account details.
    :param now: the moment the generated history ends; changes are stamped after it.
    """

    def __init__(self, *, portal_id: int = 44237313, now: dt.datetime = DEFAULT_NOW,
                 currency: str = "USD") -> None:
        self.portal_id = portal_id
        self.now = now
        self.currency = currency
        self.records: dict[str, dict[int, StoredRecord]] = {name: {} for name in object_types()}
        # (from type, to type) -> from id -> [(to id, primary)]
        self.edges: dict[tuple[str, str], dict[int, list[tuple[int, bool]]]] = {}
        self.owners: list[dict[str, Any]] = []
        self.campaigns: list[dict[str, Any]] = []
        self._next_id = {name: kind.id_base + 1 for name, kind in object_types().items()}
        self._clock = ms_of(now)
        self._lock = threading.RLock()
        self._indexes: dict[str, _Index] = {}
        # records the search index has not caught up with yet (see hold_from_search)
        self.unindexed: dict[str, set[int]] = {name: set() for name in object_types()}
        # ids merged away -> the id they were merged into (see merge)
        self.merged: dict[str, dict[int, int]] = {name: {} for name in object_types()}

    # -- reading --------------------------------------------------------------------------------

    def kind(self, object_name: str) -> ObjectType:
        """The object type ``object_name`` names (plural, singular or type id)."""
        found = _KINDS.get(object_name) or object_type(object_name)
        if found is None:
            raise PortalError(f"the sandbox portal has no object type {object_name!r}")
        return found

    def get(self, object_name: str, record_id: int) -> StoredRecord | None:
        return self.records[self.kind(object_name).name].get(record_id)

    def survivor_of(self, object_name: str, record_id: int) -> int | None:
        """The id a merged-away record now lives on (``None``: it was never merged away)."""
        merged = self.merged[self.kind(object_name).name]
        found = merged.get(record_id)
        while found is not None and found in merged:  # merged again since
            found = merged[found]
        return found

    def record(self, object_name: str, record_id: int | str) -> StoredRecord:
        """A record by id; :class:`PortalError` when there is none."""
        found = self.get(object_name, int(record_id))
        if found is None:
            raise PortalError(f"no {object_name} record {record_id} in the sandbox portal")
        return found

    def live(self, object_name: str) -> list[StoredRecord]:
        """The records that are not archived, by id."""
        table = self.records[self.kind(object_name).name]
        return [table[i] for i in self._index(object_name).live_ids]

    def archived(self, object_name: str) -> list[StoredRecord]:
        """The archived records, by id."""
        table = self.records[self.kind(object_name).name]
        return [table[i] for i in self._index(object_name).archived_ids]

    def sorted_ids(self, object_name: str, *, archived: bool) -> list[int]:
        """Ids in ascending order, of live or of archived records (do not modify)."""
        index = self._index(object_name)
        return index.archived_ids if archived else index.live_ids

    def by_modified(self, object_name: str) -> list[tuple[int, int]]:
        """``(modified ms, id)`` of the live records, ascending (do not modify)."""
        return self._index(object_name).by_modified

    def modified_ms(self, object_name: str, record: StoredRecord) -> int:
        value = record.properties.get(self.kind(object_name).modified)
        return ms_of(value) if value else 0

    def latest_modified(self, object_name: str) -> int | None:
        """The greatest modification stamp of a live record (epoch ms): a sync's cursor."""
        ordered = self.by_modified(object_name)
        return ordered[-1][0] if ordered else None

    def associated(self, from_object: str, to_object: str,
                   record_id: int) -> list[tuple[int, bool]]:
        """``(to id, primary)`` of the records ``record_id`` is associated with."""
        key = (self.kind(from_object).name, self.kind(to_object).name)
        return list(self.edges.get(key, {}).get(record_id, []))

    def counts(self, *, include_archived: bool = False) -> dict[str, int]:
        """How many records each object type holds."""
        return {name: sum(1 for r in table.values() if include_archived or not r.archived)
                for name, table in self.records.items()}

    def _index(self, object_name: str) -> _Index:
        name = self.kind(object_name).name
        index = self._indexes.get(name)
        if index is not None:
            return index
        with self._lock:
            table = self.records[name]
            modified = self.kind(name).modified
            live = sorted(i for i, r in table.items() if not r.archived)
            index = _Index(
                live_ids=live,
                archived_ids=sorted(i for i, r in table.items() if r.archived),
                by_modified=sorted(
                    (ms_of(table[i].properties.get(modified) or "0"), i) for i in live),
            )
            self._indexes[name] = index
            return index

    def reindex(self, object_name: str) -> None:
        """Forget the sorted views of ``object_name`` after its records changed in place."""
        self._indexes.pop(self.kind(object_name).name, None)

    # -- building and changing ------------------------------------------------------------------

    def tick(self) -> int:
        """The next stamp of the logical clock (epoch ms), one second after the last."""
        with self._lock:
            self._clock += 1000
            return self._clock

    def add(self, object_name: str, properties: Mapping[str, PropertyValue], *,
            archived_at: int | None = None) -> int:
        """Store a record as generated (no stamping); returns its new id."""
        kind = self.kind(object_name)
        with self._lock:
            record_id = self._next_id[kind.name]
            self._next_id[kind.name] += 1
            values = dict(properties)
            values["hs_object_id"] = str(record_id)
            self.records[kind.name][record_id] = StoredRecord(
                record_id, values, archived_at is not None, archived_at)
            self.reindex(kind.name)
            return record_id

    def associate(self, from_object: str, from_id: int, to_object: str, to_id: int, *,
                  primary: bool = False) -> None:
        """Associate two records, in both directions."""
        a, b = self.kind(from_object).name, self.kind(to_object).name
        with self._lock:
            self.edges.setdefault((a, b), {}).setdefault(from_id, []).append((to_id, primary))
            self.edges.setdefault((b, a), {}).setdefault(to_id, []).append((from_id, primary))

    def create(self, object_name: str, properties: Mapping[str, PropertyValue] | None = None, *,
               at: int | None = None,
               associations: Mapping[str, Iterable[int]] | None = None) -> int:
        """Create a record as a user would, stamped ``at`` (epoch ms; default: the clock)."""
        kind = self.kind(object_name)
        self._check_properties(kind.name, properties or {})
        with self._lock:
            stamp = iso_ms(self.tick() if at is None else at)
            values: dict[str, PropertyValue] = {kind.created: stamp, kind.modified: stamp}
            values.update(properties or {})
            record_id = self.add(kind.name, values)
            for other, ids in (associations or {}).items():
                for other_id in ids:
                    self.associate(kind.name, record_id, other, other_id)
            return record_id

    def update(self, object_name: str, record_id: int | str,
               properties: Mapping[str, PropertyValue] | None = None, *,
               at: int | None = None) -> int:
        """Change property values and stamp the modification; returns the stamp (epoch ms)."""
        kind = self.kind(object_name)
        self._check_properties(kind.name, properties or {})
        with self._lock:
            record = self.record(kind.name, record_id)
            stamp = self.tick() if at is None else at
            record.properties.update(properties or {})
            record.properties[kind.modified] = iso_ms(stamp)
            self.reindex(kind.name)
            return stamp

    def archive(self, object_name: str, record_id: int | str, *, at: int | None = None) -> int:
        """Archive (delete) a record: lists with ``archived=true`` show it, search does not."""
        kind = self.kind(object_name)
        with self._lock:
            record = self.record(kind.name, record_id)
            stamp = self.tick() if at is None else at
            record.archived = True
            record.archived_at = stamp
            record.properties[kind.modified] = iso_ms(stamp)
            self.reindex(kind.name)
            return stamp

    def merge(self, object_name: str, primary_id: int | str, merged_id: int | str, *,
              at: int | None = None) -> int:
        """Merge ``merged_id`` into ``primary_id`` as HubSpot does: the primary keeps its id,
        gains the other's associations and lists it (and whatever had been merged into it) in
        ``hs_merged_object_ids`` (ids separated by ``;``); the merged-away record stops
        existing (no list, search or archived list shows it; reading it by id answers the
        primary).  Returns the stamp (epoch ms)."""
        kind = self.kind(object_name)
        if "hs_merged_object_ids" not in property_defs(kind.name):
            raise PortalError(f"{kind.name} records cannot be merged in the sandbox portal")
        with self._lock:
            primary = self.record(kind.name, primary_id)
            other = self.record(kind.name, merged_id)
            if primary.id == other.id or primary.archived or other.archived:
                raise PortalError(f"merge two different live {kind.name} records")
            stamp = self.tick() if at is None else at
            ids = [*_split_ids(primary.properties.get("hs_merged_object_ids")), str(other.id),
                   *_split_ids(other.properties.get("hs_merged_object_ids"))]
            primary.properties["hs_merged_object_ids"] = ";".join(dict.fromkeys(ids))
            primary.properties[kind.modified] = iso_ms(stamp)
            for (a, b), edges in self.edges.items():
                if a == kind.name and other.id in edges:
                    edges.setdefault(primary.id, []).extend(edges.pop(other.id))
                if b == kind.name:
                    for links in edges.values():
                        links[:] = [(primary.id if to_id == other.id else to_id, is_primary)
                                    for to_id, is_primary in links]
                for links in edges.values():  # once per associated record
                    links[:] = list({to_id: (to_id, flag) for to_id, flag in links}.values())
            del self.records[kind.name][other.id]
            self.merged[kind.name][other.id] = primary.id
            self.reindex(kind.name)
            return stamp

    def hold_from_search(self, object_name: str, record_ids: Iterable[int]) -> None:
        """Keep records out of search results, as HubSpot's search index lags behind writes:
        lists and batch reads show them, search does not until :meth:`release_to_search`."""
        with self._lock:
            self.unindexed[self.kind(object_name).name].update(int(i) for i in record_ids)

    def release_to_search(self, object_name: str | None = None) -> None:
        """Let the search index catch up (with one object type, or all)."""
        with self._lock:
            for name in [self.kind(object_name).name] if object_name else list(self.unindexed):
                self.unindexed[name].clear()

    def stamp_together(self, object_name: str, count: int, *, at: int | None = None) -> list[int]:
        """Make ``count`` live records share one modification stamp, as a mass update does:
        existing records first (lowest ids), then new ones.  Returns their ids."""
        kind = self.kind(object_name)
        with self._lock:
            stamp = self.tick() if at is None else at
            ids = list(self.sorted_ids(kind.name, archived=False)[:count])
            for record_id in ids:
                self.records[kind.name][record_id].properties[kind.modified] = iso_ms(stamp)
            while len(ids) < count:
                ids.append(self.create(kind.name, _filler(kind.name, len(ids)), at=stamp))
            self.reindex(kind.name)
            return ids

    def _check_properties(self, object_name: str, values: Mapping[str, PropertyValue]) -> None:
        defs = property_defs(object_name)
        unknown = sorted(set(values) - set(defs))
        if unknown:
            raise PortalError(f"{object_name} has no propert{'y' if len(unknown) == 1 else 'ies'} "
                              f"{', '.join(unknown)} in the sandbox portal")


def _split_ids(value: PropertyValue) -> list[str]:
    return [part for part in str(value or "").split(";") if part.strip()]


def _filler(object_name: str, n: int) -> dict[str, PropertyValue]:
    """Plausible values for a record created in bulk."""
    fillers: dict[str, dict[str, PropertyValue]] = {
        "companies": {"name": f"Bulk Company {n}", "domain": f"bulk{n}.example.com"},
        "contacts": {"email": f"bulk{n}@example.com", "firstname": "Bulk",
                     "lastname": f"Contact {n}", "lifecyclestage": "lead"},
        "deals": {"dealname": f"Bulk Deal {n}", "amount": "1000", "pipeline": "default",
                  "dealstage": "appointmentscheduled", "deal_currency_code": "USD"},
        "tickets": {"subject": f"Bulk ticket {n}", "hs_pipeline": "0", "hs_pipeline_stage": "1"},
    }
    return dict(fillers.get(object_name, {}))


def ids_from(values: Sequence[Any]) -> list[int]:
    """Record ids given as text or numbers, as ints (a bad one raises ``ValueError``)."""
    return [int(str(v)) for v in values]


def first_at_or_after(ordered: Sequence[int], value: int) -> int:
    """The position of the first id ``>= value`` in an ascending list."""
    return bisect.bisect_left(ordered, value)
