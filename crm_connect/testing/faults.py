"""A loopback HTTP server that serves a paged JSON API and injects faults, for resilience tests.

Built on :class:`crm_connect.testing.server.LoopbackServer`; the server listens on
``127.0.0.1`` on a free port and serves:

``GET /api/records?after=CURSOR&limit=N``
    a deterministic set of records in pages:
    ``{"results": [...], "paging": {"next": {"after": "..."}}}`` (no ``paging`` on the last page).
    Requires ``Authorization: Bearer <current access token>``; any other token gets 401 with
    the ``auth_error`` body.
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

Vendor error bodies and usage headers are the test's to give: ``auth_error`` is the 401 body,
``usage_headers(used, limit)`` the headers every answer carries when ``daily_limit`` is set.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from crm_connect.testing.faultbook import (
    Fault,
    FaultKind,
    LoggedRequest,
    claimable,
    drip,
    expired_token,
    rate_limited,
    server_error,
    slow,
    status,
)
from crm_connect.testing.faultbook import connection_reset as reset
from crm_connect.testing.faultbook import truncated_body as truncated
from crm_connect.testing.server import LoopbackServer, Request, Response

__all__ = [
    "JOBS_PATH",
    "RECORDS_PATH",
    "TOKEN_PATH",
    "Fault",
    "FaultServer",
    "LoggedRequest",
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
EXPIRE_TOKEN = "expire_token"
DEFAULT_AUTH_ERROR: Any = {"message": "The access token expired."}

UsageHeaders = Callable[[int, int], Mapping[str, str]]
"""``usage_headers(used, limit)``: the daily-usage headers a vendor sends with every answer."""


def expire_token() -> Fault:
    """Expire the current access token: this request gets 401 with the server's
    ``auth_error`` body, and so does every later API request until the client refreshes at
    ``/oauth/token``."""
    return claimable(EXPIRE_TOKEN)


def make_records(count: int, *, start: dt.datetime | None = None) -> list[dict[str, Any]]:
    """``count`` deterministic account-like records, ids ``"1"``.. in ``updated_at`` order."""
    start = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        {"id": str(number), "name": f"Account {number}",
         "updated_at": (start + dt.timedelta(minutes=number)).isoformat()}
        for number in range(1, count + 1)
    ]


class FaultServer(LoopbackServer):
    """A loopback server serving a paged API and injecting scripted faults.

    :param records: what ``GET /api/records`` pages through (default: 25 records).
    :param page_size: default page size (``limit`` in the query overrides it).
    :param script: faults by request index, or a sequence applied to requests 0, 1, 2...
    :param path_script: faults by path: the n-th request to that path gets the n-th entry.
    :param access_token: the valid token at start; refreshes hand out new ones.
    :param refresh_token: the refresh token ``/oauth/token`` accepts.
    :param auth_error: the body of a 401 (a token that is not the current one).
    :param usage_headers: the daily-usage headers; used with ``daily_limit``.
    :param daily_limit: the daily request quota the usage headers report.
    :param daily_used: the daily usage before the first request (each request adds one).
    :param records_path: where the records are served.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]] | None = None, *,
                 page_size: int = 10,
                 script: Mapping[int, Fault] | Sequence[Fault | None] | None = None,
                 path_script: Mapping[str, Sequence[Fault | None]] | None = None,
                 access_token: str = "access-token-0", refresh_token: str = "refresh-token-0",
                 auth_error: Any = DEFAULT_AUTH_ERROR,
                 usage_headers: UsageHeaders | None = None,
                 daily_limit: int | None = None, daily_used: int = 0,
                 records_path: str = RECORDS_PATH) -> None:
        super().__init__(guard=self._count_usage, default_headers=self._usage_headers)
        self.records = [dict(record) for record in (records if records is not None
                                                    else make_records(25))]
        self.page_size = page_size
        self.records_path = records_path
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.refresh_count = 0
        self.refuse_refresh = False
        self.auth_error = auth_error
        self.usage_headers = usage_headers
        self.daily_limit = daily_limit
        self.daily_used = daily_used
        self.jobs: list[str] = []
        self._lock = threading.Lock()
        self.route("POST", re.escape(TOKEN_PATH), self._refresh)
        self.route("POST", re.escape(JOBS_PATH), self._create_job)
        self.route("GET", re.escape(records_path), self._page)
        self.add_faults(script, path_script)

    # -- scripting and inspection -----------------------------------------------------------

    def add_faults(self, script: Mapping[int, Fault] | Sequence[Fault | None] | None = None,
                   path_script: Mapping[str, Sequence[Fault | None]] | None = None) -> None:
        """Add faults, also while the server runs: indexes count every request the server has
        seen, per-path positions every request to that path (both from 0)."""
        by_index: dict[int, Fault] = {}
        if isinstance(script, Mapping):
            by_index = dict(script)
        elif script is not None:
            by_index = {index: fault for index, fault in enumerate(script) if fault is not None}
        seen = self.count()
        for index, fault in sorted(by_index.items()):
            if index >= seen:
                self.faults.add(self._bind(fault), skip=index - seen)
        for path, sequence in (path_script or {}).items():
            seen_here = self.count(path)
            for position, step in enumerate(sequence):
                if step is not None and position >= seen_here:
                    self.faults.add(self._bind(step), path=f"^{re.escape(path)}$",
                                    skip=position - seen_here)

    def count(self, path: str | None = None) -> int:
        """Requests seen, all of them or those to exactly ``path``."""
        return sum(1 for entry in self.requests if path is None or entry.path == path)

    def statuses(self, path: str | None = None) -> list[int | None]:
        """The status answered to each request (``None``: no answer), all or those to ``path``."""
        return [entry.status or None for entry in self.requests
                if path is None or entry.path == path]

    # -- the API ------------------------------------------------------------------------------

    def _bind(self, fault: Fault) -> Fault:
        if fault.kind == FaultKind.CLAIMABLE and fault.label == EXPIRE_TOKEN:
            return expired_token(self.auth_error, effect=self._expire, label=EXPIRE_TOKEN)
        return fault

    def _expire(self, request: Request) -> None:
        with self._lock:
            self.access_token = f"expired-by-fault-{self.count()}"  # nobody holds this one

    def _count_usage(self, request: Request) -> Response | None:
        if self.daily_limit is not None:
            with self._lock:
                self.daily_used += 1
        return None

    def _usage_headers(self) -> Mapping[str, str]:
        if self.daily_limit is None or self.usage_headers is None:
            return {}
        with self._lock:
            used = min(self.daily_used, self.daily_limit)
        return self.usage_headers(used, self.daily_limit)

    def _refresh(self, request: Request) -> Response:
        with self._lock:
            if self.refuse_refresh or request.form().get("refresh_token") != self.refresh_token:
                return Response.json(400, {"error": "invalid_grant",
                                           "error_description": "expired access/refresh token"})
            self.refresh_count += 1
            self.access_token = f"access-token-{self.refresh_count}"
            return Response.json(200, {"access_token": self.access_token,
                                       "token_type": "Bearer", "expires_in": 1800})

    def _create_job(self, request: Request) -> Response:
        with self._lock:
            job_id = f"job-{len(self.jobs) + 1}"
            self.jobs.append(job_id)
        return Response.json(201, {"id": job_id, "state": "UploadComplete"})

    def _page(self, request: Request) -> Response:
        if request.bearer() != self.access_token:
            return Response.json(401, self.auth_error)
        query = request.params
        after = int((query.get("after") or ["0"])[0] or 0)  # an offset, opaque to clients
        limit = int((query.get("limit") or [str(self.page_size)])[0])
        body: dict[str, Any] = {"results": self.records[after:after + limit]}
        if after + limit < len(self.records):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(200, body)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A running :class:`FaultServer` with 25 records in pages of 10 and no faults yet; add
    them with ``fault_server.add_faults(...)``."""
    with FaultServer() as server:
        yield server
