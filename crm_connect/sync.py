"""The sync runner: connector pages in, validated canonical records and state out.

For each stream of each connection it reads pages from the stored state onward, lets plugins
transform them, validates the whole page with pydantic at once, sends records that fail to the
quarantine, and writes the page and its state in one transaction.  A failing stream is recorded
and the other streams go on; a spent vendor quota stops the connection cleanly.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from pydantic import TypeAdapter, ValidationError

from crm_connect.config import Config
from crm_connect.connector import Connector, IdSweep, Page, Stream
from crm_connect.errors import (
    AuthenticationError,
    ConfigError,
    CrmConnectError,
    QuotaExceededError,
)
from crm_connect.plugins import call_hook, has_implementations
from crm_connect.schema import ENTITIES, CanonicalRecord
from crm_connect.store import QuarantinedRecord, Store, last_per_key, open_store, records_to_arrow

__all__ = ["StreamResult", "SyncReport", "SyncRun", "run_sync", "validate_page"]

log = logging.getLogger("crm_connect.sync")


@dataclass
class SyncRun:
    run_id: int
    connections: list[str]
    full_refresh: bool
    status: str = "running"


@dataclass
class StreamResult:
    connection: str
    stream: str
    entity: str
    status: str = "succeeded"  # succeeded | failed | stopped
    records: int = 0
    """Records read and stored (including ones stored again unchanged)."""
    changed: int = 0
    """Stored rows inserted or changed: 0 when a re-sync finds nothing new."""
    quarantined: int = 0
    deleted: int = 0
    """Stored rows that became deleted: tombstones read, and hard deletes an id sweep found."""
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0
    stops_connection: bool = False
    """Credentials, configuration or quota: the connection's other streams would fail the same
    way (and repeated refused logins can lock the vendor account), so they are not tried."""

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SyncReport:
    run: SyncRun
    results: list[StreamResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.status == "succeeded" for result in self.results)

    @property
    def exit_code(self) -> int:
        return max((result.exit_code for result in self.results), default=0)


class SyncProgress(Protocol):
    """What the runner tells whoever shows progress (the CLI's bars or log lines)."""

    def stream_started(self, connection: str, stream: Stream) -> None: ...

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int, total: int | None) -> None:
        """A page was stored; ``total`` is how many records the vendor says the read
        returns in all, when it says (see :attr:`Page.total`)."""

    def stream_finished(self, result: StreamResult) -> None: ...


class _Silent:
    def stream_started(self, connection: str, stream: Stream) -> None:
        pass

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int, total: int | None) -> None:
        pass

    def stream_finished(self, result: StreamResult) -> None:
        pass


_adapters: dict[str, TypeAdapter[list[CanonicalRecord]]] = {}


def _adapter(entity: str) -> TypeAdapter[list[CanonicalRecord]]:
    if entity not in _adapters:
        model = ENTITIES[entity]
        _adapters[entity] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return _adapters[entity]


