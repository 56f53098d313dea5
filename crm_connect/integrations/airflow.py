"""An Airflow TaskGroup for a scheduled crm-connect run (``pip install 'crm-connect[airflow]'``).

``crm_connect_task_group(config)``, called inside a DAG, gives one task per connection (its sync)
and then the KPI snapshot task. Each task runs ``crm-connect run`` in a process of its own and
pushes the summary's counts to XCom. Exit 75 (a daily quota spent, progress saved) defers the
task until the summary's ``retry_after`` instead of failing it: the triggerer wakes it and it
runs again, resuming where it stopped. Exit 73 (another run holds the lock) is retried with the
task's retries; 1 and 2 fail the task at once with the summary's error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_connect.exit_codes import ExitCode
from crm_connect.integrations.steps import (
    StepResult,
    connection_names,
    kpi_step,
    missing_extra,
    sync_step,
)

try:
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk import BaseOperator, TaskGroup
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
    raise missing_extra("airflow", "apache-airflow") from exc

__all__ = ["KPI_TASK", "CrmConnectRunOperator", "LockedError", "crm_connect_task_group"]

KPI_TASK = "kpi_snapshot"


class LockedError(AirflowException):
    """Another run holds the lock: retried with the task's retries."""


class CrmConnectRunOperator(BaseOperator):
    """``crm-connect run CONNECTION --skip-kpis`` (or ``--kpis-only`` without a connection)."""

    template_fields: Sequence[str] = ("config_path",)

    def __init__(self, *, config_path: str, connection: str | None = None,
                 timeout_seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.connection = connection
        self.timeout_seconds = timeout_seconds

    def _what(self) -> str:
        return f"sync of {self.connection}" if self.connection else "KPI snapshot"

    def execute(self, context: Any) -> dict[str, int]:
        if self.connection is None:
            result = kpi_step(self.config_path, self.timeout_seconds)
        else:
            result = sync_step(self.config_path, self.connection, self.timeout_seconds)
        return self.outcome(result)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, int]:
        """Woken after ``retry_after``: run again (the sync resumes from its saved state)."""
        return self.execute(context)

    def outcome(self, result: StepResult) -> dict[str, int]:
        """The counts on success; a deferral, a retry or a failure otherwise."""
        if result.exit_code == ExitCode.OK:
            return result.counts()
        what = self._what()
        if result.exit_code == ExitCode.DEFERRED:
            when = result.retry_after or dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            self.log.warning("%s deferred until %s: %s", what, when.isoformat(), result.error)
            self.defer(trigger=DateTimeTrigger(moment=when), method_name="execute_complete")
        if result.exit_code == ExitCode.LOCKED:
            raise LockedError(f"{what}: {result.error}")
        raise AirflowFailException(f"{what}: {result.error}")


def crm_connect_task_group(config: Path | str, connections: Sequence[str] | None = None, *,
                           group_id: str = "crm_connect", retries: int = 3,
                           retry_delay: dt.timedelta = dt.timedelta(minutes=5),
                           timeout_seconds: float | None = None) -> TaskGroup:
    """Inside a DAG: a task per connection (default: every one in ``config``), then the KPI
    snapshot task after all of them."""
    names = list(connections) if connections is not None else connection_names(config)
    path = str(Path(config).resolve())
    with TaskGroup(group_id=group_id) as group:
        syncs = [CrmConnectRunOperator(task_id=f"sync_{name}", config_path=path, connection=name,
                                       retries=retries, retry_delay=retry_delay,
                                       timeout_seconds=timeout_seconds) for name in names]
        kpis = CrmConnectRunOperator(task_id=KPI_TASK, config_path=path, retries=retries,
                                     retry_delay=retry_delay, timeout_seconds=timeout_seconds)
        for sync in syncs:
            sync >> kpis
    return group
