"""``compute_kpis``: the Python entry point of the metric engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from crm_connect.config import Config, Target, load_config, open_store
from crm_connect.errors import ConfigError
from crm_connect.metrics.comparisons import shape_rows
from crm_connect.metrics.coverage import default_last_period, read_coverage
from crm_connect.metrics.definitions import KpiDefinition
from crm_connect.metrics.engine import KpiRequest, KpiRow
from crm_connect.metrics.history import last_saved_period, read_history
from crm_connect.metrics.money import (
    check_currency,
    check_rates,
    named_currencies,
    rate_example,
)
from crm_connect.metrics.periods import GRAINS, MONTHS, period_containing, shift_period
from crm_connect.metrics.registry import get_kpis
from crm_connect.metrics.running import compute_rows, effective_entities
from crm_connect.metrics.sources import TableSource
from crm_connect.metrics.unified import check_resolved
from crm_connect.metrics.vocabulary import get_dimensions
from crm_connect.store_contract import Store

__all__ = ["compute_kpis", "missing_rate_summary", "parse_moment", "resolve_request",
           "run_request"]

Moment = dt.datetime | dt.date | str | None


def parse_moment(value: Moment, what: str) -> dt.datetime | None:
    """A date or datetime (text in ISO 8601 too) as naive UTC; ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{what} {text!r} is not a date or datetime "
                              "(use ISO 8601, e.g. 2026-06-30 or 2026-06-30T12:00:00Z)") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime(value.year, value.month, value.day)


def resolve_request(definitions: Mapping[str, KpiDefinition], metrics: Sequence[str] | None,
                    by: Sequence[str]) -> list[str]:
    """Validate metric keys and dimensions; the keys to compute, in catalogue order."""
    dimensions = get_dimensions()
    unknown_dims = [d for d in by if d not in dimensions]
    if unknown_dims:
        raise ConfigError(f"unknown dimension {', '.join(map(repr, unknown_dims))}; "
                          f"valid dimensions: {', '.join(dimensions)}")
    if len(set(by)) != len(by):
        raise ConfigError("a dimension is given twice in --by")
    if not metrics:
        return list(definitions)
    unknown = [m for m in metrics if m not in definitions]
    if unknown:
        raise ConfigError(f"unknown metric {', '.join(map(repr, unknown))}; valid metrics: "
                          f"{', '.join(definitions)}")
    for key in metrics:
        unsupported = [d for d in by if d not in definitions[key].dimensions]
        if unsupported:
            raise ConfigError(
                f"metric {key!r} cannot be broken down by {', '.join(unsupported)}; "
                f"its dimensions: {', '.join(definitions[key].dimensions)}")
    return list(dict.fromkeys(metrics))


