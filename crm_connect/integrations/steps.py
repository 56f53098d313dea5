"""One step of a scheduled run, as an orchestrator task runs it: ``crm-connect run`` in a process
of its own (one connection's sync, or the KPI snapshot), its exit code and its summary.

Kept free of any orchestrator so the Dagster and Airflow modules share it; a process per step
isolates each run the way a scheduler's task does (its own lock, its own memory, its own end).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_connect.exit_codes import ExitCode, exit_code_of

__all__ = ["StepResult", "connection_names", "kpi_step", "missing_extra", "run_step", "sync_step"]


def missing_extra(extra: str, package: str) -> ImportError:
    """The error importing an integration without its extra installed raises."""
    return ImportError(f"crm_connect.integrations.{extra} needs {package}: "
                       f"pip install 'crm-connect[{extra}]'")


@dataclass(frozen=True)
class StepResult:
    """How one ``crm-connect run`` step ended."""

    exit_code: ExitCode
    summary: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""

    @property
    def retry_after(self) -> dt.datetime | None:
        """When a deferred step may run again (from the summary), if it said."""
        value = self.summary.get("retry_after")
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None

    def seconds_until_retry(self, now: dt.datetime | None = None) -> float:
        """Seconds from ``now`` until ``retry_after`` (0 when past or unknown)."""
        when = self.retry_after
        if when is None:
            return 0.0
        return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())

    @property
    def error(self) -> str:
        """The summary's first error (the run's, a connection's or a stream's), else stderr's
        last line."""
        for text in _errors(self.summary):
            return text
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"crm-connect run exited {int(self.exit_code)}"

    def counts(self) -> dict[str, int]:
        """Totals over the summary's streams, and the KPI rows written: for asset metadata."""
        totals = {"records_read": 0, "upserted": 0, "quarantined": 0, "deleted": 0,
                  "http_429": 0, "retries": 0}
        for conn in self.summary.get("connections", {}).values():
            for stream in conn.get("streams", {}).values():
                for key in totals:
                    totals[key] += int(stream.get(key) or 0)
        kpis = self.summary.get("kpis") or {}
        totals["kpi_rows_written"] = int(kpis.get("rows_written") or 0)
        return totals


def _errors(summary: dict[str, Any]) -> list[str]:
    found = [summary["error"]] if summary.get("error") else []
    for conn in summary.get("connections", {}).values():
        if conn.get("error"):
            found.append(conn["error"])
        found += [s["error"] for s in conn.get("streams", {}).values() if s.get("error")]
    return [str(text) for text in found]


def run_step(config: Path | str, *args: str, timeout: float | None = None) -> StepResult:
    """Run ``crm-connect --config CONFIG run ARGS --summary ...`` from the config's folder (where
    its relative paths point) and read its summary."""
    path = Path(config).resolve()
    with tempfile.TemporaryDirectory(prefix="crm-connect-step-") as folder:
        summary_path = Path(folder) / "summary.json"
        command = [sys.executable, "-m", "crm_connect", "--config", str(path), "run", *args,
                   "--summary", str(summary_path)]
        done = subprocess.run(command, cwd=path.parent, capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ), check=False)
        summary: dict[str, Any] = {}
        if summary_path.exists():
            summary = json.loads(summary_path.read_text())
    return StepResult(exit_code_of(done.returncode), summary, done.stderr)


def sync_step(config: Path | str, connection: str, timeout: float | None = None) -> StepResult:
    """One connection's sync, without the KPI step (that runs once, after all of them)."""
    return run_step(config, connection, "--skip-kpis", timeout=timeout)


def kpi_step(config: Path | str, timeout: float | None = None) -> StepResult:
    """The KPI snapshot of what the syncs stored."""
    return run_step(config, "--kpis-only", timeout=timeout)


def connection_names(config: Path | str) -> list[str]:
    """The connections named in ``config``, in file order."""
    data = tomllib.loads(Path(config).read_text())
    return list(data.get("connections", {}))
