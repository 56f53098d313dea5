"""Pages on their way to the store: checked in bulk with Arrow, the records that fail a bulk
check validated with pydantic, the records pydantic refuses sent to the quarantine, the rest
one Arrow batch.

With ``CRM_CONNECT_WORKERS`` set, this runs in worker processes (:class:`PageWorkers`) while
the main process reads and stores.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import TypeAdapter, ValidationError

from crm_connect.bulk import check_page
from crm_connect.columns import last_per_key, split_storable
from crm_connect.connector import IdSweep, Page, table_records
from crm_connect.schema import ENTITIES, CanonicalRecord, Deal
from crm_connect.store_contract import QuarantinedRecord

__all__ = ["PageWorkers", "PreparedPage", "prepare_in_bulk", "prepare_page", "validate_page",
           "with_source"]


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
    page.materialize()
    records, _, quarantined = _validate(entity, source, stream, page)
    return records, quarantined


def _quarantined(entity: str, source: str, stream: str, page: Page, index: int,
                 reason: str) -> QuarantinedRecord:
    """The quarantine entry of the page's record ``index``, with its raw payload and place."""
    record = page.records[index]
    raw = page.raw[index] if page.raw is not None else record
    location = page.locations[index] if page.locations is not None else None
    # A connector may yield something that is not a record at all (a string, None).
    record_id = record.get("id") if isinstance(record, dict) else None
    return QuarantinedRecord(
        source, stream, entity, reason, raw,
        record_id=str(record_id) if record_id not in (None, "") else None, location=location)


def _validate(entity: str, source: str, stream: str, page: Page,
              rows: Sequence[int] | None = None
              ) -> tuple[list[CanonicalRecord], list[int], list[QuarantinedRecord]]:
    """The page's valid records, the index of each in the page, and the quarantine list.

    With ``rows``, only those records of the page are validated."""
    adapter = _adapter(entity)
    indices = list(range(len(page.records))) if rows is None else list(rows)
    records = page.records if rows is None else [page.records[index] for index in indices]
    quarantined = [
        QuarantinedRecord(source, stream, entity, rejected.reason, rejected.raw,
                          location=rejected.location)
        for rejected in page.rejected
    ]
    try:
        return adapter.validate_python(records), indices, quarantined
    except ValidationError as exc:
        by_index: dict[int, list[dict[str, Any]]] = {}
        for error in exc.errors():
            index = error["loc"][0]
            if isinstance(index, int):
                by_index.setdefault(index, []).append(dict(error))
    for index, errors in sorted(by_index.items()):
        quarantined.append(_quarantined(entity, source, stream, page, indices[index],
                                        _describe_errors(errors)))
    kept = [index for index in range(len(records)) if index not in by_index]
    return (adapter.validate_python([records[index] for index in kept]),
            [indices[index] for index in kept], quarantined)


def with_source(table: pa.Table, source: str) -> pa.Table:
    """A page's table with every row's ``source`` set to ``source`` (the runner's job)."""
    column = pa.repeat(pa.scalar(source, pa.string()), table.num_rows)
    if "source" in table.column_names:
        return table.set_column(table.column_names.index("source"), "source", column)
    return table.append_column("source", column)


@dataclass
class PreparedPage:
    """A page validated and turned into one Arrow batch, ready for a single bulk write."""

    table: pa.Table | None
    quarantined: list[QuarantinedRecord]
    records: int
    id_sweep: IdSweep | None = None
    negative_won_deals: int = 0
    """Won deals with a negative amount: kept (credit notes exist), but worth a warning."""
    total: int | None = None
    """How many records the vendor says the read returns (``Page.total``), for progress."""


def prepare_page(entity: str, source: str, stream: str, page: Page) -> PreparedPage:
    """Validate a page and convert it to Arrow.  Runs in a worker process on large syncs.

    The page is checked in bulk (:mod:`crm_connect.bulk`); only the records that fail a bulk
    check are validated one by one with pydantic, which quarantines those it refuses with the
    reason.  ``CRM_CONNECT_VALIDATION=records`` validates every record with pydantic instead
    (the same result, slower).  A record the store cannot hold goes to the quarantine with the
    reason; the rest of the page is stored."""
    if os.environ.get("CRM_CONNECT_VALIDATION", "bulk") == "records":
        return _prepare_by_record(entity, source, stream, page)
    return prepare_in_bulk(entity, source, stream, page)


def _prepare_by_record(entity: str, source: str, stream: str, page: Page) -> PreparedPage:
    page.materialize()
    records, indices, quarantined = _validate(entity, source, stream, page)
    table, unstorable = split_storable(entity, last_per_key(records))
    if unstorable:
        index_of = {id(record): index for record, index in zip(records, indices, strict=True)}
        quarantined.extend(
            _quarantined(entity, source, stream, page, index_of[id(item.record)], item.reason)
            for item in unstorable)
    negative = sum(1 for record in records if _negative_won(record))
    return PreparedPage(table, quarantined, len(records) - len(unstorable), page.id_sweep,
                        negative, page.total)


def _negative_won(record: CanonicalRecord) -> bool:
    return (isinstance(record, Deal) and record.is_won and record.amount is not None
            and record.amount < 0)


def _negative_won_rows(entity: str, table: pa.Table) -> int:
    if entity != "deals" or not table.num_rows:
        return 0
    won = pc.and_(table.column("is_won"),
                  pc.less(table.column("amount"), pa.scalar(0, table.schema.field("amount").type)))
    return int(pc.sum(pc.fill_null(won, False)).as_py() or 0)


