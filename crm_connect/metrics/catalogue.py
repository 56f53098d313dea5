"""The built-in KPI catalogue: every KPI of ``KPIS.md``, contributed through ``register_kpis``.

Each entry is a :class:`~crm_connect.metrics.KpiDefinition`; the formulas follow ``KPIS.md``
word for word, including its "Precise readings".  The catalogue is registered like any
third-party plugin's KPIs (entry point ``kpis`` of group ``crm_connect``).
"""

from __future__ import annotations

from collections.abc import Callable

from crm_connect.hookspecs import hookimpl
from crm_connect.metrics.definitions import (
    DIMENSIONS,
    PERIOD,
    Benchmark,
    Dimension,
    KpiDefinition,
    Measure,
    Missing,
)
from crm_connect.metrics.relations import RELATIONS, Relation, seconds_between

__all__ = ["CATALOGUE", "register_dimensions", "register_kpis", "register_relations"]

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


def _sales() -> list[KpiDefinition]:
    leads = Measure(name="leads", relation="leads", event="f.created_at")
    closed = Measure(name="closed", relation="deals", where="f.is_closed", event="f.closed_at")
    timed = "f.is_won AND f.created_at IS NOT NULL"
    open_deals = Measure(name="open_deals", relation="deals", at=_OPEN_AT_END)
    return [
        _count(key="leads_created", name="Leads created", better="up",
               formula="leads with created_at in period", entities=("leads",),
               dimensions=_LEAD_DIMS, measure=Measure(name="leads", relation="leads",
                                                       event="f.created_at"), category="sales"),
        _rate(key="lead_conversion_rate", name="Lead conversion rate",
              formula="leads created in the period with converted_at set (<= as_of) / leads "
                      "created in the period x 100", entities=("leads",), dimensions=_LEAD_DIMS,
              part=Measure(name="converted", relation="leads", event="f.created_at",
                           where="f.converted_at IS NOT NULL "
                                 f"AND f.converted_at <= {PERIOD.as_of}"),
              whole=leads, null_note="no leads created in the period", category="sales"),
        _rate(key="contact_rate", name="Contact rate",
              formula="leads created in the period with at least one outbound call, email or "
                      "meeting / leads created in the period x 100", entities=("leads",),
              dimensions=_LEAD_DIMS,
              part=Measure(name="contacted", relation="leads", event="f.created_at",
                           where="f.contacted"), whole=leads,
              null_note="no leads created in the period", category="sales"),
        _rate(key="win_rate", name="Win rate",
              formula="deals won in period / deals closed (won + lost) in period x 100",
              entities=("deals",), dimensions=_DEAL_DIMS, part=_won(), whole=closed,
              null_note="no deals closed in the period", category="sales"),
        _mean(key="sales_cycle_length", name="Sales cycle length", unit="days", better="down",
              formula="mean over deals won in period of (closed_at - created_at) in days",
              entities=("deals",), dimensions=_DEAL_DIMS,
              total=Measure(name="days", relation="deals", aggregate="sum", where=timed,
                            expr=f"{seconds_between('f.created_at', 'f.closed_at')} / 86400.0",
                            event="f.closed_at"),
              items=Measure(name="won", relation="deals", where=timed, event="f.closed_at"),
              null_note="no deals won in the period", category="sales"),
        _mean(key="average_deal_size", name="Average deal size", unit="currency", better="up",
              formula="revenue / number of deals won in period", entities=("deals",),
              dimensions=_DEAL_DIMS, total=_revenue(), items=_won(),
              null_note="no deals won in the period", category="sales"),
        KpiDefinition(
            key="revenue", name="Revenue", unit="currency", better="up", category="sales",
            formula="sum of amount of deals won in period", entities=("deals",),
            dimensions=_DEAL_DIMS, measures=(_revenue(), _won()), value="revenue",
            numerator="revenue", count="won"),
        KpiDefinition(
            key="revenue_growth_rate", name="Revenue growth rate", unit="%", better="up",
            category="sales", entities=("deals",), dimensions=_DEAL_DIMS,
            formula="(revenue - revenue of the previous period) / revenue of the previous "
            "period x 100", measures=(_revenue(), _revenue(name="previous", previous=True),
                                      _won()),
            value="100.0 * (revenue - previous) / previous", numerator="revenue - previous",
            denominator="previous", count="won", null_when="previous = 0",
            null_note="the previous period's revenue is 0"),
        KpiDefinition(
            key="open_pipeline_value", name="Open pipeline value", unit="currency",
            better="up", category="sales", entities=("deals",), dimensions=_DEAL_DIMS,
            formula="sum of amount of deals open at period end",
            measures=(Measure(name="pipeline", relation="deals", aggregate="sum",
                              expr="f.amount", at=_OPEN_AT_END), open_deals),
            value="pipeline", numerator="pipeline", count="open_deals"),
        _count(key="open_deals", name="Open deals", better="up",
               formula="deals open at period end", entities=("deals",), dimensions=_DEAL_DIMS,
               measure=open_deals, category="sales"),
        KpiDefinition(
            key="pipeline_velocity", name="Pipeline velocity", unit="currency/day",
            better="up", category="sales", entities=("deals",), dimensions=_DEAL_DIMS,
            formula="open_deals x win_rate/100 x average_deal_size / sales_cycle_length",
            inputs=("open_deals", "win_rate", "average_deal_size", "sales_cycle_length"),
            value="open_deals__value * win_rate__value / 100.0 * average_deal_size__value"
            " / sales_cycle_length__value",
            numerator="open_deals__value * win_rate__value / 100.0 * "
            "average_deal_size__value",
            denominator="sales_cycle_length__value",
            count="open_deals__count + win_rate__count",
            null_when="sales_cycle_length__value = 0",
            null_note="the sales cycle length is 0"),
        KpiDefinition(
            key="upsell_rate", name="Upsell rate", unit="%", better="up", category="sales",
            formula="accounts with a won deal of deal_type = upsell in period / S x 100",
            entities=("deals", "accounts"), dimensions=_ACCOUNT_FACTS,
            measures=(Measure(name="upsold", relation="deals", aggregate="count_distinct",
                              expr="f.account_key", where="f.is_won AND f.deal_type = 'upsell'",
                              event="f.closed_at"), _s()),
            value="100.0 * upsold / s", numerator="upsold", denominator="s", count="s",
            null_when="s = 0", null_note="no customers at the period's start"),
    ]


