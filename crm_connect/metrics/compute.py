"""``compute_kpis``: the Python entry point of the metric engine."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crm_connect.errors import ConfigError
from crm_connect.metrics.coverage import default_last_period, read_coverage
from crm_connect.metrics.definitions import DIMENSIONS, KpiDefinition
from crm_connect.metrics.engine import KpiRow, dimensions_key
from crm_connect.metrics.money import (
    check_currency,
    check_rates,
    named_currencies,
    rate_example,
)
from crm_connect.metrics.periods import (
    GRAINS,
    MONTHS,
    YEAR_LAG,
    Period,
    make_periods,
    period_containing,
    shift_period,
)
from crm_connect.metrics.registry import get_kpis
from crm_connect.metrics.running import compute_rows, effective_entities

if TYPE_CHECKING:
    from crm_connect.config import Config, Target
    from crm_connect.store import Store

__all__ = ["compute_kpis", "missing_rate_summary", "parse_moment", "resolve_request"]

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
    unknown_dims = [d for d in by if d not in DIMENSIONS]
    if unknown_dims:
        raise ConfigError(f"unknown dimension {', '.join(map(repr, unknown_dims))}; "
                          f"valid dimensions: {', '.join(DIMENSIONS)}")
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


def _executor(store: Any) -> Any:
    """``execute(sql, parameters) -> rows`` over a store, a DuckDB connection or any object
    with an ``execute(sql, parameters)`` method."""
    connection = getattr(store, "con", None) if hasattr(store, "close") else None
    if connection is None and hasattr(store, "execute") and hasattr(store, "fetchall"):
        connection = store  # a duckdb connection
    if connection is not None:
        return lambda sql, parameters: connection.execute(sql, list(parameters)).fetchall()
    return store.execute


def compute_kpis(
    store: Store | Any | None = None,
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
) -> list[KpiRow]:
    """Compute KPIs for every period and breakdown, as ``KPIS.md`` defines them.

    :param store: the store (or a DuckDB connection) holding the canonical tables; when
        absent, the configuration's store is opened read-only.
    :param metrics: KPI keys (default: every registered KPI).
    :param grain: ``week``, ``month``, ``quarter`` or ``year``.
    :param start: a date in the first period (default: ``periods`` periods up to ``end``).
    :param end: a date in the last period (default: the last complete period with data;
        with ``from_history``, ``as_of``).
    :param as_of: the moment the figures are true for (default: now, UTC).
    :param by: dimensions to break the KPIs down by (``source``, ``owner``, ...).
    :param config: supplies the store, ``[reporting]`` currency and rates and ``[targets]``.
    :param from_history: read the rows saved by earlier ``--save`` runs instead of computing.
    :returns: one :class:`KpiRow` per KPI, period and breakdown (totals first), each with
        ``comparisons`` (previous period, year earlier, benchmark, target).
    :raises ConfigError: an unknown metric, dimension or grain, or a currency that is not an
        ISO 4217 code (exit code 2).
    :raises MetricError: a reason the KPIs cannot be computed at all.  A currency without a
        rate is not one: the KPIs that need it are null with a note naming it.
    """
    if grain not in GRAINS:
        raise ConfigError(f"unknown grain {grain!r}; choose one of: {', '.join(GRAINS)}")
    definitions = get_kpis()
    keys = resolve_request(definitions, metrics, by)
    owned = None
    if store is None:
        from crm_connect.config import load_config
        from crm_connect.store import open_store

        config = config or load_config(required=False)
    if config is not None:
        currency = currency or config.reporting.currency
        rates = config.reporting.rates if rates is None else rates
        targets = config.targets if targets is None else targets
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
    try:
        execute = _executor(store)
        coverage = None
        if not from_history:
            coverage = read_coverage(execute, {
                entity for key in keys for entity in effective_entities(definitions, key)})
        if last is None and from_history:
            # History ends where the runs saved up to as_of ended (else at as_of).
            from crm_connect.metrics.history import last_saved_period

            last = last_saved_period(store, keys, grain, moment) or moment
        elif last is None and coverage is not None:
            # By default the range ends at the last complete period with data.
            last = default_last_period(coverage, grain, moment)
        if last is None:
            last = moment
        if first is None:
            first = shift_period(period_containing(last, grain), grain, -(max(periods, 1) - 1))
        if first > last:
            raise ConfigError(f"--from ({first.date()}) is after --to ({last.date()})")
        shown = make_periods(grain, first, last)
        lag = YEAR_LAG[grain]
        computed = make_periods(grain, shift_period(shown[0].start, grain, -lag),
                                shown[-1].start)
        if from_history:
            from crm_connect.metrics.history import read_history

            return read_history(store, definitions, keys, by, computed, lag, grain, moment,
                                targets)
        raw = compute_rows(execute, definitions, keys, by, computed, grain, moment,
                           currency, rates, coverage)
    finally:
        if owned is not None:
            owned.close()
    return shape_rows(raw, definitions, keys, by, computed, lag, grain, targets, as_of=moment)


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
    dims = [d for d in DIMENSIONS if d in by]
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


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


MONTHS_IN_PERIOD = MONTHS
"""Months in one period of each grain (``cac_payback_months``)."""
