"""The metric engine: the KPI catalogue of ``KPIS.md``, computed set-based across sources.

Public API::

    from crm_connect.metrics import compute_kpis
    rows = compute_kpis(store, metrics=["win_rate"], grain="quarter", by=["source"],
                        as_of="2026-06-30T00:00:00Z")

KPI definitions (:class:`KpiDefinition`, :class:`Measure`) are contributed by plugins through
the ``register_kpis`` hook; the built-in catalogue (:mod:`crm_connect.metrics.catalogue`)
arrives the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_connect.lazy import lazy_names

if TYPE_CHECKING:
    from crm_connect.metrics.compute import compute_kpis, run_request
    from crm_connect.metrics.definitions import (
        DIMENSIONS,
        PERIOD,
        Benchmark,
        Dimension,
        KpiDefinition,
        Measure,
        PeriodColumns,
    )
    from crm_connect.metrics.engine import GRAINS, KpiRequest, KpiRow, build_query, transpile
    from crm_connect.metrics.history import read_history, save_snapshots
    from crm_connect.metrics.inputs import kpi_fields, kpis_fed_by, kpis_reading
    from crm_connect.metrics.registry import get_kpis, kpi_plugin
    from crm_connect.metrics.relations import Column, Join, Relation
    from crm_connect.metrics.unified import Resolution, read_resolution
    from crm_connect.metrics.vocabulary import get_dimensions, get_relations

__all__ = [
    "DIMENSIONS",
    "GRAINS",
    "PERIOD",
    "Benchmark",
    "Column",
    "Dimension",
    "Join",
    "KpiDefinition",
    "KpiRequest",
    "KpiRow",
    "Measure",
    "PeriodColumns",
    "Relation",
    "Resolution",
    "build_query",
    "compute_kpis",
    "get_dimensions",
    "get_kpis",
    "get_relations",
    "kpi_fields",
    "kpi_plugin",
    "kpis_fed_by",
    "kpis_reading",
    "read_history",
    "read_resolution",
    "run_request",
    "save_snapshots",
    "transpile",
]

_HOMES: dict[str, str] = {
    "Benchmark": "definitions",
    "Column": "relations",
    "DIMENSIONS": "definitions",
    "Dimension": "definitions",
    "GRAINS": "engine",
    "Join": "relations",
    "KpiDefinition": "definitions",
    "KpiRequest": "engine",
    "KpiRow": "engine",
    "Measure": "definitions",
    "PERIOD": "definitions",
    "PeriodColumns": "definitions",
    "Relation": "relations",
    "Resolution": "unified",
    "build_query": "engine",
    "compute_kpis": "compute",
    "get_dimensions": "vocabulary",
    "get_kpis": "registry",
    "get_relations": "vocabulary",
    "kpi_fields": "inputs",
    "kpi_plugin": "registry",
    "kpis_fed_by": "inputs",
    "kpis_reading": "inputs",
    "read_history": "history",
    "read_resolution": "unified",
    "run_request": "compute",
    "save_snapshots": "history",
    "transpile": "engine",
}
"""Each public name to the module of this package that holds it: the engine (and sqlglot
with it) loads when a name is first used, not when ``crm_connect.metrics`` is imported (the
built-in KPI catalogue, loaded with every plugin for every command, lives in this package)."""


__getattr__ = lazy_names(__name__, _HOMES)