def _describe_errors(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"][1:]) or "record"
        value = error.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        parts.append(f"{where}: {error['msg']} (got {shown})")
    return "; ".join(parts)


def validate_page(entity: str, source: str, stream: str, page: Page
                  ) -> tuple[list[CanonicalRecord], list[QuarantinedRecord]]:
    """Validate a whole page at once; records that fail go to the quarantine list."""
    adapter = _adapter(entity)
    records = page.records
    quarantined = [
        QuarantinedRecord(source, stream, entity, rejected.reason, rejected.raw,
                          location=rejected.location)
        for rejected in page.rejected
    ]
    try:
        return adapter.validate_python(records), quarantined
    except ValidationError as exc:
        by_index: dict[int, list[dict[str, Any]]] = {}
        for error in exc.errors():
            index = error["loc"][0]
            if isinstance(index, int):
                by_index.setdefault(index, []).append(dict(error))
    for index, errors in sorted(by_index.items()):
        record = records[index]
        raw = page.raw[index] if page.raw is not None else record
        location = page.locations[index] if page.locations is not None else None
        record_id = record.get("id")
        quarantined.append(QuarantinedRecord(
            source, stream, entity, _describe_errors(errors), raw,
            record_id=str(record_id) if record_id not in (None, "") else None,
            location=location,
        ))
    good = [record for index, record in enumerate(records) if index not in by_index]
    return adapter.validate_python(good), quarantined


def _prepare(connection: str, stream: Stream, page: Page) -> None:
    for record in page.records:
        record["source"] = connection
    if has_implementations("transform_records"):
        for result in call_hook("transform_records", connection=connection, stream=stream.name,
                                entity=stream.entity, records=page.records):
            if result is not None:
                page.records = result


@dataclass
class PreparedPage:
    """A page validated and turned into one Arrow batch, ready for a single bulk write."""

    table: pa.Table | None
    quarantined: list[QuarantinedRecord]
    records: int
    id_sweep: IdSweep | None = None
    total: int | None = None


def prepare_page(entity: str, source: str, stream: str, page: Page) -> PreparedPage:
    """Validate a page and convert it to Arrow.  Runs in a worker process on large syncs."""
    records, quarantined = validate_page(entity, source, stream, page)
    unique = last_per_key(records)
    table = records_to_arrow(entity, unique) if unique else None
    return PreparedPage(table, quarantined, len(records), page.id_sweep, page.total)


class PageWorkers:
    """Worker processes that validate pages while the main process reads and stores.

    pydantic validation holds the GIL, so the second core is put to work with processes.
    ``CRM_CONNECT_WORKERS`` sets how many (0: validate in the main process); the default is
    two on a machine with at least two cores.  The pool starts only once a stream has a second
    page, so small syncs pay nothing for it.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is None:
            configured = os.environ.get("CRM_CONNECT_WORKERS")
            workers = int(configured) if configured else min(2, (os.cpu_count() or 1))
            if workers == 1 and not configured:
                workers = 0
        self.workers = max(0, workers)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return self.workers > 0

    @property
    def in_flight_limit(self) -> int:
        return self.workers + 1

    def submit(self, entity: str, source: str, stream: str, page: Page
               ) -> Future[PreparedPage]:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=_exit_with_parent,
                                             initargs=(os.getpid(),))
        return self._pool.submit(prepare_page, entity, source, stream, page)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end the worker when the sync that started it is gone (SIGKILL)."""
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="crm-connect-parent-watch", daemon=True).start()


def sync_stream(store: Store, connector: Connector[Any], stream: Stream, run_id: int,
                full_refresh: bool, progress: SyncProgress,
                workers: PageWorkers | None = None) -> StreamResult:
    """Read one stream to its end, storing page by page, in order.

    Pages after the first are validated by ``workers`` (when enabled) while the next pages are
    read; they are still written one at a time and in the order they were read, each with its
    state, so the stored state always covers exactly the records stored.
    """
    connection = connector.connection
    result = StreamResult(connection, stream.name, stream.entity)
    started = time.monotonic()
    state = None if full_refresh else store.get_state(connection, stream.name)
    progress.stream_started(connection, stream)
    log.info("%s/%s: reading (%s)", connection, stream.name,
             "full refresh" if state is None else "incremental")
    pending: deque[tuple[PreparedPage | Future[PreparedPage], dict[str, Any] | None]] = deque()

    def store_next() -> None:
        work, page_state = pending.popleft()
        prepared = work.result() if isinstance(work, Future) else work
        written = store.write_page(
            entity=stream.entity, source=connection, stream=stream.name,
            records=prepared.table if prepared.table is not None else [], state=page_state,
            quarantined=prepared.quarantined, run_id=run_id, id_sweep=prepared.id_sweep)
        if written.deleted:
            log.info("%s/%s: %d stored records marked deleted", connection, stream.name,
                     written.deleted)
        result.changed += written.changed
        result.deleted += written.deleted
        result.pages += 1
        result.records += prepared.records
        result.quarantined += len(prepared.quarantined)
        log.debug("%s/%s: stored page %d (%d records, %d quarantined)", connection,
                  stream.name, result.pages, prepared.records, len(prepared.quarantined))
        progress.page_stored(connection, stream, prepared.records, len(prepared.quarantined),
                             prepared.total)

    def ready(work: PreparedPage | Future[PreparedPage]) -> bool:
        return not isinstance(work, Future) or work.done()

    try:
        try:
            for index, page in enumerate(connector.read(stream, state)):
                _prepare(connection, stream, page)
                if workers is not None and workers.enabled and index > 0:
                    work: PreparedPage | Future[PreparedPage] = workers.submit(
                        stream.entity, connection, stream.name, page)
                else:
                    work = prepare_page(stream.entity, connection, stream.name, page)
                pending.append((work, page.state))
                limit = workers.in_flight_limit if workers is not None else 1
                while pending and (len(pending) > limit or ready(pending[0][0])):
                    store_next()
        finally:
            # Whatever was read before a failure is stored: nothing already fetched is lost.
            while pending:
                store_next()
    except QuotaExceededError as exc:
        result.status, result.error, result.exit_code = "stopped", str(exc), 1
        result.stops_connection = True
    except ConfigError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), 2
        result.stops_connection = True
    except AuthenticationError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), 1
        result.stops_connection = True
    except CrmConnectError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
    except Exception as exc:
        log.debug("stream %s/%s failed", connection, stream.name, exc_info=True)
        result.status, result.exit_code = "failed", 1
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    progress.stream_finished(result)
    return result


