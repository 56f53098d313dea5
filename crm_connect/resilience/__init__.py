"""The resilience layer: one retry, auth-refresh, rate-limit and quota policy for every connector.

A connector builds one :class:`ResiliencePolicy` per connection (``ResiliencePolicy.for_connector``
reads its class's :class:`~crm_connect.vendor.VendorProfile` and its
``[connections.NAME.resilience]`` settings) and sends every vendor request through it:

* with requests (or a client that takes a requests session): :class:`ResilientSession`;
* with any other client: ``policy.call(lambda: ..., description="GET /path")``; for a
  urllib3-based client, turn its retries off (:func:`no_retries`, :func:`urllib3_pool_options`)
  and wrap its pool in :class:`ObservedPoolManager` first;
* a request that must never be sent twice (a job creation, a token grant): :func:`send_once`.

See ``docs/resilience.md``.
"""

from __future__ import annotations

from crm_connect.resilience.classify import (
    Action,
    ExceptionClassifier,
    Limit,
    Outcome,
    RateLimitReading,
    ResponseClassifier,
    classify_exception,
    classify_response,
    parse_retry_after,
    profile_outcome,
    read_rate_limit_headers,
    register_exception_classifier,
    register_response_classifier,
    unregister_exception_classifier,
    unregister_response_classifier,
)
from crm_connect.resilience.http import (
    BearerAuth,
    ObservedPoolManager,
    ResilientSession,
    inspect_response,
    no_retries,
    observed_pool,
    urllib3_pool_options,
)
from crm_connect.resilience.limits import GroupLimiter, QuotaTracker, QuotaUsage, TokenBucket
from crm_connect.resilience.once import AnswerLost, answer_may_be_lost, send_once
from crm_connect.resilience.policy import (
    IDEMPOTENT_METHODS,
    RefreshCallback,
    ResiliencePolicy,
    describe_request,
    is_idempotent,
    redact,
)
from crm_connect.resilience.settings import RateLimitSettings, ResilienceSettings

__all__ = [
    "IDEMPOTENT_METHODS",
    "Action",
    "AnswerLost",
    "BearerAuth",
    "ExceptionClassifier",
    "GroupLimiter",
    "Limit",
    "ObservedPoolManager",
    "Outcome",
    "QuotaTracker",
    "QuotaUsage",
    "RateLimitReading",
    "RateLimitSettings",
    "RefreshCallback",
    "ResiliencePolicy",
    "ResilienceSettings",
    "ResilientSession",
    "ResponseClassifier",
    "TokenBucket",
    "answer_may_be_lost",
    "classify_exception",
    "classify_response",
    "describe_request",
    "inspect_response",
    "is_idempotent",
    "no_retries",
    "observed_pool",
    "parse_retry_after",
    "profile_outcome",
    "read_rate_limit_headers",
    "redact",
    "register_exception_classifier",
    "register_response_classifier",
    "send_once",
    "unregister_exception_classifier",
    "unregister_response_classifier",
    "urllib3_pool_options",
]
