"""What the report shows, gathered through the metric engine's public API and the store
contract: the KPI rows (computed, or read from the saved history), their breakdowns, and
what each connection has synced.  When the store holds a resolution (``crm-connect resolve``
wrote its ``resolved_entities`` table) or ``[reporting] unify`` is on, the KPIs are computed
twice: per record (the totals and breakdowns) and with each resolved customer counted once
(``unified``), with how many records resolved into how many clusters (``resolution``).

Nothing here draws or formats; :mod:`crm_connect.report.charts` and
:mod:`crm_connect.report.page` do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm_connect.errors import MetricError
from crm_connect.history import count_quarantine, list_runs
from crm_connect.metrics import KpiDefinition, KpiRow, compute_kpis, get_kpis
from crm_connect.metrics.labels import DimensionLabels, load_labels
from crm_connect.metrics.running import effective_entities
from crm_connect.metrics.unified import (
    RESOLVED_ENTITIES,
    RESOLVED_TABLE,
    Resolution,
    read_resolution,
)
from crm_connect.schema import ENTITIES
from crm_connect.store_contract import Store

if TYPE_CHECKING:
    from crm_connect.config import Config

__all__ = ["BREAKDOWN_KPIS", "ConnectionStatus", "ReportData", "ReportOptions", "gather",
           "gather_steps"]

Progress = Callable[[str], None]

BREAKDOWN_KPIS: tuple[str, ...] = (
    "revenue", "leads_created", "win_rate", "new_customers", "open_pipeline_value",
    "activities_completed", "net_promoter_score", "first_response_time", "resolution_time",
    "csat")
"""KPIs drawn as bars per breakdown value, in this order, the first four a dimension has."""

BARS_PER_DIMENSION = 4
MIX_KPI = "leads_created"
MIX_DIMENSION = "lead_source"


@dataclass(frozen=True)
class ReportOptions:
    """What ``crm-connect report`` draws: the grain, the range (a date in the first and the
    last period; by default ``periods`` periods up to the last complete one with data), the
    breakdowns drawn as bars, and whether to read the saved KPI history instead of computing."""

    grain: str = "month"
    start: dt.date | dt.datetime | str | None = None
    end: dt.date | dt.datetime | str | None = None
    by: tuple[str, ...] = ("source", "owner", "ticket_channel")
    from_history: bool = False
    as_of: dt.datetime | str | None = None
    periods: int = 12
    title: str = "CRM KPI report"


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection (or a source found in the store that no longer is one): its connector,
    its last sync, its records per entity and its quarantined records."""

    name: str
    connector: str | None
    last_started: dt.datetime | None
    last_ended: dt.datetime | None
    last_status: str | None
    records: Mapping[str, int]
    quarantined: int


@dataclass
class ReportData:
    """Everything one report shows."""

    options: ReportOptions
    definitions: Mapping[str, KpiDefinition]
    currency: str
    as_of: dt.datetime
    store_location: str
    totals: list[KpiRow]
    breakdowns: dict[str, list[KpiRow]] = field(default_factory=dict)
    """Rows per dimension, breakdown rows only (the totals are in ``totals``)."""
    labels: DimensionLabels = field(default_factory=DimensionLabels)
    connections: list[ConnectionStatus] = field(default_factory=list)
    feeders: dict[str, list[str]] = field(default_factory=dict)
    """Entity -> the configured connections whose connector offers a stream of it."""
    entity_records: dict[str, int] = field(default_factory=dict)
    """Entity -> records (not deleted) of every source."""
    unified: list[KpiRow] = field(default_factory=list)
    """The total rows with each customer ``crm-connect resolve`` unified counted once (empty
    without a resolution)."""
    resolution: list[Resolution] = field(default_factory=list)
    """How many records of each resolved entity are how many clusters."""

    @property
    def periods(self) -> list[dt.date]:
        return sorted({row.period_start for row in self.totals})

    @property
    def latest(self) -> dt.date | None:
        periods = self.periods
        return periods[-1] if periods else None

    def series(self, metric: str) -> list[KpiRow]:
        """The total rows of ``metric``, oldest period first."""
        return sorted((row for row in self.totals if row.metric == metric),
                      key=lambda row: row.period_start)

    def latest_row(self, metric: str) -> KpiRow | None:
        series = self.series(metric)
        return series[-1] if series else None

    def entities_of(self, metric: str) -> set[str]:
        return effective_entities(self.definitions, metric)

    def unified_series(self, metric: str) -> list[KpiRow]:
        """The unified total rows of ``metric``, oldest period first."""
        return sorted((row for row in self.unified if row.metric == metric),
                      key=lambda row: row.period_start)

    def unified_metrics(self) -> list[str]:
        """The KPIs unifying can change: those reading accounts, contacts or leads, in
        catalogue order (none without a resolution)."""
        if not self.unified:
            return []
        return [key for key in self.definitions
                if self.entities_of(key) & set(RESOLVED_ENTITIES)]


def breakdown_metrics(definitions: Mapping[str, KpiDefinition], dimension: str) -> list[str]:
    """The KPIs drawn as bars for ``dimension`` (those that can be broken down by it)."""
    chosen = [key for key in BREAKDOWN_KPIS
              if key in definitions and dimension in definitions[key].dimensions]
    if not chosen:  # a plugin's dimension: its own KPIs
        chosen = [key for key, definition in definitions.items()
                  if dimension in definition.dimensions]
    return chosen[:BARS_PER_DIMENSION]


