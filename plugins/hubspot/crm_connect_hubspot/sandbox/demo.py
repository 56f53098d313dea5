"""The sandbox portal ``crm-connect demo`` syncs: started on a free loopback port, stopped
after.

The portal enforces the limits of HubSpot's API-limit-increase tier, whose rate-limit headers
the connector's limiter follows; its private app token reaches the connector through the demo's
environment.  ``base_url`` points the connection at the sandbox and is what a real portal does
without.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from crm_connect.sandboxes import DemoConnection, DemoSandbox

from .server import HubSpotSandbox

__all__ = ["CUSTOM_MAPPING", "DEMO_RECORDS", "demo_sandbox"]

# The sandbox portal's custom properties, mapped onto the canonical fields they feed.
CUSTOM_MAPPING = {
    "accounts": {"churned_at": "churn_date", "segment": "customer_segment"},
    "tickets": {"handle_time_seconds": "handle_time_minutes*60"},
}

DEMO_RECORDS = 1200
"""About how many records the demo portal holds: every KPI has data, the sync takes seconds."""

RATES = {"EUR": 1.08, "GBP": 1.27}  # the portal's deals come in three currencies

REAL_PORTAL = {
    "base_url": "remove it (the default is https://api.hubapi.com)",
    "mapping": "the custom properties of your portal that hold these fields, or remove it",
}


@contextlib.contextmanager
def start_demo() -> Iterator[DemoConnection]:
    """Start the demo portal on 127.0.0.1 and yield its connection; stop it after."""
    with HubSpotSandbox(records=DEMO_RECORDS, seed=17, tier="api_limit_increase") as sandbox:
        yield DemoConnection(
            settings={"base_url": sandbox.base_url, "deal_types": {"renewal": "renewal"},
                      "mapping": {stream: dict(fields)
                                  for stream, fields in CUSTOM_MAPPING.items()}},
            secrets={"access_token": sandbox.access_token},
            data_ends=sandbox.portal.now,
            rates=RATES,
            real_crm=REAL_PORTAL,
        )


def demo_sandbox() -> DemoSandbox:
    return DemoSandbox(connection="hubspot_demo", connector="hubspot", start=start_demo,
                       description=f"a synthetic HubSpot portal (~{DEMO_RECORDS:,} records)")
