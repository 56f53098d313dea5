"""A small hand-built CRM (source ``a``) whose March 2026 KPIs were all worked out by hand.

Reporting currency USD, ``rates = { EUR = 1.5 }``; ``as_of`` 2026-04-10T00:00Z, so March
(``[2026-03-01, 2026-04-01)``) is complete.  The working for every KPI is in
``EXPECTED_MARCH`` below; records that must not count say why next to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm_connect.schema import ENTITIES
from crm_connect.store import DuckDBStore

AS_OF = "2026-04-10T00:00:00Z"
RATES = {"EUR": Decimal("1.5")}


def t(text: str) -> str:
    return text + ("" if "T" in text else "T00:00:00") + "Z"


ACCOUNTS = [
    # customer_since on the record stands (its first won deal, D2, is later).
    dict(id="A1", created_at=t("2026-01-05"), created_by_id="U1", owner_id="U1",
         industry="Software", segment="smb", acquisition_channel="web",
         customer_since=t("2026-01-10")),
    # customer_since derived: the earliest won, not deleted deal, D1 (2026-03-05T12:00).
    dict(id="A2", created_at=t("2026-03-31T23:59:59"), created_by_id="U1", owner_id="U1",
         industry="Software", segment="smb", acquisition_channel="web"),
    dict(id="A3", created_at=t("2026-01-20"), created_by_id="U1", owner_id="U2",
         industry="Retail", segment="smb", acquisition_channel="event",
         customer_since=t("2026-02-03"), churned_at=t("2026-03-20")),
    # Created exactly at the start of March: a March account.  New and churned in March.
    dict(id="A4", created_at=t("2026-03-01T00:00:00"), created_by_id="U2", owner_id="U2",
         industry="Retail", segment="mid_market", acquisition_channel="event",
         customer_since=t("2026-03-10"), churned_at=t("2026-03-25")),
    # Deleted: never counts (not a customer, not created).
    dict(id="A5", created_at=t("2026-03-02"), created_by_id="U1", is_deleted=True,
         customer_since=t("2026-01-01")),
    dict(id="A7", created_at=t("2025-05-01"), created_by_id="U2", owner_id="U2",
         industry="Retail", segment="enterprise", acquisition_channel="partner",
         customer_since=t("2025-06-01")),
]

DEALS = [
    dict(id="D1", account_id="A2", is_closed=True, is_won=True, created_at=t("2026-02-03T12:00"),
         closed_at=t("2026-03-05T12:00"), amount="1000", currency="USD",
         deal_type="new_business", owner_id="U1", pipeline="default", lead_source="web",
         campaign_id="CMP1"),
    # 200 EUR = 300 USD.
    dict(id="D2", account_id="A1", is_closed=True, is_won=True, created_at=t("2026-03-05"),
         closed_at=t("2026-03-15"), amount="200", currency="EUR", deal_type="upsell",
         owner_id="U2", pipeline="default"),
    dict(id="D3", account_id="A1", is_closed=True, is_won=False, created_at=t("2026-01-01"),
         closed_at=t("2026-03-20"), amount="5000", currency="USD", deal_type="new_business",
         owner_id="U1"),
    dict(id="D4", account_id="A3", is_closed=False, is_won=False, created_at=t("2026-02-15"),
         amount="700", currency="USD", owner_id="U1"),
    dict(id="D5", account_id="A7", is_closed=True, is_won=True, created_at=t("2026-01-31"),
         closed_at=t("2026-02-10"), amount="400", currency="USD", deal_type="new_business"),
    # Deleted: its 9,999 never counts.
    dict(id="D6", account_id="A4", is_closed=True, is_won=True, created_at=t("2026-03-01"),
         closed_at=t("2026-03-10"), amount="9999", currency="USD", is_deleted=True),
    dict(id="D7", account_id="A7", is_closed=True, is_won=True, created_at=t("2026-03-20T06:00"),
         closed_at=t("2026-03-25T06:00"), amount="500", currency="USD", deal_type="upsell",
         owner_id="U2"),
    # Won in March, then reopened: no longer closed nor won, so it is an open deal.
    dict(id="D8", account_id="A1", is_closed=False, is_won=False, created_at=t("2026-03-01"),
         amount="300", currency="USD", extra={"history": "won 2026-03-18, reopened"}),
    # Attributed to CMP1, closed after March but before as_of: counts for campaign ROI.
    dict(id="D9", is_closed=True, is_won=True, created_at=t("2026-03-29"),
         closed_at=t("2026-04-05"), amount="200", currency="USD", campaign_id="CMP1"),
    # Closed after as_of: counts nowhere.
    dict(id="D10", is_closed=True, is_won=True, created_at=t("2026-03-29"),
         closed_at=t("2026-04-20"), amount="10000", currency="USD", campaign_id="CMP1"),
]

LEADS = [
    dict(id="L1", created_at=t("2026-03-01"), converted_at=t("2026-03-05"), origin="marketing",
         lead_source="web", converted_account_id="A2", owner_id="U1"),
    dict(id="L2", created_at=t("2026-02-10"), converted_at=t("2026-02-20"), origin="sales",
         lead_source="event", converted_account_id="A4", owner_id="U2"),
    dict(id="L3", created_at=t("2026-03-02"), origin="sales", lead_source="web", owner_id="U1"),
    # Converted after as_of: not converted as far as March's figures go.
    dict(id="L4", created_at=t("2026-03-03"), converted_at=t("2026-04-20"), origin="marketing",
         lead_source="event", owner_id="U2"),
    dict(id="L5", created_at=t("2026-03-04"), is_deleted=True),
    # Exactly at March's end: an April lead.
    dict(id="L6", created_at=t("2026-04-01T00:00:00"), lead_source="web"),
]

ACTIVITIES = [
    dict(id="E1", kind="email", direction="outbound", occurred_at=t("2026-03-03"), opened=True,
         clicked=True, lead_id="L1", completed=True, completed_at=t("2026-02-28T23:00")),
    dict(id="E2", kind="email", direction="outbound", occurred_at=t("2026-03-04"), opened=False),
    dict(id="E3", kind="email", direction="outbound", occurred_at=t("2026-03-05")),
    dict(id="E4", kind="email", direction="inbound", occurred_at=t("2026-03-06"), opened=True),
    dict(id="E5", kind="email", direction="outbound", occurred_at=t("2026-03-07"), opened=True,
         is_deleted=True),
    dict(id="S1", kind="social", occurred_at=t("2026-03-10")),
    dict(id="S2", kind="social", occurred_at=t("2026-03-11")),
    dict(id="C1", kind="call", direction="outbound", occurred_at=t("2026-02-20"), lead_id="L2",
         completed=True, completed_at=t("2026-03-01T10:00"), owner_id="U2"),
    dict(id="T1", kind="task", occurred_at=t("2026-03-12"), completed=True, owner_id="U1"),
    dict(id="T2", kind="task", occurred_at=t("2026-03-13"), completed=False, owner_id="U1"),
    # Inbound: does not make L3 contacted.
    dict(id="M1", kind="meeting", direction="inbound", occurred_at=t("2026-03-14"),
         lead_id="L3"),
]

TICKETS = [
    dict(id="TK1", created_at=t("2026-03-02"), first_response_at=t("2026-03-02T02:00"),
         resolved_at=t("2026-03-03"), interactions_count=1, handle_time_seconds=600,
         channel="email"),
    dict(id="TK2", created_at=t("2026-03-05"), first_response_at=t("2026-03-05T04:00"),
         resolved_at=t("2026-04-02"), interactions_count=3, channel="phone"),
    dict(id="TK3", created_at=t("2026-02-27"), first_response_at=t("2026-03-01"),
         resolved_at=t("2026-03-04"), channel="phone"),
    dict(id="TK4", created_at=t("2026-03-20"), interactions_count=2, channel="chat"),
]

CAMPAIGNS = [
    dict(id="CMP1", started_at=t("2026-03-02"), actual_cost="500", currency="USD"),
    # 100 EUR = 150 USD.
    dict(id="CMP2", started_at=t("2026-03-20"), actual_cost="100", currency="EUR"),
]

SURVEYS = [
    *[dict(id=f"N{score}", survey_type="nps", score=score, scale_min=0, scale_max=10,
           responded_at=t("2026-03-10")) for score in (10, 9, 7, 3)],
    dict(id="NX", survey_type="nps", score=0, scale_min=0, scale_max=10,
         responded_at=t("2026-03-10"), is_deleted=True),
    dict(id="CS1", survey_type="csat", score=5, scale_min=1, scale_max=5,
         responded_at=t("2026-03-11")),
    dict(id="CS2", survey_type="csat", score=4, scale_min=1, scale_max=5,
         responded_at=t("2026-03-11")),
    dict(id="CS3", survey_type="csat", score=3, scale_min=1, scale_max=5,
         responded_at=t("2026-03-11")),
    dict(id="CS4", survey_type="csat", score=8, scale_min=0, scale_max=10,
         responded_at=t("2026-03-11")),
    dict(id="CE1", survey_type="ces", score=2, scale_min=1, scale_max=7,
         responded_at=t("2026-03-12")),
    dict(id="CE2", survey_type="ces", score=5, scale_min=1, scale_max=5,
         responded_at=t("2026-03-12")),
]

USERS = [
    dict(id="U1", is_active=True, last_login_at=t("2026-04-09")),
    # Exactly as_of - 7 days: still in the window.
    dict(id="U2", is_active=True, last_login_at=t("2026-04-03")),
    dict(id="U3", is_active=True, last_login_at=t("2026-04-02")),
    dict(id="U4", is_active=True),
    dict(id="U5", is_active=False),
    dict(id="U6", is_active=True, last_login_at=t("2026-04-11")),
]

CONTRACTS = [
    dict(id="K1", start_date="2026-03-01", end_date="2027-03-01", total_value="1200",
         currency="USD"),
    # 90 days: counts as one year.  600 EUR = 900 USD.
    dict(id="K2", start_date="2026-03-10", end_date="2026-06-08", total_value="600",
         currency="EUR"),
    dict(id="K3", start_date="2024-03-31", end_date="2026-03-31", total_value="4000",
         currency="USD"),
    dict(id="K4", start_date="2026-04-01", end_date="2027-04-01", total_value="3000",
         currency="USD", renewal_of_id="K3"),
    dict(id="K5", start_date="2025-03-15", end_date="2026-03-15", total_value="100",
         currency="USD"),
    dict(id="K6", start_date="2025-03-20", end_date="2026-03-20", total_value="100",
         currency="USD", renewed=True),
]

SPEND = [
    dict(id="SP1", date="2026-03-01", category="acquisition", amount="300", currency="USD",
         channel="web"),
    # 100 EUR = 150 USD; the last day of March.
    dict(id="SP2", date="2026-03-31", category="acquisition", amount="100", currency="EUR",
         channel="event"),
    dict(id="SP3", date="2026-04-01", category="acquisition", amount="1000", currency="USD"),
    dict(id="SP4", date="2026-03-15", category="retention", amount="90", currency="USD"),
    dict(id="SP5", date="2026-03-10", category="support", amount="60", currency="USD"),
    dict(id="SP6", date="2026-03-05", category="acquisition", amount="500", currency="USD",
         is_deleted=True),
]

DATASET: dict[str, list[dict[str, Any]]] = {
    "accounts": ACCOUNTS, "deals": DEALS, "leads": LEADS, "activities": ACTIVITIES,
    "tickets": TICKETS, "campaigns": CAMPAIGNS, "survey_responses": SURVEYS, "users": USERS,
    "contracts": CONTRACTS, "spend": SPEND,
}

# March 2026, worked out by hand.
# S (customers at 03-01): A1 (since 01-10), A3 (since 02-03, churns 03-20), A7 -> 3.
#   A2 (since 03-05) and A4 (03-10) are not yet customers; A5 is deleted.
# E (customers at 04-01): A1, A2, A7 -> 3 (A3 churned 03-20, A4 churned 03-25).
# N (customer_since in March): A2 (derived 03-05T12:00 from D1), A4 (03-10) -> 2.
# Won in March: D1 1000 + D2 200 EUR = 300 + D7 500 = 1800 (D6 deleted; D9, D10 later).
EXPECTED_MARCH: dict[str, float | None] = {
    # Leads created in March: L1, L3, L4 (L5 deleted, L6 is April's).
    "leads_created": 3,
    # Converted by as_of: L1 only (L4 converts after as_of) -> 1 / 3.
    "lead_conversion_rate": 100 / 3,
    # Outbound call/email/meeting: L1 (E1); L3 only has an inbound meeting -> 1 / 3.
    "contact_rate": 100 / 3,
    # Won D1, D2, D7 / closed D1, D2, D3, D7 -> 3 / 4.
    "win_rate": 75.0,
    # (30 + 10 + 5) days / 3.
    "sales_cycle_length": 15.0,
    "average_deal_size": 600.0,  # 1800 / 3
    "revenue": 1800.0,
    # February: D5 400 -> (1800 - 400) / 400.
    "revenue_growth_rate": 350.0,
    # Open at 04-01 (created before, closed after or never): D4 700, D8 (reopened) 300,
    # D9 200 and D10 10,000 (both created 03-29 and closed in April).
    "open_pipeline_value": 11200.0,
    "open_deals": 4,
    # 4 x 75 % x 600 / 15.
    "pipeline_velocity": 120.0,
    # Accounts with a won upsell: A1 (D2), A7 (D7) / S 3.
    "upsell_rate": 200 / 3,
    "new_customers": 2,
    "active_customers": 3,
    "customer_retention_rate": 100 / 3,  # (3 - 2) / 3
    "customer_churn_rate": 100 / 3,  # A3 / S 3 (A4 churned but was not in S)
    # Acquisition spend 300 + 150 (SP3 is April's, SP6 deleted) / N 2.
    "customer_acquisition_cost": 225.0,
    "customer_retention_cost": 30.0,  # 90 / 3
    "arpu": 600.0,  # 1800 / ((3 + 3) / 2)
    # 600 x (3 deals / 3 accounts A1, A2, A7) x 100 / 33.33 = 600 x 1 x 3.
    "customer_lifetime_value": 1800.0,
    "cac_payback_months": 0.375,  # 225 / (600 / 1)
    # A2's originating lead L1 is marketing; A4's L2 is sales -> 1 / 2.
    "marketing_originated_customers": 50.0,
    # Buyers A2, A1, A7; only A7 won before March (D5) -> 1 / 3.
    "repeat_purchase_rate": 100 / 3,
    # Ending in March: K3 (renewed by K4), K5 (no), K6 (flag) -> 2 / 3.
    "renewal_rate": 200 / 3,
    # K1 1200 / 1 year, K2 900 USD / 1 year (90 days counts as one) -> 1050.
    "average_contract_value": 1050.0,
    # Promoters 10, 9; detractor 3; passive 7 -> 50 % - 25 %.
    "net_promoter_score": 25.0,
    # 5/5, 4/5 = 0.8, 8/10 = 0.8 satisfied; 3/5 not -> 3 / 4.
    "csat": 75.0,
    # 2 on 1..7 -> 2; 5 on 1..5 -> 1 + 4 x 6 / 4 = 7 -> mean 4.5.
    "customer_effort_score": 4.5,
    # CMP1 cost 500 + CMP2 150 = 650; attributed D1 1000 + D9 200 (D10 after as_of) = 1200.
    "campaign_roi": (1200 - 650) / 650 * 100,
    "revenue_per_campaign": 600.0,  # 1200 / 2
    # Outbound emails E1, E2, E3 (E4 inbound, E5 deleted); opened E1 only.
    "email_open_rate": 100 / 3,
    "email_click_through_rate": 100 / 3,
    "social_media_engagement": 2,
    # TK1 2 h, TK2 4 h (TK3 was created in February).
    "first_response_time": 3.0,
    # Resolved in March: TK1 24 h, TK3 120 h.
    "resolution_time": 72.0,
    # TK1 (1 interaction) yes, TK3 (unknown) no -> 1 / 2.
    "first_contact_resolution_rate": 50.0,
    "average_handling_time": 10.0,  # TK1 600 s
    # Support spend 60 / interactions of tickets created in March 1 + 3 + 2.
    "cost_per_interaction": 10.0,
    # U1 (04-09), U2 (exactly as_of - 7 days); not U3 (too early) nor U6 (after as_of).
    "users_active_7d": 2,
    "users_never_logged_in": 1,  # U4 (U5 is inactive)
    # A4 (created exactly 03-01) and A2 (03-31T23:59:59); A5 deleted.
    "accounts_created": 2,
    # C1 (completed_at 03-01T10:00), T1 (no completed_at: occurred 03-12).
    "activities_completed": 2,
}


def records(entity: str, rows: Iterable[dict[str, Any]], source: str) -> list[Any]:
    model = ENTITIES[entity]
    return [model.model_validate({"source": source, **row}) for row in rows]


def load(store: DuckDBStore, dataset: dict[str, list[dict[str, Any]]] | None = None,
         source: str = "a") -> DuckDBStore:
    for entity, rows in (dataset or DATASET).items():
        if rows:
            store.write_page(entity=entity, source=source, stream=entity,
                             records=records(entity, rows, source), state=None,
                             quarantined=[], run_id=0)
    return store


def open_memory_store(tmp: Path) -> DuckDBStore:
    return DuckDBStore.open("duckdb:///:memory:", base_dir=tmp)


def march(day: int = 1) -> dt.date:
    return dt.date(2026, 3, day)
