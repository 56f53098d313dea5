"""Bulk API 2.0 query jobs: create, poll, abort, delete, and results as chunked CSV pages."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crm_connect.testing.server import Request, Response

from . import soql
from .ids import make_id
from .query import QueryEngine
from .wire import ERROR_NOT_FOUND, csv_value, sf_datetime, sf_json

BULK_DEFAULT_MAX_RECORDS = 50000

_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "SEMICOLON": ";",
    "PIPE": "|",
    "CARET": "^",
    "BACKQUOTE": "`",
}


@dataclass
class BulkJob:
    id: str
    operation: str
    object: str
    query: soql.Query
    created: dt.datetime
    api_version: str
    column_delimiter: str
    line_ending: str
    state: str = "UploadComplete"
    polls: int = 0
    refs: list[int] | None = None
    modstamp: dt.datetime | None = None
    started: float = field(default_factory=time.monotonic)

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": make_id("005", 0),
            "createdDate": sf_datetime(self.created),
            "systemModstamp": sf_datetime(self.modstamp or self.created),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
        }
        if self.state != "UploadComplete":
            body["jobType"] = "V2Query"
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.column_delimiter
        if self.state in ("JobComplete", "Failed", "Aborted"):
            body["numberRecordsProcessed"] = len(self.refs or [])
            body["retries"] = 0
            body["totalProcessingTime"] = int((time.monotonic() - self.started) * 1000)
            body["isPkChunkingSupported"] = True
        return body


class BulkEndpoints(QueryEngine):
    """``/services/data/vXX.X/jobs/query``: the Bulk API 2.0 query job endpoints."""

    bulk_polls: int
    _state_lock: threading.Lock
    _jobs: dict[str, BulkJob]
    _counter: Iterator[int]
    _bulk_jobs_used: int
    _done_early: int

    def _bulk(
        self,
        request: Request,
        method: str,
        version: str,
        parts: list[str],
        params: dict[str, list[str]],
    ) -> Response:
        if not parts:
            if method == "POST":
                return self._bulk_create(request, version)
            elif method == "GET":
                with self._state_lock:
                    jobs = [job.info() for job in self._jobs.values()]
                return sf_json(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            else:
                return sf_json(405, ERROR_NOT_FOUND)
        with self._state_lock:
            job = self._jobs.get(parts[0])
        if job is None:
            return sf_json(404, ERROR_NOT_FOUND)
        if len(parts) == 1 and method == "GET":
            self._bulk_advance(job)
            return sf_json(200, job.info())
        if len(parts) == 1 and method == "PATCH":
            try:
                wanted = json.loads(request.body or b"{}").get("state")
            except json.JSONDecodeError:
                wanted = None
            if wanted != "Aborted":
                return sf_json(
                    400,
                    [
                        {
                            "errorCode": "INVALIDJOBSTATE",
                            "message": "Query jobs can only be set to state Aborted",
                        }
                    ],
                )
            if job.state in ("JobComplete", "Failed"):
                return sf_json(
                    400,
                    [
                        {
                            "errorCode": "INVALIDJOBSTATE",
                            "message": f"Cannot abort a job in state {job.state}",
                        }
                    ],
                )
            job.state = "Aborted"
            job.modstamp = self.org.clock
            return sf_json(200, job.info())
        if len(parts) == 1 and method == "DELETE":
            with self._state_lock:
                self._jobs.pop(job.id, None)
            return Response.empty(204)
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            return self._bulk_results(request, job, params)
        return sf_json(404, ERROR_NOT_FOUND)

    def _bulk_create(self, request: Request, version: str) -> Response:
        try:
            payload = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            return sf_json(
                400,
                [{"errorCode": "JSON_PARSER_ERROR", "message": "Invalid JSON in the request body"}],
            )
        operation = payload.get("operation")
        if operation not in ("query", "queryAll"):
            return sf_json(
                400,
                [
                    {
                        "errorCode": "INVALIDJOB",
                        "message": f"Invalid operation: {operation}. Use query or queryAll",
                    }
                ],
            )
        delimiter = payload.get("columnDelimiter") or "COMMA"
        line_ending = payload.get("lineEnding") or "LF"
        if delimiter not in _DELIMITERS or line_ending not in ("LF", "CRLF"):
            return sf_json(
                400,
                [{"errorCode": "INVALIDJOB", "message": "Invalid columnDelimiter or lineEnding"}],
            )
        try:
            query = self._compile(payload.get("query") or "")
        except soql.SoqlError as exc:
            return sf_json(400, [{"errorCode": exc.code, "message": exc.message}])
        if query.count or query.count_field is not None or query.offset:
            return sf_json(
                400,
                [
                    {
                        "errorCode": "INVALIDJOB",
                        "message": "Aggregate queries and OFFSET are not supported by Bulk API 2.0",
                    }
                ],
            )
        assert query.obj is not None
        with self._state_lock:
            job_id = make_id("750", next(self._counter))
            job = BulkJob(
                job_id,
                operation,
                query.obj.name,
                query,
                self.org.clock,
                version,
                delimiter,
                line_ending,
            )
            self._jobs[job_id] = job
            self._bulk_jobs_used += 1
        return sf_json(200, job.info())

    def _bulk_advance(self, job: BulkJob) -> None:
        if job.state == "UploadComplete":
            job.state = "InProgress"
            job.modstamp = self.org.clock
        elif job.state == "InProgress":
            job.polls += 1
            if job.polls >= self.bulk_polls:
                job.refs = self.run(job.query, include_deleted=job.operation == "queryAll")
                job.state = "JobComplete"
                job.modstamp = self.org.clock

    def _bulk_results(
        self, request: Request, job: BulkJob, params: dict[str, list[str]]
    ) -> Response:
        if job.state != "JobComplete" or job.refs is None:
            status = {
                "UploadComplete": "UPLOAD_COMPLETE",
                "InProgress": "IN_PROGRESS",
                "Aborted": "ABORTED",
                "Failed": "FAILED",
            }.get(job.state, job.state.upper())
            return sf_json(
                412,
                [
                    {
                        "errorCode": "JOB_NOT_COMPLETE",
                        "message": "can only download query results of successfully "
                        "completed bulk job "
                        f"with status: JOB_COMPLETE. Current status: {status}",
                    }
                ],
            )
        locator = (params.get("locator") or [""])[0]
        offset = 0
        if locator and locator != "null":
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except (ValueError, binascii.Error, UnicodeDecodeError):
                offset = -1
            if offset < 0 or offset > len(job.refs):
                return sf_json(
                    400,
                    [{"errorCode": "INVALID_LOCATOR", "message": f"Invalid locator: {locator}"}],
                )
        try:
            max_records = int((params.get("maxRecords") or [str(BULK_DEFAULT_MAX_RECORDS)])[0])
        except ValueError:
            max_records = 0
        if max_records <= 0:
            return sf_json(
                400,
                [{"errorCode": "INVALIDJOB", "message": "maxRecords must be a positive integer"}],
            )
        end = min(len(job.refs), offset + max_records)
        page = job.refs[offset:end]
        next_locator = (
            base64.b64encode(str(end).encode()).decode().rstrip("=")
            if end < len(job.refs)
            else "null"
        )
        if next_locator != "null":
            with self._state_lock:
                early = self._done_early > 0
                self._done_early -= 1 if early else 0
            if early:
                request.mark("done_early")
                next_locator = "null"
        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}
        return Response(200, self._csv_rows(job, page), "text/csv", headers)

    def _csv_rows(self, job: BulkJob, page: list[int]) -> Iterator[bytes]:
        sep = _DELIMITERS[job.column_delimiter]
        eol = "\r\n" if job.line_ending == "CRLF" else "\n"

        def quote(text: str) -> str:
            return '"' + text.replace('"', '""') + '"'

        yield (sep.join(quote(p.text) for p in job.query.fields) + eol).encode()
        buffer: list[str] = []
        for index in page:
            rec = self.org.record(job.object, index)
            if rec is None:
                continue
            cells = [quote(csv_value(self._resolve(rec, p), p.leaf)) for p in job.query.fields]
            buffer.append(sep.join(cells) + eol)
            if len(buffer) >= 500:
                yield "".join(buffer).encode()
                buffer.clear()
        if buffer:
            yield "".join(buffer).encode()
