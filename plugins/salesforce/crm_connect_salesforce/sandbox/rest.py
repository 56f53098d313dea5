"""The REST data endpoints: the resource index, limits, sObjects, describes, getUpdated and
getDeleted, query and queryAll with their cursors."""

from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from crm_connect.testing.faultbook import Fault, FaultBook
from crm_connect.testing.server import Request, Response

from . import soql
from .bulk import BulkEndpoints
from .faults import FaultKind
from .ids import make_id
from .metadata import describe_global_entry, describe_object
from .wire import ERROR_NOT_FOUND, ERROR_TIMEOUT, json_value, sf_datetime, sf_json

QUERY_BATCH = 2000
MAX_OPEN_CURSORS = 50
_LOCATOR = re.compile(r"^(?P<id>01g[0-9A-Za-z]{15})-(?P<offset>\d+)$")


@dataclass
class Cursor:
    """An open query: the records it selected and how many a page holds."""

    query: soql.Query
    refs: list[int]
    include_deleted: bool
    batch: int
    touched: float = field(default_factory=time.time)


class RestEndpoints(BulkEndpoints):
    """``/services/data/vXX.X/...``: everything but the Bulk jobs, which it hands on."""

    daily_api_limit: int
    faults: FaultBook
    _api_used: int
    _cursors: OrderedDict[str, Cursor]

    @property
    def instance_url(self) -> str:
        raise NotImplementedError

    def _data(
        self, request: Request, method: str, version: str, rest: str, params: dict[str, list[str]]
    ) -> Response:
        parts = [urllib.parse.unquote(p) for p in rest.split("/") if p]
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            return sf_json(
                200,
                {
                    name: f"{base}/{name}"
                    for name in (
                        "tooling",
                        "metadata",
                        "eclair",
                        "folders",
                        "prechatForms",
                        "jobs",
                        "query",
                        "queryAll",
                        "sobjects",
                        "limits",
                        "search",
                        "parameterizedSearch",
                        "composite",
                        "recent",
                    )
                },
            )
        head = parts[0] if parts else ""
        if head == "limits" and method == "GET" and len(parts) == 1:
            return sf_json(200, self._limits())
        if head == "sobjects" and method == "GET":
            return self._sobjects(request, version, parts[1:], params)
        if head in ("query", "queryAll") and method == "GET":
            include_deleted = head == "queryAll"
            if len(parts) == 1:
                return self._query(request, version, params, include_deleted)
            if len(parts) == 2:
                return self._query_more(request, version, parts[1], include_deleted)
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            return self._bulk(request, method, version, parts[2:], params)
        return sf_json(404, ERROR_NOT_FOUND)

    def _limits(self) -> dict[str, Any]:
        remaining = max(0, self.daily_api_limit - self._api_used)
        jobs = max(0, 10000 - self._bulk_jobs_used)

        def pair(maximum: int, rem: int | None = None) -> dict[str, int]:
            return {"Max": maximum, "Remaining": maximum if rem is None else rem}

        return {
            "ConcurrentAsyncGetReportInstances": pair(200),
            "ConcurrentSyncReportRuns": pair(20),
            "DailyApiRequests": pair(self.daily_api_limit, remaining),
            "DailyAsyncApexExecutions": pair(250000),
            "DailyBulkApiBatches": pair(15000),
            "DailyBulkV2QueryFileStorageMB": pair(976562),
            "DailyBulkV2QueryJobs": pair(10000, jobs),
            "DailyDurableStreamingApiEvents": pair(10000),
            "DailyGenericStreamingApiEvents": pair(10000),
            "DailyStreamingApiEvents": pair(10000),
            "DailyWorkflowEmails": pair(8040),
            "DataStorageMB": pair(5, 5),
            "FileStorageMB": pair(20, 20),
            "HourlyAsyncReportRuns": pair(1200),
            "HourlyDashboardRefreshes": pair(200),
            "HourlyODataCallout": pair(10000),
            "HourlySyncReportRuns": pair(500),
            "MassEmail": pair(5000),
            "PermissionSets": {"Max": 1500, "Remaining": 1498, "CreateCustom": pair(1000, 998)},
            "SingleEmail": pair(5000),
            "StreamingApiConcurrentClients": pair(20),
        }

    def _sobjects(
        self, request: Request, version: str, parts: list[str], params: dict[str, list[str]]
    ) -> Response:
        org = self.org
        if not parts:
            return sf_json(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [
                        describe_global_entry(o, version, self.instance_url)
                        for o in org.objects.values()
                    ],
                },
            )
        obj = org.by_lower.get(parts[0].lower())
        if obj is None:
            return sf_json(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
        if len(parts) == 1:
            recent: list[Any] = []
            return sf_json(
                200,
                {
                    "objectDescribe": describe_global_entry(obj, version, self.instance_url),
                    "recentItems": recent,
                },
            )
        if len(parts) == 2 and parts[1] == "describe":
            return sf_json(200, describe_object(obj, org.objects, version, self.instance_url))
        if len(parts) == 2 and parts[1] in ("deleted", "updated"):
            return self._changed(request, obj.name, parts[1], params)
        if len(parts) == 2:
            located = org.locate(parts[1])
            rec = org.record(*located) if located and located[0] == obj.name else None
            if rec is None or rec.get("IsDeleted"):
                return sf_json(404, ERROR_NOT_FOUND)
            wanted = params.get("fields", [""])[0]
            names = [f.name for f in obj.fields]
            if wanted:
                names = []
                for name in wanted.split(","):
                    fdef = obj.field(name.strip())
                    if fdef is None:
                        return sf_json(
                            400,
                            [
                                {
                                    "errorCode": "INVALID_FIELD",
                                    "message": f"No such column '{name.strip()}' on sobject "
                                    f"of type "
                                    f"{obj.name}",
                                }
                            ],
                        )
                    names.append(fdef.name)
            out: dict[str, Any] = {
                "attributes": {
                    "type": obj.name,
                    "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}",
                }
            }
            for name in names:
                out[name] = json_value(rec.get(name), obj.field(name))
            return sf_json(200, out)
        return sf_json(404, ERROR_NOT_FOUND)

    def _changed(
        self, request: Request, obj: str, which: str, params: dict[str, list[str]]
    ) -> Response:
        """``getDeleted`` / ``getUpdated`` over a [start, end] window of SystemModstamp."""
        try:
            start = soql.parse_datetime(params["start"][0])
            end = soql.parse_datetime(params["end"][0])
        except (KeyError, ValueError):
            return sf_json(
                400,
                [
                    {
                        "errorCode": "MISSING_ARGUMENT",
                        "message": "start and end are required and must be valid dateTimes",
                    }
                ],
            )
        earliest = self.org.now - dt.timedelta(days=15)
        if which == "deleted":
            found = [
                {"id": rec["Id"], "deletedDate": sf_datetime(rec["SystemModstamp"])}
                for _, rec in self.org.iter_records(obj, include_deleted=True)
                if rec.get("IsDeleted") and start <= rec["SystemModstamp"] <= end
            ]
            return sf_json(
                200,
                {
                    "deletedRecords": found,
                    "earliestDateAvailable": sf_datetime(earliest),
                    "latestDateCovered": sf_datetime(min(end, self.org.clock)),
                },
            )
        ids = [
            rec["Id"]
            for _, rec in self.org.iter_records(obj)
            if start <= rec["SystemModstamp"] <= end
        ]
        return sf_json(
            200, {"ids": ids, "latestDateCovered": sf_datetime(min(end, self.org.clock))}
        )

    # --- SOQL ----------------------------------------------------------------------------------

    def _too_wide(self, query: soql.Query, method: str, path: str) -> bool:
        """Whether a queued QUERY_TIMEOUT fault fires for this query (window-aware)."""
        windows = soql.time_window(query)

        def accept(fault: Fault) -> bool:
            window_days: float | None = fault.data.get("window_days")
            if window_days is None:
                return True
            if not windows:
                return True  # no bound at all: the whole history
            widest = 0.0
            for lo, hi in windows.values():
                lo_dt = _as_dt(lo) if lo is not None else self.org.start - dt.timedelta(days=3650)
                hi_dt = _as_dt(hi) if hi is not None else self.org.clock
                widest = max(widest, (hi_dt - lo_dt).total_seconds() / 86400)
            return widest > window_days

        return self.faults.claim(method, path, FaultKind.QUERY_TIMEOUT.value, accept) is not None

    def _query(
        self, request: Request, version: str, params: dict[str, list[str]], include_deleted: bool
    ) -> Response:
        text = (params.get("q") or [""])[0]
        if not text:
            return sf_json(
                400,
                [
                    {
                        "message": "The request was missing a required query parameter 'q'",
                        "errorCode": "MALFORMED_QUERY",
                    }
                ],
            )
        try:
            query = self._compile(text)
        except soql.SoqlError as exc:
            return sf_json(400, [{"message": exc.message, "errorCode": exc.code}])
        if self._too_wide(query, "GET", request.path):
            request.mark(FaultKind.QUERY_TIMEOUT.value)
            return sf_json(400, ERROR_TIMEOUT)
        refs = self.run(query, include_deleted)
        if query.count:
            return sf_json(200, {"totalSize": len(refs), "done": True, "records": []})
        if query.count_field is not None:
            return sf_json(
                200,
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [{"attributes": {"type": "AggregateResult"}, "expr0": len(refs)}],
                },
            )
        batch = QUERY_BATCH
        options = request.headers.get("Sforce-Query-Options") or ""
        found = re.search(r"batchSize=(\d+)", options)
        if found:
            batch = min(QUERY_BATCH, max(200, int(found.group(1))))
        cursor = Cursor(query, refs, include_deleted, batch)
        return self._send_page(request, version, cursor, None, 0)

    def _send_page(
        self, request: Request, version: str, cursor: Cursor, locator: str | None, offset: int
    ) -> Response:
        end = min(len(cursor.refs), offset + cursor.batch)
        records = []
        assert cursor.query.obj is not None
        for index in cursor.refs[offset:end]:
            rec = self.org.record(cursor.query.obj.name, index)
            if rec is None:
                continue  # hard-deleted since the query ran
            records.append(self.project(rec, cursor.query, version))
        body: dict[str, Any] = {"totalSize": len(cursor.refs), "done": end >= len(cursor.refs)}
        if end < len(cursor.refs):
            with self._state_lock:
                early = self._done_early > 0
                self._done_early -= 1 if early else 0
            if early:
                request.mark("done_early")
                body["done"] = True
                body["records"] = records
                return sf_json(200, body)
            with self._state_lock:
                if locator is None:
                    locator = make_id("01g", next(self._counter))
                self._cursors[locator] = cursor
                self._cursors.move_to_end(locator)
                while len(self._cursors) > MAX_OPEN_CURSORS:
                    self._cursors.popitem(last=False)
            cursor.touched = time.time()
            endpoint = "queryAll" if cursor.include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        elif locator is not None:
            with self._state_lock:
                self._cursors.pop(locator, None)
        body["records"] = records
        return sf_json(200, body)

    def _query_more(
        self, request: Request, version: str, token: str, include_deleted: bool
    ) -> Response:
        match = _LOCATOR.match(token)
        with self._state_lock:
            cursor = self._cursors.get(match.group("id")) if match else None
        if match is None or cursor is None:
            return sf_json(
                400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
            )
        offset = int(match.group("offset"))
        if offset > len(cursor.refs):
            return sf_json(
                400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
            )
        return self._send_page(request, version, cursor, match.group("id"), offset)

    # --- Bulk API 2.0 query jobs -------------------------------------------------------------


def _as_dt(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