def _executor(store: TableSource) -> Any:
    """``execute(sql, parameters) -> rows``: SQL the engine rendered for the store's dialect,
    run through the store contract (:meth:`Store.query_arrow`)."""

    def execute(sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        return arrow_rows(store.query_arrow(sql, list(parameters)))

    return execute


def arrow_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """An Arrow result as row tuples.  Whole-number decimals (a sum of integers, which
    DuckDB gives as HUGEINT and Postgres as NUMERIC) come back as ``int``, as a row fetch
    gives them."""
    columns = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_decimal(column.type) and column.type.scale == 0:
            values = [None if value is None else int(value) for value in values]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


def _dialect(store: TableSource) -> str:
    """The SQL dialect the store's engine speaks."""
    return store.dialect


def compute_kpis(
    store: Store | TableSource | None = None,
    *,
    metrics: Sequence[str] | None = None,
    grain: str = "month",
    start: Moment = None,
    end: Moment = None,
    as_of: Moment = None,
    by: Sequence[str] = (),
    periods: int = 12,
    config: Config | None = None,
    currency: str | None = None,
    rates: Mapping[str, Decimal | float] | None = None,
    targets: Mapping[str, Target] | None = None,
    from_history: bool = False,
    unify: bool | None = None,
) -> list[KpiRow]:
    """Compute KPIs for every period and breakdown, as ``KPIS.md`` defines them.

    :param store: the store holding the canonical tables (any :class:`Store`: the engine
        reaches it only through the store contract), or another engine holding them (a
        :class:`~crm_connect.metrics.sources.TableSource`, e.g. Spark's
        :class:`~crm_connect.metrics.spark.SparkTables`); when absent, the configuration's
        store is opened read-only.
    :param metrics: KPI keys (default: every registered KPI).
    :param grain: ``week``, ``month``, ``quarter`` or ``year``.
    :param start: a date in the first period (default: ``periods`` periods up to ``end``).
    :param end: a date in the last period (default: the last complete period with data;
        with ``from_history``, ``as_of``).
    :param as_of: the moment the figures are true for (default: now, UTC).
    :param by: dimensions to break the KPIs down by (``source``, ``owner``, ...).
    :param config: supplies the store, ``[reporting]`` currency and rates and ``[targets]``.
    :param from_history: read the rows saved by earlier ``--save`` runs instead of computing.
    :param unify: count each customer ``crm-connect resolve`` unified once (its clusters in
        the ``resolved_entities`` table); default: ``[reporting] unify`` of ``config``
        (not with ``from_history``: the history holds the plain figures).
    :returns: one :class:`KpiRow` per KPI, period and breakdown (totals first), each with
        ``comparisons`` (previous period, year earlier, benchmark, target).
    :raises ConfigError: an unknown metric, dimension or grain, a currency that is not an
        ISO 4217 code, or ``unify`` on a store resolve never ran on (exit code 2).
    :raises MetricError: a reason the KPIs cannot be computed at all.  A currency without a
        rate is not one: the KPIs that need it are null with a note naming it.
    """
    if grain not in GRAINS:
        raise ConfigError(f"unknown grain {grain!r}; choose one of: {', '.join(GRAINS)}")
    definitions = get_kpis()
    keys = resolve_request(definitions, metrics, by)
    owned = None
    if store is None:
        config = config or load_config(required=False)
    if config is not None:
        currency = currency or config.reporting.currency
        rates = config.reporting.rates if rates is None else rates
        targets = config.targets if targets is None else targets
        if unify is None:  # the history holds the plain figures
            unify = config.reporting.unify and not from_history
    unify = bool(unify)
    if unify and from_history:
        raise ConfigError("the saved KPI history holds the plain figures: --from-history "
                          "cannot be combined with --unify")
    currency = check_currency(currency or "USD", "the reporting currency")
    rates = check_rates(rates or {}, "rates" if config is None else "[reporting] rates")
    targets = dict(targets or {})
    unknown_targets = [key for key in targets if key not in definitions]
    if unknown_targets:
        raise ConfigError(f"[targets] names unknown metric {', '.join(unknown_targets)}; "
                          f"valid metrics: {', '.join(definitions)}")
    moment = parse_moment(as_of, "--as-of") or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    last = parse_moment(end, "--to")
    first = parse_moment(start, "--from")

    if store is None:
        assert config is not None
        owned = open_store(config.store.url, base_dir=config.base_dir, read_only=True)
        store = owned
    if from_history and not isinstance(store, Store):
        raise ConfigError("the KPI history is saved in the store: --from-history reads the "
                          "configured store, not another engine's tables")
    try:
        if unify:
            check_resolved(store)
        execute = _executor(store)
        coverage = None
        if not from_history:
            coverage = read_coverage(execute, {
                entity for key in keys for entity in effective_entities(definitions, key)},
                _dialect(store))
        if last is None and from_history:
            assert isinstance(store, Store)
            # History ends where the runs saved up to as_of ended (else at as_of).
            last = last_saved_period(store, keys, grain, moment) or moment
        elif last is None and coverage is not None:
            # By default the range ends at the last complete period with data.
            last = default_last_period(coverage, grain, moment)
        if last is None:
            last = moment
        if first is None:
            first = shift_period(period_containing(last, grain), grain, -(max(periods, 1) - 1))
        request = KpiRequest(metrics=tuple(keys), grain=grain, start=first,  # type: ignore[arg-type]
                             end=last, as_of=moment, breakdowns=tuple(by),
                             currency=currency, rates=rates, unify=unify)
        computed = request.periods
        lag = request.look_back
        if from_history:
            assert isinstance(store, Store)
            return read_history(store, definitions, keys, by, computed, lag, grain, moment,
                                targets)
        raw = compute_rows(execute, definitions, request, coverage, _dialect(store))
    finally:
        if owned is not None:
            owned.close()
    return shape_rows(raw, definitions, keys, by, computed, lag, grain, targets, as_of=moment)


def run_request(store: Store | TableSource, request: KpiRequest,
                targets: Mapping[str, Target] | None = None) -> list[KpiRow]:
    """Compute a :class:`KpiRequest` as it stands (its range and as-of given, no defaults
    read from the configuration; no metrics: every registered KPI) on ``store``, in the
    store's SQL dialect.

    :returns: the rows :func:`compute_kpis` returns for the same request."""
    definitions = get_kpis()
    keys = resolve_request(definitions, request.metrics, request.breakdowns)
    if not request.metrics:  # every registered KPI
        request = dataclasses.replace(request, metrics=tuple(keys))
    targets = dict(targets or {})
    if request.unify:
        check_resolved(store)
    rows = compute_rows(_executor(store), definitions, request, dialect=_dialect(store))
    return shape_rows(rows, definitions, keys, request.breakdowns, request.periods,
                      request.look_back, request.grain, targets, as_of=request.as_of)


def missing_rate_summary(rows: Sequence[KpiRow], currency: str) -> str | None:
    """What to tell a person when some KPIs are null for want of an exchange rate."""
    codes = {code for row in rows for code in row.missing_rates}
    metrics = list(dict.fromkeys(row.metric for row in rows if row.missing_rates))
    if not metrics:
        return None
    several = len(metrics) > 1
    return (f"{len(metrics)} KPI{'s' if several else ''} ({', '.join(metrics)}) "
            f"{'have' if several else 'has'} no value: no exchange rate into {currency} for "
            f"{named_currencies(codes)}. To compute {'them' if several else 'it'}, "
            f"{rate_example(codes, currency)}.")


MONTHS_IN_PERIOD = MONTHS
"""Months in one period of each grain (``cac_payback_months``)."""
