"""What ``crm-connect run`` hears from a sync, and what it makes of it.

:class:`RunRecorder` is both the sync's progress listener (:class:`~crm_connect.sync.
SyncProgress`: each stream's start and end) and a plugin on the sync hooks
(``sync_started``/``sync_finished``).  From them and from the resilience layer's request
counters (:mod:`crm_connect.resilience.counters`) it fills the run summary's streams and
writes one log event per step (JSON lines with ``--log-format json``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from crm_connect.connector import Stream
from crm_connect.events import StreamResult, SyncRun
from crm_connect.hookspecs import hookimpl
from crm_connect.resilience.counters import RequestTotals, request_totals
from crm_connect.run_summary import ConnectionSummary, StreamSummary, iso

__all__ = ["RunRecorder", "event"]

log = logging.getLogger("crm_connect.run")


def event(name: str, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log the run's event ``name`` with its fields (the JSON line's keys)."""
    log.log(level, message, extra={"event": name, **fields})


def quota_fields(totals: RequestTotals) -> dict[str, int]:
    """The tightest daily quota the answers reported: how much is used and left."""
    if not totals.quotas:
        return {}
    tightest = min(totals.quotas.values(), key=lambda quota: quota.left)
    return {"quota_used": tightest.used, "quota_left": tightest.left}


class RunRecorder:
    """Collects one process's streams into :class:`ConnectionSummary` objects and logs them.

    :param display: the progress display to pass every call on to (bars, log lines), if any.
    """

    def __init__(self, display: Any = None) -> None:
        self.display = display
        self.connections: dict[str, ConnectionSummary] = {}
        self._before: dict[tuple[str, str], tuple[RequestTotals, float]] = {}

    # -- one connection's task ----------------------------------------------------------

    def begin_connection(self, name: str) -> ConnectionSummary:
        summary = self.connections.setdefault(name, ConnectionSummary())
        self._before[(name, "*")] = (request_totals(name), time.monotonic())
        return summary

    # -- SyncProgress ---------------------------------------------------------------------

    def stream_started(self, connection: str, stream: Stream) -> None:
        self._before[(connection, stream.name)] = (request_totals(connection), time.monotonic())
        event("stream_started", f"{connection}/{stream.name}: started",
              connection=connection, stream=stream.name)
        if self.display is not None:
            self.display.stream_started(connection, stream)

    def page_stored(self, connection: str, stream: Stream, records: int, quarantined: int,
                    total: int | None) -> None:
        if self.display is not None:
            self.display.page_stored(connection, stream, records, quarantined, total)

    def stream_finished(self, result: StreamResult) -> None:
        key = (result.connection, result.stream)
        fallback = self._before.get((result.connection, "*"), (RequestTotals(), 0.0))
        before, _ = self._before.pop(key, fallback)
        used = request_totals(result.connection).since(before)
        stream = StreamSummary(
            status=result.status, records_read=result.records, upserted=result.changed,
            quarantined=result.quarantined, deleted=result.deleted,
            requests=dict(used.requests), http_429=used.http_429, retries=used.retries,
            duration_s=result.seconds, error=result.error)
        self.connections.setdefault(result.connection, ConnectionSummary()) \
            .streams[result.stream] = stream
        event("stream_finished",
              f"{result.connection}/{result.stream}: {result.status}, "
              f"{result.records:,} records read, {result.changed:,} upserted",
              connection=result.connection, stream=result.stream,
              status=result.status,
              counts={"records_read": result.records, "upserted": result.changed,
                      "quarantined": result.quarantined, "deleted": result.deleted},
              requests=dict(used.requests), http_429=used.http_429, retries=used.retries,
              duration_s=round(result.seconds, 3), error=result.error,
              retry_after=iso(result.retry_at), **quota_fields(used))
        if self.display is not None:
            self.display.stream_finished(result)

    # -- the sync hooks -------------------------------------------------------------------

    @hookimpl
    def sync_started(self, run: SyncRun) -> None:
        for name in run.connections:
            event("sync_started", f"{name}: sync started (run {run.run_id})",
                  connection=name, run_id=run.run_id)

    @hookimpl
    def sync_finished(self, run: SyncRun, results: list[StreamResult]) -> None:
        for name in run.connections:
            totals = request_totals(name)
            event("sync_finished", f"{name}: sync {run.status} (run {run.run_id})",
                  connection=name, run_id=run.run_id, status=run.status,
                  requests=dict(totals.requests), http_429=totals.http_429,
                  retries=totals.retries, **quota_fields(totals))