def _customers() -> list[KpiDefinition]:
    churned = Measure(
        name="churned", relation="accounts",
        at=f"{_CUSTOMER_AT_START} AND f.churned_at >= {PERIOD.period_start} "
        f"AND f.churned_at < {PERIOD.period_end} AND f.churned_at <= {PERIOD.as_of}")
    no_s = "no customers at the period's start"
    return [
        _count(key="new_customers", name="New customers", better="up",
               formula="N: accounts whose customer_since falls in the period",
               entities=("accounts",), dimensions=_ACCOUNT_DIMS, measure=_n(),
               category="customers"),
        _count(key="active_customers", name="Active customers", better="up",
               formula="E: customers at period end", entities=("accounts",),
               dimensions=_ACCOUNT_DIMS,
               measure=Measure(name="e", relation="accounts", at=_CUSTOMER_AT_END),
               category="customers"),
        KpiDefinition(
            key="customer_retention_rate", name="Customer retention rate", unit="%",
            better="up", category="customers", formula="(E - N) / S x 100",
            entities=("accounts",), dimensions=_ACCOUNT_DIMS,
            measures=(Measure(name="e", relation="accounts", at=_CUSTOMER_AT_END), _n(),
                      _s()),
            value="100.0 * (e - n) / s", numerator="e - n", denominator="s", count="s",
            null_when="s = 0", null_note=no_s),
        _rate(key="customer_churn_rate", name="Customer churn rate",
              formula="accounts counted in S whose churned_at falls in the period / S x 100",
              entities=("accounts",), dimensions=_ACCOUNT_DIMS, part=churned, whole=_s(),
              null_note=no_s, category="customers", better="down",
              benchmark=Benchmark(
                  low=3.0, high=7.0, grain="month",
                  source="KPIS.md: industry average monthly customer churn 3-7 %")),
        KpiDefinition(
            key="customer_acquisition_cost", name="Customer acquisition cost",
            unit="currency", better="down", category="customers",
            formula="spend of category acquisition dated in period / N; by lead_source: that "
            "channel's spend / new customers whose acquisition_channel is that channel",
            entities=("spend", "accounts"), dimensions=("source", "lead_source"),
            measures=(*_spend("acquisition"), _n()),
            value="spend / n", numerator="spend", denominator="n", count="n",
            missing=(_no_spend("acquisition"),),
            null_when="n = 0", null_note="no new customers in the period"),
        KpiDefinition(
            key="customer_retention_cost", name="Customer retention cost", unit="currency",
            better="down", category="customers",
            formula="spend of category retention dated in period / S",
            entities=("spend", "accounts"), dimensions=("source",),
            measures=(*_spend("retention"), _s()),
            value="spend / s", numerator="spend", denominator="s", count="s",
            missing=(_no_spend("retention"),), null_when="s = 0", null_note=no_s),
        KpiDefinition(
            key="arpu", name="Average revenue per user", unit="currency", better="up",
            category="customers", formula="revenue / ((S + E) / 2)",
            entities=("deals", "accounts"), dimensions=_ACCOUNT_FACTS,
            inputs=("revenue", "customer_churn_rate", "active_customers"),
            value="revenue__value / ((customer_churn_rate__denominator + "
            "active_customers__value) / 2.0)",
            numerator="revenue__value",
            denominator="(customer_churn_rate__denominator + active_customers__value) / 2.0",
            count="revenue__count",
            null_when="customer_churn_rate__denominator + active_customers__value = 0",
            null_note="no customers at the period's start or end"),
        KpiDefinition(
            key="customer_lifetime_value", name="Customer lifetime value", unit="currency",
            better="up", category="customers",
            formula="(revenue / deals won) x (deals won / distinct accounts with a won deal) x "
            "100 / customer_churn_rate, all in the period; null when churn is 0",
            entities=("deals", "accounts"), dimensions=_ACCOUNT_FACTS,
            inputs=("average_deal_size", "repeat_purchase_rate", "customer_churn_rate"),
            value="average_deal_size__value * (average_deal_size__denominator / "
            "repeat_purchase_rate__denominator) * (100.0 / customer_churn_rate__value)",
            numerator="average_deal_size__value * average_deal_size__denominator / "
            "repeat_purchase_rate__denominator",
            denominator="customer_churn_rate__value / 100.0",
            count="average_deal_size__count",
            null_when="customer_churn_rate__value = 0 OR average_deal_size__denominator = 0 "
            "OR repeat_purchase_rate__denominator = 0",
            null_note="needs a churn rate above 0 and a deal won with an account"),
        KpiDefinition(
            key="cac_payback_months", name="CAC payback", unit="months", better="down",
            category="customers",
            formula="customer_acquisition_cost / (arpu / months in the period)",
            entities=("spend", "accounts", "deals"), dimensions=("source",),
            inputs=("customer_acquisition_cost", "arpu"),
            value="customer_acquisition_cost__value / (arpu__value / months)",
            numerator="customer_acquisition_cost__value", denominator="arpu__value / months",
            count="customer_acquisition_cost__count", null_when="arpu__value = 0",
            null_note="the ARPU is 0"),
        _rate(key="marketing_originated_customers", name="Marketing-originated customers",
              formula="new customers whose originating lead has origin = marketing / N x 100",
              entities=("accounts", "leads"), dimensions=_ACCOUNT_DIMS,
              part=Measure(name="marketing", relation="accounts", event="f.customer_since",
                           where="f.origin = 'marketing'"), whole=_n(),
              null_note="no new customers in the period", category="customers"),
        _rate(key="repeat_purchase_rate", name="Repeat purchase rate",
              formula="accounts with a won deal in the period that also had a won deal before it / "
                      "accounts with a won deal in the period x 100", entities=("deals",),
              dimensions=_DEAL_DIMS,
              part=Measure(name="repeat", relation="deals", aggregate="count_distinct",
                           expr="f.account_key", event="f.closed_at",
                           where=f"f.is_won AND f.account_first_won_at < {PERIOD.period_start}"),
              whole=Measure(name="buyers", relation="deals", aggregate="count_distinct",
                            expr="f.account_key", where="f.is_won", event="f.closed_at"),
              null_note="no account won a deal in the period", category="customers"),
        _rate(key="renewal_rate", name="Renewal rate",
              formula="contracts whose end_date falls in the period and that were renewed / "
                      "contracts whose end_date falls in the period x 100", entities=("contracts",),
              dimensions=("source",),
              part=Measure(name="renewed", relation="contracts", where="f.was_renewed",
                           event="f.end_date"),
              whole=Measure(name="ending", relation="contracts", event="f.end_date"),
              null_note="no contract ends in the period", category="customers"),
        _mean(key="average_contract_value", name="Average contract value", unit="currency",
              better="up",
              formula="mean over contracts starting in the period of total_value / term in years "
                      "(at least one year)", entities=("contracts",), dimensions=("source",),
              total=Measure(name="annual", relation="contracts", aggregate="sum",
                            expr="f.value / f.term_years", where="f.value IS NOT NULL",
                            event="f.start_date"),
              items=Measure(name="starting", relation="contracts", where="f.value IS NOT NULL",
                            event="f.start_date"),
              null_note="no contract with a value starts in the period", category="customers"),
    ]


