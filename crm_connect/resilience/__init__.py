"""The resilience layer: one retry, auth-refresh, rate-limit and quota policy for every connector.

A connector builds one :class:`ResiliencePolicy` per connection (``ResiliencePolicy.for_connector``
reads its ``[connections.NAME.resilience]`` settings) and sends every vendor request through it:

* with requests (simple-salesforce takes it as ``session=``): :class:`ResilientSession`;
* with any other client: ``policy.call(lambda: ..., description="GET /path")``; for
  hubspot-api-client, build the client with ``**hubspot_client_options(policy)`` first.

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
    read_rate_limit_headers,
    register_exception_classifier,
    register_response_classifier,
    unregister_exception_classifier,
    unregister_response_classifier,
)
from crm_connect.resilience.http import (
    BearerAuth,
    ResilientSession,
    hubspot_client_options,
    inspect_response,
)
from crm_connect.resilience.limits import GroupLimiter, QuotaTracker, QuotaUsage, TokenBucket
from crm_connect.resilience.policy import (
    IDEMPOTENT_METHODS,
    RefreshCallback,
    ResiliencePolicy,
    describe_request,
    is_idempotent,
    redact,
)
from crm_connect.resilience.settings import (
    DEFAULT_RATE_LIMITS,
    RateLimitSettings,
    ResilienceSettings,
    default_rate_limits,
)

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "IDEMPOTENT_METHODS",
    "Action",
    "BearerAuth",
    "ExceptionClassifier",
    "GroupLimiter",
    "Limit",
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
    "classify_exception",
    "classify_response",
    "default_rate_limits",
    "describe_request",
    "hubspot_client_options",
    "inspect_response",
    "is_idempotent",
    "parse_retry_after",
    "read_rate_limit_headers",
    "redact",
    "register_exception_classifier",
    "register_response_classifier",
    "unregister_exception_classifier",
    "unregister_response_classifier",
]
