"""``crm-connect run``: sync connections, then save the KPI snapshot, then the report.

Each connection's sync is a task of its own: its result does not depend on the others', and a
failed one does not stop the rest.  On a store with one writer (DuckDB) the tasks run one after
another in this process; on a shared store (Postgres) ``parallel`` > 1 runs them in that many
processes at once (each a ``crm-connect run NAME --skip-kpis``), and the KPI step runs once
after all of them.  The run's exit code is the most serious of what happened
(:data:`SEVERITY`), and :class:`~crm_connect.run_summary.RunSummary` says what happened where.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crm_connect.config import Config, open_store
from crm_connect.errors import (
    ConfigError,
    CrmConnectError,
    StoreLockedError,
)
from crm_connect.events import StreamResult
from crm_connect.exit_codes import ExitCode, exit_code_of
from crm_connect.interrupts import Terminated, stoppable_sync
from crm_connect.plugins import register_plugin, unregister_plugin
from crm_connect.resilience.counters import request_totals
from crm_connect.run_events import RunRecorder, event, quota_fields
from crm_connect.run_kpis import changed_since, note_touched, save_touched_kpis
from crm_connect.run_summary import ConnectionSummary, KpiSummary, RunSummary
from crm_connect.schema import ENTITIES
from crm_connect.store_contract import Store

__all__ = ["SEVERITY", "RunOptions", "run_connections"]

log = logging.getLogger("crm_connect.run")

SEVERITY = (ExitCode.USAGE, ExitCode.FAILED, ExitCode.LOCKED, ExitCode.DEFERRED, ExitCode.OK)
"""Which code a run with several outcomes exits with: the first of these that happened."""

DEFAULT_DEFERRAL = dt.timedelta(hours=24)
"""A spent daily quota whose vendor did not say when it renews has renewed after this."""

_CONNECTION_CODES = {"succeeded": ExitCode.OK, "failed": ExitCode.FAILED,
                     "deferred": ExitCode.DEFERRED, "locked": ExitCode.LOCKED,
                     "usage_error": ExitCode.USAGE}


@dataclass(frozen=True)
class RunOptions:
    """The options of one run (see ``crm-connect run --help``)."""

    wait: float = 0.0
    skip_kpis: bool = False
    kpis_only: bool = False
    report: Path | None = None
    parallel: int = 1
    log_format: str = "text"
    verbose: int = 0


def worst(codes: Sequence[ExitCode]) -> ExitCode:
    """The exit code of a run whose parts ended with ``codes``."""
    return next((code for code in SEVERITY if code in codes), ExitCode.OK)


def connection_status(results: Sequence[StreamResult]) -> tuple[str, dt.datetime | None]:
    """A connection's status from its streams', and when to retry a deferred one."""
    if any(r.exit_code == ExitCode.USAGE for r in results):
        return "usage_error", None
    if any(r.status == "failed" for r in results):
        return "failed", None
    stopped = [r for r in results if r.status == "stopped"]
    if stopped:
        known = [r.retry_at for r in stopped if r.retry_at is not None]
        later = dt.datetime.now(dt.UTC) + DEFAULT_DEFERRAL
        return "deferred", max(known) if known else later
    return "succeeded", None


def run_connections(config: Config, names: Sequence[str] | None, options: RunOptions,
                    display: Any = None, *, child_output: IO[str] | None = None
                    ) -> RunSummary:
    """Run the sync tasks of ``names`` (all connections when empty), then the KPI step, then
    the report, as ``options`` say; never raises a :class:`CrmConnectError`: it ends up in the
    summary and its exit code.  An interrupt (Ctrl-C, SIGTERM) ends the run with exit code 1
    and ``interrupted`` set; what was stored is kept."""
    summary = RunSummary(started_at=dt.datetime.now(dt.UTC))
    try:
        with stoppable_sync():  # SIGTERM, like Ctrl-C, ends the run with its summary
            _run_steps(config, names, options, summary, display, child_output)
    except ConfigError as exc:
        summary.error, code = str(exc), ExitCode.USAGE
        summary.exit_code = code
    except StoreLockedError as exc:
        summary.error = str(exc)
        summary.exit_code = ExitCode.LOCKED
    except CrmConnectError as exc:
        summary.error = str(exc)
        summary.exit_code = exit_code_of(exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
        why = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        summary.error = (f"{why}: every page stored so far is kept with its checkpoint; the "
                         "next run resumes where this one stopped")
        summary.exit_code, summary.interrupted = ExitCode.FAILED, True
    if summary.error is None:
        codes = [_CONNECTION_CODES[c.status] for c in summary.connections.values()]
        if summary.kpis.status == "failed":
            codes.append(ExitCode.FAILED)
        summary.exit_code = worst(codes)
    deferred = [c.resets_at for c in summary.connections.values()
                if c.status == "deferred" and c.resets_at is not None]
    if summary.exit_code == ExitCode.DEFERRED and deferred:
        summary.retry_after = max(deferred)
    summary.finished_at = dt.datetime.now(dt.UTC)
    event("run_finished", f"run {summary.status} (exit code {int(summary.exit_code)})",
          status=summary.status, exit_code=int(summary.exit_code),
          retry_after=summary.to_dict()["retry_after"], error=summary.error)
    return summary


def _run_steps(config: Config, names: Sequence[str] | None, options: RunOptions,
               summary: RunSummary, display: Any, child_output: IO[str] | None) -> None:
    wanted = _check(config, names, options)
    event("run_started", f"run started: {', '.join(wanted)}", connections=wanted)
    if not options.kpis_only:
        _sync_all(config, wanted, options, summary, display, child_output)
    if not options.skip_kpis:
        summary.kpis = _kpi_step(config, options)
    if options.report is not None:
        from crm_connect.report import write_report  # plotly and the engine load only here

        write_report(config, options.report)


def _check(config: Config, names: Sequence[str] | None, options: RunOptions) -> list[str]:
    """The connections to run; usage errors before anything starts."""
    if options.skip_kpis and options.kpis_only:
        raise ConfigError("--skip-kpis and --kpis-only cannot be used together: the first "
                          "runs the syncs only, the second the KPI step only")
    if options.parallel < 1:
        raise ConfigError(f"--parallel must be 1 or more, not {options.parallel}")
    if options.kpis_only and names:
        raise ConfigError("--kpis-only takes no connection: the KPI step covers what every "
                          "sync since the last one changed")
    wanted = list(names or config.connections)
    if not wanted and not options.kpis_only:
        raise ConfigError(f"{config.where()}: no connections to run; add a "
                          "[connections.NAME] table (see the README)")
    for name in wanted:
        config.connection(name)  # an unknown name is a usage error before anything starts
    if options.report is not None and not options.report.resolve().parent.is_dir():
        # Say so before syncing for an hour, not after.
        raise ConfigError(f"--report {options.report}: the folder "
                          f"{options.report.resolve().parent} does not exist")
    return wanted


# -- the sync tasks ---------------------------------------------------------------------------


def _sync_all(config: Config, names: list[str], options: RunOptions, summary: RunSummary,
              display: Any, child_output: IO[str] | None) -> None:
    fan_out = options.parallel > 1 and len(names) > 1
    if fan_out and _single_writer(config):
        log.warning("--parallel %d: the store %s has a single writer (DuckDB), so the %d "
                    "connections sync one after another; a Postgres store syncs them in "
                    "parallel", options.parallel, config.store.url.split("://")[0], len(names),
                    extra={"event": "parallel_refused"})
        fan_out = False
    if fan_out:
        summary.connections.update(_sync_in_processes(config, names, options, child_output))
        return
    recorder = RunRecorder(display)
    plugin_name = f"crm-connect-run-{os.getpid()}-{id(recorder)}"
    register_plugin(recorder, plugin_name)
    try:
        with open_store(config.store.url, base_dir=config.base_dir, wait_seconds=options.wait,
                        memory_limit=config.store.memory_limit) as store:
            for name in names:
                summary.connections[name] = _sync_task(config, name, store, options, recorder)
    finally:
        unregister_plugin(plugin_name)


def _single_writer(config: Config) -> bool:
    return config.store.url.split(":", 1)[0].lower() == "duckdb"


def _sync_task(config: Config, name: str, store: Store, options: RunOptions,
               recorder: RunRecorder) -> ConnectionSummary:
    """One connection's sync into ``store``: its summary, whatever happens."""
    from crm_connect.sync import run_sync

    summary = recorder.begin_connection(name)
    started = time.monotonic()
    try:
        marks = changed_since(store, name, ENTITIES)
        report = run_sync(config, [name], progress=recorder, wait_seconds=options.wait,
                          store=store)
        summary.status, summary.resets_at = connection_status(report.results)
        try:
            note_touched(store, name, report.results, marks)
        except CrmConnectError as exc:
            log.error("%s: the periods its new data touches could not be noted: %s", name,
                      exc, extra={"event": "error", "connection": name})
            summary.status = "failed"
    except StoreLockedError as exc:
        summary.status, summary.error = "locked", str(exc)
    except ConfigError as exc:
        summary.status, summary.error = "usage_error", str(exc)
    except CrmConnectError as exc:
        summary.status, summary.error = "failed", str(exc)
    summary.duration_s = time.monotonic() - started
    quota = quota_fields(request_totals(name))
    summary.quota_used, summary.quota_left = quota.get("quota_used"), quota.get("quota_left")
    event("connection_finished", f"{name}: {summary.status}",
          connection=name, status=summary.status, duration_s=round(summary.duration_s, 3),
          error=summary.error, **quota)
    return summary


