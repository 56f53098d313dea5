"""Which KPIs the HubSpot streams feed, and which HubSpot data cannot feed (and why).

Which KPIs read an entity comes from the KPI registry (each definition names its entities),
so it follows the catalogue.  What HubSpot lacks is vendor knowledge, kept here: these are
the KPIs ``crm-connect connections test`` names as not fed unless the connection maps a
custom property (or another connection, such as a ``files`` one, provides the entity).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FED_BY_MAPPING", "NOT_FED", "stream_kpis", "unfed_kpis"]

NOT_FED: dict[str, str] = {
    "renewal_rate": "HubSpot has no contracts object: feed contracts from a files "
                    "connection (or Salesforce)",
    "average_contract_value": "HubSpot has no contracts object: feed contracts from a "
                              "files connection (or Salesforce)",
    "users_active_7d": "HubSpot's owners and users APIs do not report a last login",
    "users_never_logged_in": "HubSpot's owners and users APIs do not report a last login",
    "customer_churn_rate": "HubSpot has no standard churn date: map a company property with "
                           "mapping.accounts.churned_at",
    "customer_retention_cost": "campaign spend is acquisition spend unless spend_category "
                               "says otherwise; retention spend needs a files connection",
    "cost_per_interaction": "support spend is not in HubSpot: feed spend of category support "
                            "from a files connection",
    "average_handling_time": "tickets have no standard handling time: map a ticket property "
                             "with mapping.tickets.handle_time_seconds",
    "social_media_engagement": "HubSpot's social tool has no CRM API: no activity of kind "
                               "social is read",
}
"""KPI -> why a HubSpot portal cannot feed it with the default mapping."""


def stream_kpis(entity: str) -> list[str]:
    """The KPIs a stream of ``entity`` feeds, derived from the KPI registry."""
    from crm_connect.metrics import kpis_fed_by

    return kpis_fed_by(entity)


FED_BY_MAPPING: dict[str, tuple[str, str]] = {
    "customer_churn_rate": ("accounts", "churned_at"),
    "average_handling_time": ("tickets", "handle_time_seconds"),
}
"""KPIs a connection feeds once its ``mapping`` names the property: (stream, field)."""


def unfed_kpis(mapping: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """The catalogue's KPIs HubSpot data cannot feed, each with the reason, given the
    connection's ``mapping`` (a mapped churn date feeds the churn rate)."""
    from crm_connect.metrics.registry import get_kpis

    known = get_kpis()
    mapped = mapping or {}
    unfed = {}
    for key, why in NOT_FED.items():
        stream, canonical = FED_BY_MAPPING.get(key, ("", ""))
        if key in known and not (stream and mapped.get(stream, {}).get(canonical, "").strip()):
            unfed[key] = why
    return unfed