def _survey(*, kind: str, name: str = "responses") -> Measure:
    return Measure(name=name, relation="survey_responses", event="f.responded_at",
                   where=f"f.survey_type = '{kind}'")


def _satisfaction() -> list[KpiDefinition]:
    dims = ("source", "survey_type")
    return [
        KpiDefinition(
            key="net_promoter_score", name="Net Promoter Score", unit="score -100..100",
            better="up", category="satisfaction",
            formula="over nps responses in period: % promoters (9-10) - % detractors (0-6)",
            entities=("survey_responses",), dimensions=dims,
            measures=(Measure(name="net", relation="survey_responses", aggregate="sum",
                              expr="CASE WHEN f.score >= 9 THEN 1 WHEN f.score <= 6 THEN -1 "
                              "ELSE 0 END", event="f.responded_at",
                              where="f.survey_type = 'nps'"), _survey(kind="nps")),
            value="100.0 * net / responses", numerator="net", denominator="responses",
            count="responses", null_when="responses = 0",
            null_note="no NPS responses in the period"),
        _rate(key="csat", name="Customer satisfaction (CSAT)",
              formula="csat responses in period with score / scale_max >= 0.8 / csat responses in "
                      "period x 100", entities=("survey_responses",), dimensions=dims,
              part=Measure(name="satisfied", relation="survey_responses", event="f.responded_at",
                           where="f.survey_type = 'csat' AND f.score / f.scale_max >= 0.8"),
              whole=_survey(kind="csat"), null_note="no CSAT responses in the period",
              category="satisfaction"),
        _mean(key="customer_effort_score", name="Customer effort score", unit="score 1-7",
              better="down",
              formula="mean of ces responses in period, each mapped from scale_min..scale_max onto "
                      "1..7", entities=("survey_responses",), dimensions=dims,
              total=Measure(name="effort", relation="survey_responses", aggregate="sum",
                            expr="1 + (f.score - f.scale_min) * 6.0 / (f.scale_max - f.scale_min)",
                            event="f.responded_at", where="f.survey_type = 'ces'"),
              items=_survey(kind="ces"), null_note="no CES responses in the period",
              category="satisfaction"),
    ]


