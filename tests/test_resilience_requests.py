"""What is retried and for how long: only requests safe to repeat, and never past the time
budget; against the real loopback fault server, nothing of the policy mocked."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest
import requests

from crm_connect.errors import NotRetriedError, QuotaExceededError, RetryExhaustedError
from crm_connect.resilience import (
    Action,
    BearerAuth,
    GroupLimiter,
    RateLimitSettings,
    ResiliencePolicy,
    ResilienceSettings,
    ResilientSession,
    TokenBucket,
    classify_exception,
    is_idempotent,
)
from crm_connect.resilience.budget import WaitBeyondBudget
from crm_connect.testing import faults
from crm_connect.testing.faults import JOBS_PATH, FaultServer

FAST = ResilienceSettings(backoff_initial_seconds=0.01, backoff_max_seconds=0.05,
                          request_timeout_seconds=1.0, max_attempts=4, max_total_seconds=20)
TOKEN = BearerAuth(lambda: "access-token-0")  # the fault server's valid token


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- idempotency -------------------------------------------------------------------------------


def test_only_idempotent_methods_are_retried_by_default() -> None:
    assert all(is_idempotent(m) for m in ("GET", "head", "OPTIONS", "PUT", "DELETE"))
    assert not any(is_idempotent(m) for m in ("POST", "PATCH"))


def test_a_cut_off_answer_to_a_post_is_not_retried() -> None:
    """The job was created, its answer lost: repeating the POST would create a second one."""
    with FaultServer(path_script={JOBS_PATH: [faults.truncated()]}) as server:
        session = ResilientSession(ResiliencePolicy("api", FAST))
        with pytest.raises(NotRetriedError, match=r"POST /api/jobs: .*Not retried"):
            session.post(f"{server.url}{JOBS_PATH}", json={"query": "SELECT Id FROM Account"})
        assert server.jobs == ["job-1"]
        assert server.count(JOBS_PATH) == 1


@pytest.mark.parametrize("failure", [faults.server_error(503), faults.reset()])
def test_a_post_failing_after_it_was_sent_is_not_retried(failure: faults.Fault) -> None:
    with FaultServer(path_script={JOBS_PATH: [failure]}) as server:
        session = ResilientSession(ResiliencePolicy("api", FAST))
        with pytest.raises(NotRetriedError):
            session.post(f"{server.url}{JOBS_PATH}")
        assert server.count(JOBS_PATH) == 1


def test_a_post_refused_by_a_rate_limit_is_retried() -> None:
    """A 429 means the server did not act on the request: repeating it is safe."""
    with FaultServer(path_script={JOBS_PATH: [faults.rate_limited(retry_after=0)]}) as server:
        session = ResilientSession(ResiliencePolicy("api", FAST))
        answer = session.post(f"{server.url}{JOBS_PATH}")
        assert answer.status_code == 201 and answer.json()["id"] == "job-1"
        assert server.count(JOBS_PATH) == 2 and server.jobs == ["job-1"]


def test_a_post_marked_safe_is_retried_like_a_get() -> None:
    script = [faults.truncated(), faults.truncated()]
    with FaultServer(path_script={JOBS_PATH: script}) as server:
        session = ResilientSession(ResiliencePolicy("api", FAST))
        answer = session.post(f"{server.url}{JOBS_PATH}", idempotent=True)
        assert answer.status_code == 201 and server.count(JOBS_PATH) == 3
    with FaultServer(path_script={JOBS_PATH: [faults.reset()]}) as server:
        session = ResilientSession(ResiliencePolicy("api", FAST))
        with session.idempotent_requests():  # for a POST sent by a client library
            assert session.post(f"{server.url}{JOBS_PATH}").status_code == 201
        assert server.count(JOBS_PATH) == 2
        server.add_faults(script={server.count(): faults.reset()})  # the next request
        with pytest.raises(NotRetriedError):  # the mark ended with the block
            session.post(f"{server.url}{JOBS_PATH}")


def test_policy_call_follows_the_method_its_description_names() -> None:
    attempts: list[int] = []

    def cut_off() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise requests.exceptions.ChunkedEncodingError("connection broken")
        return "done"

    policy = ResiliencePolicy("api", FAST)
    with pytest.raises(NotRetriedError):
        policy.call(cut_off, description="POST /jobs/query")
    assert len(attempts) == 1
    assert policy.call(cut_off, description="GET /jobs/query/1") == "done"
    attempts.clear()
    assert policy.call(cut_off, description="POST /search", idempotent=True) == "done"
    assert len(attempts) == 2


def test_a_refused_connection_is_retried_even_for_a_post(
        caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was sent, so nothing can be duplicated: the POST gets its full retry budget."""
    url = f"http://127.0.0.1:{closed_port()}{JOBS_PATH}"
    try:
        requests.post(url, timeout=5)
    except requests.exceptions.ConnectionError as exc:
        refused = classify_exception(exc)
    assert refused is not None and refused.action is Action.RETRY and refused.unprocessed
    session = ResilientSession(ResiliencePolicy("api", FAST))
    with caplog.at_level(logging.WARNING), \
            pytest.raises(RetryExhaustedError, match=r"after 4 attempt.*connection refused"):
        session.post(url)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 3


