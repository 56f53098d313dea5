"""A loopback HTTP server that serves a paged JSON API and injects faults, for resilience tests.

The server listens on ``127.0.0.1`` on an ephemeral port and serves:

``GET /api/records?after=CURSOR&limit=N``
    a deterministic set of records in pages, HubSpot style:
    ``{"results": [...], "paging": {"next": {"after": "..."}}}`` (no ``paging`` on the last page).
    Requires ``Authorization: Bearer <current access token>``.
``POST /oauth/token``
    ``grant_type=refresh_token&refresh_token=...`` returns a new ``access_token``, or
    ``400 {"error": "invalid_grant", ...}`` once :attr:`FaultServer.refuse_refresh` is set.
``POST /api/jobs``
    creates a job (a request that is not safe to repeat): ``201 {"id": "job-N"}``;
    :attr:`FaultServer.jobs` lists the jobs created, whatever happened to the answers.

A test chooses the faults, per request index (0 is the first request the server sees) or per
path (the n-th request to that path)::

    from crm_connect.testing import faults

    with faults.FaultServer(records=faults.make_records(25), page_size=10,
                            script={0: faults.rate_limited(retry_after=0),
                                    2: faults.server_error(503)},
                            path_script={"/api/records": [None, faults.reset()]}) as server:
        ...  # point the client at server.url
        assert server.count("/api/records") <= 6

With ``usage_style="salesforce"`` (or ``"hubspot"``) and ``daily_limit`` every response carries
the vendor's daily usage header, counting each request served.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = [
    "Fault",
    "FaultServer",
    "SeenRequest",
    "daily_quota_exceeded",
    "drip",
    "expire_token",
    "fault_server",
    "make_records",
    "rate_limited",
    "reset",
    "server_error",
    "slow",
    "status",
    "truncated",
]

RECORDS_PATH = "/api/records"
TOKEN_PATH = "/oauth/token"
JOBS_PATH = "/api/jobs"


@dataclass(frozen=True)
class Fault:
    """One injected failure.  Build them with the functions below rather than by hand."""

    kind: str  # status | reset | slow | drip | truncated | expire_token
    status: int = 500
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}({self.status})" if self.kind == "status" else self.kind


def status(code: int, body: Any = None, *, headers: Mapping[str, str] | None = None) -> Fault:
    """Answer ``code`` with a JSON ``body`` (a generic error body when ``None``)."""
    if body is None:
        body = {"status": "error", "message": f"injected HTTP {code}"}
    return Fault("status", code, body, dict(headers or {}))


def rate_limited(retry_after: float | str | dt.datetime | None = 1,
                 policy: str = "TEN_SECONDLY_ROLLING") -> Fault:
    """A 429 with HubSpot's body and ``Retry-After`` (seconds, an HTTP date, or none)."""
    headers: dict[str, str] = {}
    if isinstance(retry_after, dt.datetime):
        headers["Retry-After"] = email.utils.format_datetime(retry_after, usegmt=True)
    elif retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT", "policyName": policy}
    return Fault("status", 429, body, headers)


def server_error(code: int = 500) -> Fault:
    """A 5xx with a short JSON body."""
    return status(code, {"status": "error", "message": "Internal error"})


def reset() -> Fault:
    """Drop the connection (TCP reset) without answering."""
    return Fault("reset")


def slow(seconds: float) -> Fault:
    """Wait ``seconds`` before answering normally: past the client's read timeout."""
    return Fault("slow", seconds=seconds)


def drip(seconds_per_byte: float) -> Fault:
    """Answer normally, but send the body one byte every ``seconds_per_byte``: each read
    succeeds within any read timeout while the whole answer takes far longer."""
    return Fault("drip", seconds=seconds_per_byte)


def truncated() -> Fault:
    """Announce the whole body's Content-Length, send half of it, then close."""
    return Fault("truncated")


def expire_token() -> Fault:
    """Expire the current access token: this and every later API request get 401 until the
    client refreshes at ``/oauth/token``."""
    return Fault("expire_token")