def _marketing() -> list[KpiDefinition]:
    started = Measure(name="campaigns", relation="campaigns", event="f.started_at")
    attributed = Measure(name="revenue", relation="campaigns", aggregate="sum",
                         expr="f.attributed_revenue", event="f.started_at")
    emails = Measure(name="emails", relation="activities", where=_OUTBOUND_EMAIL,
                     event="f.occurred_at")
    no_emails = "no outbound emails in the period"
    return [
        KpiDefinition(
            key="campaign_roi", name="Campaign ROI", unit="%", better="up",
            category="marketing",
            formula="campaigns started in period: (attributed revenue of won deals closed up "
            "to as_of - actual_cost) / actual_cost x 100, pooled",
            entities=("campaigns",), dimensions=("source", "campaign"),
            measures=(attributed, Measure(name="cost", relation="campaigns", aggregate="sum",
                                          expr="f.cost", event="f.started_at"), started),
            value="100.0 * (revenue - cost) / cost", numerator="revenue - cost",
            denominator="cost", count="campaigns", null_when="cost = 0",
            null_note="no campaign cost in the period"),
        _mean(key="revenue_per_campaign", name="Revenue per campaign", unit="currency",
              better="up", formula="attributed revenue / number of campaigns started in period",
              entities=("campaigns",), dimensions=("source", "campaign"), total=attributed,
              items=started, null_note="no campaigns started in the period", category="marketing"),
        _rate(key="email_open_rate", name="Email open rate",
              formula="outbound emails in period with opened true / outbound emails in period "
                      "x 100",
              entities=("activities",), dimensions=("source", "owner"),
              part=Measure(name="opened", relation="activities", event="f.occurred_at",
                           where=f"{_OUTBOUND_EMAIL} AND COALESCE(f.opened, FALSE)"), whole=emails,
              null_note=no_emails, category="marketing"),
        _rate(key="email_click_through_rate", name="Email click-through rate",
              formula="outbound emails in period with clicked true / outbound emails in period "
                      "x 100",
              entities=("activities",), dimensions=("source", "owner"),
              part=Measure(name="clicked", relation="activities", event="f.occurred_at",
                           where=f"{_OUTBOUND_EMAIL} AND COALESCE(f.clicked, FALSE)"),
              whole=emails, null_note=no_emails, category="marketing"),
        _count(key="social_media_engagement", name="Social media engagement", better="up",
               formula="activities of kind social in period", entities=("activities",),
               dimensions=("source", "owner"),
               measure=Measure(name="social", relation="activities", where="f.kind = 'social'",
                               event="f.occurred_at"), category="marketing"),
    ]


