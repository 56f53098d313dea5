"""Salesforce's limits read by meaning, and what is retried, against the loopback sandbox driven
by the real simple-salesforce client and the installed ``crm-connect`` command.

* ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests" stops the connection (a spent daily total);
  "ConcurrentPerOrgLongTxn" and a 429 are waited out and retried.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.classify import classify_salesforce_answer
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.profile import SALESFORCE_PROFILE
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from crm_connect_salesforce.sandbox.faults import (
    ERROR_CONCURRENT_LIMIT,
    ERROR_DAILY_LIMIT,
    ERROR_RATE_LIMIT,
)
from sf_support import reference, run_cli, sandbox_env, sandbox_options, write_project

from crm_connect.resilience import (
    Action,
    Limit,
    ResiliencePolicy,
    classify_response,
    register_response_classifier,
    unregister_response_classifier,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=400, seed=5) as org:
        yield org


@pytest.fixture
def org(sandbox: SalesforceSandbox) -> Iterator[SalesforceSandbox]:
    sandbox.clear_faults()
    sandbox.clear_log()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def salesforce_rules() -> Iterator[None]:
    register_response_classifier(classify_salesforce_answer)
    try:
        yield
    finally:
        unregister_response_classifier(classify_salesforce_answer)


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.usefixtures("salesforce_rules")
def test_request_limit_exceeded_is_read_by_its_meaning() -> None:
    daily = reference("issue_error_403_REQUEST_LIMIT_EXCEEDED_RECONSTRUCTED.json")
    outcome = classify_response(daily["status"], {}, _body(daily["body"]))
    assert (outcome.action, outcome.limit) == (Action.QUOTA, Limit.DAILY)
    assert "TotalRequests" in outcome.reason
    assert classify_response(403, {}, _body(ERROR_DAILY_LIMIT)).action is Action.QUOTA

    concurrent = classify_response(403, {}, _body(ERROR_CONCURRENT_LIMIT))
    assert (concurrent.action, concurrent.limit) == (Action.RETRY, Limit.CONCURRENCY)
    assert concurrent.unprocessed  # refused before it ran: safe to repeat, even a POST
    assert "ConcurrentPerOrgLongTxn" in concurrent.reason
    also_concurrent = [{"errorCode": "REQUEST_LIMIT_EXCEEDED",
                        "message": "ConcurrentRequests (Concurrent API Requests) Limit "
                                   "exceeded."}]
    assert classify_response(403, {}, _body(also_concurrent)).limit is Limit.CONCURRENCY

    rate = classify_response(429, {"Retry-After": "3"}, _body(ERROR_RATE_LIMIT))
    assert (rate.action, rate.limit, rate.retry_after) == (Action.RETRY, Limit.RATE, 3.0)

    unknown = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "SomeOther Limit exceeded."}]
    assert classify_response(403, {"Sforce-Limit-Info": "api-usage=20/15000"},
                             _body(unknown)).action is Action.RETRY
    assert classify_response(403, {"Sforce-Limit-Info": "api-usage=15000/15000"},
                             _body(unknown)).action is Action.QUOTA
    # other Salesforce errors stay with the client library
    assert classify_salesforce_answer(
        400, {}, _body([{"errorCode": "INVALID_FIELD", "message": "x"}])) is None


def test_the_connector_declares_the_salesforce_profile() -> None:
    """The core knows nothing of Salesforce: the connector's profile carries the limits, the
    error markers and the usage header, with no classifier registered globally."""
    assert SalesforceConnector.profile is SALESFORCE_PROFILE
    daily = classify_response(403, {}, _body(ERROR_DAILY_LIMIT), profile=SALESFORCE_PROFILE)
    assert (daily.action, daily.limit) == (Action.QUOTA, Limit.DAILY)
    assert classify_response(403, {}, _body(ERROR_DAILY_LIMIT)).action is Action.OK
    expired = classify_response(
        401, {}, _body([{"message": "Session expired or invalid",
                         "errorCode": "INVALID_SESSION_ID"}]), profile=SALESFORCE_PROFILE)
    assert (expired.action, expired.reason) == (Action.REFRESH, "HTTP 401 INVALID_SESSION_ID")
    policy = ResiliencePolicy("sf", profile=SALESFORCE_PROFILE)
    assert policy.limiter("general").settings.max_concurrent == 25
    policy.observe({"Sforce-Limit-Info": "api-usage=24/15000"})
    (usage,) = policy.quota_usage()
    assert (usage.name, usage.used, usage.limit) == (
        "Salesforce daily API request limit", 24, 15000)


def _stored(db: Path, sql: str) -> Any:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.slow
def test_concurrency_and_rate_limits_are_waited_out_in_a_sync(org: SalesforceSandbox,
                                                                tmp_path: Path) -> None:
    """Through ``crm-connect sync``: two ConcurrentPerOrgLongTxn refusals and a 429 on the
    query are retried, and every account lands; nothing is reported as a spent quota."""
    write_project(tmp_path, {"sf": sandbox_options(org, streams=["accounts"], bulk="never")})
    org.inject(FaultKind.CONCURRENT_LIMIT, path=r"/queryAll", count=2)
    org.inject(FaultKind.RATE_LIMITED, path=r"/queryAll", count=1, retry_after=0)

    result = run_cli("sync", cwd=tmp_path, env=sandbox_env(org))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "quota" not in (result.stdout + result.stderr).lower()
    assert org.request_count(r"/queryAll", status=403) == 2
    assert org.request_count(r"/queryAll", status=429) == 1
    accounts = org.counts(include_deleted=True)["Account"]
    assert _stored(tmp_path / "crm.duckdb", "SELECT count(*) FROM accounts") == accounts


@pytest.mark.slow
def test_a_cut_off_bulk_job_creation_is_not_repeated(org: SalesforceSandbox,
                                                     tmp_path: Path) -> None:
    """The answer to ``POST /jobs/query`` is cut off after Salesforce created the job: the
    POST is not sent again (that would create a second job), while the SOQL GETs of a REST
    read still retry a cut-off answer."""
    write_project(tmp_path, {"sf": sandbox_options(org, streams=["accounts"], bulk="always")})
    org.inject(FaultKind.TRUNCATED_BODY, path=r"/jobs/query$", method="POST", count=1)
    result = run_cli("sync", cwd=tmp_path, env=sandbox_env(org))
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert org.request_count(r"/jobs/query$", method="POST") == 1, output
    if result.returncode != 0:
        assert "Salesforce may have created the job" in output

    rest = tmp_path / "rest"
    rest.mkdir()
    write_project(rest, {"sf": sandbox_options(org, streams=["accounts"], bulk="never")})
    org.clear_log()
    org.inject(FaultKind.TRUNCATED_BODY, path=r"/queryAll", count=1)
    again = run_cli("sync", cwd=rest, env=sandbox_env(org))
    assert again.returncode == 0, again.stdout + again.stderr
    assert org.request_count(r"/queryAll", method="GET") >= 2
    accounts = org.counts(include_deleted=True)["Account"]
    assert _stored(rest / "crm.duckdb", "SELECT count(*) FROM accounts") == accounts


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.slow
def test_an_unreachable_login_gives_the_connection_up_once(org: SalesforceSandbox,
                                                           tmp_path: Path) -> None:
    """``login_url`` on a closed port: the login is tried max_attempts times, once for the
    whole connection, and the sync says so in one message; no stream is read."""
    options = sandbox_options(org, login_url=f"https://127.0.0.1:{_closed_port()}")
    options["resilience"] = {**options["resilience"], "max_attempts": 3}
    write_project(tmp_path, {"sf": options})
    result = run_cli("sync", cwd=tmp_path, env=sandbox_env(org))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert output.count("cannot sign in at https://127.0.0.1:") == 1, output
    assert "after 3 attempt(s)" in output and "connection refused" in output
    assert output.count("retrying in") == 2, output  # 3 attempts, for the whole connection
    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as con:
        (counts,) = con.execute(
            "SELECT counts FROM sync_runs ORDER BY run_id DESC LIMIT 1").fetchone() or ("{}",)
    assert len(json.loads(counts)) == 1  # one stream tried; the others never started
