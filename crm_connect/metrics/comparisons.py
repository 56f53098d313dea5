"""KPI rows as a person reads them: the engine's result rows (or the saved history's) shaped
into :class:`~crm_connect.metrics.engine.KpiRow`, each compared with the period before, the
same period a year earlier, its benchmark and its target.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow, dimensions_key
from crm_connect.metrics.periods import Period
from crm_connect.metrics.vocabulary import get_dimensions

if TYPE_CHECKING:
    from crm_connect.config import Target

__all__ = ["attach_comparisons", "shape_rows"]


def _verdict(definition: KpiDefinition, value: float | None, other: float | None) -> str | None:
    if value is None or other is None:
        return None
    # Floating-point sums may differ in the last bit between runs: that is not a change.
    if math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
        return "same"
    return "better" if (value > other) == (definition.better == "up") else "worse"


def _comparison(definition: KpiDefinition, row: KpiRow, other: KpiRow | None) -> dict[str, Any]:
    if other is None:
        return {"period_start": None, "value": None, "change": None, "verdict": None}
    change = (row.value - other.value
              if row.value is not None and other.value is not None else None)
    return {"period_start": other.period_start.isoformat(), "value": other.value,
            "change": change, "verdict": _verdict(definition, row.value, other.value)}


def attach_comparisons(rows: dict[tuple[str, str, int], KpiRow],
                       definitions: Mapping[str, KpiDefinition], index: KpiRow,
                       period_index: int, lag: int, grain: str,
                       targets: Mapping[str, Target]) -> None:
    definition = definitions[index.metric]
    dims = dimensions_key(index.dimensions)
    comparisons: dict[str, Any] = {}
    if not definition.snapshot:
        comparisons["previous"] = _comparison(
            definition, index, rows.get((index.metric, dims, period_index - 1)))
        comparisons["year_ago"] = _comparison(
            definition, index, rows.get((index.metric, dims, period_index - lag)))
    benchmark = definition.benchmark
    if benchmark is not None and benchmark.grain in (None, grain):
        verdict = None
        if index.value is not None:
            low_side = index.value < benchmark.low
            high_side = index.value > benchmark.high
            if not (low_side or high_side):
                verdict = "within"
            elif high_side == (definition.better == "up"):
                verdict = "better"
            else:
                verdict = "worse"
        comparisons["benchmark"] = {"low": benchmark.low, "high": benchmark.high,
                                    "source": benchmark.source, "verdict": verdict}
    target = targets.get(index.metric)
    if target is not None:
        verdict = None
        if index.value is not None:
            met = (index.value >= target.value if definition.better == "up"
                   else index.value <= target.value)
            verdict = "on_track" if met else "off_track"
        comparisons["target"] = {"value": target.value,
                                 "by": target.by.isoformat() if target.by else None,
                                 "verdict": verdict}
    if index.partial and not definition.snapshot:
        # An incomplete period is not judged against complete ones, a benchmark or a target.
        for comparison in comparisons.values():
            comparison["verdict"] = None
            if "change" in comparison:
                comparison["change"] = None
    index.comparisons = comparisons


def shape_rows(raw: Sequence[dict[str, Any]], definitions: Mapping[str, KpiDefinition],
               keys: Sequence[str], by: Sequence[str], computed: Sequence[Period], lag: int,
               grain: str, targets: Mapping[str, Target],
               as_of: dt.datetime | None = None) -> list[KpiRow]:
    """SQL result rows to :class:`KpiRow` for the shown periods, with their comparisons; a
    period that had not ended at ``as_of`` is partial."""
    dims = [d for d in get_dimensions() if d in by]
    by_index = {period.index: period for period in computed}
    rows: dict[tuple[str, str, int], KpiRow] = {}
    for item in raw:
        period = by_index[int(item["period_index"])]
        definition = definitions[item["metric"]]
        dimensions = {d: item[f"d_{d}"] for d in by if item.get(f"d_{d}") is not None}
        dimensions = {d: dimensions[d] for d in dims if d in dimensions}
        note = item["note"]
        if definition.snapshot and item["value"] is not None:
            note = note or "snapshot at as_of"
        row = KpiRow(
            metric=item["metric"], period_start=period.start.date(),
            period_end=period.end.date(), grain=grain, dimensions=dimensions,
            value=_clean(item["value"]), unit=definition.unit,
            numerator=_clean(item["numerator"]), denominator=_clean(item["denominator"]),
            count=None if item["count"] is None else int(item["count"]), note=note,
            missing_rates=tuple(item.get("missing_rates") or ()),
            partial=as_of is not None and period.is_partial(as_of),
        )
        rows[(row.metric, dimensions_key(dimensions), period.index)] = row
    order = {key: position for position, key in enumerate(keys)}
    shown = []
    for (_, _, period_index), row in rows.items():
        if period_index < lag:
            continue
        attach_comparisons(rows, definitions, row, period_index, lag, grain, targets)
        shown.append((order[row.metric], bool(row.dimensions),
                      dimensions_key(row.dimensions), period_index, row))
    shown.sort(key=lambda item: item[:4])
    return [item[4] for item in shown]


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number
