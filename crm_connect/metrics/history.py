"""KPI history: ``crm-connect kpis --save`` keeps each run's rows in ``kpi_snapshots``.

Snapshot KPIs (CRM adoption) only exist at the moment they are computed, and source data is
edited after the fact; the history keeps what each run saw.  A row is keyed by
``(metric, grain, period_start, dimensions, as_of)``: saving the same ``as_of`` again replaces
those rows (an upsert), so a retried cron job leaves no duplicates.  Each row keeps the
comparisons it was computed with (the period before, the same period a year earlier) and the
currency of its money.

Reading it back (``--from-history``) takes, for every period and breakdown, the latest saved
row of a run whose ``as_of`` is not after the one asked for; for a snapshot KPI, the latest
row saved with an ``as_of`` inside that period.  A comparison whose period the history does
not hold comes from the saved row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crm_connect.errors import MetricError
from crm_connect.metrics.comparisons import shape_rows
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow, Period, dimensions_key
from crm_connect.store_contract import Store

if TYPE_CHECKING:
    from crm_connect.config import Target

__all__ = ["SNAPSHOT_TABLE", "last_saved_period", "read_history", "save_snapshots"]

SNAPSHOT_TABLE = "kpi_snapshots"
_COLUMNS = (("run_at", "TIMESTAMP NOT NULL"), ("as_of", "TIMESTAMP NOT NULL"),
            ("metric", "VARCHAR NOT NULL"), ("grain", "VARCHAR NOT NULL"),
            ("period_start", "DATE NOT NULL"), ("period_end", "DATE NOT NULL"),
            ("dimensions", "VARCHAR NOT NULL"), ("value", "DOUBLE"), ("unit", "VARCHAR"),
            ("numerator", "DOUBLE"), ("denominator", "DOUBLE"), ("count", "BIGINT"),
            ("note", "VARCHAR"),
            # Columns later versions added; older histories gain them on the next --save.
            ("currency", "VARCHAR"), ("comparisons", "VARCHAR"))
_KEY = ("metric", "grain", "period_start", "dimensions", "as_of")
_SAVED_COMPARISONS = ("previous", "year_ago")


def save_snapshots(store: Store, rows: Sequence[KpiRow], as_of: dt.datetime,
                   run_at: dt.datetime | None = None, currency: str | None = None) -> int:
    """Upsert ``rows`` into the history (same key: the row is replaced); returns how many
    were saved."""
    run_at = run_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.ensure_table(SNAPSHOT_TABLE, _COLUMNS)
    if not rows:
        return 0
    table = pa.table({
        "run_at": pa.array([run_at] * len(rows), pa.timestamp("us")),
        "as_of": pa.array([as_of] * len(rows), pa.timestamp("us")),
        "metric": [r.metric for r in rows],
        "grain": [r.grain for r in rows],
        "period_start": pa.array([r.period_start for r in rows], pa.date32()),
        "period_end": pa.array([r.period_end for r in rows], pa.date32()),
        "dimensions": [dimensions_key(r.dimensions) for r in rows],
        "value": pa.array([r.value for r in rows], pa.float64()),
        "unit": [r.unit for r in rows],
        "numerator": pa.array([r.numerator for r in rows], pa.float64()),
        "denominator": pa.array([r.denominator for r in rows], pa.float64()),
        "count": pa.array([r.count for r in rows], pa.int64()),
        "note": pa.array([r.note for r in rows], pa.string()),
        "currency": pa.array([currency if r.unit.startswith("currency") else None
                              for r in rows], pa.string()),
        "comparisons": [json.dumps({name: r.comparisons[name] for name in _SAVED_COMPARISONS
                                    if name in r.comparisons}, sort_keys=True)
                        for r in rows],
    })
    return store.append_arrow(SNAPSHOT_TABLE, table, replace_on=_KEY)


def last_saved_period(store: Store, keys: Sequence[str], grain: str, as_of: dt.datetime
                      ) -> dt.datetime | None:
    """The start of the latest period saved at ``grain`` for ``keys`` by a run at or before
    ``as_of`` (where ``--from-history`` ends by default), or ``None`` when none was."""
    if not store.has_table(SNAPSHOT_TABLE):
        return None
    marks = ", ".join("?" for _ in keys)
    found = store.execute(f"SELECT max(period_start) FROM {SNAPSHOT_TABLE} WHERE grain = ? "
                          f"AND as_of <= ? AND metric IN ({marks})", [grain, as_of, *keys])
    row = found[0] if found else None
    if not row or row[0] is None:
        return None
    return dt.datetime.combine(row[0], dt.time())


def read_history(store: Store, definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                 by: Sequence[str], periods: Sequence[Period], lag: int, grain: str,
                 as_of: dt.datetime, targets: Mapping[str, Target]) -> list[KpiRow]:
    """The saved rows for ``keys`` over ``periods``, as :class:`KpiRow` with comparisons."""
    if not store.has_table(SNAPSHOT_TABLE):
        raise MetricError("no KPI history in the store yet: run `crm-connect kpis --save` "
                          "(e.g. from cron after each sync) to build it")
    _check_grain(store, definitions, keys, grain)
    values = ", ".join(
        f"({p.index}, DATE '{p.start.date()}', DATE '{p.end.date()}', "
        f"TIMESTAMP '{p.start.isoformat(sep=' ')}', TIMESTAMP '{p.end.isoformat(sep=' ')}')"
        for p in periods)
    metrics = ", ".join(f"'{key}'" for key in keys)
    snapshots = ", ".join(f"'{key}'" for key in keys if definitions[key].snapshot) or "''"
    columns = {name for (name,) in store.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        [SNAPSHOT_TABLE])}
    comparisons = "comparisons" if "comparisons" in columns else "NULL AS comparisons"
    fields = f"period_index, metric, dimensions, value, numerator, denominator, count, note, " \
             f"{comparisons}"
    sql = f"""
