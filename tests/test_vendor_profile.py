"""Vendor profiles: what a plugin declares about its vendor reaches the retry layer, which knows
no vendor of its own (the core's source names none)."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from example_crm import EXAMPLE_CRM

from crm_connect import CheckResult, ConnectionContext, Connector, ConnectorConfig, Page, Stream
from crm_connect.errors import NotRetriedError, RetryExhaustedError
from crm_connect.resilience import (
    Action,
    AnswerLost,
    Limit,
    ResiliencePolicy,
    ResilienceSettings,
    ResilientSession,
    classify_response,
    profile_outcome,
    send_once,
)
from crm_connect.testing import faults
from crm_connect.testing.faults import FaultServer
from crm_connect.vendor import (
    NEUTRAL_PROFILE,
    ErrorMarker,
    GroupRule,
    Meaning,
    QuotaHeaders,
    RateLimitReading,
    RateLimitSettings,
    RefreshRules,
    VendorProfile,
)

ROOT = Path(__file__).parent.parent
VENDOR_NAMES = re.compile(r"salesforce|hubspot", re.IGNORECASE)

FAST = ResilienceSettings(backoff_initial_seconds=0.01, backoff_max_seconds=0.05,
                          request_timeout_seconds=0.5, max_attempts=4, max_total_seconds=5)


def test_the_core_names_no_vendor() -> None:
    found = []
    for path in sorted((ROOT / "crm_connect").rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if VENDOR_NAMES.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "vendor knowledge belongs in the vendor's plugin:\n" + "\n".join(found)


def _body(code: str, message: str = "", field: str = "code") -> bytes:
    return f'{{"{field}": "{code}", "message": "{message}"}}'.encode()


STRICT = VendorProfile(
    name="Strict CRM",
    error_fields=("code",),
    error_markers=(
        ErrorMarker(Meaning.DAILY_QUOTA, code="LIMIT", message_contains="Daily Total"),
        ErrorMarker(Meaning.CONCURRENCY_LIMITED, code="LIMIT", message_contains="parallel",
                    note="too many exports at once"),
        ErrorMarker(Meaning.LIMITED, code="LIMIT"),
        ErrorMarker(Meaning.TRANSIENT, code="LOCK_CONTENTION", statuses={409}),
        ErrorMarker(Meaning.NOT_RETRYABLE, code="MAINTENANCE", statuses={503}),
        ErrorMarker(Meaning.CREDENTIALS_REFUSED, code="ACCOUNT_SUSPENDED"),
        ErrorMarker(Meaning.DAILY_QUOTA, statuses={402}),
    ),
    quota_headers=QuotaHeaders(daily_usage="X-Usage", daily_usage_pattern=r"used (\d+) of (\d+)"),
    refresh=RefreshRules(statuses={401, 419}, refused_codes=("invalid_grant", "REVOKED")),
)


@pytest.mark.parametrize(("status", "body", "headers", "action", "limit", "reason"), [
    (403, _body("LIMIT", "DailyTotal reached"), {}, Action.QUOTA, Limit.DAILY,
     "LIMIT: DailyTotal reached"),
    (403, _body("LIMIT", "3 parallel exports"), {}, Action.RETRY, Limit.CONCURRENCY,
     "LIMIT: 3 parallel exports (too many exports at once)"),
    (403, _body("LIMIT", "Other"), {"X-Usage": "used 10 of 100"}, Action.RETRY, None,
     "LIMIT: Other"),
    (403, _body("LIMIT", "Other"), {"x-usage": "used 100 of 100"}, Action.QUOTA, Limit.DAILY,
     "LIMIT: Other"),
    (409, _body("LOCK_CONTENTION"), {}, Action.RETRY, None, "HTTP 409 LOCK_CONTENTION"),
    (409, _body("OTHER"), {}, Action.OK, None, ""),
    (503, _body("MAINTENANCE"), {}, Action.OK, None, ""),
    (503, _body("OTHER"), {}, Action.RETRY, None, "HTTP 503"),
    (400, _body("ACCOUNT_SUSPENDED", "ask an admin"), {}, Action.AUTH_FAILED, None,
     "ACCOUNT_SUSPENDED: ask an admin"),
    (400, _body("REVOKED", "token revoked"), {}, Action.AUTH_FAILED, None,
     "REVOKED: token revoked"),
    (419, b"", {}, Action.REFRESH, None, "HTTP 419"),
    (402, b"payment required", {}, Action.QUOTA, Limit.DAILY, "HTTP 402"),
    # a 429 is a rate limit whatever the body says, when no marker names 429
    (429, _body("LIMIT", "DailyTotal reached"), {}, Action.RETRY, Limit.RATE, "HTTP 429"),
    (404, _body("NOT_FOUND"), {}, Action.OK, None, ""),
])
def test_error_markers_give_each_answer_its_meaning(
        status: int, body: bytes, headers: Mapping[str, str], action: Action,
        limit: Limit | None, reason: str) -> None:
    outcome = classify_response(status, headers, body, profile=STRICT)
    assert (outcome.action, outcome.limit, outcome.reason) == (action, limit, reason)
    neutral = classify_response(status, headers, body)
    assert neutral.action in {Action.OK, Action.RETRY, Action.REFRESH}  # the core's HTTP rules


def test_concurrency_and_other_limits_are_safe_to_repeat_and_markers_read_one_field() -> None:
    concurrent = profile_outcome(STRICT, 403, {}, _body("LIMIT", "parallel"))
    assert concurrent is not None and concurrent.unprocessed
    assert profile_outcome(STRICT, 403, {}, _body("LIMIT", "parallel", field="kind")) is None
    picky = VendorProfile(error_markers=(
        ErrorMarker(Meaning.RATE_LIMITED, code="BURST", field="policy"),))
    assert profile_outcome(picky, 429, {}, _body("BURST", field="policy")) is not None
    assert profile_outcome(picky, 429, {}, _body("BURST", field="code")) is None
    assert profile_outcome(picky, 200, {}, _body("BURST", field="policy")) is None


def test_group_rules_route_requests_by_method_and_path() -> None:
    profile = VendorProfile(group_rules=(
        GroupRule("search", path=r"/search/?$", methods={"post"}),
        GroupRule("exports", path=r"^/v1/exports/")))
    assert profile.group_for("POST", "https://api.example.com/v3/objects/contacts/search") \
        == "search"
    assert profile.group_for("GET", "https://api.example.com/v3/objects/contacts/search") \
        == "general"
    assert profile.group_for("GET", "https://api.example.com/v1/exports/9?x=/search") \
        == "exports"
    assert NEUTRAL_PROFILE.group_for("POST", "https://x/search") == "general"


def test_a_quota_reader_reads_formats_header_names_cannot_describe() -> None:
    def read(headers: Mapping[str, str]) -> RateLimitReading | None:
        used, _, limit = headers.get("X-Budget", "").partition(" of ")
        if not limit:
            return None
        return RateLimitReading(daily_used=int(used), daily_limit=int(limit),
                                daily_name="Budget CRM daily budget")

    policy = ResiliencePolicy("budget", profile=VendorProfile(quota_reader=read))
    policy.observe({"X-Budget": "7 of 50"})
    policy.observe({"Content-Type": "application/json"})
    (usage,) = policy.quota_usage()
    assert (usage.name, usage.used, usage.limit) == ("Budget CRM daily budget", 7, 50)


class _ExampleConfig(ConnectorConfig):
    base_url: str = "http://127.0.0.1:9"


class _ExampleConnector(Connector[_ExampleConfig]):
    name = "example_crm"
    config_model = _ExampleConfig
    profile = EXAMPLE_CRM

    def streams(self) -> list[Stream]:
        return []

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        yield from ()


class _PlainConnector(_ExampleConnector):
    profile = NEUTRAL_PROFILE


def test_for_connector_reads_the_class_profile_and_the_config_still_overrides_it() -> None:
    config = _ExampleConfig.model_validate({"resilience": {"rate_limits": {
        "search": {"requests": 2}, "exports": {"max_concurrent": 3}}}})
    policy = ResiliencePolicy.for_connector(_ExampleConnector(ConnectionContext("ex"), config))
    assert policy.profile is EXAMPLE_CRM
    search = policy.limiter("search").settings
    assert (search.requests, search.per_seconds, search.burst) == (2, 1.0, 1)  # field by field
    assert policy.limiter("general").settings.requests == 100  # the profile's default
    assert policy.limiter("exports").settings.max_concurrent == 3  # a group of the user's own
    assert policy.group_for("POST", "https://api.example.com/crm/v3/objects/deals/search") \
        == "search"
    plain = ResiliencePolicy.for_connector(_PlainConnector(ConnectionContext("p"),
                                                           _ExampleConfig()))
    assert plain.profile is NEUTRAL_PROFILE
    assert plain.limiter("general").settings == RateLimitSettings()
    assert Connector.profile is NEUTRAL_PROFILE


def test_the_search_group_has_its_own_rate() -> None:
    """One search per minute (a connection's override of the profile's search limit): the
    second search stops at once rather than wait beyond the request's budget, while the
    general group's requests go on."""
    settings = FAST.model_copy(update={"rate_limits": {
        "search": RateLimitSettings(requests=1, per_seconds=60, burst=1)}})
    with FaultServer(records_path="/crm/v3/objects/contacts") as server:
        session = ResilientSession(ResiliencePolicy("ex", settings, profile=EXAMPLE_CRM))
        search = f"{server.url}/crm/v3/objects/contacts/search"
        assert session.get(search).status_code == 404  # sent: the server has no such route
        with pytest.raises(RetryExhaustedError, match=r"client-side rate limit \(search\)"):
            session.get(search)
        for _ in range(3):
            answer = session.get(f"{server.url}/crm/v3/objects/contacts",
                                 headers={"Authorization": "Bearer access-token-0"})
            assert answer.status_code == 200
        assert server.count() == 4


