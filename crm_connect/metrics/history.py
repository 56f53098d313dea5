"""KPI history: ``crm-connect kpis --save`` keeps each run's rows in ``kpi_snapshots``.

Snapshot KPIs (CRM adoption) only exist at the moment they are computed, and source data is
edited after the fact; the history keeps what each run saw.  Reading it back
(``--from-history``) takes, for every period and breakdown, the latest saved row of a run
whose ``as_of`` is not after the one asked for; for a
snapshot KPI, the latest row saved with an ``as_of`` inside that period.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crm_connect.errors import MetricError
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow, Period, dimensions_key

if TYPE_CHECKING:
    from crm_connect.config import Target

__all__ = ["SNAPSHOT_TABLE", "read_history", "save_snapshots"]

SNAPSHOT_TABLE = "kpi_snapshots"
_COLUMNS = ("run_at TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL, metric VARCHAR NOT NULL, "
            "grain VARCHAR NOT NULL, period_start DATE NOT NULL, period_end DATE NOT NULL, "
            "dimensions VARCHAR NOT NULL, value DOUBLE, unit VARCHAR, numerator DOUBLE, "
            "denominator DOUBLE, count BIGINT, note VARCHAR")


def _connection(store: Any) -> Any:
    return getattr(store, "con", store)


def save_snapshots(store: Any, rows: Sequence[KpiRow], as_of: dt.datetime,
                   run_at: dt.datetime | None = None) -> int:
    """Append ``rows`` to the history with the run time; returns how many were saved."""
    con = _connection(store)
    run_at = run_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_TABLE} ({_COLUMNS})")
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
    })
    con.register("_kpi_rows", table)
    try:
        con.execute(f"INSERT INTO {SNAPSHOT_TABLE} SELECT * FROM _kpi_rows")
    finally:
        con.unregister("_kpi_rows")
    return len(rows)


def read_history(store: Any, definitions: Mapping[str, KpiDefinition], keys: Sequence[str],
                 by: Sequence[str], periods: Sequence[Period], lag: int, grain: str,
                 as_of: dt.datetime, targets: Mapping[str, Target]) -> list[KpiRow]:
    """The saved rows for ``keys`` over ``periods``, as :class:`KpiRow` with comparisons."""
    from crm_connect.metrics.compute import shape_rows

    con = _connection(store)
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                         [SNAPSHOT_TABLE]).fetchone()
    if not exists or not exists[0]:
        raise MetricError("no KPI history in the store yet: run `crm-connect kpis --save` "
                          "(e.g. from cron after each sync) to build it")
    values = ", ".join(
        f"({p.index}, DATE '{p.start.date()}', DATE '{p.end.date()}', "
        f"TIMESTAMP '{p.start.isoformat(sep=' ')}', TIMESTAMP '{p.end.isoformat(sep=' ')}')"
        for p in periods)
    metrics = ", ".join(f"'{key}'" for key in keys)
    snapshots = ", ".join(f"'{key}'" for key in keys if definitions[key].snapshot) or "''"
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
SELECT period_index, metric, dimensions, value, numerator, denominator, count, note
FROM periodic WHERE rank_ = 1
UNION ALL
SELECT period_index, metric, dimensions, value, numerator, denominator, count, note
FROM snapshot WHERE rank_ = 1"""
    raw = []
    for period_index, metric, dims_text, value, numerator, denominator, count, note in (
            con.execute(sql, [as_of, grain]).fetchall()):
        dimensions = json.loads(dims_text)
        wanted = {d for d in by if d in definitions[metric].dimensions}
        if dimensions and set(dimensions) != wanted:
            continue
        raw.append({"metric": metric, "period_index": period_index, "value": value,
                    "numerator": numerator, "denominator": denominator, "count": count,
                    "note": note, **{f"d_{d}": v for d, v in dimensions.items()}})
    return shape_rows(raw, definitions, keys, by, periods, lag, grain, targets, as_of=as_of)
