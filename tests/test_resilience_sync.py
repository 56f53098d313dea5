"""Real syncs through the fault server: a test connector reads a paged API with a
ResilientSession, run_sync stores into a real DuckDB file, and the store must hold every record
exactly once whatever the server throws at it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import paged_plugin as paged_api
import pytest
from example_crm import example_usage
from vendor_answers import daily_quota_exceeded

from crm_connect.config import Config, parse_config
from crm_connect.resilience import (
    Action,
    Outcome,
    register_response_classifier,
    unregister_response_classifier,
)
from crm_connect.secrets import KEYRING_SERVICE, get_secret
from crm_connect.sync import SyncReport, run_sync
from crm_connect.testing import faults
from crm_connect.testing.faults import FaultServer
from crm_connect.testing.memory_keyring import MemoryKeyring

CONNECTION = "paged"
ALL_IDS = {str(number) for number in range(1, 26)}


@pytest.fixture
def paged_plugin(monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
                 crm_plugin: Callable[[Any, str], None]) -> None:
    monkeypatch.setenv("CRM_CONNECT_PAGED_ACCESS_TOKEN", "access-token-0")
    monkeypatch.setenv("CRM_CONNECT_PAGED_REFRESH_TOKEN", "refresh-token-0")
    crm_plugin(paged_api, "paged-api-test")


FAST = """
backoff_initial_seconds = 0.01
backoff_max_seconds = 0.05
request_timeout_seconds = 0.25
connect_timeout_seconds = 0.5
max_attempts = 5
max_total_seconds = 10
"""


def make_config(tmp_path: Path, server: FaultServer, *, page_size: int = 10,
                resilience: str = FAST) -> Config:
    text = f"""
[store]
url = "duckdb:///crm.duckdb"

[connections.{CONNECTION}]
connector = "paged_api"
base_url = "{server.url}"
page_size = {page_size}

