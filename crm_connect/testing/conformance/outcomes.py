"""What a conformance check returns, and the helpers its messages share."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CheckOutcome", "Status", "Verdict", "count"]


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check, with what passed, what to fix, or why it was skipped."""

    name: str
    status: Status
    message: str


Verdict = tuple[Status, str]
"""A check's status and message."""


def count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
