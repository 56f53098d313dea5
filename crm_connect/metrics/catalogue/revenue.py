"""The catalogue's sales and customer KPIs (``KPIS.md``: Sales, Customers)."""

from __future__ import annotations

from crm_connect.metrics.catalogue.building import (
    _ACCOUNT_DIMS,
    _ACCOUNT_FACTS,
    _CUSTOMER_AT_END,
    _CUSTOMER_AT_START,
    _DEAL_DIMS,
    _LEAD_DIMS,
    _OPEN_AT_END,
    _count,
    _mean,
    _n,
    _no_spend,
    _rate,
    _revenue,
    _s,
    _spend,
    _won,
)
from crm_connect.metrics.definitions import (
    PERIOD,
    Benchmark,
    KpiDefinition,
    Measure,
)
from crm_connect.metrics.relations import seconds_between

__all__ = ["customer_kpis", "sales_kpis"]

def sales_kpis() -> list[KpiDefinition]:
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


def customer_kpis() -> list[KpiDefinition]:
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

