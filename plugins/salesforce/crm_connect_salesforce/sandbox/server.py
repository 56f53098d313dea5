"""The loopback HTTPS server speaking the Salesforce REST, OAuth, SOAP-login and Bulk 2.0 APIs."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import itertools
import json
import re
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from . import soql
from .auth import Credentials, OAuthError, TokenStore, soap_login
from .faults import (
    ERROR_CONCURRENT_LIMIT,
    ERROR_DAILY_LIMIT,
    ERROR_RATE_LIMIT,
    Fault,
    FaultBook,
    FaultKind,
    LoggedRequest,
)
from .ids import make_id
from .metadata import FieldDef, describe_global_entry, describe_object
from .org import DEFAULT_NOW, Org, Record, SandboxError
from .tls import new_rsa_keypair, write_self_signed

API_VERSIONS = [f"{v}.0" for v in range(31, 67)]
_RELEASES = ("Summer", "Winter", "Spring")
DEFAULT_API_VERSION = "60.0"
MAX_URL_LENGTH = 16384
QUERY_BATCH = 2000
MAX_OPEN_CURSORS = 50
BULK_DEFAULT_MAX_RECORDS = 50000

_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")
_LOCATOR = re.compile(r"^(?P<id>01g[0-9A-Za-z]{15})-(?P<offset>\d+)$")

ERROR_INVALID_SESSION = [
    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
]
ERROR_TIMEOUT = [
    {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
]
ERROR_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def sf_datetime(value: dt.datetime) -> str:
    """``2026-05-01T07:25:37.000+0000``, the way the REST API writes datetimes."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _version_label(version: str) -> str:
    major = int(float(version))
    # v31 was Summer '14; three releases a year since.
    step = major - 31
    season = _RELEASES[step % 3]
    year = 14 + (step + 1) // 3 if season != "Summer" else 14 + step // 3
    return f"{season} '{year:02d}"


def json_value(value: Any, fdef: FieldDef | None) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return sf_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if (
        isinstance(value, float)
        and fdef is not None
        and fdef.type in ("currency", "percent", "int")
        and value.is_integer()
    ):
        return int(value)
    return value


