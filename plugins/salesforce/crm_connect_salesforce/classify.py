"""What Salesforce's limit errors mean, taught to the core's resilience policy.

Salesforce answers ``REQUEST_LIMIT_EXCEEDED`` for several different limits, and only the
message tells them apart:

* ``TotalRequests Limit exceeded.`` (HTTP 403): the org's API requests of the last 24 hours
  are spent.  Retrying only burns what is left of other tools' share: stop the connection
  cleanly and resume after the rolling window frees requests.
* ``ConcurrentPerOrgLongTxn Limit exceeded.`` / ``ConcurrentRequests ... Limit exceeded.``:
  too many long-running requests are in flight in the org right now (the org's other
  integrations count too).  The request was refused before it ran: wait and retry.
* an HTTP 429 is a rate limit to wait out, whatever its body says.

:func:`classify_salesforce_answer` is registered with
:func:`crm_connect.resilience.register_response_classifier` by :class:`SalesforceClient`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from crm_connect.resilience import Action, Limit, Outcome, read_rate_limit_headers

__all__ = ["LimitKind", "classify_salesforce_answer", "limit_kind"]

LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"


class LimitKind(enum.Enum):
    DAILY_TOTAL = "daily_total"
    CONCURRENCY = "concurrency"
    OTHER = "other"


def limit_kind(message: str) -> LimitKind:
    """Which limit a ``REQUEST_LIMIT_EXCEEDED`` message names."""
    text = message.replace(" ", "").lower()
    if "totalrequests" in text:
        return LimitKind.DAILY_TOTAL
    if "concurrent" in text:
        return LimitKind.CONCURRENCY
    return LimitKind.OTHER


def _limit_message(body: bytes | str | None) -> str | None:
    """The message of a ``REQUEST_LIMIT_EXCEEDED`` error in a REST error array, or ``None``
    when the body is no such error."""
    if not body:
        return None
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    for item in payload if isinstance(payload, list) else [payload]:
        if isinstance(item, Mapping) and item.get("errorCode") == LIMIT_CODE:
            return str(item.get("message") or "")
    return None


def classify_salesforce_answer(status: int, headers: Mapping[str, str],
                               body: bytes | str | None) -> Outcome | None:
    """The outcome of a Salesforce limit error; ``None`` for any other answer."""
    message = _limit_message(body)
    if message is None:
        return None
    reason = f"{LIMIT_CODE}: {message}".rstrip(": ")
    if status == 429:
        return None  # the core's rule: a rate limit to wait out (Retry-After honoured)
    kind = limit_kind(message)
    if kind is LimitKind.DAILY_TOTAL:
        return Outcome(Action.QUOTA, reason, limit=Limit.DAILY)
    if kind is LimitKind.CONCURRENCY:
        return Outcome(Action.RETRY, f"{reason} (too many long-running requests in the org "
                       "at once)", limit=Limit.CONCURRENCY, unprocessed=True)
    reading = read_rate_limit_headers(headers)
    if (reading is not None and reading.daily_used is not None and reading.daily_limit
            and reading.daily_used >= reading.daily_limit):
        return Outcome(Action.QUOTA, reason, limit=Limit.DAILY)
    # A limit this plugin does not know by name, with requests left today: a short wait
    # may clear it, and the retry budget bounds the cost if it does not.
    return Outcome(Action.RETRY, reason, unprocessed=True)
