"""Bulk API 2.0 query jobs: create, wait, read the CSV results one locator page at a time.

A result page holds at most ``maxRecords`` rows, so memory is bounded by the page size, never by
the size of the result.  The requests go through the connection's resilient session, so a
truncated result page is retried like any other call.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.util import call_salesforce, exception_handler

from crm_connect.resilience import ResiliencePolicy, send_once

__all__ = ["USABLE_STATES", "BulkJobFailed", "BulkQuery", "ResultPage", "job_fingerprint",
           "parse_csv"]

USABLE_STATES = frozenset({"UploadComplete", "InProgress", "JobComplete"})
"""States of a query job whose results are (or will be) there to read."""


def job_fingerprint(soql: str, *, include_deleted: bool) -> str:
    """What a job's own info does not say: which query it runs (kept in the stream's state so
    that a job found on the next run is reused only for the very same query)."""
    operation = "queryAll" if include_deleted else "query"
    return hashlib.sha256(f"{operation}\n{soql}".encode()).hexdigest()[:32]

log = logging.getLogger("crm_connect_salesforce.bulk")

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
               "BACKQUOTE": "`"}


class BulkJobFailed(Exception):
    """A Bulk query job ended Failed or Aborted (``message`` is Salesforce's errorMessage)."""

    def __init__(self, job_id: str, state: str, message: str) -> None:
        self.job_id = job_id
        self.state = state
        self.message = message
        super().__init__(f"Bulk API 2.0 job {job_id} {state}: {message}")

    @property
    def timed_out(self) -> bool:
        text = self.message.upper()
        return "QUERY_TIMEOUT" in text or "TIMED OUT" in text or "TIMEOUT" in text


@dataclass
class ResultPage:
    rows: list[dict[str, str]]
    locator: str | None
    """The locator of the next page; ``None`` when this page is the last."""


def parse_csv(text: str, delimiter: str = ",") -> Iterator[dict[str, str]]:
    """Rows of a Bulk 2.0 CSV result (header row first; quoted values may hold newlines)."""
    reader = csv.reader(io.StringIO(text.replace("\x00", ""), newline=""),
                        delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    for values in reader:
        if not values:
            continue
        yield dict(zip(header, values, strict=False))


class BulkQuery:
    """One connection's Bulk 2.0 query jobs."""

    def __init__(self, sf: Salesforce, policy: ResiliencePolicy, *, poll_seconds: float,
                 timeout_seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sf = sf
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep

    @property
    def _url(self) -> str:
        return f"{self.sf.bulk2_url}query"

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        return {"Content-Type": "application/json", "Accept": accept,
                "Authorization": f"Bearer {self.sf.session_id}"}

    def create(self, soql: str, *, include_deleted: bool) -> str:
        """Create a query job.  The POST is never repeated once it may have reached Salesforce
        (a repeat would start a second job); :class:`~crm_connect.resilience.AnswerLost`
        then says so."""
        payload = {"operation": "queryAll" if include_deleted else "query", "query": soql,
                   "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
        response = send_once(
            self.sf.session, self.policy, "POST", self._url, headers=self._headers(),
            data=json.dumps(payload), what="creating a Bulk API 2.0 query job",
            consequence="Salesforce may have created the job. The stream stops here with its "
            "stored records kept; the next run creates a new job (an orphaned one expires by "
            "itself).")
        if response.status_code >= 300:
            exception_handler(response)
        job_id = str(response.json()["id"])
        log.info("Bulk API 2.0 %s job %s created", payload["operation"], job_id)
        return job_id

    def find(self, job_id: str) -> dict[str, Any] | None:
        """The job's info, or ``None`` when Salesforce no longer knows it (404)."""
        try:
            return self.status(job_id)
        except SalesforceError as exc:
            if exc.status == 404:
                return None
            raise

    def job_for(self, soql: str, *, include_deleted: bool, fingerprint: str,
                remembered: dict[str, Any] | None, label: str) -> tuple[str, bool]:
        """The job to read ``soql`` with: the ``remembered`` one (``job_id`` and ``query``
        fingerprint from the stream's state) when it runs the same query and is still usable
        (``True``: reused), else a new one.  A remembered job that will not be read is
        aborted, so a killed sync never leaves a second job running."""
        if remembered is not None and remembered.get("job_id"):
            job_id = str(remembered["job_id"])
            info = self.find(job_id)
            state = str((info or {}).get("state"))
            same = remembered.get("query") in (None, fingerprint)  # None: an older state
            if info is not None and same and state in USABLE_STATES:
                log.info("%s: reusing Bulk job %s (%s) of an earlier run", label, job_id, state)
                return job_id, True
            if info is None:
                log.info("%s: Bulk job %s of an earlier run is gone; starting a new one",
                         label, job_id)
            elif state not in ("JobComplete", "Failed", "Aborted"):
                log.warning("%s: aborting Bulk job %s of an earlier run (%s)", label, job_id,
                            "another query" if not same else state)
                self.abort(job_id)
            else:
                log.info("%s: Bulk job %s of an earlier run is %s; starting a new one", label,
                         job_id, state if same else "for another query")
        return self.create(soql, include_deleted=include_deleted), False

    def status(self, job_id: str) -> dict[str, Any]:
        response = call_salesforce(f"{self._url}/{job_id}", "GET", self.sf.session,
                                   self._headers())
        result: dict[str, Any] = response.json()
        return result

    def wait(self, job_id: str) -> dict[str, Any]:
        """Poll until the job is JobComplete; :class:`BulkJobFailed` when it fails."""
        deadline = time.monotonic() + self.timeout_seconds
        delay = min(0.2, self.poll_seconds)
        while True:
            info = self.status(job_id)
            state = str(info.get("state"))
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                raise BulkJobFailed(job_id, state, str(info.get("errorMessage") or state))
            if time.monotonic() + delay > deadline:
                self.abort(job_id)
                raise BulkJobFailed(job_id, state, f"still {state} after "
                                    f"{self.timeout_seconds:.0f} s (bulk_timeout_seconds)")
            self._sleep(delay)
            delay = min(delay * 2, self.poll_seconds)

    def abort(self, job_id: str) -> None:
        try:
            call_salesforce(f"{self._url}/{job_id}", "PATCH", self.sf.session, self._headers(),
                            data=json.dumps({"state": "Aborted"}))
        except Exception as exc:  # best effort: the job expires by itself anyway
            log.debug("aborting bulk job %s failed: %s", job_id, exc)

    def results(self, job_id: str, locator: str | None, max_records: int,
                delimiter: str = "COMMA") -> ResultPage:
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        response = call_salesforce(f"{self._url}/{job_id}/results", "GET", self.sf.session,
                                   self._headers("text/csv"), params=params)
        following = response.headers.get("Sforce-Locator")
        rows = list(parse_csv(response.content.decode("utf-8"),
                              _DELIMITERS.get(delimiter, ",")))
        return ResultPage(rows, following if following and following != "null" else None)