def csv_value(value: Any, fdef: FieldDef | None) -> str:
    """Bulk API 2.0 CSV cell text (datetimes in ``...000Z`` form, booleans lower case)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    out = json_value(value, fdef)
    return str(out)


@dataclass
class Cursor:
    query: soql.Query
    refs: list[int]
    include_deleted: bool
    batch: int
    touched: float = field(default_factory=time.time)


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


_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "SEMICOLON": ";",
    "PIPE": "|",
    "CARET": "^",
    "BACKQUOTE": "`",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SalesforceSandbox
    ssl_context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # the TLS handshake happens in the handler's thread, so a slow client blocks nobody
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # reset connections and TLS failures are expected here


class _Abort(Exception):
    """Stop handling: the connection was reset or cut on purpose."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "sfdcedge"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        split = urllib.parse.urlsplit(self.path)
        self._method = method
        self._req_path = split.path
        self._req_query = split.query
        self._status = 0
        self._fault: str | None = None
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        try:
            sandbox._route(self, method, split.path, urllib.parse.parse_qs(split.query))
        except _Abort:
            self.close_connection = True
        except Exception as exc:  # a sandbox bug must still answer like Salesforce does
            self._fault = f"error: {exc!r}"
            self.send_json(
                500,
                [
                    {
                        "errorCode": "UNKNOWN_EXCEPTION",
                        "message": f"An unexpected error occurred: {exc!r}",
                    }
                ],
            )
        finally:
            sandbox.faults.log(method, split.path, split.query, self._status, self._fault)

    def _headers(self, status: int, content_type: str, extra: dict[str, str] | None) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("Content-Type", content_type)
        self.send_header("Sforce-Limit-Info", self.server.sandbox.limit_info())
        for key, value in (extra or {}).items():
            self.send_header(key, value)

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._headers(status, content_type, headers)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self._fault == FaultKind.TRUNCATED_BODY.value and len(body) > 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self._cut()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_bytes(status, body, "application/json;charset=UTF-8", headers)

    def send_stream(
        self,
        status: int,
        chunks: Iterator[bytes],
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A chunked response (Bulk results): memory stays flat whatever the size."""
        self._headers(status, content_type, headers)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        for chunk in chunks:
            if not chunk:
                continue
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            sent += 1
            if self._fault == FaultKind.TRUNCATED_BODY.value and sent >= 1:
                self.wfile.flush()
                self._cut()
        self.wfile.write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """Drop the connection mid-body."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Abort()

    def reset(self) -> None:
        """Answer nothing: reset the TCP connection (SO_LINGER 0 turns close into RST)."""
        self._status = 0
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        raise _Abort()

    @property
    def body(self) -> bytes:
        return self._body


class SalesforceSandbox:
    """A Salesforce org on 127.0.0.1 over TLS, for demos, connector tests and cassettes.

    Use as a context manager (``with SalesforceSandbox(records=5000, seed=7) as sf: ...``) or call
    :meth:`start` / :meth:`stop`.  ``instance_url``, ``cert_path``, ``credentials`` and
    ``access_token`` are what a client needs; ``session()`` returns a ``requests.Session`` that
    trusts the certificate (and routes ``*.salesforce.com`` login URLs to the sandbox).
    """

    def __init__(
        self,
        records: int = 2000,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_version: str = DEFAULT_API_VERSION,
        now: dt.datetime = DEFAULT_NOW,
        multi_currency: bool = True,
        custom_fields: bool = True,
        default_currency: str = "USD",
        daily_api_limit: int = 15000,
        session_seconds: float = 7200.0,
        bulk_polls: int = 1,
        max_url_length: int = MAX_URL_LENGTH,
        credentials: Credentials | None = None,
        jwt_public_key_pem: bytes | None = None,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox only listens on the loopback interface")
        self.org = Org(
            records=records,
            seed=seed,
            now=now,
            multi_currency=multi_currency,
            custom_fields=custom_fields,
            default_currency=default_currency,
        )
        self.host = host
        self.port = port
        self.api_version = api_version
        self.daily_api_limit = daily_api_limit
        self.bulk_polls = bulk_polls
        self.max_url_length = max_url_length
        self.credentials = credentials or Credentials()
        self.credentials.user_id = self.org.id_of("User", 0)
        self.credentials.org_id = self.org.id_of("Organization", 0)
        if jwt_public_key_pem is not None:
            self.credentials.jwt_public_key_pem = jwt_public_key_pem
        self.tokens = TokenStore(self.credentials, session_seconds)
        self.tokens.rotate_refresh_tokens = rotate_refresh_tokens
        self._done_early = 0
        self.faults = FaultBook()
        self._api_used = 0
        self._bulk_jobs_used = 0
        self._usage_lock = threading.Lock()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._jobs: dict[str, BulkJob] = {}
        self._counter = itertools.count(1)
        self._state_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self.cert_path: Path | None = None
        self.access_token = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SalesforceSandbox:
        if self._server is not None:
            return self
        self._tmp = Path(tempfile.mkdtemp(prefix="crm-connect-sf-sandbox-"))
        cert, key = write_self_signed(self._tmp)
        self.cert_path = cert
        if not self.credentials.jwt_public_key_pem:
            private, public = new_rsa_keypair()
            self.credentials.jwt_private_key_pem = private
            self.credentials.jwt_public_key_pem = public
            key_path = self._tmp / "jwt-private-key.pem"
            key_path.write_bytes(private)
            key_path.chmod(0o600)
            self.credentials.jwt_private_key_path = str(key_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        server.ssl_context = context
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="sf-sandbox", daemon=True
        )
        self._thread.start()
        self.access_token = self.tokens.issue()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def instance_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/services/oauth2/token"

    def session(self, reroute_logins: bool = True) -> requests.Session:
        """A ``requests.Session`` that trusts the sandbox certificate.

        With ``reroute_logins`` it also sends ``https://login.salesforce.com`` (and any
        ``*.salesforce.com``) to the sandbox, so simple-salesforce's built-in logins work
        unchanged; any other non-loopback host is refused, so a test can never reach the network.
        """
        session = _LoopbackSession(self.instance_url, reroute_logins)
        session.verify = str(self.cert_path)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override ``session.verify``
        # (psf/requests
        # #3829), and proxy variables could capture loopback traffic: ignore the environment.
        session.trust_env = False
        return session

    # --- Python API for tests: tokens, usage, faults, log, mutations -----------------------

    def issue_token(self) -> str:
        return self.tokens.issue()

    def expire_tokens(self) -> None:
        """Every issued access token becomes invalid (401 INVALID_SESSION_ID until re-login)."""
        self.tokens.expire_all()

    def answer_done_early(self, count: int = 1) -> None:
        """The next ``count`` query answers that have more records to give say ``done: true``
        anyway, without ``nextRecordsUrl`` (``totalSize`` stays right), as Salesforce has
        been seen to do: a client that trusts ``done`` misses the rest.  Bulk result pages
        likewise answer ``Sforce-Locator: null`` early (``numberRecordsProcessed`` stays
        right)."""
        with self._state_lock:
            self._done_early += count

    def revoke_refresh_token(self) -> None:
        """The refresh token is refused from now on (``invalid_grant``)."""
        self.tokens.refresh_revoked = True

    @property
    def api_usage(self) -> int:
        return self._api_used

    def set_api_usage(self, used: int) -> None:
        with self._usage_lock:
            self._api_used = used

    def limit_info(self) -> str:
        return f"api-usage={self._api_used}/{self.daily_api_limit}"

    def inject(
        self,
        kind: FaultKind | str,
        path: str = "",
        count: int | None = 1,
        *,
        method: str | None = None,
        retry_after: int = 1,
        window_days: float | None = None,
    ) -> Fault:
        """Queue a fault for requests whose path matches the regex ``path`` (see FaultKind)."""
        return self.faults.add(
            Fault(FaultKind(kind), path, count, method, retry_after, window_days)
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        return self.faults.entries

    def request_count(
        self, path: str | None = None, method: str | None = None, status: int | None = None
    ) -> int:
        """Requests logged whose path matches the regex ``path`` (and method/status when given)."""
        pattern = re.compile(path) if path else None
        return sum(
            1
            for r in self.faults.entries
            if (pattern is None or pattern.search(r.path))
            and (method is None or r.method == method.upper())
            and (status is None or r.status == status)
        )

    def clear_log(self) -> None:
        self.faults.clear_log()

    def expire_query_cursors(self) -> None:
        with self._state_lock:
            self._cursors.clear()

    def id_of(self, obj: str, index: int) -> str:
        return self.org.id_of(obj, index)

    def get(self, record_id: str) -> Record | None:
        return self.org.get(record_id)

    def update(self, record_id: str, **fields: Any) -> Record:
        return self.org.update(record_id, **fields)

    def update_many(self, record_ids: list[str], **fields: Any) -> dt.datetime:
        return self.org.update_many(record_ids, **fields)

    def create(self, obj: str, **fields: Any) -> Record:
        return self.org.create(obj, **fields)

    def delete(self, record_id: str) -> Record:
        return self.org.delete(record_id)

    def undelete(self, record_id: str) -> Record:
        return self.org.undelete(record_id)

    def hard_delete(self, record_id: str) -> None:
        self.org.hard_delete(record_id)

    def advance_clock(self, seconds: float) -> dt.datetime:
        return self.org.tick(seconds)

    def counts(self, include_deleted: bool = False) -> dict[str, int]:
        return self.org.counts(include_deleted)

    # --- routing -------------------------------------------------------------------------------

    def _route(self, h: _Handler, method: str, path: str, params: dict[str, list[str]]) -> None:
        if len(h.path) > self.max_url_length:
            h._fault = "uri_too_long"
            h.send_bytes(
                414,
                b"<html><body><h1>414 Request-URI Too Large</h1></body></html>",
                "text/html;charset=UTF-8",
            )
            return
        if self._apply_fault(h, method, path):
            return
        if path in ("/services/data", "/services/data/") and method == "GET":
            h.send_json(
                200,
                [
                    {"label": _version_label(v), "url": f"/services/data/v{v}", "version": v}
                    for v in API_VERSIONS
                ],
            )
            return
        if path.rstrip("/") == "/services/oauth2/token":
            self._oauth(h, method)
            return
        soap = re.match(r"^/services/Soap/u/(\d+\.\d)/?$", path)
        if soap:
            self._soap(h, method, soap.group(1))
            return
        match = _DATA.match(path)
        if match is None or match.group("version") not in API_VERSIONS:
            h.send_json(404, ERROR_NOT_FOUND)
            return
        token = self._bearer(h)
        if token is None or not self.tokens.valid(token):
            h.send_json(
                401, ERROR_INVALID_SESSION, {"WWW-Authenticate": 'Token realm="salesforce"'}
            )
            return
        with self._usage_lock:
            if self._api_used >= self.daily_api_limit:
                over = True
            else:
                over = False
                self._api_used += 1
        if over:
            h.send_json(403, ERROR_DAILY_LIMIT)
            return
        self._data(
            h, method, match.group("version"), (match.group("rest") or "/").rstrip("/"), params
        )

    def _apply_fault(self, h: _Handler, method: str, path: str) -> bool:
        fault = self.faults.take(
            method, path, kinds={k for k in FaultKind if k != FaultKind.QUERY_TIMEOUT}
        )
        if fault is None:
            return False
        h._fault = fault.kind.value
        kind = fault.kind
        if kind == FaultKind.TRUNCATED_BODY:
            return False  # the real answer, cut in half on the way out
        if kind == FaultKind.CONNECTION_RESET:
            h.reset()
        if kind == FaultKind.REQUEST_LIMIT_EXCEEDED:
            h.send_json(403, ERROR_DAILY_LIMIT)
        elif kind == FaultKind.INVALID_SESSION:
            token = self._bearer(h)
            if token:
                self.tokens.revoke(token)
            h.send_json(
                401, ERROR_INVALID_SESSION, {"WWW-Authenticate": 'Token realm="salesforce"'}
            )
        elif kind == FaultKind.CONCURRENT_LIMIT:
            h.send_json(403, ERROR_CONCURRENT_LIMIT)
        elif kind == FaultKind.RATE_LIMITED:
            h.send_json(429, ERROR_RATE_LIMIT, {"Retry-After": str(fault.retry_after)})
        elif kind == FaultKind.UNAVAILABLE:
            h.send_json(
                503,
                [
                    {
                        "message": "Server temporarily unavailable, please retry your request.",
                        "errorCode": "SERVER_UNAVAILABLE",
                    }
                ],
                {"Retry-After": str(fault.retry_after)},
            )
        elif kind == FaultKind.SERVER_ERROR:
            h.send_json(
                500,
                [
                    {
                        "message": "An unexpected error occurred. Please include this ErrorId if "
                        "you contact support: 1234567890-12345 (-1234567890)",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
            )
        return True

    @staticmethod
    def _bearer(h: _Handler) -> str | None:
        auth = h.headers.get("Authorization") or ""
        for scheme in ("Bearer ", "OAuth "):
            if auth.startswith(scheme):
                return auth[len(scheme) :].strip()
        return None

    # --- auth endpoints ------------------------------------------------------------------------

    def _oauth(self, h: _Handler, method: str) -> None:
        if method != "POST":
            h.send_json(
                400, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
            return
        form = {
            k: v[0]
            for k, v in urllib.parse.parse_qs(h.body.decode(), keep_blank_values=True).items()
        }
        audiences = {
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            self.instance_url,
        }
        try:
            payload = self.tokens.grant(
                form, h.headers.get("Authorization"), self.instance_url, audiences
            )
        except OAuthError as exc:
            h.send_json(exc.status, exc.body())
            return
        h.send_json(200, payload)

    def _soap(self, h: _Handler, method: str, version: str) -> None:
        if method != "POST":
            h.send_json(405, ERROR_NOT_FOUND)
            return
        status, xml = soap_login(
            h.body,
            self.tokens,
            self.instance_url,
            version,
            multi_currency=self.org.multi_currency,
            currency=self.org.default_currency,
        )
        h.send_bytes(status, xml.encode(), "text/xml;charset=UTF-8")

    # --- data endpoints ------------------------------------------------------------------------

    def _data(
        self, h: _Handler, method: str, version: str, rest: str, params: dict[str, list[str]]
    ) -> None:
        parts = [urllib.parse.unquote(p) for p in rest.split("/") if p]
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            h.send_json(
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
            return
        head = parts[0] if parts else ""
        if head == "limits" and method == "GET" and len(parts) == 1:
            h.send_json(200, self._limits())
            return
        if head == "sobjects" and method == "GET":
            self._sobjects(h, version, parts[1:], params)
            return
        if head in ("query", "queryAll") and method == "GET":
            include_deleted = head == "queryAll"
            if len(parts) == 1:
                self._query(h, version, params, include_deleted)
                return
            if len(parts) == 2:
                self._query_more(h, version, parts[1], include_deleted)
                return
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            self._bulk(h, method, version, parts[2:], params)
            return
        h.send_json(404, ERROR_NOT_FOUND)

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
        self, h: _Handler, version: str, parts: list[str], params: dict[str, list[str]]
    ) -> None:
        org = self.org
        if not parts:
            h.send_json(
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
            return
        obj = org.by_lower.get(parts[0].lower())
        if obj is None:
            h.send_json(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
            return
        if len(parts) == 1:
            recent: list[Any] = []
            h.send_json(
                200,
                {
                    "objectDescribe": describe_global_entry(obj, version, self.instance_url),
                    "recentItems": recent,
                },
            )
            return
        if len(parts) == 2 and parts[1] == "describe":
            h.send_json(200, describe_object(obj, org.objects, version, self.instance_url))
            return
        if len(parts) == 2 and parts[1] in ("deleted", "updated"):
            self._changed(h, obj.name, parts[1], params)
            return
        if len(parts) == 2:
            located = org.locate(parts[1])
            rec = org.record(*located) if located and located[0] == obj.name else None
            if rec is None or rec.get("IsDeleted"):
                h.send_json(404, ERROR_NOT_FOUND)
                return
            wanted = params.get("fields", [""])[0]
            names = [f.name for f in obj.fields]
            if wanted:
                names = []
                for name in wanted.split(","):
                    fdef = obj.field(name.strip())
                    if fdef is None:
                        h.send_json(
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
                        return
                    names.append(fdef.name)
            out: dict[str, Any] = {
                "attributes": {
                    "type": obj.name,
                    "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}",
                }
            }
            for name in names:
                out[name] = json_value(rec.get(name), obj.field(name))
            h.send_json(200, out)
            return
        h.send_json(404, ERROR_NOT_FOUND)

    def _changed(self, h: _Handler, obj: str, which: str, params: dict[str, list[str]]) -> None:
        """``getDeleted`` / ``getUpdated`` over a [start, end] window of SystemModstamp."""
        try:
            start = soql.parse_datetime(params["start"][0])
            end = soql.parse_datetime(params["end"][0])
        except (KeyError, ValueError):
            h.send_json(
                400,
                [
                    {
                        "errorCode": "MISSING_ARGUMENT",
                        "message": "start and end are required and must be valid dateTimes",
                    }
                ],
            )
            return
        earliest = self.org.now - dt.timedelta(days=15)
        if which == "deleted":
            found = [
                {"id": rec["Id"], "deletedDate": sf_datetime(rec["SystemModstamp"])}
                for _, rec in self.org.iter_records(obj, include_deleted=True)
                if rec.get("IsDeleted") and start <= rec["SystemModstamp"] <= end
            ]
            h.send_json(
                200,
                {
                    "deletedRecords": found,
                    "earliestDateAvailable": sf_datetime(earliest),
                    "latestDateCovered": sf_datetime(min(end, self.org.clock)),
                },
            )
            return
        ids = [
            rec["Id"]
            for _, rec in self.org.iter_records(obj)
            if start <= rec["SystemModstamp"] <= end
        ]
        h.send_json(200, {"ids": ids, "latestDateCovered": sf_datetime(min(end, self.org.clock))})

    # --- SOQL ----------------------------------------------------------------------------------

    def _compile(self, text: str) -> soql.Query:
        return soql.bind(soql.parse(text), self.org.objects)

    def _resolve(self, rec: Record, path: soql.Path) -> Any:
        current: Record | None = rec
        for ref in path.chain:
            if current is None:
                return None
            target = current.get(ref.name)
            current = self.org.get(target) if target else None
        if current is None:
            return None
        assert path.leaf is not None
        if path.leaf.name == "Type" and path.chain and path.chain[-1].polymorphic:
            located = self.org.locate(current["Id"])
            return located[0] if located else None
        return current.get(path.leaf.name)

    def run(self, query: soql.Query, include_deleted: bool) -> list[int]:
        """Indices of the records ``query`` selects, in its order, after LIMIT/OFFSET."""
        assert query.obj is not None
        hits: list[tuple[int, list[Any]]] = []
        now = self.org.clock
        for index, rec in self.org.iter_records(query.obj.name, include_deleted=include_deleted):
            if soql.matches(query.where, rec, self._resolve, now):
                hits.append((index, [self._resolve(rec, o.path) for o in query.order]))
        # stable sorts from the last ORDER BY item to the first; ties keep Id order
        for pos in range(len(query.order) - 1, -1, -1):
            item = query.order[pos]

            def key(hit: tuple[int, list[Any]], p: int = pos, it: soql.OrderItem = item) -> Any:
                return soql.sort_key(it, hit[1][p])

            hits.sort(key=key, reverse=item.descending)
        refs = [index for index, _ in hits]
        if query.offset:
            refs = refs[query.offset :]
        if query.limit is not None:
            refs = refs[: query.limit]
        return refs

    def project(self, rec: Record, query: soql.Query, version: str) -> dict[str, Any]:
        """One record of a query result: ``attributes``, then the selected fields in order."""
        assert query.obj is not None
        out: dict[str, Any] = {
            "attributes": {
                "type": query.obj.name,
                "url": f"/services/data/v{version}/sobjects/{query.obj.name}/{rec['Id']}",
            }
        }
        for path in query.fields:
            self._place(out, rec, path, 0, version)
        return out

    def _place(
        self, out: dict[str, Any], rec: Record | None, path: soql.Path, depth: int, version: str
    ) -> None:
        assert path.leaf is not None
        if depth == len(path.chain):
            if (
                path.leaf.name == "Type"
                and path.chain
                and path.chain[-1].polymorphic
                and rec is not None
            ):
                located = self.org.locate(rec["Id"])
                out["Type"] = located[0] if located else None
            else:
                out[path.leaf.name] = json_value(
                    rec.get(path.leaf.name) if rec else None, path.leaf
                )
            return
        ref = path.chain[depth]
        name = ref.relationship_name or ref.name
        if name in out and out[name] is None:
            return
        target_id = rec.get(ref.name) if rec else None
        target = self.org.get(target_id) if target_id else None
        if target is None:
            out[name] = None
            return
        nested = out.get(name)
        if nested is None:
            located = self.org.locate(target_id or "")
            kind = located[0] if located else "Name"
            nested = {
                "attributes": {
                    "type": "Name" if ref.polymorphic else kind,
                    "url": f"/services/data/v{version}/sobjects/{kind}/{target_id}",
                }
            }
            out[name] = nested
        self._place(nested, target, path, depth + 1, version)

    def _too_wide(self, query: soql.Query, method: str, path: str) -> bool:
        """Whether a queued QUERY_TIMEOUT fault fires for this query (window-aware)."""
        windows = soql.time_window(query)

        def accept(fault: Fault) -> bool:
            if fault.window_days is None:
                return True
            if not windows:
                return True  # no bound at all: the whole history
            widest = 0.0
            for lo, hi in windows.values():
                lo_dt = _as_dt(lo) if lo is not None else self.org.start - dt.timedelta(days=3650)
                hi_dt = _as_dt(hi) if hi is not None else self.org.clock
                widest = max(widest, (hi_dt - lo_dt).total_seconds() / 86400)
            return widest > fault.window_days

        return (
            self.faults.take(method, path, kinds={FaultKind.QUERY_TIMEOUT}, accept=accept)
            is not None
        )

    def _query(
        self, h: _Handler, version: str, params: dict[str, list[str]], include_deleted: bool
    ) -> None:
        text = (params.get("q") or [""])[0]
        if not text:
            h.send_json(
                400,
                [
                    {
                        "message": "The request was missing a required query parameter 'q'",
                        "errorCode": "MALFORMED_QUERY",
                    }
                ],
            )
            return
        try:
            query = self._compile(text)
        except soql.SoqlError as exc:
            h.send_json(400, [{"message": exc.message, "errorCode": exc.code}])
            return
        if self._too_wide(query, "GET", h._req_path):
            h._fault = FaultKind.QUERY_TIMEOUT.value
            h.send_json(400, ERROR_TIMEOUT)
            return
        refs = self.run(query, include_deleted)
        if query.count:
            h.send_json(200, {"totalSize": len(refs), "done": True, "records": []})
            return
        if query.count_field is not None:
            h.send_json(
                200,
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [{"attributes": {"type": "AggregateResult"}, "expr0": len(refs)}],
                },
            )
            return
        batch = QUERY_BATCH
        options = h.headers.get("Sforce-Query-Options") or ""
        found = re.search(r"batchSize=(\d+)", options)
        if found:
            batch = min(QUERY_BATCH, max(200, int(found.group(1))))
        cursor = Cursor(query, refs, include_deleted, batch)
        self._send_page(h, version, cursor, None, 0)

    def _send_page(
        self, h: _Handler, version: str, cursor: Cursor, locator: str | None, offset: int
    ) -> None:
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
                h._fault = "done_early"
                body["done"] = True
                body["records"] = records
                h.send_json(200, body)
                return
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
        h.send_json(200, body)

    def _query_more(self, h: _Handler, version: str, token: str, include_deleted: bool) -> None:
        match = _LOCATOR.match(token)
        with self._state_lock:
            cursor = self._cursors.get(match.group("id")) if match else None
        if match is None or cursor is None:
            h.send_json(
                400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
            )
            return
        offset = int(match.group("offset"))
        if offset > len(cursor.refs):
            h.send_json(
                400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
            )
            return
        self._send_page(h, version, cursor, match.group("id"), offset)

    # --- Bulk API 2.0 query jobs -------------------------------------------------------------

    def _bulk(
        self, h: _Handler, method: str, version: str, parts: list[str], params: dict[str, list[str]]
    ) -> None:
        if not parts:
            if method == "POST":
                self._bulk_create(h, version)
            elif method == "GET":
                with self._state_lock:
                    jobs = [job.info() for job in self._jobs.values()]
                h.send_json(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
            else:
                h.send_json(405, ERROR_NOT_FOUND)
            return
        with self._state_lock:
            job = self._jobs.get(parts[0])
        if job is None:
            h.send_json(404, ERROR_NOT_FOUND)
            return
        if len(parts) == 1 and method == "GET":
            self._bulk_advance(job)
            h.send_json(200, job.info())
            return
        if len(parts) == 1 and method == "PATCH":
            try:
                wanted = json.loads(h.body or b"{}").get("state")
            except json.JSONDecodeError:
                wanted = None
            if wanted != "Aborted":
                h.send_json(
                    400,
                    [
                        {
                            "errorCode": "INVALIDJOBSTATE",
                            "message": "Query jobs can only be set to state Aborted",
                        }
                    ],
                )
                return
            if job.state in ("JobComplete", "Failed"):
                h.send_json(
                    400,
                    [
                        {
                            "errorCode": "INVALIDJOBSTATE",
                            "message": f"Cannot abort a job in state {job.state}",
                        }
                    ],
                )
                return
            job.state = "Aborted"
            job.modstamp = self.org.clock
            h.send_json(200, job.info())
            return
        if len(parts) == 1 and method == "DELETE":
            with self._state_lock:
                self._jobs.pop(job.id, None)
            h._status = 204
            h.send_response(204)
            h.send_header("Sforce-Limit-Info", self.limit_info())
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            self._bulk_results(h, job, params)
            return
        h.send_json(404, ERROR_NOT_FOUND)

    def _bulk_create(self, h: _Handler, version: str) -> None:
        try:
            payload = json.loads(h.body or b"{}")
        except json.JSONDecodeError:
            h.send_json(
                400,
                [{"errorCode": "JSON_PARSER_ERROR", "message": "Invalid JSON in the request body"}],
            )
            return
        operation = payload.get("operation")
        if operation not in ("query", "queryAll"):
            h.send_json(
                400,
                [
                    {
                        "errorCode": "INVALIDJOB",
                        "message": f"Invalid operation: {operation}. Use query or queryAll",
                    }
                ],
            )
            return
        delimiter = payload.get("columnDelimiter") or "COMMA"
        line_ending = payload.get("lineEnding") or "LF"
        if delimiter not in _DELIMITERS or line_ending not in ("LF", "CRLF"):
            h.send_json(
                400,
                [{"errorCode": "INVALIDJOB", "message": "Invalid columnDelimiter or lineEnding"}],
            )
            return
        try:
            query = self._compile(payload.get("query") or "")
        except soql.SoqlError as exc:
            h.send_json(400, [{"errorCode": exc.code, "message": exc.message}])
            return
        if query.count or query.count_field is not None or query.offset:
            h.send_json(
                400,
                [
                    {
                        "errorCode": "INVALIDJOB",
                        "message": "Aggregate queries and OFFSET are not supported by Bulk API 2.0",
                    }
                ],
            )
            return
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
        h.send_json(200, job.info())

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

    def _bulk_results(self, h: _Handler, job: BulkJob, params: dict[str, list[str]]) -> None:
        if job.state != "JobComplete" or job.refs is None:
            status = {
                "UploadComplete": "UPLOAD_COMPLETE",
                "InProgress": "IN_PROGRESS",
                "Aborted": "ABORTED",
                "Failed": "FAILED",
            }.get(job.state, job.state.upper())
            h.send_json(
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
            return
        locator = (params.get("locator") or [""])[0]
        offset = 0
        if locator and locator != "null":
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except (ValueError, binascii.Error, UnicodeDecodeError):
                offset = -1
            if offset < 0 or offset > len(job.refs):
                h.send_json(
                    400,
                    [{"errorCode": "INVALID_LOCATOR", "message": f"Invalid locator: {locator}"}],
                )
                return
        try:
            max_records = int((params.get("maxRecords") or [str(BULK_DEFAULT_MAX_RECORDS)])[0])
        except ValueError:
            max_records = 0
        if max_records <= 0:
            h.send_json(
                400,
                [{"errorCode": "INVALIDJOB", "message": "maxRecords must be a positive integer"}],
            )
            return
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
                h._fault = "done_early"
                next_locator = "null"
        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}
        h.send_stream(200, self._csv_rows(job, page), "text/csv", headers)

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


def _as_dt(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


class _LoopbackSession(requests.Session):
    """A session that can only reach the sandbox: ``*.salesforce.com`` is rerouted to it.

    The rerouting sits in :meth:`send`, which every request and every redirect goes through.
    """

    def __init__(self, instance_url: str, reroute: bool = True) -> None:
        super().__init__()
        self._instance = urllib.parse.urlsplit(instance_url)
        self._reroute = reroute

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urllib.parse.urlsplit(request.url or "")
        host = parts.hostname or ""
        if self._reroute and host.endswith("salesforce.com"):
            parts = parts._replace(scheme="https", netloc=self._instance.netloc)
            request.url = urllib.parse.urlunsplit(parts)
        elif host not in ("127.0.0.1", "localhost", "::1"):
            raise requests.ConnectionError(
                f"the sandbox session refuses non-loopback host {host!r}"
            )
        return super().send(request, **kwargs)


__all__ = ["SalesforceSandbox", "SandboxError", "sf_datetime"]
