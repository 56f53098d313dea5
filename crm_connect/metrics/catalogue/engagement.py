"""The catalogue's satisfaction, marketing, support and adoption KPIs (``KPIS.md``: those
sections)."""

from __future__ import annotations

from crm_connect.metrics.catalogue.building import (
    _ACCOUNT_DIMS,
    _OUTBOUND_EMAIL,
    _count,
    _mean,
    _no_spend,
    _rate,
    _spend,
)
from crm_connect.metrics.definitions import PERIOD, KpiDefinition, Measure
from crm_connect.metrics.relations import seconds_between

__all__ = ["adoption_kpis", "marketing_kpis", "satisfaction_kpis", "support_kpis"]

def _survey(*, kind: str, name: str = "responses") -> Measure:
    return Measure(name=name, relation="survey_responses", event="f.responded_at",
                   where=f"f.survey_type = '{kind}'")


def satisfaction_kpis() -> list[KpiDefinition]:
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


def marketing_kpis() -> list[KpiDefinition]:
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


def support_kpis() -> list[KpiDefinition]:
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


def adoption_kpis() -> list[KpiDefinition]:
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
