"""Two CRMs (``sf`` and ``hs``) holding overlapping customers, with the clusters a resolver
would write to ``resolved_entities``; March 2026 worked out by hand, plain and unified.

as_of 2026-04-10T00:00Z; March is ``[2026-03-01, 2026-04-01)``.

Accounts (customer_since / churned_at):

* C1, one customer in both CRMs: sf SA1 (since 01-10) and hs HA1 (since 03-12).
* C2, sf SA2 "Acme Industries" (since 03-05): a look-alike of Acme the resolver did not merge
  (a singleton cluster row).
* C3, sf SA3 (since 02-01, churned 03-15) and hs HA3 (since 02-10, never churned): the cluster
  has not churned while one member is still a customer.
* hs HA4 (since 03-20): no row in resolved_entities at all, its own cluster.
* C5, hs HA5 (since 2025-12-01, churned 03-25): a singleton that churned.

Plain (records):   S = SA1 SA3 HA3 HA5 = 4; E = SA1 SA2 HA1 HA3 HA4 = 5; N = SA2 HA1 HA4 = 3;
                   churned SA3 HA5 = 2.
Unified (clusters): S = C1 C3 C5 = 3; E = C1 C2 C3 HA4 = 4; N = C2 HA4 = 2; churned C5 = 1.

Deals won in March: D1 (SA1, 1000), D2 (HA1, 500), D3 (SA2, 300) = 1800; D4 (HA1, 200) was
won in February.  Buyers plain SA1 HA1 SA2 = 3, of which HA1 won before March (D4); unified
C1 C2 = 2, of which C1 won before March (D4, a deal of its hs member).

Leads: L1 (sf, 03-02, converted 03-08) and L2 (hs, 02-25) are one person (LC1); L4 (hs, 03-06,
converted 03-09) and L5 (sf, 03-07) are one (LC2); L3 (sf, 03-05, converted 03-10) has no
cluster row.  Plain March: L1 L3 L4 L5 created, L1 L3 L4 converted.  Unified: LC1 was
created in February (its earliest member); LC2 and L3 in March, both converted.

Acquisition spend in March: 600 (sf).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from kpi_dataset import load, t

AS_OF = "2026-04-10T00:00:00Z"
MARCH = dict(grain="month", start="2026-03-01", end="2026-03-31", as_of=AS_OF)

SF: dict[str, list[dict[str, Any]]] = {
    "accounts": [
        dict(id="SA1", name="Acme Inc", created_at=t("2025-12-01"),
             customer_since=t("2026-01-10")),
        dict(id="SA2", name="Acme Industries", created_at=t("2026-03-01"),
             customer_since=t("2026-03-05")),
        dict(id="SA3", name="Globex", created_at=t("2026-01-05"),
             customer_since=t("2026-02-01"), churned_at=t("2026-03-15")),
    ],
    "deals": [
        dict(id="D1", account_id="SA1", is_closed=True, is_won=True, amount="1000",
             currency="USD", created_at=t("2026-02-20"), closed_at=t("2026-03-10")),
        dict(id="D3", account_id="SA2", is_closed=True, is_won=True, amount="300",
             currency="USD", created_at=t("2026-02-25"), closed_at=t("2026-03-06")),
    ],
    "leads": [
        dict(id="L1", email="ann@acme.com", created_at=t("2026-03-02"),
             converted_at=t("2026-03-08")),
        dict(id="L3", email="bo@initech.com", created_at=t("2026-03-05"),
             converted_at=t("2026-03-10")),
        dict(id="L5", email="cy@globex.com", created_at=t("2026-03-07")),
    ],
    "spend": [
        dict(id="SP1", date="2026-03-03", category="acquisition", amount="600",
             currency="USD"),
    ],
}

HS: dict[str, list[dict[str, Any]]] = {
    "accounts": [
        dict(id="HA1", name="ACME, Inc.", created_at=t("2026-03-12"),
             customer_since=t("2026-03-12")),
        dict(id="HA3", name="Globex Corp", created_at=t("2026-01-20"),
             customer_since=t("2026-02-10")),
        dict(id="HA4", name="Initech", created_at=t("2026-03-15"),
             customer_since=t("2026-03-20")),
        dict(id="HA5", name="Umbrella", created_at=t("2025-11-01"),
             customer_since=t("2025-12-01"), churned_at=t("2026-03-25")),
    ],
    "deals": [
        dict(id="D2", account_id="HA1", is_closed=True, is_won=True, amount="500",
             currency="USD", created_at=t("2026-03-01"), closed_at=t("2026-03-20")),
        dict(id="D4", account_id="HA1", is_closed=True, is_won=True, amount="200",
             currency="USD", created_at=t("2026-02-01"), closed_at=t("2026-02-15")),
    ],
    "leads": [
        dict(id="L2", email="Ann@Acme.com", created_at=t("2026-02-25")),
        dict(id="L4", email="cy@globex.com", created_at=t("2026-03-06"),
             converted_at=t("2026-03-09")),
    ],
}

CLUSTERS = [
    ("accounts", "sf", "SA1", "C1", "Acme Inc"), ("accounts", "hs", "HA1", "C1", "Acme Inc"),
    ("accounts", "sf", "SA2", "C2", "Acme Industries"),
    ("accounts", "sf", "SA3", "C3", "Globex"), ("accounts", "hs", "HA3", "C3", "Globex"),
    ("accounts", "hs", "HA5", "C5", "Umbrella"),
    ("leads", "sf", "L1", "LC1", "ann@acme.com"), ("leads", "hs", "L2", "LC1", "ann@acme.com"),
    ("leads", "hs", "L4", "LC2", "cy@globex.com"), ("leads", "sf", "L5", "LC2", "cy@globex.com"),
]
"""(entity, source, id, cluster_id, golden name) as resolve writes them; HA4 and L3 have no
row."""

RESOLVED_COLUMNS = [("entity", "VARCHAR"), ("source", "VARCHAR"), ("id", "VARCHAR"),
                    ("cluster_id", "VARCHAR"), ("name", "VARCHAR")]

# March 2026 by hand: (plain, unified).
EXPECTED: dict[str, tuple[float, float]] = {
    "new_customers": (3, 2),
    "active_customers": (5, 4),
    "customer_retention_rate": (100 * (5 - 3) / 4, 100 * (4 - 2) / 3),
    "customer_churn_rate": (100 * 2 / 4, 100 * 1 / 3),
    "arpu": (1800 / ((4 + 5) / 2), 1800 / ((3 + 4) / 2)),
    # average deal size 600 x deals / buyers x 100 / churn.
    "customer_lifetime_value": (600 * 3 / 3 * 100 / 50, 600 * 3 / 2 * 3),
    "customer_acquisition_cost": (600 / 3, 600 / 2),
    "repeat_purchase_rate": (100 * 1 / 3, 100 * 1 / 2),
    "leads_created": (4, 2),
    "lead_conversion_rate": (100 * 3 / 4, 100 * 2 / 2),
    "accounts_created": (3, 2),  # plain HA1 SA2 HA4; unified C2 HA4 (C1 since 2025-12-01)
    "revenue": (1800, 1800),
    "win_rate": (100, 100),
}

# --by source, unified: a cluster counts once in each source it has records in; its dates
# are the cluster's (C3 is a customer at the end in sf too: its hs member still is).
ACTIVE_BY_SOURCE = {"sf": 3, "hs": 3}  # sf: C1 C2 C3; hs: C1 C3 HA4 (C5 churned)
NEW_BY_SOURCE = {"sf": 1, "hs": 1}  # sf: C2; hs: HA4


def load_two_crms(store: Any, clusters: list[tuple[str, ...]] | None = None) -> Any:
    """Both CRMs' records, and ``resolved_entities`` with ``clusters`` (default
    :data:`CLUSTERS`; an empty list: resolve ran and merged nothing)."""
    load(store, SF, source="sf")
    load(store, HS, source="hs")
    rows = CLUSTERS if clusters is None else clusters
    store.ensure_table("resolved_entities", RESOLVED_COLUMNS)
    if rows:
        names = [name for name, _ in RESOLVED_COLUMNS]
        store.append_arrow("resolved_entities", pa.table(
            {name: [row[i] for row in rows] for i, name in enumerate(names)},
            schema=pa.schema([(name, pa.string()) for name in names])))
    return store
