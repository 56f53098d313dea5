"""Faults the sandbox injects: quota, session, query timeout, 429/503, resets, cut bodies."""

from __future__ import annotations

import pytest
import requests
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from sandbox_support import VERSION, client, raw_get
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
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
