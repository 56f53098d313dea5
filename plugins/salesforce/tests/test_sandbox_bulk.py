"""Bulk API 2.0 query jobs against the sandbox, with simple-salesforce and raw requests."""

from __future__ import annotations

import base64
import json

from crm_connect_salesforce.sandbox import SalesforceSandbox
from sandbox_support import client

# --- Bulk API 2.0 -----------------------------------------------------------------------------


def test_bulk2_query_with_simple_salesforce(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    before = sandbox.request_count(r"/jobs/query")
    pages = list(
        sf.bulk2.Opportunity.query(
            "SELECT Id, Name, Amount, CloseDate, IsWon, Account.Name FROM Opportunity",
            max_records=1000,
            wait=0.01,
        )
    )
    rows = [line for page in pages for line in page.splitlines()[1:]]
    assert pages[0].splitlines()[0] == '"Id","Name","Amount","CloseDate","IsWon","Account.Name"'
    assert len(rows) == sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    assert len(pages) == 3
    # create, InProgress poll, JobComplete poll, three result pages
    assert sandbox.request_count(r"/jobs/query") - before == 6
    every = list(sf.bulk2.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=0.01))
    assert (
        sum(len(p.splitlines()) - 1 for p in every)
        == sf.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"]
    )
    assert any(line.endswith('"true"') for line in every[0].splitlines())


def test_bulk2_job_states_locator_headers_abort_and_delete(sandbox: SalesforceSandbox) -> None:
    s = sandbox.session()
    base = f"{sandbox.instance_url}/services/data/v60.0/jobs/query"
    headers = {
        "Authorization": f"Bearer {sandbox.access_token}",
        "Content-Type": "application/json",
    }
    job = s.post(
        base,
        headers=headers,
        data=json.dumps({"operation": "query", "query": "SELECT Id FROM Lead"}),
        timeout=10,
    ).json()
    assert (
        job["state"] == "UploadComplete"
        and job["id"].startswith("750")
        and job["apiVersion"] == 60.0
    )
    assert list(job) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "lineEnding",
        "columnDelimiter",
    ]
    early = s.get(f"{base}/{job['id']}/results", headers=headers, timeout=10)
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert s.get(f"{base}/{job['id']}", headers=headers, timeout=10).json()["state"] == "InProgress"
    done = s.get(f"{base}/{job['id']}", headers=headers, timeout=10).json()
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] > 2000
    page = s.get(
        f"{base}/{job['id']}/results", params={"maxRecords": 2000}, headers=headers, timeout=10
    )
    assert page.headers["Sforce-NumberOfRecords"] == "2000"
    assert (
        page.headers["Transfer-Encoding"] == "chunked"
        and page.headers["Content-Type"] == "text/csv"
    )
    locator = page.headers["Sforce-Locator"]
    assert base64.b64decode(locator + "==").decode() == "2000"
    rest = s.get(
        f"{base}/{job['id']}/results",
        params={"maxRecords": 2000, "locator": locator},
        headers=headers,
        timeout=10,
    )
    assert rest.headers["Sforce-Locator"] == "null"
    assert int(rest.headers["Sforce-NumberOfRecords"]) == done["numberRecordsProcessed"] - 2000
    other = s.post(
        base,
        headers=headers,
        timeout=10,
        data=json.dumps({"operation": "queryAll", "query": "SELECT Id FROM Case"}),
    ).json()
    aborted = s.patch(
        f"{base}/{other['id']}", headers=headers, data=json.dumps({"state": "Aborted"}), timeout=10
    )
    assert aborted.json()["state"] == "Aborted"
    gone = s.delete(f"{base}/{job['id']}", headers=headers, timeout=10)
    assert gone.status_code == 204
    assert s.get(f"{base}/{job['id']}", headers=headers, timeout=10).json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
