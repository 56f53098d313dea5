"""Read-only queries over what syncs left behind: the ``sync_runs`` log and the ``quarantine``.

They go through :meth:`Store.execute` with portable SQL, so every store backend answers them.
A store written by an older version that lacks a table answers with no rows.

A quarantined record's ``id`` is the first characters of the md5 of its (source, stream, key):
stable across re-syncs (the same bad record read again replaces its entry and keeps its id),
and ``show`` accepts any unambiguous prefix of at least four characters, as git does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from crm_connect.errors import ConfigError
from crm_connect.store_contract import Store

__all__ = ["QuarantineEntry", "RunRecord", "get_quarantined", "list_quarantine", "list_runs"]

ID_LENGTH = 8
_KEY_SQL = "md5(concat_ws('/', source, stream, record_key))"
_COUNT_FIELDS = ("records", "changed", "deleted", "quarantined")


@dataclass
class RunRecord:
    """One sync run: when, how it ended, and its counts summed over its streams."""

    run_id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    connections: list[str]
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def total(self, name: str) -> int | None:
        """A count over every stream of the run; ``None`` when a stream did not record it
        (runs written by an older version have no ``changed``)."""
        values = [counts.get(name) for counts in self.streams.values()]
        if any(not isinstance(value, int) for value in values):
            return None
        return sum(int(value) for value in values if isinstance(value, int))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = _iso(self.started_at)
        data["ended_at"] = _iso(self.ended_at)
        data["seconds"] = None if self.seconds is None else round(self.seconds, 3)
        data.update({name: self.total(name) for name in _COUNT_FIELDS})
        return data


@dataclass
class QuarantineEntry:
    """A record a sync could not store: why, where it came from, and its raw payload."""

    id: str
    source: str
    stream: str
    entity: str
    record_id: str | None
    location: str | None
    reason: str
    raw: Any
    run_id: int | None
    quarantined_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quarantined_at"] = _iso(self.quarantined_at)
        return data


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=dt.UTC).isoformat()


def _has_table(store: Store, name: str) -> bool:
    rows = store.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(rows and rows[0][0])


def _json(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def list_runs(store: Store, *, limit: int = 20, connection: str | None = None
              ) -> list[RunRecord]:
    """The latest ``limit`` sync runs, newest first (only those of ``connection``)."""
    if not _has_table(store, "sync_runs"):
        return []
    rows = store.execute(
        "SELECT run_id, started_at, ended_at, status, connections, counts, error "
        "FROM sync_runs ORDER BY run_id DESC")
    runs: list[RunRecord] = []
    for run_id, started, ended, status, names, counts, error in rows:
        connections = _json(names) or []
        if connection is not None and connection not in connections:
            continue
        streams = _json(counts) or {}
        runs.append(RunRecord(int(run_id), started, ended, str(status), list(connections),
                              streams if isinstance(streams, dict) else {}, error))
        if len(runs) >= limit:
            break
    return runs


def _entries(store: Store, where: str, parameters: list[Any], limit: int | None
             ) -> list[QuarantineEntry]:
    if not _has_table(store, "quarantine"):
        return []
    sql = (f"SELECT substr({_KEY_SQL}, 1, {ID_LENGTH}), source, stream, entity, record_id, "
           f"location, reason, raw, run_id, quarantined_at FROM quarantine {where} "
           "ORDER BY quarantined_at DESC, source, stream, record_key")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [
        QuarantineEntry(str(key), source, stream, entity, record_id, location, reason,
                        _json(raw), run_id, quarantined_at)
        for key, source, stream, entity, record_id, location, reason, raw, run_id,
        quarantined_at in store.execute(sql, parameters)
    ]


def list_quarantine(store: Store, *, connection: str | None = None, limit: int | None = 50
                    ) -> list[QuarantineEntry]:
    """Quarantined records, newest first (only those of ``connection``)."""
    if connection is None:
        return _entries(store, "", [], limit)
    return _entries(store, "WHERE source = ?", [connection], limit)


def count_quarantine(store: Store, *, connection: str | None = None) -> int:
    """How many records are in the quarantine (of ``connection``)."""
    if not _has_table(store, "quarantine"):
        return 0
    where, parameters = ("WHERE source = ?", [connection]) if connection else ("", [])
    rows = store.execute(f"SELECT count(*) FROM quarantine {where}", parameters)
    return int(rows[0][0]) if rows else 0


def get_quarantined(store: Store, entry_id: str) -> QuarantineEntry:
    """The quarantined record whose id starts with ``entry_id``; a clear error when no record
    or more than one matches."""
    wanted = entry_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{4,32}", wanted):
        raise ConfigError(
            f"{entry_id!r} is not a quarantine id: ids are the hexadecimal values in the first "
            "column of `crm-connect quarantine list` (at least 4 characters)")
    found = _entries(store, f"WHERE {_KEY_SQL} LIKE ?", [wanted + "%"], 2)
    if not found:
        raise ConfigError(f"no quarantined record has the id {entry_id!r}; "
                          "`crm-connect quarantine list` shows the ids")
    if len(found) > 1:
        raise ConfigError(f"the id {entry_id!r} matches more than one quarantined record "
                          f"({found[0].id}, {found[1].id}, ...); give more of it")
    return found[0]