WITH periods AS (SELECT * FROM (VALUES {values}) AS v(period_index, start_day, end_day,
                                                      period_start, period_end)),
saved AS (SELECT * FROM {SNAPSHOT_TABLE} WHERE as_of <= ? AND metric IN ({metrics})),
periodic AS (
    SELECT p.period_index, s.*, ROW_NUMBER() OVER (
        PARTITION BY s.metric, s.dimensions, p.period_index ORDER BY s.run_at DESC) AS rank_
    FROM saved s JOIN periods p ON s.period_start = p.start_day
    WHERE s.grain = ? AND s.metric NOT IN ({snapshots})
),
snapshot AS (
    SELECT p.period_index, s.*, ROW_NUMBER() OVER (
        PARTITION BY s.metric, s.dimensions, p.period_index
        ORDER BY s.as_of DESC, s.run_at DESC) AS rank_
    FROM saved s JOIN periods p ON s.as_of >= p.period_start AND s.as_of < p.period_end
    WHERE s.metric IN ({snapshots})
)
SELECT {fields} FROM periodic WHERE rank_ = 1
UNION ALL
SELECT {fields} FROM snapshot WHERE rank_ = 1"""
    raw = []
    saved: dict[tuple[str, str, int], dict[str, Any]] = {}
    for (period_index, metric, dims_text, value, numerator, denominator, count, note,
         compared) in store.execute(sql, [as_of, grain]):
        dimensions = json.loads(dims_text)
        wanted = {d for d in by if d in definitions[metric].dimensions}
        if dimensions and set(dimensions) != wanted:
            continue
        raw.append({"metric": metric, "period_index": period_index, "value": value,
                    "numerator": numerator, "denominator": denominator, "count": count,
                    "note": note, **{f"d_{d}": v for d, v in dimensions.items()}})
        if compared:
            saved[(metric, dimensions_key(dimensions), int(period_index))] = json.loads(compared)
    rows = shape_rows(raw, definitions, keys, by, periods, lag, grain, targets, as_of=as_of)
    _restore_comparisons(rows, saved, periods)
    return rows


def _check_grain(store: Store, definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                 grain: str) -> None:
    """A grain the history was never saved at is an error that says which grains it has."""
    periodic = [key for key in keys if not definitions[key].snapshot]
    if not periodic:
        return
    listed = ", ".join(f"'{key}'" for key in periodic)
    grains = [found for (found,) in store.execute(
        f"SELECT DISTINCT grain FROM {SNAPSHOT_TABLE} WHERE metric IN ({listed}) "
        "ORDER BY grain")]
    if grain in grains:
        return
    having = (f"it holds {', '.join(grains)}" if grains
              else "it holds none of the metrics asked for")
    raise MetricError(f"no KPI history at grain {grain!r} ({having}): read another grain "
                      f"with --grain, or start one with `crm-connect kpis --save --grain "
                      f"{grain}`")


def _restore_comparisons(rows: Sequence[KpiRow], saved: Mapping[tuple[str, str, int],
                                                                 dict[str, Any]],
                         periods: Sequence[Period]) -> None:
    """A comparison the history cannot make (its period was never saved, e.g. a year
    before the first run) is the one saved with the row."""
    index_of = {period.start.date(): period.index for period in periods}
    for row in rows:
        kept = saved.get((row.metric, dimensions_key(row.dimensions),
                          index_of[row.period_start]))
        if not kept:
            continue
        for name in _SAVED_COMPARISONS:
            current = row.comparisons.get(name)
            if name in kept and (current is None or current.get("value") is None):
                row.comparisons[name] = kept[name]