def run_sync(config: Config, connections: Sequence[str] | None = None, *,
             full_refresh: bool = False, progress: SyncProgress | None = None,
             wait_seconds: float = 0.0, store: Store | None = None) -> SyncReport:
    """Sync the named connections (all of them when none are named) into the store."""
    names = list(connections or config.connections)
    if not names:
        raise ConfigError(f"{config.where()}: no connections to sync; add a [connections.NAME] "
                          "table (see the README)")
    for name in names:
        config.connection(name)  # unknown names fail before anything starts
    progress = progress or _Silent()
    own_store = store is None
    if store is None:
        store = open_store(config.store.url, base_dir=config.base_dir,
                           wait_seconds=wait_seconds, memory_limit=config.store.memory_limit)
    try:
        run = SyncRun(store.begin_run(names), names, full_refresh)
        report = SyncReport(run)
        _notify("sync_started", run=run)
        workers = PageWorkers()
        try:
            for name in names:
                report.results.extend(
                    _sync_connection(config, name, store, run, progress, workers))
        except KeyboardInterrupt:
            run.status = "interrupted"
            store.finish_run(run.run_id, "interrupted", _counts(report),
                             "interrupted by the user; the next run resumes")
            raise
        except BaseException as exc:
            run.status = "failed"
            store.finish_run(run.run_id, "failed", _counts(report),
                             f"{type(exc).__name__}: {exc}")
            raise
        finally:
            workers.close()
        run.status = "succeeded" if report.ok else (
            "stopped" if any(r.status == "stopped" for r in report.results) else "failed")
        errors = [f"{r.connection}/{r.stream}: {r.error}" for r in report.results if r.error]
        store.finish_run(run.run_id, run.status, _counts(report), "\n".join(errors) or None)
        _notify("sync_finished", run=run, results=report.results)
        return report
    finally:
        if own_store:
            store.close()


def _sync_connection(config: Config, name: str, store: Store, run: SyncRun,
                     progress: SyncProgress, workers: PageWorkers) -> list[StreamResult]:
    results: list[StreamResult] = []
    try:
        connector = config.build_connector(name)
        streams = list(connector.streams())
    except CrmConnectError as exc:
        failed = StreamResult(name, "*", "-", "failed", error=str(exc), exit_code=exc.exit_code)
        progress.stream_finished(failed)
        return [failed]
    except Exception as exc:
        failed = StreamResult(name, "*", "-", "failed", error=f"{type(exc).__name__}: {exc}",
                              exit_code=1)
        progress.stream_finished(failed)
        return [failed]
    try:
        for stream in streams:
            result = sync_stream(store, connector, stream, run.run_id, run.full_refresh,
                                 progress, workers)
            results.append(result)
            _notify("stream_finished", run=run, result=result)
            if result.stops_connection:
                skipped = [s.name for s in streams[streams.index(stream) + 1:]]
                if skipped:
                    log.warning("%s: not reading its other streams (%s) after the error "
                                "in %s", name, ", ".join(skipped), stream.name)
                break
    finally:
        connector.close()
    return results


def _notify(hook: str, **kwargs: Any) -> None:
    try:
        call_hook(hook, **kwargs)
    except CrmConnectError as exc:
        log.error("%s", exc)


def _counts(report: SyncReport) -> dict[str, Any]:
    return {
        f"{r.connection}/{r.stream}": {
            "status": r.status, "records": r.records, "changed": r.changed,
            "quarantined": r.quarantined,
            "deleted": r.deleted, "pages": r.pages, "seconds": round(r.seconds, 3),
        }
        for r in report.results
    }
