"""The sandbox's transport and discovery: TLS on loopback, describes, limits, long URLs."""

from __future__ import annotations

import re

import pytest
import requests
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sandbox_support import client
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
)

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

def test_a_url_longer_than_16k_is_refused_with_414(sandbox: SalesforceSandbox) -> None:
    sf = client(sandbox)
    fields = ", ".join(["Id"] * 3000)
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query(f"SELECT {fields} FROM Account")
    assert err.value.status == 414
    assert sandbox.request_count(status=414) >= 1
