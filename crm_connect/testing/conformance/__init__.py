"""The conformance suite: what every connector must do, checked against a real connection.

Two ways to run it:

* in a plugin's tests: ``pytest_plugins = ["crm_connect.testing"]`` in ``conftest.py`` and a
  subclass of :class:`ConformanceSuite` naming the target (each check is a test item);
* from the command line: ``crm-connect conformance CONNECTION [--stream NAME ...]``.

:func:`run_conformance` runs the checks in :data:`CHECKS` against a :class:`ConformanceTarget`;
:func:`check_demo_sandbox` checks the sandbox a plugin contributes to ``crm-connect demo``.
See "Kit reference: the conformance suite" in ``docs/writing-a-plugin.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crm_connect.testing.conformance.cassettes import scan_cassettes
from crm_connect.testing.conformance.checks import (
    CHECKS,
    Check,
    CheckOutcome,
    Status,
    run_check,
)
from crm_connect.testing.conformance.demo import check_demo_sandbox
from crm_connect.testing.conformance.session import (
    ConformanceSession,
    ConformanceTarget,
    StreamRead,
)

if TYPE_CHECKING:
    from crm_connect.testing.conformance.suite import ConformanceSuite

__all__ = [
    "CHECKS",
    "Check",
    "CheckOutcome",
    "ConformanceSession",
    "ConformanceSuite",
    "ConformanceTarget",
    "Status",
    "StreamRead",
    "check_demo_sandbox",
    "run_check",
    "run_conformance",
    "scan_cassettes",
]


def run_conformance(target: ConformanceTarget, checks: Sequence[Check] = CHECKS
                    ) -> list[CheckOutcome]:
    """Run ``checks`` against ``target``, in order; one outcome per check.

    :raises ConfigError: the configuration cannot be read, or names no such connection or
        stream (a usage error, not a check that fails).
    """
    with ConformanceSession(target) as session:
        session.streams()
        return [run_check(session, check) for check in checks]


def __getattr__(name: str) -> Any:
    # The pytest base class is imported on demand: the command line runs without pytest.
    if name == "ConformanceSuite":
        from crm_connect.testing.conformance.suite import ConformanceSuite

        return ConformanceSuite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