def prepare_in_bulk(entity: str, source: str, stream: str, page: Page) -> PreparedPage:
    """:func:`prepare_page` with the bulk checks: the same table, quarantine and counts.

    A page given as an Arrow table (``Page.table``) is checked as it is; only the rows that
    fail a bulk check become dictionaries, for pydantic and the quarantine."""
    checked = check_page(entity, page.records if page.table is None else page.table)
    if page.table is not None and not checked.passed.all():
        failed_rows = np.flatnonzero(~checked.passed)
        # Only the failed rows are ever read (by index) by pydantic and the quarantine.
        raw_rows: list[Any] = [None] * len(checked.passed)
        for index, row in zip(failed_rows.tolist(), table_records(
                page.table.take(pa.array(failed_rows, pa.int64()))), strict=True):
            raw_rows[index] = row
        page = replace(page, records=raw_rows, table=None)
    if checked.passed.all() and (not checked.table.num_rows or pc.count_distinct(
            checked.table.column("id")).as_py() == checked.table.num_rows):
        return PreparedPage(checked.table if checked.table.num_rows else None,
                            _validate(entity, source, stream, page, [])[2],
                            checked.table.num_rows, page.id_sweep,
                            _negative_won_rows(entity, checked.table), page.total)
    passed = np.flatnonzero(checked.passed)
    failed = np.flatnonzero(~checked.passed)
    records, indices, quarantined = _validate(entity, source, stream, page,
                                              failed.tolist())
    # The last version of each id, at the place of its first (as last_per_key keeps it).
    ids = checked.table.column("id").to_pylist() + [record.id for record in records]
    places = passed.tolist() + indices
    by_place = sorted(zip(places, ids, range(len(ids)), strict=True))
    last: dict[str, tuple[int, int]] = {}
    for place, key, position in by_place:
        first = last[key][0] if key in last else place
        last[key] = (first, position)
    kept = sorted(last.values())
    bulk_rows = len(passed)
    keep_bulk = [position for _, position in kept if position < bulk_rows]
    keep_checked = [records[position - bulk_rows] for _, position in kept
                    if position >= bulk_rows]
    table, unstorable = split_storable(entity, keep_checked)
    if unstorable:
        index_of = {id(record): index for record, index in zip(records, indices, strict=True)}
        quarantined.extend(
            _quarantined(entity, source, stream, page, index_of[id(item.record)], item.reason)
            for item in unstorable)
        dropped = {id(item.record) for item in unstorable}
        kept = [(first, position) for first, position in kept
                if position < bulk_rows or id(records[position - bulk_rows]) not in dropped]
    bulk_table = checked.table.take(pa.array(keep_bulk, pa.int64()))
    order = np.argsort(np.array([first for first, _ in kept], dtype=np.int64), kind="stable")
    from_bulk = np.array([position < bulk_rows for _, position in kept], dtype=np.bool_)
    combined = bulk_table if table is None else pa.concat_tables([bulk_table, table])
    # Rows of the combined table: the bulk ones first, then the pydantic ones, each in order.
    row_of = np.empty(len(kept), dtype=np.int64)
    row_of[from_bulk] = np.arange(int(from_bulk.sum()))
    row_of[~from_bulk] = np.arange(int(from_bulk.sum()), len(kept))
    result = combined.take(pa.array(row_of[order])) if len(kept) else None
    negative = sum(1 for record in records if _negative_won(record))
    negative += _negative_won_rows(entity, checked.table)
    count = len(passed) + len(records) - len(unstorable)
    return PreparedPage(result, quarantined, count, page.id_sweep, negative, page.total)


class PageWorkers:
    """Worker processes that validate pages while the main process reads and stores.

    Validation holds the GIL, so a second core can only be put to work with processes.  With
    bulk validation (:mod:`crm_connect.bulk`) shipping each page to a worker and its table
    back costs more than the worker saves, so the default is none (validate in the main
    process); ``CRM_CONNECT_WORKERS=N`` opts in to N worker processes (it pays off for
    connectors whose pages mostly need pydantic).  The pool starts only once a stream has a
    second page, so small syncs pay nothing for it.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is None:
            configured = os.environ.get("CRM_CONNECT_WORKERS", "").strip()
            workers = int(configured) if configured.isdigit() else 0
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

    def result(self, future: Future[PreparedPage]) -> PreparedPage:
        """The validated page, or ``BrokenProcessPool`` when a worker died.

        A worker killed while it writes its answer leaves half a message in the pool's pipe,
        and the pool then waits for the rest forever; so the wait looks at the workers
        themselves every half second instead of trusting the pool to notice."""
        while True:
            try:
                return future.result(timeout=0.5)
            except FuturesTimeout:
                if self._dead_worker():
                    self._kill()
                    raise BrokenProcessPool("a worker process ended abruptly") from None

    def _dead_worker(self) -> bool:
        processes = getattr(self._pool, "_processes", None) or {}
        return any(process.exitcode is not None for process in list(processes.values()))

    def _kill(self) -> None:
        """End the pool without waiting on it: its own bookkeeping may be stuck."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            if process.exitcode is None:
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            if self._dead_worker():
                self._kill()
                return
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end the worker when the sync that started it is gone (SIGKILL).

    Ctrl-C at a terminal reaches the workers too; they ignore it and finish their page, which
    the sync then stores before it stops (its pool shuts them down)."""
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="crm-connect-parent-watch", daemon=True).start()