def _support() -> list[KpiDefinition]:
    dims = ("source", "owner", "ticket_channel")
    resolved_where = "f.created_at IS NOT NULL"
    resolved = Measure(name="resolved", relation="tickets", event="f.resolved_at")
    return [
        _mean(key="first_response_time", name="First response time", unit="hours", better="down",
              formula="mean over tickets created in period with first_response_at of "
                      "(first_response_at - created_at)", entities=("tickets",), dimensions=dims,
              total=Measure(name="hours", relation="tickets", aggregate="sum",
                            expr=f"{seconds_between('f.created_at', 'f.first_response_at')} "
                                 "/ 3600.0",
                            where="f.first_response_at IS NOT NULL", event="f.created_at"),
              items=Measure(name="responded", relation="tickets",
                            where="f.first_response_at IS NOT NULL", event="f.created_at"),
              null_note="no ticket created in the period has a first response", category="support"),
        _mean(key="resolution_time", name="Resolution time", unit="hours", better="down",
              formula="mean over tickets resolved in period of (resolved_at - created_at)",
              entities=("tickets",), dimensions=dims,
              total=Measure(name="hours", relation="tickets", aggregate="sum",
                            expr=f"{seconds_between('f.created_at', 'f.resolved_at')} / 3600.0",
                            where=resolved_where, event="f.resolved_at"),
              items=Measure(name="resolved", relation="tickets", where=resolved_where,
                            event="f.resolved_at"), null_note="no tickets resolved in the period",
              category="support"),
        _rate(key="first_contact_resolution_rate", name="First contact resolution rate",
              formula="tickets resolved in period with interactions_count <= 1 / tickets "
                      "resolved in period x 100", entities=("tickets",), dimensions=dims,
              part=Measure(name="first_contact", relation="tickets", event="f.resolved_at",
                           where="f.interactions_count <= 1"), whole=resolved,
              null_note="no tickets resolved in the period", category="support"),
        _mean(key="average_handling_time", name="Average handling time", unit="minutes",
              better="down",
              formula="mean handle_time_seconds / 60 over tickets resolved in period that have it",
              entities=("tickets",), dimensions=dims,
              total=Measure(name="minutes", relation="tickets", aggregate="sum",
                            expr="f.handle_time_seconds / 60.0", event="f.resolved_at",
                            where="f.handle_time_seconds IS NOT NULL"),
              items=Measure(name="handled", relation="tickets", event="f.resolved_at",
                            where="f.handle_time_seconds IS NOT NULL"),
              null_note="no resolved ticket in the period has a handling time", category="support"),
        KpiDefinition(
            key="cost_per_interaction", name="Cost per interaction", unit="currency",
            better="down", category="support",
            formula="spend of category support dated in period / sum of interactions_count "
            "of tickets created in period", entities=("spend", "tickets"),
            dimensions=("source",),
            measures=(*_spend("support"),
                      Measure(name="interactions", relation="tickets", aggregate="sum",
                              expr="COALESCE(f.interactions_count, 0)", event="f.created_at"),
                      Measure(name="tickets", relation="tickets", event="f.created_at")),
            value="spend / interactions", numerator="spend", denominator="interactions",
            count="tickets", missing=(_no_spend("support"),), null_when="interactions = 0",
            null_note="no interactions on tickets created in the period"),
    ]


