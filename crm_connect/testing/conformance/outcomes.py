"""What a conformance check returns, and the helpers its messages share."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_connect.testing.conformance.session import ConformanceSession, StreamRead

__all__ = ["Check", "CheckOutcome", "Status", "Verdict"]


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


@dataclass(frozen=True)
class Check:
    """A conformance check: a name (the pytest item is ``test_<name>``), what it proves."""

    name: str
    description: str
    run: Callable[[ConformanceSession], Verdict]


Verdict = tuple[Status, str]
"""A check's status and message."""


def read_failed(read: StreamRead, what: str) -> Verdict:
    error = (read.error or "").rstrip(". ")
    return Status.FAIL, (f"{what} failed: {error}. read() must read the stream to its end "
                         "or raise a CrmConnectError that says what to do")


def count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
