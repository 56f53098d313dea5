"""The sync runner: connector pages in, validated canonical records and state out.

For each stream of each connection it reads pages from the stored state onward, lets plugins
transform them, validates the whole page in bulk (pydantic only for the records a bulk check
refuses, :mod:`crm_connect.pages`), sends records that fail to the quarantine, and writes the
page and its state in one transaction.  A failing stream is recorded and the other streams go
on; a spent vendor quota stops the connection cleanly.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from crm_connect.config import Config, open_store
from crm_connect.connector import Connector, Page, Stream
from crm_connect.errors import (
    AuthenticationError,
    ConfigError,
    CrmConnectError,
    QuotaExceededError,
)
from crm_connect.events import StreamResult, SyncReport, SyncRun
from crm_connect.exit_codes import ExitCode
from crm_connect.interrupts import Terminated, stoppable_sync, store_write
from crm_connect.pages import (
    PageWorkers,
    PreparedPage,
    prepare_page,
    validate_page,
    with_source,
)
from crm_connect.plugins import call_hook, has_implementations
from crm_connect.store_contract import Store

__all__ = ["PageWorkers", "StreamResult", "SyncReport", "SyncRun", "Terminated",
           "run_sync", "validate_page"]

log = logging.getLogger("crm_connect.sync")


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


def _prepare(connection: str, stream: Stream, page: Page) -> None:
    if page.table is not None and has_implementations("transform_records"):
        page.materialize()  # the hook takes (and returns) dictionaries
    if page.table is not None:
        page.table = with_source(page.table, connection)
        return
    for record in page.records:
        if isinstance(record, dict):  # anything else is quarantined by validation
            record["source"] = connection
    if has_implementations("transform_records"):
        for result in call_hook("transform_records", connection=connection, stream=stream.name,
                                entity=stream.entity, records=page.records):
            if result is not None:
                page.records = result


def sync_stream(store: Store, connector: Connector[Any], stream: Stream, run_id: int,
                full_refresh: bool, progress: SyncProgress,
                workers: PageWorkers | None = None) -> StreamResult:
    """Read one stream to its end, storing page by page, in order.

    Pages after the first are validated by ``workers`` (when enabled) while the next pages are
    read; they are still written one at a time and in the order they were read, each with its
    state, so the stored state always covers exactly the records stored.  Once a page cannot be
    stored, no later page is: its state would move the checkpoint past the lost page.
    """
    connection = connector.connection
    result = StreamResult(connection, stream.name, stream.entity)
    started = time.monotonic()
    state = None if full_refresh else store.get_state(connection, stream.name)
    progress.stream_started(connection, stream)
    log.info("%s/%s: reading (%s)", connection, stream.name,
             "full refresh" if state is None else "incremental")
    pending: deque[tuple[PreparedPage | Future[PreparedPage], dict[str, Any] | None]] = deque()
    page_failed = False
    negative_won = 0

    def store_next() -> None:
        nonlocal page_failed, negative_won
        work, page_state = pending.popleft()
        try:
            if isinstance(work, Future):
                prepared = workers.result(work) if workers is not None else work.result()
            else:
                prepared = work
            with store_write():
                written = store.write_page(
                    entity=stream.entity, source=connection, stream=stream.name,
                    records=prepared.table if prepared.table is not None else [],
                    state=page_state, quarantined=prepared.quarantined, run_id=run_id,
                    id_sweep=prepared.id_sweep)
        except BaseException:
            page_failed = True
            raise
        if written.deleted:
            log.info("%s/%s: %d stored records marked deleted", connection, stream.name,
                     written.deleted)
        result.changed += written.changed
        result.deleted += written.deleted
        result.pages += 1
        result.records += prepared.records
        result.quarantined += len(prepared.quarantined)
        negative_won += prepared.negative_won_deals
        log.debug("%s/%s: stored page %d (%d records, %d quarantined)", connection,
                  stream.name, result.pages, prepared.records, len(prepared.quarantined))
        progress.page_stored(connection, stream, prepared.records, len(prepared.quarantined),
                             prepared.total)

    def ready(work: PreparedPage | Future[PreparedPage]) -> bool:
        return not isinstance(work, Future) or work.done()

    connector.table_pages = True  # _prepare and prepare_page take Page.table pages
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
        except BaseException as exc:
            if not page_failed:
                # The connector (or the user) stopped the read: every page read before that is
                # stored, so nothing already fetched is lost.
                _store_the_rest(store_next, pending, exc)
            raise
        while pending:
            store_next()
    except QuotaExceededError as exc:
        # ``sync`` keeps exit code 1 for a quota stop; ``run`` reports it as deferred (75).
        result.status, result.error, result.exit_code = "stopped", str(exc), ExitCode.FAILED
        result.stops_connection = True
        result.retry_at = exc.retry_at
    except ConfigError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), ExitCode.USAGE
        result.stops_connection = True
    except AuthenticationError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), ExitCode.FAILED
        result.stops_connection = True
    except CrmConnectError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
    except BrokenProcessPool:
        log.debug("stream %s/%s: a worker died", connection, stream.name, exc_info=True)
        if workers is not None:
            workers.close()  # a fresh pool serves the next stream
        result.status, result.exit_code = "failed", ExitCode.FAILED
        result.error = ("a validation worker process stopped unexpectedly (killed, or out of "
                        "memory): the pages after the last stored one were not stored; run "
                        "the sync again to resume from there")
    except Exception as exc:
        log.debug("stream %s/%s failed", connection, stream.name, exc_info=True)
        result.status, result.exit_code = "failed", ExitCode.FAILED
        result.error = f"{type(exc).__name__}: {exc}"
        if page_failed:
            result.error = (f"a page could not be stored ({result.error}): nothing after the "
                            "last stored page was stored; run the sync again to resume there")
    finally:
        for work, _ in pending:
            if isinstance(work, Future):
                work.cancel()
    if negative_won:
        warning = (f"{negative_won} won deal{'s' if negative_won > 1 else ''} with a negative "
                   "amount (kept as they are: credit notes and refunds exist; check the source "
                   "if they should not)")
        result.warnings.append(warning)
        log.warning("%s/%s: %s", connection, stream.name, warning)
    result.seconds = time.monotonic() - started
    progress.stream_finished(result)
    return result


def _store_the_rest(store_next: Callable[[], None],
                    pending: deque[tuple[Any, dict[str, Any] | None]],
                    cause: BaseException) -> None:
    """Store the pages read before ``cause``; a page that fails then stops it, and the error
    that stopped the read stays the one reported."""
    try:
        while pending:
            store_next()
    except Exception as exc:
        log.error("a page read before the error could not be stored either: %s", exc)
        cause.add_note(f"a page read before it could not be stored: {exc}")


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
        store.lock_connections(names, wait_seconds=wait_seconds)
        run = SyncRun(store.begin_run(names), names, full_refresh)
        report = SyncReport(run)
        _notify("sync_started", run=run)
        workers = PageWorkers()
        try:
            with stoppable_sync():
                for name in names:
                    report.results.extend(
                        _sync_connection(config, name, store, run, progress, workers))
        except KeyboardInterrupt as exc:
            run.status = "interrupted"
            why = ("terminated (SIGTERM)" if isinstance(exc, Terminated)
                   else "interrupted by the user")
            store.finish_run(run.run_id, "interrupted", _counts(report),
                             f"{why}; the next run resumes")
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
                              exit_code=ExitCode.FAILED)
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
            **({"warnings": r.warnings} if r.warnings else {}),
        }
        for r in report.results
    }
