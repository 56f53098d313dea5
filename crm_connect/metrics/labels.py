"""How breakdown values read: owner names instead of vendor ids, and a natural order.

The engine groups by ids (an ``owner`` breakdown holds ``owner_id``); people read names.
:func:`load_labels` looks the names up once in the store's ``users`` table and
:class:`DimensionLabels` turns a row's dimensions into what the table, JSON and CSV show,
keeping the ids for machine-readable output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_connect.metrics.engine import KpiRow
from crm_connect.metrics.sources import TableSource

__all__ = ["DimensionLabels", "load_labels", "natural_key", "ordered_rows"]

_LABELLED = "owner"


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts "Rep 2" before "Rep 10" and ignores case."""
    parts = re.split(r"(\d+)", text)
    return tuple((1, int(part)) if index % 2 else (0, part.casefold())
                 for index, part in enumerate(parts) if part)


@dataclass(frozen=True)
class DimensionLabels:
    """Owner names by ``(source, id)`` and by id alone (for breakdowns without ``source``)."""

    by_source: Mapping[tuple[str, str], str] = field(default_factory=dict)
    by_id: Mapping[str, str] = field(default_factory=dict)

    def name(self, dimension: str, value: str, dimensions: Mapping[str, str]) -> str:
        """The readable value of one breakdown dimension of a row."""
        if dimension != _LABELLED:
            return value
        source = dimensions.get("source")
        if source is not None and (source, value) in self.by_source:
            return self.by_source[(source, value)]
        return self.by_id.get(value, value)

    def named(self, dimensions: Mapping[str, str]) -> dict[str, str]:
        """The row's dimensions with owner ids replaced by names."""
        return {key: self.name(key, value, dimensions) for key, value in dimensions.items()}

    def ids(self, dimensions: Mapping[str, str]) -> dict[str, str]:
        """The dimensions whose shown value is a name, with their ids."""
        return {key: value for key, value in dimensions.items() if key == _LABELLED}


def load_labels(store: TableSource, by: Sequence[str]) -> DimensionLabels:
    """Owner names from the store's ``users`` table when the rows are broken down by owner."""
    if _LABELLED not in by or not store.has_table("users"):
        return DimensionLabels()
    found = store.execute("SELECT source, id, name FROM users "
                          "WHERE name IS NOT NULL AND trim(name) <> ''")
    by_source = {(str(source), str(id_)): str(name) for source, id_, name in found}
    names: dict[str, set[str]] = {}
    for (_, id_), name in by_source.items():
        names.setdefault(id_, set()).add(name)
    # An id two sources share with different names stays an id rather than a guess.
    by_id = {id_: next(iter(found_names)) for id_, found_names in names.items()
             if len(found_names) == 1}
    return DimensionLabels(by_source, by_id)


def ordered_rows(rows: Iterable[KpiRow], labels: DimensionLabels) -> list[KpiRow]:
    """Rows in catalogue order, totals first, breakdowns by name in natural order, then by
    period."""
    listed = list(rows)
    metric_order: dict[str, int] = {}
    for row in listed:
        metric_order.setdefault(row.metric, len(metric_order))

    def key(row: KpiRow) -> tuple[Any, ...]:
        named = labels.named(row.dimensions)
        shown = tuple((dim, natural_key(named[dim])) for dim in row.dimensions)
        return (metric_order[row.metric], bool(row.dimensions), shown, row.period_start)

    return sorted(listed, key=key)