def report_dimensions(options: ReportOptions) -> list[str]:
    """The breakdowns computed: those drawn as bars, and the lead source of the mix."""
    return list(dict.fromkeys([*options.by, MIX_DIMENSION]))


def gather_steps(options: ReportOptions) -> int:
    """How many times :func:`gather` and the drawing report progress."""
    return len(report_dimensions(options)) + 3


def gather(store: Store, config: Config, options: ReportOptions,
           progress: Progress | None = None) -> ReportData:
    """Compute (or read) every row the report draws, and what the store holds."""
    step = progress or (lambda _message: None)
    definitions = get_kpis()
    moment = _as_of(options.as_of)  # one "now" for every query

    def rows(metrics: Sequence[str] | None, by: Sequence[str], start: Any, end: Any,
             unify: bool = False) -> list[KpiRow]:
        return compute_kpis(store, metrics=metrics, by=by, grain=options.grain, start=start,
                            end=end, as_of=moment, periods=options.periods,
                            config=config, from_history=options.from_history, unify=unify)

    step("computing the KPIs")
    totals = rows(None, (), options.start, options.end)
    data = ReportData(options, definitions, config.reporting.currency, moment,
                      store.location, totals)
    if not totals:
        return data
    if _unified_view(store, config, options):
        data.unified = rows(None, (), data.periods[0], data.periods[-1], unify=True)
        data.resolution = read_resolution(store)
    first, last = data.periods[0], data.periods[-1]
    dimensions = report_dimensions(options)
    for dimension in dimensions:
        step(f"breaking the KPIs down by {dimension.replace('_', ' ')}")
        metrics = breakdown_metrics(definitions, dimension)
        if dimension == MIX_DIMENSION and MIX_KPI in definitions:
            metrics = list(dict.fromkeys([*metrics, MIX_KPI]))
        if not metrics:
            continue
        try:
            found = rows(metrics, [dimension], first, last)
        except MetricError:
            found = []  # e.g. a history saved without this breakdown: drawn as "no data"
        data.breakdowns[dimension] = [row for row in found if row.dimensions]
    data.labels = load_labels(store, dimensions)
    step("reading the syncs")
    data.entity_records, per_source = _record_counts(store)
    data.connections = _connections(store, config, per_source)
    data.feeders = _feeders(config)
    return data


def _unified_view(store: Store, config: Config, options: ReportOptions) -> bool:
    """Whether the report shows the unified view beside the per-record one: the store holds
    a resolution, or ``[reporting] unify`` asks for it (the saved history holds the plain
    figures only)."""
    if options.from_history:
        return False
    return config.reporting.unify or store.has_table(RESOLVED_TABLE)


def _as_of(value: dt.datetime | str | None) -> dt.datetime:
    from crm_connect.metrics.compute import parse_moment

    return parse_moment(value, "--as-of") or dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _record_counts(store: Store) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Records (not deleted) per entity, and per source and entity."""
    totals: dict[str, int] = {}
    per_source: dict[str, dict[str, int]] = {}
    for entity in ENTITIES:
        if not store.has_table(entity):
            totals[entity] = 0
            continue
        found = store.execute(f"SELECT source, count(*) FROM {entity} WHERE NOT is_deleted "
                              "GROUP BY source")
        totals[entity] = sum(int(count) for _, count in found)
        for source, count in found:
            per_source.setdefault(str(source), {})[entity] = int(count)
    return totals, per_source


def _connections(store: Store, config: Config, per_source: Mapping[str, Mapping[str, int]]
                 ) -> list[ConnectionStatus]:
    names = list(config.connections) + sorted(set(per_source) - set(config.connections))
    runs = list_runs(store, limit=10_000)
    found = []
    for name in names:
        last = next((run for run in runs if name in run.connections), None)
        settings = config.connections.get(name)
        found.append(ConnectionStatus(
            name=name, connector=settings.connector if settings else None,
            last_started=last.started_at if last else None,
            last_ended=last.ended_at if last else None,
            last_status=last.status if last else None,
            records=dict(per_source.get(name, {})),
            quarantined=count_quarantine(store, connection=name)))
    return found


def _feeders(config: Config) -> dict[str, list[str]]:
    """Which configured connection offers a stream of each entity (a connection whose
    streams cannot be listed here, a files folder gone, say, is left out)."""
    feeders: dict[str, list[str]] = {}
    for name in config.connections:
        try:
            streams = config.build_connector(name).streams()
        except Exception:  # a plugin that cannot list its streams here feeds nothing shown
            continue
        for stream in streams:
            feeders.setdefault(stream.entity, [])
            if name not in feeders[stream.entity]:
                feeders[stream.entity].append(name)
    return feeders


def breakdown_rows(data: ReportData, dimension: str, metric: str,
                   period: dt.date | None) -> Sequence[KpiRow]:
    """The breakdown rows of ``metric`` by ``dimension`` for ``period`` (every period when
    ``None``)."""
    return [row for row in data.breakdowns.get(dimension, [])
            if row.metric == metric and (period is None or row.period_start == period)]