def _sync_in_processes(config: Config, names: list[str], options: RunOptions,
                       child_output: IO[str] | None) -> dict[str, ConnectionSummary]:
    """Each connection's sync in a ``crm-connect run NAME --skip-kpis`` process of its own,
    ``options.parallel`` at a time; their log lines are passed on to ``child_output``."""
    output = child_output or sys.stderr
    lock = threading.Lock()
    event("fan_out", f"syncing {len(names)} connections in up to {options.parallel} "
          "processes", connections=names)
    children = _Children()
    with tempfile.TemporaryDirectory(prefix="crm-connect-run-") as folder:
        def task(name: str) -> ConnectionSummary:
            return _child_sync(config, name, options, Path(folder) / f"{name}.json",
                               lambda line: _relay(output, lock, line), children)

        with ThreadPoolExecutor(max_workers=options.parallel) as pool:
            try:
                results = list(pool.map(task, names))
            except BaseException:  # Ctrl-C or SIGTERM: stop the syncs under way, start none
                pool.shutdown(wait=False, cancel_futures=True)
                children.stop()
                raise
    return dict(zip(names, results, strict=True))


class _Children:
    """The sync processes under way, to pass a stop on to them (each stops cleanly)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: list[subprocess.Popen[str]] = []
        self.stopping = False

    def start(self, command: list[str], cwd: Path) -> subprocess.Popen[str] | None:
        with self.lock:
            if self.stopping:
                return None
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True, cwd=cwd)
            self.running.append(process)
            return process

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for process in self.running:
                if process.poll() is None:
                    process.terminate()


def _relay(output: IO[str], lock: threading.Lock, line: str) -> None:
    with lock:
        output.write(line)
        output.flush()


def _child_sync(config: Config, name: str, options: RunOptions, summary_path: Path,
                relay: Callable[[str], None], children: _Children) -> ConnectionSummary:
    from crm_connect.run_summary import ConnectionSummary as Summary

    command = [sys.executable, "-m", "crm_connect", *(["--config", str(config.path)]
                                                      if config.path else []),
               *(["-" + "v" * options.verbose] if options.verbose else []),
               "run", name, "--skip-kpis", "--summary", str(summary_path),
               "--log-format", options.log_format, "--wait", str(options.wait)]
    started = time.monotonic()
    process = children.start(command, config.base_dir)
    if process is None:
        return Summary(status="failed", error="not started: the run was stopped")
    with process:
        assert process.stderr is not None
        for line in process.stderr:
            relay(line)
        code = process.wait()
    try:
        data = json.loads(summary_path.read_text(encoding="utf-8"))
        return Summary.from_dict(data["connections"][name]) if name in data["connections"] \
            else Summary(status=_status_of(code), error=data.get("error"),
                         duration_s=time.monotonic() - started)
    except (OSError, ValueError, KeyError) as exc:
        return Summary(status="failed", duration_s=time.monotonic() - started,
                       error=f"the sync process of {name} ended with exit code {code} "
                       f"without a summary ({type(exc).__name__})")


def _status_of(code: int) -> str:
    statuses = {exit_code: status for status, exit_code in _CONNECTION_CODES.items()}
    return statuses.get(exit_code_of(code), "failed")


# -- the KPI step and the report --------------------------------------------------------------


def _kpi_step(config: Config, options: RunOptions) -> KpiSummary:
    """Save the KPI snapshot of the periods the syncs touched; a failure here is the run's
    failure (exit code 1), the syncs' data stays."""
    event("kpis_started", "KPI snapshot: computing the periods new data touches")
    try:
        with open_store(config.store.url, base_dir=config.base_dir, wait_seconds=options.wait,
                        memory_limit=config.store.memory_limit) as store:
            step = save_touched_kpis(store, config)
    except (ConfigError, StoreLockedError):
        raise
    except CrmConnectError as exc:
        event("kpis_finished", f"KPI snapshot failed: {exc}", level=logging.ERROR,
              status="failed", error=str(exc))
        return KpiSummary(status="failed", error=str(exc))
    periods = [day.isoformat() for day in step.periods]
    event("kpis_finished", f"KPI snapshot: {step.rows_written:,} rows saved for "
          f"{len(periods)} period(s)", status="succeeded", rows_written=step.rows_written,
          periods=periods)
    return KpiSummary(rows_written=step.rows_written, periods=periods, status="succeeded")
