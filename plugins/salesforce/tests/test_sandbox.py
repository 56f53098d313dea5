"""The Salesforce sandbox, driven by the real simple-salesforce client over TLS on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox, sf_datetime
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import SalesforceLogin, token_login

VERSION = "60.0"
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    # ~11k records: 2,064 opportunities, 2,064 leads, 2,752 tasks, so several objects page
    with SalesforceSandbox(records=11000, seed=3) as sb:
        yield sb


@pytest.fixture()
def small() -> Iterator[SalesforceSandbox]:
    """A fresh small org for tests that mutate data or spend the quota."""
    with SalesforceSandbox(records=800, seed=11) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").clear_faults()


def client(sb: SalesforceSandbox, token: str | None = None) -> Salesforce:
    return Salesforce(
        instance_url=sb.instance_url,
        session_id=token or sb.issue_token(),
        session=sb.session(),
        version=VERSION,
    )


def raw_get(
    sb: SalesforceSandbox, path: str, token: str | None = None, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.access_token}"}
    return sb.session().get(sb.instance_url + path, headers=headers, timeout=30, **kw)


# --- transport and discovery ------------------------------------------------------------------


def test_tls_on_loopback_with_a_trusted_throwaway_certificate(sandbox: SalesforceSandbox) -> None:
    assert sandbox.instance_url.startswith("https://127.0.0.1:")
    assert sandbox.cert_path is not None and sandbox.cert_path.exists()
    plain = requests.Session()
    plain.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(sandbox.instance_url + "/services/data/", timeout=10)
    versions = plain.get(
        sandbox.instance_url + "/services/data/", verify=str(sandbox.cert_path), timeout=10
    )
    assert versions.status_code == 200
    body = versions.json()
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in body
    assert re.fullmatch(r"api-usage=\d+/15000", versions.headers["Sforce-Limit-Info"])


def test_session_refuses_non_loopback_hosts(sandbox: SalesforceSandbox) -> None:
    with pytest.raises(requests.ConnectionError):
        sandbox.session().get("https://example.com/", timeout=5)


def test_describe_global_and_describe_name_custom_kpi_fields(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    for name, prefix in [
        ("Account", "001"),
        ("Contact", "003"),
        ("Lead", "00Q"),
        ("Opportunity", "006"),
        ("Task", "00T"),
        ("Event", "00U"),
        ("Case", "500"),
        ("Campaign", "701"),
        ("User", "005"),
        ("Contract", "800"),
    ]:
        assert names[name]["keyPrefix"] == prefix
        assert names[name]["urls"]["describe"] == f"/services/data/v60.0/sobjects/{name}/describe"
    assert names["Survey_Response__c"]["custom"] is True
    case = {f["name"]: f for f in sf.Case.describe()["fields"]}
    assert (
        case["First_Response_At__c"]["type"] == "datetime"
        and case["First_Response_At__c"]["custom"]
    )
    assert case["Interactions__c"]["soapType"] == "xsd:double"
    assert case["Handle_Time_Minutes__c"]["custom"] is True
    assert case["Id"]["type"] == "id" and case["Id"]["nillable"] is False
    survey = {f["name"]: f for f in sf.Survey_Response__c.describe()["fields"]}
    assert [v["value"] for v in survey["Type__c"]["picklistValues"]] == ["NPS", "CSAT", "CES"]
    for name in (
        "Score__c",
        "Scale_Min__c",
        "Scale_Max__c",
        "Contact__c",
        "Account__c",
        "Responded_At__c",
    ):
        assert name in survey
    assert survey["Account__c"]["referenceTo"] == ["Account"]
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert {"Customer_Since__c", "Churned_At__c", "Segment__c", "Acquisition_Channel__c"} <= set(
        account
    )
    assert "Origin__c" in {f["name"] for f in sf.Lead.describe()["fields"]}
    opp = sf.Opportunity.describe()
    assert (
        opp["keyPrefix"] == "006"
        and opp["urls"]["sobject"] == "/services/data/v60.0/sobjects/Opportunity"
    )
    owner = next(f for f in opp["fields"] if f["name"] == "OwnerId")
    assert owner["relationshipName"] == "Owner" and owner["referenceTo"] == ["User"]
    # every field carries the keys a real describe has
    assert len(case["Id"]) == 57  # the same 57 keys, in the same order, as a real describe


def test_limits_decrease_with_use_and_every_response_reports_usage(
    sandbox: SalesforceSandbox,
) -> None:
    sf = client(sandbox)
    first = sf.limits()["DailyApiRequests"]
    sf.query("SELECT Id FROM User LIMIT 1")
    second = sf.limits()["DailyApiRequests"]
    assert first["Max"] == 15000
    assert second["Remaining"] == first["Remaining"] - 2
    assert sf.api_usage["api-usage"].used == 15000 - second["Remaining"]


# --- SOQL over REST ---------------------------------------------------------------------------


def test_query_pages_at_2000_with_next_records_url(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    soql = "SELECT Id, Name, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id"
    page = sf.query(soql)
    total = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    assert total > 2000
    assert page["totalSize"] == total and page["done"] is False and len(page["records"]) == 2000
    assert re.fullmatch(
        r"/services/data/v60\.0/query/01g[0-9A-Za-z]{15}-2000", page["nextRecordsUrl"]
    )
    rec = page["records"][0]
    assert list(rec) == ["attributes", "Id", "Name", "SystemModstamp"]
    assert rec["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v60.0/sobjects/Opportunity/{rec['Id']}",
    }
    assert len(rec["Id"]) == 18 and rec["Id"].startswith("006")
    assert SF_DATETIME.match(rec["SystemModstamp"])
    last = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert last["done"] is True and "nextRecordsUrl" not in last
    assert last["totalSize"] == total and len(last["records"]) == total - 2000
    every = sf.query_all(soql)["records"]
    ids = [r["Id"] for r in every]
    assert len(ids) == len(set(ids)) == total
    stamps = [r["SystemModstamp"] for r in every]
    assert stamps == sorted(stamps)


def test_records_share_a_systemmodstamp_across_the_page_boundary(
    sandbox: SalesforceSandbox,
) -> None:
    sf = client(sandbox)
    page = sf.query("SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id")
    boundary_stamp = page["records"][-1]["SystemModstamp"]
    nxt = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert nxt["records"][0]["SystemModstamp"] == boundary_stamp
    # a cursor resuming with '>' loses the records after the boundary that share the stamp
    lossy = sf.query(f"SELECT COUNT() FROM Opportunity WHERE SystemModstamp > {boundary_stamp}")[
        "totalSize"
    ]
    safe = sf.query(f"SELECT COUNT() FROM Opportunity WHERE SystemModstamp >= {boundary_stamp}")[
        "totalSize"
    ]
    assert safe - lossy >= 8
    assert (
        safe - lossy - sum(1 for r in page["records"] if r["SystemModstamp"] == boundary_stamp) >= 1
    )


def test_batch_size_option_and_invalid_locator(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    page = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500 and page["nextRecordsUrl"].endswith("-500")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more("/services/data/v60.0/query/01gSb00000000ZZZZZ-2000", identifier_is_url=True)
    assert err.value.content == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]


def test_queryall_returns_soft_deleted_records_and_query_does_not(
    sandbox: SalesforceSandbox,
) -> None:
    sf = client(sandbox)
    live = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    everything = sf.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"]
    assert everything > live
    deleted = sf.query_all(
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true", include_deleted=True
    )
    assert deleted["totalSize"] == everything - live
    assert all(r["IsDeleted"] is True for r in deleted["records"])
    assert sf.query("SELECT COUNT() FROM Account WHERE IsDeleted = true")["totalSize"] == 0
    # every object with IsDeleted has a few tombstones
    for obj in ("Contact", "Lead", "Opportunity", "Task", "Case"):
        assert (
            sf.query(f"SELECT COUNT() FROM {obj} WHERE IsDeleted = true", include_deleted=True)[
                "totalSize"
            ]
            > 0
        )


def test_queryall_paging_uses_the_queryall_locator(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    page = sf.query("SELECT Id FROM Task", include_deleted=True)
    assert "/queryAll/01g" in page["nextRecordsUrl"]
    assert (
        len(sf.query_all("SELECT Id FROM Task", include_deleted=True)["records"])
        == page["totalSize"]
    )


def test_count_and_aggregate_count(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    result = sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = true")
    assert result["records"] == [] and result["done"] is True and result["totalSize"] > 0
    agg = sf.query("SELECT COUNT(Id) FROM Lead WHERE IsConverted = true")
    assert agg["records"][0]["expr0"] == result["totalSize"]
    assert agg["records"][0]["attributes"] == {"type": "AggregateResult"}


def test_where_operators_literals_order_and_limit(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    rows = sf.query_all(
        "SELECT Id, StageName, Amount, CloseDate, IsWon, Type, CreatedDate FROM Opportunity "
        "WHERE IsClosed = true AND (Type = 'Renewal' OR Type IN ('Existing Customer - Upgrade'))"
        " AND Amount >= 1000 ORDER BY Amount DESC, Id LIMIT 50"
    )["records"]
    assert 0 < len(rows) <= 50
    amounts = [r["Amount"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    assert {r["Type"] for r in rows} <= {"Renewal", "Existing Customer - Upgrade"}
    assert all(r["StageName"] in ("Closed Won", "Closed Lost") for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["CloseDate"]) for r in rows)
    # both datetime spellings, and a date literal on a date field
    a = sf.query(
        "SELECT COUNT() FROM Case WHERE CreatedDate >= 2025-01-01T00:00:00.000+0000 "
        "AND CreatedDate < 2025-07-01T00:00:00Z"
    )["totalSize"]
    b = sf.query(
        "SELECT COUNT() FROM Case WHERE CreatedDate >= 2025-01-01T00:00:00Z "
        "AND CreatedDate < 2025-07-01T00:00:00.000+0000"
    )["totalSize"]
    assert a == b > 0
    assert (
        sf.query(
            "SELECT COUNT() FROM Opportunity WHERE CloseDate > 2026-05-01 AND IsClosed = false"
        )["totalSize"]
        > 0
    )
    nulls = sf.query("SELECT COUNT() FROM Case WHERE First_Response_At__c = null")["totalSize"]
    not_nulls = sf.query("SELECT COUNT() FROM Case WHERE First_Response_At__c != null")["totalSize"]
    assert nulls > 0 and nulls + not_nulls == sf.query("SELECT COUNT() FROM Case")["totalSize"]
    like = sf.query_all("SELECT Name FROM Campaign WHERE Name LIKE '%Retention%'")["records"]
    assert like and all("Retention" in r["Name"] for r in like)
    rel = sf.query(
        "SELECT Id, Account.Name, Account.Industry, Owner.Name FROM Case "
        "WHERE Account.Segment__c = 'Enterprise' LIMIT 3"
    )["records"]
    assert rel and set(rel[0]["Account"]) == {"attributes", "Name", "Industry"}
    assert rel[0]["Account"]["attributes"]["type"] == "Account"
    assert rel[0]["Owner"]["attributes"]["type"] == "Name"  # polymorphic owner, as Salesforce says


def test_soql_errors_have_real_bodies(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, AccountNumer FROM Account")
    [body] = err.value.content
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'AccountNumer' on entity 'Account'" in body["message"]
    assert "ERROR at Row:1:Column:12" in body["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Name FROM Accout")
    [body] = err.value.content
    assert body["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Accout' is not supported." in body["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE CreatedDate > '2025-01-01T00:00:00Z'")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert (
        "must be of type dateTime and should not be enclosed in quotes"
        in err.value.content[0]["message"]
    )
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Acount.Name FROM Contact")
    assert "Didn't understand relationship 'Acount'" in err.value.content[0]["message"]


def test_a_url_longer_than_16k_is_refused_with_414(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    fields = ", ".join(["Id"] * 3000)
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query(f"SELECT {fields} FROM Account")
    assert err.value.status == 414
    assert sandbox.request_count(status=414) >= 1


def test_record_get_and_get_deleted(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    first = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    rec = sf.Contact.get(first)
    assert rec["Id"] == first and rec["attributes"]["type"] == "Contact" and "AccountId" in rec
    deleted = sf.Contact.deleted(
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    )
    assert deleted["deletedRecords"] and SF_DATETIME.match(
        deleted["deletedRecords"][0]["deletedDate"]
    )


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


# --- authentication ---------------------------------------------------------------------------


def test_missing_or_expired_token_is_a_401_invalid_session_id(small: SalesforceSandbox) -> None:
    response = small.session().get(small.instance_url + "/services/data/v60.0/limits", timeout=10)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    sf = client(small)
    sf.query("SELECT Id FROM User LIMIT 1")
    small.expire_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User LIMIT 1")


def test_soap_login_with_security_token_and_soap_fault(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=small.session(),
        version=VERSION,
    )
    assert sf.sf_instance == small.instance_url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(
            username=creds.username,
            password="wrong",
            security_token=creds.security_token,
            session=small.session(),
            version=VERSION,
        )
    assert err.value.code == "INVALID_LOGIN"
    assert (
        "Invalid username, password, security token; or user locked out." in err.value.auth_message
    )


def test_oauth_password_grant_and_invalid_grant(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password + creds.security_token,
        consumer_key=creds.client_id,
        consumer_secret=creds.client_secret,
        session=small.session(),
        version=VERSION,
    )
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    bad = small.session().post(
        small.token_url,
        timeout=10,
        data={
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "username": creds.username,
            "password": "nope",
        },
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure - Invalid Password",
    }
    ok = (
        small.session()
        .post(
            small.token_url,
            timeout=10,
            data={
                "grant_type": "password",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "username": creds.username,
                "password": creds.password + creds.security_token,
            },
        )
        .json()
    )
    assert set(ok) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert ok["instance_url"] == small.instance_url and ok["access_token"].startswith("00D")


def test_oauth_jwt_bearer_is_verified_against_the_public_key(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        consumer_key=creds.client_id,
        privatekey=creds.jwt_private_key_pem.decode(),
        session=small.session(),
        version=VERSION,
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    from crm_connect.testing.tls import new_rsa_keypair

    other_key, _ = new_rsa_keypair()
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=creds.username,
            consumer_key=creds.client_id,
            privatekey=other_key.decode(),
            session=small.session(),
        )
    assert (err.value.code, err.value.auth_message) == ("invalid_grant", "invalid assertion")
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=creds.username,
            consumer_key="someone-else",
            privatekey=creds.jwt_private_key_pem.decode(),
            session=small.session(),
        )
    assert err.value.code == "invalid_client_id"


def test_oauth_client_credentials_and_refresh_token(small: SalesforceSandbox) -> None:
    creds = small.credentials
    session = small.session()
    token, instance = SalesforceLogin(
        consumer_key=creds.client_id,
        consumer_secret=creds.client_secret,
        domain="sandbox-org.my",
        session=session,
    )
    assert instance == small.instance_url.removeprefix("https://")
    assert client(small, token).query("SELECT COUNT() FROM Case")["totalSize"] > 0
    refreshed, _ = token_login(
        small.token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        "login",
        creds.client_id,
        None,
        None,
        session,
    )
    assert client(small, refreshed).query("SELECT COUNT() FROM Case")["totalSize"] > 0
    small.revoke_refresh_token()
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        token_login(
            small.token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": creds.refresh_token,
                "client_id": creds.client_id,
            },
            "login",
            creds.client_id,
            None,
            None,
            session,
        )
    assert (err.value.code, err.value.auth_message) == (
        "invalid_grant",
        "expired access/refresh token",
    )


# --- faults -----------------------------------------------------------------------------------


def test_request_limit_exceeded_fault_and_real_daily_quota(small: SalesforceSandbox) -> None:
    sf = client(small)
    small.inject(FaultKind.REQUEST_LIMIT_EXCEEDED, path="/query")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.status == 403
    assert err.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1  # count=1: next call passes
    small.set_api_usage(small.daily_api_limit)
    with pytest.raises(SalesforceRefusedRequest):
        sf.limits()


def test_invalid_session_fault_forces_a_token_refresh(small: SalesforceSandbox) -> None:
    creds = small.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=small.session(),
        version=VERSION,
    )
    small.clear_log()
    small.inject(FaultKind.INVALID_SESSION, path="/query")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    log = [(r.method, r.path, r.status) for r in small.requests]
    assert log[0][2] == 401 and log[1][1].startswith("/services/Soap/u/") and log[2][2] == 200


def test_query_timeout_only_for_wide_windows(small: SalesforceSandbox) -> None:
    sf = client(small)
    small.inject(FaultKind.QUERY_TIMEOUT, path="/query", count=None, window_days=30)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Task WHERE SystemModstamp >= 2024-01-01T00:00:00Z")
    assert err.value.content == [
        {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
    ]
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Id FROM Task")  # no window at all: the whole history
    narrow = sf.query(
        "SELECT Id FROM Task WHERE SystemModstamp >= 2026-03-01T00:00:00Z "
        "AND SystemModstamp < 2026-03-15T00:00:00Z"
    )
    assert narrow["totalSize"] > 0
    small.clear_faults()
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] > 0


def test_429_and_503_carry_retry_after(sandbox: SalesforceSandbox) -> None:
    sandbox.inject(FaultKind.RATE_LIMITED, path="/limits", retry_after=7)
    first = raw_get(sandbox, "/services/data/v60.0/limits")
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert raw_get(sandbox, "/services/data/v60.0/limits").status_code == 200
    sandbox.inject(FaultKind.UNAVAILABLE, path="/sobjects", count=2)
    statuses = [raw_get(sandbox, "/services/data/v60.0/sobjects").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    sandbox.inject(FaultKind.SERVER_ERROR, path="/limits")
    assert (
        raw_get(sandbox, "/services/data/v60.0/limits").json()[0]["errorCode"]
        == "UNKNOWN_EXCEPTION"
    )


def test_connection_reset_and_truncated_bodies(sandbox: SalesforceSandbox) -> None:
    sandbox.inject(FaultKind.CONNECTION_RESET, path="/limits")
    with pytest.raises(requests.ConnectionError):
        raw_get(sandbox, "/services/data/v60.0/limits")
    assert raw_get(sandbox, "/services/data/v60.0/limits").status_code == 200
    sandbox.inject(FaultKind.TRUNCATED_BODY, path="/sobjects/Account/describe")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        raw_get(sandbox, "/services/data/v60.0/sobjects/Account/describe")
    # a truncated Bulk result page (chunked stream cut after its first chunk)
    sf = client(sandbox)
    sandbox.inject(FaultKind.TRUNCATED_BODY, path=r"/jobs/query/[^/]+/results")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        list(sf.bulk2.Task.query("SELECT Id, Subject FROM Task", wait=0.01))
    entries = [r for r in sandbox.requests if r.fault in ("connection_reset", "truncated_body")]
    assert {r.fault for r in entries} == {"connection_reset", "truncated_body"}


def test_fault_on_the_token_endpoint(small: SalesforceSandbox) -> None:
    creds = small.credentials
    small.inject(FaultKind.UNAVAILABLE, path="/services/oauth2/token", method="POST")
    data = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    assert small.session().post(small.token_url, data=data, timeout=10).status_code == 503
    assert small.session().post(small.token_url, data=data, timeout=10).status_code == 200


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
