"""The catalogue's building blocks: the period conditions, the breakdowns each entity offers,
and the measures and KPI shapes (a rate, a mean, a count) its definitions are made of."""

from __future__ import annotations

from crm_connect.metrics.definitions import (
    PERIOD,
    Benchmark,
    KpiDefinition,
    Measure,
    Missing,
)

# Period columns come from the typed PERIOD namespace (p.opening, p.moment, ...).
# "Customer at time t": customer_since <= t and (churned_at is null or churned_at > t).
_CUSTOMER_AT_START = (f"f.customer_since <= {PERIOD.opening} AND "
                      f"(f.churned_at IS NULL OR f.churned_at > {PERIOD.opening})")
_CUSTOMER_AT_END = (f"f.customer_since <= {PERIOD.moment} AND "
                    f"(f.churned_at IS NULL OR f.churned_at > {PERIOD.moment})")
# Open at t: created_at <= t and (closed_at is null or closed_at > t).
_OPEN_AT_END = (f"f.created_at <= {PERIOD.moment} AND "
                f"(f.closed_at IS NULL OR f.closed_at > {PERIOD.moment})")
_OUTBOUND_EMAIL = "f.kind = 'email' AND f.direction = 'outbound'"

_DEAL_DIMS = ("source", "owner", "pipeline", "deal_type", "lead_source", "campaign",
              "industry", "segment")
_ACCOUNT_DIMS = ("source", "owner", "industry", "segment", "lead_source")
_LEAD_DIMS = ("source", "lead_source", "owner")
_ACCOUNT_FACTS = ("source", "industry", "segment")  # shared by deals and accounts


def _spend(category: str) -> tuple[Measure, Measure]:
    """The spend of ``category`` dated in the period, and how many spend records make it."""
    where = f"f.category = '{category}'"
    return (Measure(name="spend", relation="spend", aggregate="sum", expr="f.amount",
                    where=where, event="f.date"),
            Measure(name="spend_records", relation="spend", where=where, event="f.date"))


def _no_spend(category: str) -> Missing:
    """No spend of ``category`` recorded for the period: unknown, not 0."""
    return Missing(
        when="spend_records = 0",
        note=f"no {category} spend recorded for the period (record 0 if none was spent): "
        f"add spend of category {category}, e.g. costs a connector maps to spend, or "
        "spend.csv in a files connection")


def _s() -> Measure:
    return Measure(name="s", relation="accounts", at=_CUSTOMER_AT_START)


def _n() -> Measure:
    return Measure(name="n", relation="accounts", event="f.customer_since")


def _won(name: str = "won") -> Measure:
    return Measure(name=name, relation="deals", where="f.is_won", event="f.closed_at")


def _revenue(*, name: str = "revenue", previous: bool = False) -> Measure:
    return Measure(name=name, relation="deals", aggregate="sum", expr="f.amount",
                   where="f.is_won", event="f.closed_at", previous=previous)


def _rate(*, key: str, name: str, formula: str, entities: tuple[str, ...],
          dimensions: tuple[str, ...], part: Measure, whole: Measure, null_note: str,
          category: str, better: str = "up",
          benchmark: Benchmark | None = None) -> KpiDefinition:
    """part / whole x 100, null when whole is 0."""
    return KpiDefinition(
        key=key, name=name, unit="%", better=better, formula=formula, category=category,
        entities=entities, dimensions=dimensions, measures=(part, whole),
        value=f"100.0 * {part.name} / {whole.name}", numerator=part.name,
        denominator=whole.name, count=whole.name, null_when=f"{whole.name} = 0",
        null_note=null_note, benchmark=benchmark,
    )


def _mean(*, key: str, name: str, unit: str, better: str, formula: str,
          entities: tuple[str, ...], dimensions: tuple[str, ...], total: Measure,
          items: Measure, null_note: str, category: str) -> KpiDefinition:
    """total / items, null when there are no items."""
    return KpiDefinition(
        key=key, name=name, unit=unit, better=better, formula=formula, category=category,
        entities=entities, dimensions=dimensions, measures=(total, items),
        value=f"{total.name} / {items.name}", numerator=total.name, denominator=items.name,
        count=items.name, null_when=f"{items.name} = 0", null_note=null_note,
    )


def _count(*, key: str, name: str, better: str, formula: str, entities: tuple[str, ...],
           dimensions: tuple[str, ...], measure: Measure, category: str,
           snapshot: bool = False) -> KpiDefinition:
    return KpiDefinition(
        key=key, name=name, unit="count", better=better, formula=formula, category=category,
        entities=entities, dimensions=dimensions, measures=(measure,), value=measure.name,
        numerator=measure.name, count=measure.name, snapshot=snapshot,
    )