JOBS = "/api/jobs"


def test_send_once_retries_answers_but_never_resends_a_lost_one() -> None:
    with FaultServer(path_script={JOBS: [faults.rate_limited(retry_after=0),
                                         faults.truncated()]}) as server:
        policy = ResiliencePolicy("jobs", FAST, profile=EXAMPLE_CRM)
        with ResilientSession(policy) as session, pytest.raises(AnswerLost) as lost:
            send_once(session, policy, "POST", f"{server.url}{JOBS}", json={"query": "x"},
                      what="creating an export job",
                      consequence="look for the job in the vendor's console before running "
                      "the sync again.")
        assert isinstance(lost.value, NotRetriedError)
        message = str(lost.value)
        assert message.startswith("jobs: POST /api/jobs: the answer was lost")
        assert "creating an export job" in message and "vendor's console" in message
        assert server.count(JOBS) == 2  # the 429 was retried, the cut-off answer was not
        assert server.jobs == ["job-1"]

    checked: list[int] = []
    with FaultServer(path_script={JOBS: [faults.server_error(503)]}) as server:
        policy = ResiliencePolicy("jobs", FAST)
        with ResilientSession(policy) as session:
            answer = send_once(session, policy, "POST", f"{server.url}{JOBS}",
                               what="creating a job", consequence="",
                               check=lambda response: checked.append(response.status_code))
        assert answer.status_code == 201 and answer.json()["id"] == "job-1"
        assert checked == [503, 201]


def test_the_documented_profile_example_runs_as_written() -> None:
    text = (ROOT / "docs" / "resilience.md").read_text()
    section = text[text.index("## Vendor profiles"):]
    [code] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:1]
    module = types.ModuleType("acme_example")
    exec(compile(code, "resilience.md", "exec"), module.__dict__)
    profile = module.AcmeConnector.profile
    assert profile is module.ACME_PROFILE
    daily = classify_response(429, {}, _body("DAILY_LIMIT", "spent"), profile=profile)
    assert (daily.action, daily.reason) == (Action.QUOTA, "DAILY_LIMIT: spent")
    assert profile.group_for("POST", "https://acme.example/v2/deals/search") == "search"
    policy = ResiliencePolicy("acme", profile=profile)
    policy.observe({"X-Api-Usage": "250/1000", "X-RateLimit-Limit": "120",
                    "X-RateLimit-Window": "10"})
    (usage,) = policy.quota_usage()
    assert (usage.name, usage.used) == ("Acme daily API quota", 250)
    assert policy.limiter("general").settings.requests == 120  # the account allows more
