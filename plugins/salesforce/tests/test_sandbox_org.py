"""The sandbox org's data: mutations, seeds, every KPI input, bounded memory, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests
from crm_connect_salesforce.sandbox import SalesforceSandbox, sf_datetime
from sandbox_support import client

# --- mutations for incremental syncs ----------------------------------------------------------


def test_mutations_bump_systemmodstamp_for_incremental_syncs(small: SalesforceSandbox) -> None:
    sf = client(small)
    soql = "SELECT Id, Name, SystemModstamp, IsDeleted FROM Account"
    first = sf.query_all(soql + " ORDER BY SystemModstamp, Id")["records"]
    cursor = first[-1]["SystemModstamp"]
    changed, removed, purged = first[3]["Id"], first[4]["Id"], first[5]["Id"]
    small.update(changed, Name="Renamed Co")
    small.delete(removed)
    small.hard_delete(purged)
    created = small.create("Account", Name="Brand New Ltd", Segment__c="SMB")
    assert created["Id"].startswith("001") and len(created["Id"]) == 18
    delta = sf.query_all(
        f"{soql} WHERE SystemModstamp >= {cursor} ORDER BY SystemModstamp, Id", include_deleted=True
    )["records"]
    by_id = {r["Id"]: r for r in delta}
    assert by_id[changed]["Name"] == "Renamed Co" and by_id[changed]["SystemModstamp"] > cursor
    assert by_id[removed]["IsDeleted"] is True
    assert purged not in by_id
    assert by_id[created["Id"]]["Name"] == "Brand New Ltd"
    live_ids = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    assert removed not in live_ids and purged not in live_ids and created["Id"] in live_ids
    assert sf.Account.get(created["Id"])["Segment__c"] == "SMB"
    # a mass update gives many records one SystemModstamp
    ids = [r["Id"] for r in first[10:30]]
    stamp = small.update_many(ids, Type="Other")
    same = sf.query(f"SELECT COUNT() FROM Account WHERE SystemModstamp = {sf_datetime(stamp)}")[
        "totalSize"
    ]
    assert same == 20


def test_same_seed_same_org_other_seed_other_org() -> None:
    from crm_connect_salesforce.sandbox import Org

    a, b, c = Org(records=600, seed=5), Org(records=600, seed=5), Org(records=600, seed=6)
    first = [rec for _, rec in a.iter_records("Opportunity")][:50]
    assert first == [rec for _, rec in b.iter_records("Opportunity")][:50]
    assert first != [rec for _, rec in c.iter_records("Opportunity")][:50]
    assert a.counts() == b.counts()


# --- the data exercises every KPI -------------------------------------------------------------


def test_synthetic_org_exercises_every_kpi_input(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)

    def count(where: str) -> int:
        return int(sf.query(f"SELECT COUNT() FROM {where}")["totalSize"])

    checks = {
        # sales
        "converted leads": "Lead WHERE IsConverted = true AND ConvertedOpportunityId != null",
        "unconverted leads": "Lead WHERE IsConverted = false",
        "marketing-origin leads": "Lead WHERE Origin__c = 'Marketing'",
        "sales-origin leads": "Lead WHERE Origin__c = 'Sales'",
        "outbound calls on leads": "Task WHERE TaskSubtype = 'Call' AND CallType = 'Outbound' "
        "AND Who.Type = 'Lead'",
        "outbound emails on leads": "Task WHERE TaskSubtype = 'Email' "
        "AND Direction__c = 'Outbound' "
        "AND Who.Type = 'Lead'",
        "meetings with leads": "Event WHERE Who.Type = 'Lead'",
        "won new business": "Opportunity WHERE IsWon = true AND Type = 'New Business'",
        "lost deals": "Opportunity WHERE IsClosed = true AND IsWon = false",
        "open deals": "Opportunity WHERE IsClosed = false",
        "won upsells": "Opportunity WHERE IsWon = true AND Type = 'Existing Customer - Upgrade'",
        "won renewals": "Opportunity WHERE IsWon = true AND Type = 'Renewal'",
        "deals from campaigns": "Opportunity WHERE IsWon = true AND CampaignId != null",
        "deals in EUR": "Opportunity WHERE CurrencyIsoCode = 'EUR'",
        # customers and revenue
        "customer since on record": "Account WHERE Customer_Since__c != null",
        "churned customers": "Account WHERE Churned_At__c != null",
        "contracts renewed by flag": "Contract WHERE Renewed__c = true",
        "renewal contracts": "Contract WHERE Renewal_Of__c != null",
        "contracts not renewed": "Contract WHERE Renewed__c = false AND EndDate < 2026-05-01",
        "multi-year contracts": "Contract WHERE ContractTerm = 24",
        "acquisition campaigns with cost": "Campaign WHERE Spend_Category__c = 'Acquisition' "
        "AND ActualCost > 0",
        "retention campaigns": "Campaign WHERE Spend_Category__c = 'Retention'",
        # satisfaction
        "nps responses": "Survey_Response__c WHERE Type__c = 'NPS' AND Scale_Max__c = 10",
        "nps detractors": "Survey_Response__c WHERE Type__c = 'NPS' AND Score__c <= 6",
        "nps promoters": "Survey_Response__c WHERE Type__c = 'NPS' AND Score__c >= 9",
        "csat on 1-5": "Survey_Response__c WHERE Type__c = 'CSAT' AND Scale_Max__c = 5",
        "csat on 1-10": "Survey_Response__c WHERE Type__c = 'CSAT' AND Scale_Max__c = 10",
        "ces on 1-7": "Survey_Response__c WHERE Type__c = 'CES' AND Scale_Max__c = 7",
        "ces on 1-5": "Survey_Response__c WHERE Type__c = 'CES' AND Scale_Max__c = 5",
        # marketing
        "opened emails": "Task WHERE TaskSubtype = 'Email' AND Email_Opened__c = true",
        "clicked emails": "Task WHERE TaskSubtype = 'Email' AND Email_Clicked__c = true",
        "social activities": "Task WHERE TaskSubtype = 'LinkedIn'",
        # support
        "cases with first response": "Case WHERE First_Response_At__c != null",
        "resolved cases": "Case WHERE IsClosed = true AND ClosedDate != null",
        "first-contact resolutions": "Case WHERE IsClosed = true AND Interactions__c <= 1",
        "cases without interactions": "Case WHERE Interactions__c = null",
        "cases with handle time": "Case WHERE Handle_Time_Minutes__c != null",
        # adoption
        "users active in the last 7 days": "User WHERE IsActive = true "
        "AND LastLoginDate >= 2026-04-24T00:00:00Z",
        "users never logged in": "User WHERE IsActive = true AND LastLoginDate = null",
        "inactive users": "User WHERE IsActive = false",
        "completed activities": "Task WHERE Status = 'Completed' AND CompletedDateTime != null",
    }
    empty = [name for name, where in checks.items() if count(where) == 0]
    assert not empty, f"no records for: {empty}"
    # customers without Customer_Since__c, whose since-date must be derived from the first won deal
    derived = sf.query_all(
        "SELECT Id FROM Account WHERE Customer_Since__c = null AND Type != 'Prospect'"
    )
    assert derived["totalSize"] > 0
    # months across the history have leads, won deals and cases (period KPIs are never all-null)
    for year_month in ("2024-03", "2025-06", "2026-03"):
        start = f"{year_month}-01T00:00:00Z"
        end_year, end_month = int(year_month[:4]), int(year_month[5:]) + 1
        end = f"{end_year}-{end_month:02d}-01T00:00:00Z"
        assert count(f"Lead WHERE CreatedDate >= {start} AND CreatedDate < {end}") > 0
        assert count(f"Case WHERE CreatedDate >= {start} AND CreatedDate < {end}") > 0
        assert (
            count(
                f"Survey_Response__c WHERE Responded_At__c >= {start} AND Responded_At__c < {end}"
            )
            > 0
        )


# --- scale and command line -------------------------------------------------------------------


def test_a_100k_record_org_streams_in_bounded_memory() -> None:
    import itertools
    import tracemalloc

    from crm_connect_salesforce.sandbox import Org

    tracemalloc.start()
    org = Org(records=100_000, seed=1)
    sample = sum(1 for _ in itertools.islice(org.iter_records("Task", include_deleted=True), 3000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sample == 3000
    assert peak < 16 * 1024 * 1024  # nothing is materialised: records are regenerated on demand
    assert sum(org.base_count(o) for o in org.objects) > 95_000
    assert (
        sum(1 for _ in org.iter_records("Task", include_deleted=True))
        == org.base_count("Task")
        > 20000
    )


def test_command_line_prints_connection_details() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_connect_salesforce.sandbox",
            "--records",
            "300",
            "--seed",
            "2",
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        details = json.loads(proc.stdout.readline())
        assert details["instance_url"].startswith("https://127.0.0.1:")
        session = requests.Session()
        session.trust_env = False
        started = time.monotonic()
        response = session.get(
            details["instance_url"] + "/services/data/v60.0/limits",
            verify=details["cert_path"],
            headers={"Authorization": f"Bearer {details['access_token']}"},
            timeout=10,
        )
        assert response.status_code == 200 and time.monotonic() - started < 10
        assert {"username", "password", "security_token", "client_id", "client_secret"} <= set(
            details
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
