"""Golden records: each cluster's fields, chosen by the survivorship the config declares.

``most_recent`` takes the value of the most recently updated member that has one;
``most_complete`` the value of the member with the most fields filled (the most recent among
equals); a list of sources takes the first of those sources that has a value, then falls back
to the most recent.  ``[resolve] fields`` gives a field a survivorship of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = ["golden_fields"]

Survivorship = str | Sequence[str]


def _ranking(policy: Survivorship, sources: Sequence[str], recency: Mapping[int, Any],
             filled: Sequence[int]) -> Any:
    if policy == "most_complete":
        return lambda p: (-filled[p], recency[p])
    if isinstance(policy, str):  # most_recent
        return recency.__getitem__
    order = {source: rank for rank, source in enumerate(policy)}
    return lambda p: (order.get(sources[p], len(order)), recency[p])


def _newest_first(value: Any) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, -value.timestamp())


def golden_fields(records: pa.Table, fields: Sequence[str], clusters: Sequence[str],
                  default: Survivorship, per_field: Mapping[str, Survivorship]
                  ) -> dict[str, list[Any]]:
    """For each record, its cluster's golden value of each of ``fields``."""
    present = [name for name in fields if name in records.column_names]
    members: dict[str, list[int]] = {}
    for position, cluster in enumerate(clusters):
        members.setdefault(cluster, []).append(position)
    shared = [group for group in members.values() if len(group) > 1]
    values = {name: records.column(name).cast(pa.string()).to_pylist() for name in present}
    # A record alone in its cluster keeps its own values: only shared clusters choose.
    result: dict[str, list[Any]] = {name: list(values[name]) if name in values
                                    else [None] * records.num_rows for name in fields}
    if not shared:
        return result
    sources = records.column("source").to_pylist()
    stamps = records.column("updated_at").to_pylist() if "updated_at" in \
        records.column_names else [None] * records.num_rows
    recency = {p: _newest_first(stamps[p]) for group in shared for p in group}
    filled = [0] * records.num_rows
    if "most_complete" in (default, *per_field.values()):
        for group in shared:
            for p in group:
                filled[p] = sum(values[name][p] is not None for name in present)
    ranked: dict[Any, list[list[int]]] = {}
    for name in present:
        policy = per_field.get(name, default)
        key = policy if isinstance(policy, str) else tuple(policy)
        if key not in ranked:  # each member's rank, once per survivorship
            rank = _ranking(policy, sources, recency, filled)
            ranked[key] = [sorted(group, key=rank) for group in shared]
        column, out = values[name], result[name]
        for group in ranked[key]:
            chosen = next((column[p] for p in group if column[p] is not None), None)
            for p in group:
                out[p] = chosen
    return result
