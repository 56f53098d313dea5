"""Machine-readable KPI output: ``kpis --format json`` and ``--format csv``.

Values are rounded to each KPI's precision (:attr:`KpiDefinition.decimals`) so the same data
gives the same digits whatever order a store summed it in; money rows name their currency;
a breakdown is one CSV column per dimension, and an owner shows its name with its id beside it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRow
from crm_connect.metrics.labels import DimensionLabels
from crm_connect.metrics.vocabulary import get_dimensions

__all__ = ["is_partial", "render_csv", "render_json", "rounded", "row_currency"]

_RATIO_DECIMALS = 4
"""Decimals of numerators and denominators (they may be money or fractional durations)."""


def rounded(value: float | None, decimals: int) -> float | int | None:
    """``value`` rounded to ``decimals`` (an ``int`` when that is 0); ``None`` stays."""
    if value is None:
        return None
    result = round(value, decimals)
    if decimals == 0:
        return int(result)
    return result + 0.0  # -0.0 reads as 0.0


def is_partial(row: KpiRow, as_of: dt.datetime) -> bool:
    """Whether the row's period was not over at ``as_of`` (or the engine marked it so)."""
    end = dt.datetime(row.period_end.year, row.period_end.month, row.period_end.day)
    return bool(getattr(row, "partial", False)) or end > as_of


def row_currency(row: KpiRow, currency: str) -> str | None:
    """The currency a row's value is in (``None`` for counts, rates, durations)."""
    return currency if row.unit.startswith("currency") else None


def _comparisons(row: KpiRow, decimals: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, comparison in row.comparisons.items():
        item = dict(comparison)
        for field in ("value", "change"):
            if field in item:
                item[field] = rounded(item[field], decimals)
        result[name] = item
    return result


def json_row(row: KpiRow, definition: KpiDefinition, currency: str,
             labels: DimensionLabels, as_of: dt.datetime) -> dict[str, Any]:
    """One row as ``KPIS.md`` describes it, plus ``currency``, ``partial`` and the ids of
    dimensions shown by name."""
    decimals = definition.decimals
    item = row.to_dict()
    item.update({
        "dimensions": labels.named(row.dimensions),
        "value": rounded(row.value, decimals),
        "currency": row_currency(row, currency),
        "numerator": rounded(row.numerator, max(decimals, _RATIO_DECIMALS)),
        "denominator": rounded(row.denominator, max(decimals, _RATIO_DECIMALS)),
        "partial": is_partial(row, as_of),
        "comparisons": _comparisons(row, decimals),
    })
    ids = labels.ids(row.dimensions)
    if ids:
        item["dimension_ids"] = ids
    return item


def render_json(rows: Sequence[KpiRow], definitions: Mapping[str, KpiDefinition],
                currency: str, labels: DimensionLabels, as_of: dt.datetime) -> str:
    return json.dumps([json_row(row, definitions[row.metric], currency, labels, as_of)
                       for row in rows], indent=2)


def _dimension_columns(rows: Sequence[KpiRow], by: Sequence[str],
                       labels: DimensionLabels) -> list[tuple[str, str, bool]]:
    """(column, dimension, is_id) for every dimension asked for, in catalogue order."""
    columns: list[tuple[str, str, bool]] = []
    present = {key for row in rows for key in labels.ids(row.dimensions)}
    for dimension in get_dimensions():
        if dimension not in by:
            continue
        columns.append((dimension, dimension, False))
        if dimension in present:
            columns.append((f"{dimension}_id", dimension, True))
    return columns


def render_csv(rows: Sequence[KpiRow], definitions: Mapping[str, KpiDefinition],
               currency: str, labels: DimensionLabels, as_of: dt.datetime,
               by: Sequence[str] = ()) -> str:
    """One line per row; one column per breakdown dimension (empty on the totals)."""
    dimension_columns = _dimension_columns(rows, by, labels)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([
        "metric", "period_start", "period_end", "grain",
        *(column for column, _, _ in dimension_columns),
        "value", "unit", "currency", "numerator", "denominator", "count", "note", "partial",
        "previous_value", "year_ago_value", "benchmark_low", "benchmark_high", "target_value",
        "target_verdict"])
    for row in rows:
        decimals = definitions[row.metric].decimals
        named = labels.named(row.dimensions)
        c = row.comparisons
        writer.writerow([
            row.metric, row.period_start, row.period_end, row.grain,
            *((row.dimensions.get(dim, "") if is_id else named.get(dim, ""))
              for _, dim, is_id in dimension_columns),
            _blank(rounded(row.value, decimals)), row.unit,
            row_currency(row, currency) or "",
            _blank(rounded(row.numerator, max(decimals, _RATIO_DECIMALS))),
            _blank(rounded(row.denominator, max(decimals, _RATIO_DECIMALS))),
            _blank(row.count), row.note or "",
            "true" if is_partial(row, as_of) else "false",
            _blank(rounded((c.get("previous") or {}).get("value"), decimals)),
            _blank(rounded((c.get("year_ago") or {}).get("value"), decimals)),
            _blank((c.get("benchmark") or {}).get("low")),
            _blank((c.get("benchmark") or {}).get("high")),
            _blank((c.get("target") or {}).get("value")),
            (c.get("target") or {}).get("verdict") or "",
        ])
    return buffer.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value
