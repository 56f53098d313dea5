"""The exit codes of ``crm-connect``: stable, documented in the README, for schedulers.

A scheduler (cron with an alert, systemd, Airflow, Dagster) acts on the code alone:

====  ==========  ===========================================================================
code  name        meaning
====  ==========  ===========================================================================
0     OK          everything succeeded
1     FAILED      some streams or connections failed; what the others stored is kept
2     USAGE       usage or configuration error (a bad option, an unknown connection, a
                  mistake in crm-connect.toml, a missing secret): fix it before running again
73    LOCKED      another run holds the lock of the store or of a connection
                  (``EX_CANTCREAT`` in sysexits.h)
75    DEFERRED    a daily quota is spent: progress is saved, run again after it resets
                  (``EX_TEMPFAIL``; the time is in the run summary's ``retry_after``)
====  ==========  ===========================================================================

The numbers never change; new meanings get new numbers.
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "exit_code_of"]


class ExitCode(enum.IntEnum):
    """How a ``crm-connect`` command ended, as its process exit code."""

    OK = 0
    FAILED = 1
    USAGE = 2
    LOCKED = 73
    DEFERRED = 75


def exit_code_of(code: int) -> ExitCode:
    """``code`` as an :class:`ExitCode`; a number that is none of them is ``FAILED``."""
    try:
        return ExitCode(code)
    except ValueError:
        return ExitCode.FAILED