def _adoption() -> list[KpiDefinition]:
    return [
        _count(key="users_active_7d", name="Users active in the last 7 days", better="up",
               formula="active users with last_login_at in the 7 days before as_of (snapshot)",
               entities=("users",), dimensions=("source",),
               measure=Measure(name="users", relation="users",
                               at=f"f.is_active AND f.last_login_at >= {PERIOD.as_of} - "
                               f"INTERVAL '7 days' AND f.last_login_at <= {PERIOD.as_of}"),
               category="adoption",
               snapshot=True),
        _count(key="users_never_logged_in", name="Users who never logged in", better="down",
               formula="active users with no last_login_at (snapshot)", entities=("users",),
               dimensions=("source",),
               measure=Measure(name="users", relation="users",
                               at="f.is_active AND f.last_login_at IS NULL"),
               category="adoption", snapshot=True),
        _count(key="accounts_created", name="Accounts created", better="up",
               formula="accounts created in period; by owner: the creating user",
               entities=("accounts",), dimensions=_ACCOUNT_DIMS,
               measure=Measure(name="accounts", relation="accounts", event="f.created_at",
                               dimensions={"owner": "created_by_id"}), category="adoption"),
        _count(key="activities_completed", name="Activities completed", better="up",
               formula="activities with completed true, dated by completed_at (else occurred_at)",
               entities=("activities",), dimensions=("source", "owner"),
               measure=Measure(name="completed", relation="activities", where="f.completed",
                               event="COALESCE(f.completed_at, f.occurred_at)"),
               category="adoption"),
    ]


CATALOGUE: tuple[KpiDefinition, ...] = (
    *_sales(), *_customers(), *_satisfaction(), *_marketing(), *_support(), *_adoption()
)
"""Every KPI of KPIS.md, in its order."""


_DIMENSION_TEXT = {
    "source": "the connection a record came from",
    "lead_source": "the channel a lead, deal or customer came through",
    "owner": "the user who owns the record (accounts created: who created it)",
    "campaign": "the campaign a deal or spend is attributed to",
    "pipeline": "the deal's pipeline",
    "deal_type": "new business, upsell, renewal or other",
    "industry": "the account's industry",
    "segment": "the account's segment",
    "ticket_channel": "the channel a ticket came in through",
    "survey_type": "nps, csat or ces",
}


@hookimpl
def register_kpis(register: Callable[[KpiDefinition], None]) -> None:
    for definition in CATALOGUE:
        register(definition)


@hookimpl
def register_relations(register: Callable[[Relation], None]) -> None:
    for relation in RELATIONS.values():
        register(relation)


@hookimpl
def register_dimensions(register: Callable[[Dimension], None]) -> None:
    for name in DIMENSIONS:
        register(Dimension(name=name, description=_DIMENSION_TEXT[name]))
