"""SOQL over REST against the sandbox: paging, locators, queryAll, operators and errors."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sandbox_support import SF_DATETIME, client
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
)

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
