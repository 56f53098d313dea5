"""The KPI step of ``crm-connect run``: save snapshots for the periods new data touches.

A sync task notes, in the store's ``kpi_pending`` table, the range of dates of the records it
inserted or changed (every date of those records but ``updated_at``: a deal changed today may
have closed in March, and March's KPIs change with it).  The KPI step, once after every sync
task (in the same run or, under an orchestrator, in a task of its own with ``--kpis-only``),
takes the pending ranges, computes the whole catalogue over the periods they cover at the
configuration's ``[reporting] grain`` through :func:`~crm_connect.metrics.compute.compute_kpis`,
saves them with :func:`~crm_connect.metrics.history.save_snapshots` and clears what it used.
"""

from __future__ import annotations

import datetime as dt
import logging
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from crm_connect.config import Config
from crm_connect.events import StreamResult
from crm_connect.schema import ENTITIES
from crm_connect.store_contract import Store

__all__ = ["PENDING_TABLE", "KpiStep", "changed_since", "note_touched", "save_touched_kpis"]

log = logging.getLogger("crm_connect.run")

PENDING_TABLE = "kpi_pending"
_PENDING_COLUMNS = (("source", "VARCHAR NOT NULL"), ("entity", "VARCHAR NOT NULL"),
                    ("first_day", "DATE NOT NULL"), ("last_day", "DATE NOT NULL"),
                    ("noted_at", "TIMESTAMP NOT NULL"))


@dataclass
class KpiStep:
    """What the KPI step saved: how many rows, for which period starts."""

    rows_written: int
    periods: list[dt.date]


def _is_date(annotation: Any) -> bool:
    if annotation in (dt.date, dt.datetime):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_date(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_date(arg) for arg in typing.get_args(annotation))
    return False


def date_columns(entity: str) -> list[str]:
    """The columns of ``entity`` that place a record in a period (``updated_at`` does not)."""
    model = ENTITIES[entity]
    return [name for name, info in model.model_fields.items()
            if name != "updated_at" and _is_date(info.annotation)]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def changed_since(store: Store, source: str, entities: Iterable[str]
                  ) -> dict[str, dt.datetime | None]:
    """For each of ``entities``, the latest ``updated_at`` the store holds for ``source``:
    taken before a sync, it tells the records the sync changes from the others."""
    marks: dict[str, dt.datetime | None] = {}
    for entity in sorted(set(entities)):
        if entity not in ENTITIES or not store.has_table(entity):
            marks[entity] = None
            continue
        rows = store.execute(f'SELECT max(updated_at) FROM "{entity}" WHERE source = ?',
                             [source])
        marks[entity] = rows[0][0] if rows else None
    return marks


def note_touched(store: Store, source: str, results: Sequence[StreamResult],
                 marks: dict[str, dt.datetime | None]) -> None:
    """Note the date range of the records of ``source`` that the sync's ``results`` changed
    (those updated at or after the ``marks`` taken before it) for the next KPI step."""
    touched = {r.entity for r in results if (r.changed or r.deleted) and r.entity in ENTITIES}
    rows: list[tuple[str, dt.date, dt.date]] = []
    for entity in sorted(touched):
        columns = date_columns(entity)
        if not columns or not store.has_table(entity):
            continue
        since = marks.get(entity)
        where = "source = ?" + (" AND updated_at >= ?" if since is not None else "")
        parameters: list[Any] = [source] + ([since] if since is not None else [])
        picks = ", ".join(f'min("{c}"), max("{c}")' for c in columns)
        found = store.execute(f'SELECT {picks} FROM "{entity}" WHERE {where}', parameters)
        days = [_day(value) for value in (found[0] if found else ()) if value is not None]
        if days:
            rows.append((entity, min(days), max(days)))
    if not rows:
        return
    store.ensure_table(PENDING_TABLE, _PENDING_COLUMNS)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.append_arrow(PENDING_TABLE, pa.table({
        "source": [source] * len(rows), "entity": [row[0] for row in rows],
        "first_day": pa.array([row[1] for row in rows], pa.date32()),
        "last_day": pa.array([row[2] for row in rows], pa.date32()),
        "noted_at": pa.array([now] * len(rows), pa.timestamp("us"))}))
    log.info("%s: new data touches %s to %s", source, min(r[1] for r in rows),
             max(r[2] for r in rows),
             extra={"event": "periods_touched", "connection": source})


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def save_touched_kpis(store: Store, config: Config, *, as_of: dt.datetime | None = None
                      ) -> KpiStep:
    """Compute and save the whole KPI catalogue over the periods the pending ranges touch
    (up to the one holding ``as_of``), then clear those ranges; nothing pending saves
    nothing."""
    from crm_connect.metrics.compute import compute_kpis
    from crm_connect.metrics.history import save_snapshots
    from crm_connect.metrics.periods import make_periods, period_containing

    moment = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if not store.has_table(PENDING_TABLE):
        return KpiStep(0, [])
    found = store.execute(f"SELECT min(first_day), max(last_day), max(noted_at) "
                          f"FROM {PENDING_TABLE}")
    if not found or found[0][0] is None:
        return KpiStep(0, [])
    first, last, noted = found[0]
    grain = config.reporting.grain
    start = period_containing(_midnight(_day(first)), grain)
    end = min(_midnight(_day(last)), moment)
    if start > end:  # only future dates (a contract's end): the current period
        start = period_containing(moment, grain)
        end = moment
    rows = compute_kpis(store, grain=grain, start=start, end=end, as_of=moment, config=config)
    written = save_snapshots(store, rows, moment, currency=config.reporting.currency)
    store.execute(f"DELETE FROM {PENDING_TABLE} WHERE noted_at <= ?", [noted])
    periods = [period.start.date() for period in make_periods(grain, start, end)]
    return KpiStep(written, periods)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)