# -- the time budget ---------------------------------------------------------------------------

LIMITED = FAST.model_copy(update={"rate_limits": {
    "general": RateLimitSettings(requests=100, per_seconds=10.0)}})


def test_a_retry_after_beyond_the_budget_stops_and_the_next_request_does_not_sleep() -> None:
    """A 429 asking for 10 minutes: the request stops at once saying when to retry, and the
    next request, whose rate-limit wait the 429 lengthened, stops at once as well."""
    with FaultServer(script={0: faults.rate_limited(retry_after=600)}) as server:
        session = ResilientSession(ResiliencePolicy("api", LIMITED))
        started = time.monotonic()
        with pytest.raises(RetryExhaustedError) as first:
            session.get(f"{server.url}/api/records")
        message = str(first.value)
        assert "asked to wait 10 min" in message and "max_total_seconds = 20" in message
        assert re.search(r"run the sync again after \d{4}-\d\d-\d\d \d\d:\d\d UTC", message)
        with pytest.raises(RetryExhaustedError, match="client-side rate limit"):
            session.get(f"{server.url}/api/records")
        assert time.monotonic() - started < 5  # nothing slept the 600 s
        assert server.count() == 1


def test_a_retry_after_of_a_day_is_a_spent_quota() -> None:
    with FaultServer(script={0: faults.rate_limited(retry_after=86400)}) as server:
        policy = ResiliencePolicy("api", LIMITED.model_copy(
            update={"max_total_seconds": 200000.0}))  # even a huge budget does not wait a day
        session = ResilientSession(policy)
        started = time.monotonic()
        with pytest.raises(QuotaExceededError, match=r"asked to wait 24\.0 h .*spent quota"):
            session.get(f"{server.url}/api/records")
        with pytest.raises(QuotaExceededError):  # the bucket's day-long wait is not slept
            session.get(f"{server.url}/api/records")
        assert time.monotonic() - started < 5
        assert server.count() == 1


def test_a_dripping_answer_cannot_hold_an_attempt_past_request_timeout() -> None:
    """One byte every 50 ms never trips the read timeout, but the whole page would take
    minutes: the attempt is cut at request_timeout_seconds and retried."""
    settings = FAST.model_copy(update={"request_timeout_seconds": 0.5})
    with FaultServer(script={0: faults.drip(0.05)}) as server:
        session = ResilientSession(ResiliencePolicy("api", settings), auth=TOKEN)
        started = time.monotonic()
        answer = session.get(f"{server.url}/api/records")
        assert answer.status_code == 200 and len(answer.json()["results"]) == 10
        assert time.monotonic() - started < 10
        assert server.count() == 2


def test_a_streamed_answer_is_left_to_the_caller() -> None:
    with FaultServer() as server:
        session = ResilientSession(ResiliencePolicy("api", FAST), auth=TOKEN)
        with session.get(f"{server.url}/api/records", stream=True) as answer:
            assert b'"results"' in b"".join(answer.iter_content(256))


def test_no_limiter_wait_runs_past_the_deadline() -> None:
    capped = GroupLimiter("general", RateLimitSettings(max_concurrent=1))
    with (capped.slot(), pytest.raises(WaitBeyondBudget, match="requests in flight"),
          capped.slot(deadline=time.monotonic() + 0.05)):
        pass  # pragma: no cover - never entered
    with capped.slot(deadline=time.monotonic() + 0.05):  # the slot is free again
        pass
    bucket = TokenBucket(1, 1.0)
    bucket.acquire()
    with pytest.raises(WaitBeyondBudget) as caught:
        bucket.acquire(deadline=time.monotonic() + 0.1)
    assert 0.5 < caught.value.seconds <= 1.0
