"""Which Salesforce limit a ``REQUEST_LIMIT_EXCEEDED`` answer names.

What each answer means for the retry loop is declared as data in
:data:`~crm_connect_salesforce.profile.SALESFORCE_PROFILE`, which the connector carries as its
``profile``; :func:`classify_salesforce_answer` applies that profile's error markers on their
own, for code outside a connector (the login, tests).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from crm_connect.resilience import Outcome, profile_outcome
from crm_connect_salesforce.profile import LIMIT_CODE, SALESFORCE_PROFILE

__all__ = ["LIMIT_CODE", "LimitKind", "classify_salesforce_answer", "limit_kind"]


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


def classify_salesforce_answer(status: int, headers: Mapping[str, str],
                               body: bytes | str | None) -> Outcome | None:
    """The outcome Salesforce's error markers give an answer; ``None`` for an answer they do
    not recognise (the core's rules then apply)."""
    return profile_outcome(SALESFORCE_PROFILE, status, headers, body)
