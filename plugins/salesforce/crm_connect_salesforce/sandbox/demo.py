"""The sandbox org ``crm-connect demo`` syncs: started on a free loopback port, stopped after.

Its throwaway password and security token reach the connector through the demo's environment;
``login_url`` and ``ca_bundle`` point the connection at the sandbox, and are what a real org
does without.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from crm_connect.sandboxes import DemoConnection, DemoSandbox

from .server import SalesforceSandbox

__all__ = ["DEMO_RECORDS", "demo_sandbox"]

DEMO_RECORDS = 1500
"""About how many records the demo org holds: every KPI has data, the sync takes seconds."""

# The org's currencies, to USD: a multi-currency org's amounts come in several.
RATES = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "CAD": 0.73, "AUD": 0.66, "CHF": 1.13}

REAL_ORG = {
    "username": "your Salesforce user (ops@yourcompany.com)",
    "login_url": 'remove it (or domain = "test" for a Salesforce sandbox org)',
    "ca_bundle": "remove it",
}


@contextlib.contextmanager
def start_demo() -> Iterator[DemoConnection]:
    """Start the demo org over TLS on 127.0.0.1 and yield its connection; stop it after."""
    with SalesforceSandbox(records=DEMO_RECORDS, seed=17) as sandbox:
        creds = sandbox.credentials
        yield DemoConnection(
            settings={"username": creds.username, "login_url": sandbox.instance_url,
                      "ca_bundle": str(sandbox.cert_path)},
            secrets={"password": creds.password, "security_token": creds.security_token},
            data_ends=sandbox.org.now,
            rates=RATES,
            real_crm=REAL_ORG,
        )


def demo_sandbox() -> DemoSandbox:
    return DemoSandbox(connection="salesforce_demo", connector="salesforce", start=start_demo,
                       description=f"a synthetic Salesforce org (~{DEMO_RECORDS:,} records)")