[connections.{CONNECTION}.resilience]
{resilience}
"""
    return parse_config(text, tmp_path / "crm-connect.toml", tmp_path)


def stored_ids(tmp_path: Path) -> list[str]:
    con = duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT id FROM accounts WHERE source = ? ORDER BY id",
                           [CONNECTION]).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def assert_exactly_once(tmp_path: Path, expected: set[str] = ALL_IDS) -> None:
    ids = stored_ids(tmp_path)
    assert len(ids) == len(set(ids)), "a record was stored twice"
    assert set(ids) == expected


def only_result(report: SyncReport) -> Any:
    assert len(report.results) == 1
    return report.results[0]


@pytest.mark.usefixtures("paged_plugin")
def test_sync_rides_out_every_transient_fault(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    script = {0: faults.rate_limited(retry_after=0), 1: faults.server_error(503),
              2: faults.reset(), 4: faults.truncated(), 5: faults.slow(0.6),
              7: faults.server_error(500), 8: faults.status(408)}
    with FaultServer(script=script) as server, caplog.at_level(logging.WARNING):
        report = run_sync(make_config(tmp_path, server))
        result = only_result(report)
        assert result.status == "succeeded", result.error
        assert report.exit_code == 0
        assert_exactly_once(tmp_path)
        # 3 pages, 7 injected faults: each costs one request, nothing more.
        assert server.count("/api/records") == 3 + len(script)
    retries = [r for r in caplog.records if r.name == "crm_connect.resilience"]
    assert len(retries) == len(script)
    assert all(r.levelno == logging.WARNING for r in retries)
    assert "paged: GET /api/records: HTTP 429" in retries[0].getMessage()


@pytest.mark.usefixtures("paged_plugin")
def test_expired_token_is_refreshed_once_and_saved_to_the_keyring(
        tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    with FaultServer(path_script={"/api/records": [None, faults.expire_token()]}) as server:
        report = run_sync(make_config(tmp_path, server))
        assert only_result(report).status == "succeeded"
        assert_exactly_once(tmp_path)
        assert server.refresh_count == 1
        assert server.count("/oauth/token") == 1
        assert server.count("/api/records") == 4  # 3 pages + the one answered 401
    # saved to the keyring, and it wins next run over the stale environment value it replaced
    assert memory_keyring.get_password(KEYRING_SERVICE, f"{CONNECTION}:rotated")
    assert get_secret(CONNECTION, "access_token") == "access-token-1"


@pytest.mark.usefixtures("paged_plugin")
def test_refused_refresh_fails_fast_and_leaks_no_secret(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with FaultServer(path_script={"/api/records": [None, faults.expire_token()]}) as server, \
            caplog.at_level(logging.DEBUG):
        server.refuse_refresh = True
        report = run_sync(make_config(tmp_path, server))
        result = only_result(report)
        assert result.status == "failed"
        assert report.exit_code == 1
        assert "invalid_grant" in (result.error or "")
        assert "crm-connect auth set paged" in (result.error or "")
        assert server.count("/oauth/token") == 1  # no retry loop on a refused refresh
        assert server.count("/api/records") == 2
        assert_exactly_once(tmp_path, {str(n) for n in range(1, 11)})
    for secret in ("access-token-0", "refresh-token-0"):
        assert secret not in caplog.text
        assert secret not in (result.error or "")


def _daily_total_rule(status: int, headers: Mapping[str, str],
                      body: bytes | str | None) -> Outcome | None:
    """What a vendor plugin registers: its 403 "TotalRequests" answer is a spent daily quota."""
    text = body.decode() if isinstance(body, bytes) else body or ""
    if status == 403 and "TotalRequests Limit exceeded" in text:
        return Outcome(Action.QUOTA, "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.")
    return None


@pytest.fixture
def daily_total_rule() -> Iterator[None]:
    register_response_classifier(_daily_total_rule)
    try:
        yield
    finally:
        unregister_response_classifier(_daily_total_rule)


@pytest.mark.usefixtures("paged_plugin", "daily_total_rule")
@pytest.mark.parametrize("style", ["salesforce", "hubspot"])
def test_spent_daily_quota_stops_cleanly_and_the_next_run_resumes(tmp_path: Path,
                                                                 style: str) -> None:
    with FaultServer(path_script={"/api/records": [None, daily_quota_exceeded(style)]}
                     ) as server:
        config = make_config(tmp_path, server)
        report = run_sync(config)
        result = only_result(report)
        assert result.status == "stopped"
        assert report.exit_code == 1
        assert "daily quota is spent" in (result.error or "")
        assert "next run resumes" in (result.error or "")
        assert server.count("/api/records") == 2  # a spent quota is never retried
        assert_exactly_once(tmp_path, {str(n) for n in range(1, 11)})

        second = run_sync(config)
        assert only_result(second).status == "succeeded"
        assert_exactly_once(tmp_path)
        # The second run starts at the saved cursor: 2 more pages, page 1 is not read again.
        assert server.count("/api/records") == 4


@pytest.mark.usefixtures("paged_plugin")
def test_run_stops_after_its_share_of_the_daily_quota(tmp_path: Path) -> None:
    with FaultServer(usage_headers=example_usage, daily_limit=20, daily_used=3) as server:
        report = run_sync(make_config(tmp_path, server, page_size=2))
        result = only_result(report)
        assert result.status == "stopped"
        assert report.exit_code == 1
        assert "this run has used 11 requests, 55%" in (result.error or "")
        assert "max_daily_quota_share is 50%" in (result.error or "")
        # 11 pages of 2 were stored; the 12th request was never sent.
        assert server.count() == 11
        assert_exactly_once(tmp_path, {str(n) for n in range(1, 23)})


@pytest.mark.usefixtures("paged_plugin")
def test_unending_outage_fails_the_stream_within_the_attempt_budget(tmp_path: Path) -> None:
    outage = {i: faults.server_error(503) for i in range(1, 50)}
    with FaultServer(script=outage) as server:
        report = run_sync(make_config(tmp_path, server))
        result = only_result(report)
        assert result.status == "failed"
        assert "GET /api/records failed after 5 attempt(s)" in (result.error or "")
        assert "HTTP 503" in (result.error or "")
        assert server.count() == 1 + 5
        assert_exactly_once(tmp_path, {str(n) for n in range(1, 11)})


@pytest.mark.usefixtures("paged_plugin")
def test_other_client_errors_are_never_retried(tmp_path: Path) -> None:
    with FaultServer(script={1: faults.status(400, [{"errorCode": "INVALID_FIELD",
                                                     "message": "No such column"}])}) as server:
        report = run_sync(make_config(tmp_path, server))
        result = only_result(report)
        assert result.status == "failed"
        assert "400" in (result.error or "")
        assert server.count() == 2


@pytest.mark.usefixtures("paged_plugin")
@pytest.mark.parametrize(("retry_after", "status"), [(600, "failed"), (86400, "stopped")])
def test_a_long_retry_after_ends_the_stream_at_once_saying_when_to_retry(
        tmp_path: Path, retry_after: int, status: str) -> None:
    """Ten minutes is beyond the request's budget: the stream fails at once; a day is a spent
    quota: the connection stops cleanly. Either way the first page is kept."""
    with FaultServer(path_script={"/api/records": [
            None, faults.rate_limited(retry_after=retry_after)]}) as server:
        report = run_sync(make_config(tmp_path, server))
        result = only_result(report)
        assert result.status == status
        assert "again after" in (result.error or "") and " UTC" in (result.error or "")
        assert result.seconds < 5  # nothing slept the Retry-After
        assert server.count("/api/records") == 2
        assert_exactly_once(tmp_path, {str(n) for n in range(1, 11)})
