"""The vendor sandboxes the orchestrator tests sync: a small HubSpot portal and (when its plugin
is installed) a small Salesforce org on loopback ports, beside the ``files`` connection, in one
``crm-connect.toml``. Their throwaway secrets reach ``crm-connect run`` only through
``CRM_CONNECT_<CONN>_<FIELD>`` environment variables, never the file."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from crm_connect_hubspot.sandbox import HubSpotSandbox
from crm_connect_salesforce.sandbox import SalesforceSandbox

from crm_connect.sample import write_sample_export

PORTAL_RECORDS = 300
ORG_RECORDS = 300
FAST = ("[connections.{name}.resilience]\nbackoff_initial_seconds = 0.01\n"
        "backoff_max_seconds = 0.05\nmax_total_seconds = 20.0\n")
UNTHROTTLED = ("[connections.hs.resilience.rate_limits.search]\nrequests = 100\n"
               "[connections.hs.resilience.rate_limits.general]\nrequests = 1000\n")


@dataclass
class Sandboxes:
    """The running sandboxes, the project's config and the environment its runs need."""

    config: Path
    env: dict[str, str]
    hubspot: HubSpotSandbox
    salesforce: SalesforceSandbox | None
    connections: list[str] = field(default_factory=list)

    def hubspot_truth(self, obj: str) -> int:
        """Every record of ``obj`` the portal holds, archived ones too."""
        portal = self.hubspot.portal
        return len(portal.live(obj)) + len(portal.archived(obj))

    def salesforce_truth(self, sobject: str) -> int:
        assert self.salesforce is not None
        return self.salesforce.counts(include_deleted=True)[sobject]


def _toml(value: Any) -> str:
    return json.dumps(value)


@contextlib.contextmanager
def sandboxes(folder: Path, *, files: bool = True, salesforce: bool = True,
              daily_limit: int | None = None) -> Iterator[Sandboxes]:
    """Start the sandboxes, write ``folder/crm-connect.toml`` and yield them; stop them after.

    ``daily_limit`` makes the portal enforce a (small) daily quota; otherwise it enforces none."""
    with contextlib.ExitStack() as stack:
        portal = stack.enter_context(HubSpotSandbox(
            records=PORTAL_RECORDS, seed=23, tier="api_limit_increase",
            enforce_limits=daily_limit is not None, daily_limit=daily_limit))
        text, names = "", []
        env = {"CRM_CONNECT_LOAD_PLUGINS": "hubspot,salesforce", "CRM_CONNECT_WORKERS": "0",
               "CRM_CONNECT_HS_ACCESS_TOKEN": portal.credentials.access_token}
        if files:
            write_sample_export(folder / "exports", scale=0.05, seed=5)
            text += '[connections.finance]\nconnector = "files"\npath = "exports/"\n\n'
            names.append("finance")
        text += (f'[connections.hs]\nconnector = "hubspot"\nbase_url = {_toml(portal.base_url)}\n'
                 + FAST.format(name="hs") + (UNTHROTTLED if daily_limit is None else "") + "\n")
        names.append("hs")
        org = None
        if salesforce:
            org = stack.enter_context(SalesforceSandbox(records=ORG_RECORDS, seed=23))
            creds = org.credentials
            text += (f'[connections.sf]\nconnector = "salesforce"\n'
                     f"username = {_toml(creds.username)}\n"
                     f"login_url = {_toml(org.instance_url)}\n"
                     f"ca_bundle = {_toml(str(org.cert_path))}\n"
                     'bulk = "never"\n' + FAST.format(name="sf") + "\n")
            env.update({"CRM_CONNECT_SF_PASSWORD": creds.password,
                        "CRM_CONNECT_SF_SECURITY_TOKEN": creds.security_token,
                        "CRM_CONNECT_SF_CONSUMER_SECRET": creds.client_secret})
            names.append("sf")
        config = folder / "crm-connect.toml"
        config.write_text(text, encoding="utf-8")
        yield Sandboxes(config, env, portal, org, names)


def stored(folder: Path, sql: str) -> int:
    """One number from the project's DuckDB store."""
    con = duckdb.connect(str(folder / "crm.duckdb"), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def assert_source_independent_totals(folder: Path) -> None:
    """The snapshot's totals are over every source at once, not split by source: its rows have
    no ``source`` dimension, and the accounts and leads it counts as created over its periods
    are every source's live ones together, more than any one source holds."""
    con = duckdb.connect(str(folder / "crm.duckdb"), read_only=True)
    try:
        dims = {row[0] for row in con.execute("SELECT DISTINCT dimensions FROM kpi_snapshots")
                .fetchall()}
        assert not any("source" in json.loads(d) for d in dims), dims
        for table, metric in (("accounts", "accounts_created"), ("leads", "leads_created")):
            counted = con.execute(
                "SELECT sum(count), min(period_start), max(period_end) FROM kpi_snapshots "
                "WHERE metric = ? AND dimensions = '{}'", [metric]).fetchone()
            assert counted is not None and counted[0]
            per_source = dict(con.execute(
                f"SELECT source, count(*) FROM {table} WHERE NOT is_deleted "
                "AND created_at >= ? AND created_at < ? GROUP BY source",
                [counted[1], counted[2]]).fetchall())
            assert counted[0] == sum(per_source.values()), (metric, per_source)
            assert len(per_source) > 1 and counted[0] > max(per_source.values())
    finally:
        con.close()
