"""Reading a planned Salesforce stream through Bulk API 2.0, and the id sweep for hard deletes.

The REST reads in cursor windows stay in :mod:`crm_connect_salesforce.connector`; the window
splitting, cursor state and sweep cadence they use are the core's
(:mod:`crm_connect.incremental`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simple_salesforce.exceptions import SalesforceError

from crm_connect.connector import IdSweep, Page
from crm_connect.errors import ConnectorError
from crm_connect.incremental import (
    CursorProgress,
    Window,
    WindowTimeout,
    format_cursor,
    parse_cursor,
)
from crm_connect_salesforce.bulk import BulkJobFailed, job_fingerprint
from crm_connect_salesforce.client import QueryTally, error_code
from crm_connect_salesforce.mapping import flatten, normalise
from crm_connect_salesforce.plan import ReadPlan
from crm_connect_salesforce.soql import select_query

if TYPE_CHECKING:
    from crm_connect_salesforce.connector import SalesforceConnector

__all__ = ["id_sweep", "read_bulk", "tally", "warn_short_read"]

log = logging.getLogger("crm_connect_salesforce")

_JOB_KEYS = ("cursor_field", "cursor", "last_id", "complete")


def _bulk_failure(connector: SalesforceConnector, what: str, exc: SalesforceError
                  ) -> ConnectorError:
    code, message = error_code(exc)
    return ConnectorError(f"{what}: Bulk API 2.0 answered HTTP {exc.status} ({code}: {message})",
                          connection=connector.connection)


def read_bulk(connector: SalesforceConnector, plan: ReadPlan, window: Window,
              state: dict[str, Any], progress: CursorProgress) -> Iterator[Page]:
    """Read the window with a Bulk 2.0 job.  The job's id is saved in the stream's state
    before the first poll, so a sync killed at any moment finds it next run.  A job that
    times out raises :class:`~crm_connect.incremental.WindowTimeout`."""
    config = connector.config
    bulk = connector.client.bulk()
    base: dict[str, Any] = {key: state.get(key) for key in _JOB_KEYS if key in state}
    resume = state.get("bulk") if isinstance(state.get("bulk"), dict) else None
    soql = select_query(plan.sobject, plan.fields, plan.cursor, window)
    soql = soql.rsplit(" ORDER BY ", 1)[0]  # ORDER BY would disable PK chunking
    fingerprint = job_fingerprint(soql, include_deleted=plan.include_deleted)
    best = CursorProgress()

    def job_state(job_id: str, locator: str | None) -> dict[str, Any]:
        return {**base, "bulk": {
            "job_id": job_id, "query": fingerprint, "locator": locator,
            "max_cursor": format_cursor(best.cursor) if best.cursor else None,
            "max_id": best.last_id}}

    try:
        job_id, reused = bulk.job_for(
            soql, include_deleted=plan.include_deleted, fingerprint=fingerprint,
            remembered=resume, label=f"{connector.connection}/{plan.spec.stream}")
        locator: str | None = None
        if reused and resume is not None:
            locator = resume.get("locator")
            best = CursorProgress(parse_cursor(resume.get("max_cursor")), resume.get("max_id"))
        else:
            yield Page([], job_state(job_id, None))
        info = bulk.wait(job_id)
        expected = info.get("numberRecordsProcessed")
        received = 0
        while True:
            page = bulk.results(job_id, locator, config.bulk_page_size)
            rows = [normalise(flatten(row), plan.types) for row in page.rows]
            received += len(rows)
            for row in rows:
                best.advance(parse_cursor(row.get(plan.cursor)), row.get("Id"))
            locator = page.locator
            yield connector._page(plan, rows, job_state(job_id, locator)
                                  if locator is not None else None)
            if locator is None:
                break
        if isinstance(expected, int) and locator is None and not reused:
            tally(plan, received, expected)
    except BulkJobFailed as exc:
        if exc.timed_out:
            raise WindowTimeout(str(exc)) from None
        raise ConnectorError(f"{plan.sobject}: {exc}",
                             connection=connector.connection) from None
    except SalesforceError as exc:
        raise _bulk_failure(connector, plan.sobject, exc) from None
    progress.advance(best.cursor, best.last_id)


# Hard deletes ---------------------------------------------------------------------------------


def id_sweep(connector: SalesforceConnector, plan: ReadPlan, final: dict[str, Any]
             ) -> Iterator[Page]:
    """Every Id the org holds for the object (soft-deleted ones too), in parts, for reads
    that did not see them all (``start_date``, incremental runs); the last part carries the
    stream's final state, so the store marks the stored rows it did not list deleted in the
    same transaction."""
    log.info("%s/%s: comparing the org's %s ids with the stored ones (hard deletes)",
             connector.connection, plan.spec.stream, plan.sobject)
    pending: list[str] | None = None
    first = True
    for ids in _all_ids(connector, plan):
        if pending is not None:
            yield Page([], id_sweep=IdSweep(pending, first=first, prefix=plan.key_prefix))
            first = False
        pending = ids
    if plan.short_read is not None:
        warn_short_read(connector, plan)
        yield Page([], final)
        return
    yield Page([], final, id_sweep=IdSweep(pending or [], first=first, last=True,
                                           prefix=plan.key_prefix))


def tally(plan: ReadPlan, received: int, announced: int | None) -> None:
    """Remember a query that returned fewer records than it announced."""
    if announced is not None and received < announced and plan.short_read is None:
        plan.short_read = (f"Salesforce reported the {plan.sobject} query done after "
                           f"{received:,} of the {announced:,} records it announced")


def warn_short_read(connector: SalesforceConnector, plan: ReadPlan) -> None:
    """Say that a short read marks nothing deleted."""
    log.warning(
        "%s/%s: %s; no rows are marked deleted from this read, so that the ones it did "
        "not return are kept. The records read are stored; the next full refresh "
        "(--full-refresh) checks for deletes again.", connector.connection, plan.spec.stream,
        plan.short_read)


def _all_ids(connector: SalesforceConnector, plan: ReadPlan) -> Iterator[list[str]]:
    """Pages of ``SELECT Id FROM X``: Bulk API 2.0 for large objects, else REST."""
    soql = f"SELECT Id FROM {plan.sobject}"
    config = connector.config
    if connector._wants_bulk(plan, Window()):
        bulk = connector.client.bulk()
        try:
            job_id = bulk.create(soql, include_deleted=plan.include_deleted)
            expected = bulk.wait(job_id).get("numberRecordsProcessed")
            locator: str | None = None
            received = 0
            while True:
                page = bulk.results(job_id, locator, config.bulk_page_size)
                received += len(page.rows)
                yield [row["Id"] for row in page.rows if row.get("Id")]
                locator = page.locator
                if locator is None:
                    tally(plan, received, expected if isinstance(expected, int) else None)
                    return
        except BulkJobFailed as exc:
            raise ConnectorError(f"{plan.sobject} ids: {exc}",
                                 connection=connector.connection) from None
        except SalesforceError as exc:
            raise _bulk_failure(connector, f"{plan.sobject} ids", exc) from None
    counted = QueryTally()
    for records in connector.client.query_pages(soql, include_deleted=plan.include_deleted,
                                                page_size=config.page_size, tally=counted):
        yield [str(record["Id"]) for record in records if record.get("Id")]
    tally(plan, counted.received, counted.total)
