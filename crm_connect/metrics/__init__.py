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