def daily_quota_exceeded(style: str = "salesforce") -> Fault:
    """The vendor's spent-daily-quota answer: Salesforce ``403 REQUEST_LIMIT_EXCEEDED`` or a
    HubSpot ``429`` with ``"policyName": "DAILY"``."""
    if style == "salesforce":
        return status(403, [{"message": "TotalRequests Limit exceeded.",
                             "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    return status(429, {"status": "error", "message": "You have reached your daily limit.",
                        "errorType": "RATE_LIMIT", "policyName": "DAILY"})


def make_records(count: int, *, start: dt.datetime | None = None) -> list[dict[str, Any]]:
    """``count`` deterministic account-like records, ids ``"1"``.. in ``updated_at`` order."""
    start = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        {"id": str(number), "name": f"Account {number}",
         "updated_at": (start + dt.timedelta(minutes=number)).isoformat()}
        for number in range(1, count + 1)
    ]


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received, and what it did with it."""

    index: int
    method: str
    path: str
    status: int | None  # None: no answer (reset, truncated)
    fault: str | None


_AUTH_ERRORS = {
    "salesforce": [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    "hubspot": {"status": "error",
                "message": "The OAuth token used to make this call expired 0 second(s) ago.",
                "category": "EXPIRED_AUTHENTICATION"},
}


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 serving a paged API and injecting faults.

    :param records: what ``GET /api/records`` pages through (default: 25 records).
    :param page_size: default page size (``limit`` in the query overrides it).
    :param script: faults by request index, or a sequence applied to requests 0, 1, 2...
    :param path_script: faults by path: the n-th request to that path gets the n-th entry.
    :param access_token: the valid token at start; refreshes hand out new ones.
    :param refresh_token: the refresh token ``/oauth/token`` accepts.
    :param auth_style: the 401 body: ``"hubspot"`` (EXPIRED_AUTHENTICATION) or
        ``"salesforce"`` (INVALID_SESSION_ID).
    :param usage_style: ``"salesforce"`` (``Sforce-Limit-Info``) or ``"hubspot"``
        (``X-HubSpot-RateLimit-Daily``/``-Daily-Remaining``); needs ``daily_limit``.
    :param daily_used: the daily usage before the first request.
    :param records_path: where the records are served (e.g. ``/crm/v3/objects/contacts`` to
        page HubSpot-shaped records to hubspot-api-client).
    """

    def __init__(self, records: Sequence[Mapping[str, Any]] | None = None, *,
                 page_size: int = 10,
                 script: Mapping[int, Fault] | Sequence[Fault | None] | None = None,
                 path_script: Mapping[str, Sequence[Fault | None]] | None = None,
                 access_token: str = "access-token-0", refresh_token: str = "refresh-token-0",
                 auth_style: str = "hubspot", usage_style: str | None = None,
                 daily_limit: int | None = None, daily_used: int = 0,
                 records_path: str = RECORDS_PATH) -> None:
        self.records = [dict(record) for record in (records if records is not None
                                                    else make_records(25))]
        self.page_size = page_size
        self.records_path = records_path
        if script is None:
            self._script: dict[int, Fault] = {}
        elif isinstance(script, Mapping):
            self._script = dict(script)
        else:
            self._script = {i: fault for i, fault in enumerate(script) if fault is not None}
        self._path_script = {path: list(faults) for path, faults in (path_script or {}).items()}
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.refresh_count = 0
        self.refuse_refresh = False
        self.auth_style = auth_style
        self.usage_style = usage_style
        self.daily_limit = daily_limit
        self.daily_used = daily_used
        self.seen: list[SeenRequest] = []
        self.jobs: list[str] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._path_counts: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultServer:
        handler = type("Handler", (_Handler,), {"fault_server": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("the fault server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting and inspection -----------------------------------------------------------

    def add_faults(self, script: Mapping[int, Fault] | None = None,
                   path_script: Mapping[str, Sequence[Fault | None]] | None = None) -> None:
        """Add faults while the server runs (indexes and per-path positions are absolute)."""
        with self._lock:
            self._script.update(script or {})
            for path, faults in (path_script or {}).items():
                self._path_script.setdefault(path, []).extend(faults)

    def count(self, path: str | None = None) -> int:
        """Requests seen, all of them or those to ``path``."""
        with self._lock:
            return sum(1 for seen in self.seen if path is None or seen.path == path)

    def statuses(self, path: str | None = None) -> list[int | None]:
        with self._lock:
            return [seen.status for seen in self.seen if path is None or seen.path == path]

    # -- the handler's side -----------------------------------------------------------------

    def _next_fault(self, method: str, path: str) -> tuple[int, Fault | None]:
        with self._lock:
            index = len(self.seen)
            position = self._path_counts.get(path, 0)
            self._path_counts[path] = position + 1
            fault = self._script.get(index)
            per_path = self._path_script.get(path, [])
            if fault is None and position < len(per_path):
                fault = per_path[position]
            self.seen.append(SeenRequest(index, method, path, None, str(fault) if fault else None))
            if self.daily_limit is not None:
                self.daily_used += 1
            return index, fault

    def _record_status(self, index: int, code: int) -> None:
        with self._lock:
            seen = self.seen[index]
            self.seen[index] = SeenRequest(seen.index, seen.method, seen.path, code, seen.fault)

    def _expire(self) -> None:
        with self._lock:
            self.access_token = f"expired-by-fault-{len(self.seen)}"  # nobody holds this one

    def _refresh(self, form: Mapping[str, list[str]]) -> tuple[int, Any]:
        with self._lock:
            given = (form.get("refresh_token") or [""])[0]
            if self.refuse_refresh or given != self.refresh_token:
                return 400, {"error": "invalid_grant",
                             "error_description": "expired access/refresh token"}
            self.refresh_count += 1
            self.access_token = f"access-token-{self.refresh_count}"
            return 200, {"access_token": self.access_token, "token_type": "Bearer",
                         "expires_in": 1800}

    def _create_job(self) -> tuple[int, Any]:
        with self._lock:
            job_id = f"job-{len(self.jobs) + 1}"
            self.jobs.append(job_id)
        return 201, {"id": job_id, "state": "UploadComplete"}

    def _page(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        after = int((query.get("after") or ["0"])[0] or 0)  # an offset, opaque to clients
        limit = int((query.get("limit") or [str(self.page_size)])[0])
        chunk = self.records[after:after + limit]
        body: dict[str, Any] = {"results": chunk}
        if after + limit < len(self.records):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return body

    def _usage_headers(self) -> dict[str, str]:
        if self.daily_limit is None or self.usage_style is None:
            return {}
        with self._lock:
            used = min(self.daily_used, self.daily_limit)
        if self.usage_style == "salesforce":
            return {"Sforce-Limit-Info": f"api-usage={used}/{self.daily_limit}"}
        return {"X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_limit - used)}


class _Handler(BaseHTTPRequestHandler):
    fault_server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        server = self.fault_server
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        server.authorizations.append(self.headers.get("Authorization", ""))
        index, fault = server._next_fault(method, parts.path)
        if fault is not None:
            if fault.kind == "reset":
                self._reset()
                return
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "expire_token":
                server._expire()
            elif fault.kind == "status":
                self._send(index, fault.status, fault.body, fault.headers)
                return
        code, body = self._answer(method, parts.path, parts.query, raw_body)
        kind = fault.kind if fault is not None else None
        self._send(index, code, body, {}, truncate=kind == "truncated",
                   drip=fault.seconds if fault is not None and kind == "drip" else None)

    def _answer(self, method: str, path: str, query: str, raw_body: bytes) -> tuple[int, Any]:
        server = self.fault_server
        if path == TOKEN_PATH and method == "POST":
            return server._refresh(parse_qs(raw_body.decode()))
        if path == JOBS_PATH and method == "POST":
            return server._create_job()
        if path == server.records_path and method == "GET":
            if self.headers.get("Authorization") != f"Bearer {server.access_token}":
                return 401, _AUTH_ERRORS.get(server.auth_style, _AUTH_ERRORS["hubspot"])
            return 200, server._page(parse_qs(query))
        return 404, {"status": "error", "message": f"no route for {method} {path}"}

    def _send(self, index: int, code: int, body: Any, headers: Mapping[str, str], *,
              truncate: bool = False, drip: float | None = None) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in {**self.fault_server._usage_headers(), **headers}.items():
                self.send_header(name, value)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if drip is not None:
                for position in range(len(payload)):
                    self.wfile.write(payload[position:position + 1])
                    self.wfile.flush()
                    time.sleep(drip)
            else:
                self.wfile.write(payload)
            self.fault_server._record_status(index, code)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout): nothing to do

    def _reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A running :class:`FaultServer` with 25 records in pages of 10 and no faults yet; add
    them with ``fault_server.add_faults(...)``."""
    with FaultServer() as server:
        yield server
