"""A loopback HTTP(S) server for tests: routes, faults and a request log.

:class:`LoopbackServer` listens on ``127.0.0.1`` on a free port, optionally over TLS with a
self-signed certificate made at start, and hands each request to the first route whose method
and path pattern match.  A route handler receives a :class:`Request` and returns a
:class:`Response`.  Before routing, the server applies the first fault queued in
:attr:`LoopbackServer.faults` (a :class:`~crm_connect.testing.faultbook.FaultBook`) that matches
the request; every request lands in the log, :attr:`LoopbackServer.requests`::

    from crm_connect.testing import faultbook
    from crm_connect.testing.server import LoopbackServer, Response

    with LoopbackServer() as server:
        server.route("GET", "/api/things", lambda request: Response.json(200, {"things": []}))
        server.faults.add(faultbook.rate_limited(retry_after=2), path="^/api/things$", count=1)
        ...  # point the client at server.url; its first request gets the 429
        assert server.request_count("/api/things", status=429) == 1
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from crm_connect.testing.faultbook import Fault, FaultBook, FaultKind, LoggedRequest
from crm_connect.testing.tls import server_context, write_self_signed

__all__ = ["JSON", "LoopbackServer", "Request", "Response", "RouteHandler"]

JSON = "application/json;charset=utf-8"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Request:
    """A request as a route handler sees it."""

    method: str
    target: str  # the request line's target: path and query as sent
    path: str
    query: str
    headers: Message
    body: bytes
    fault: Fault | None = None  # the fault applied to this request, if any
    match: re.Match[str] | None = None  # the route pattern's match
    label: str | None = None  # what the request log says happened (set with :meth:`mark`)

    @property
    def params(self) -> dict[str, list[str]]:
        """The query string, parsed (blank values left out)."""
        return urllib.parse.parse_qs(self.query)

    def form(self) -> dict[str, str]:
        """The body as an ``application/x-www-form-urlencoded`` form (first value of each)."""
        parsed = urllib.parse.parse_qs(self.body.decode(), keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not)."""
        return json.loads(self.body or b"null")

    def bearer(self, schemes: Iterable[str] = ("Bearer",)) -> str | None:
        """The token of an ``Authorization: <scheme> <token>`` header, or ``None``."""
        value = self.headers.get("Authorization") or ""
        for scheme in schemes:
            if value.startswith(f"{scheme} "):
                return value[len(scheme) + 1:].strip()
        return None

    def mark(self, label: str) -> None:
        """Name what happened to this request in the log (``LoggedRequest.fault``)."""
        self.label = label


@dataclass
class Response:
    """What a route handler answers: a body in one piece, or chunks sent chunked."""

    status: int
    body: bytes | Iterable[bytes] = b""
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None, *,
             content_type: str = JSON, ascii_only: bool = True) -> Response:
        """A JSON answer."""
        body = json.dumps(payload, ensure_ascii=ascii_only).encode()
        return cls(status, body, content_type, dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        """An answer without a body."""
        return cls(status, b"", "", dict(headers or {}))


RouteHandler = Callable[[Request], Response]
"""A route handler: a request in, a response out."""


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler


def _not_found(request: Request) -> Response:
    return Response.json(404, {"message": f"no route for {request.method} {request.path}"})


def _internal_error(request: Request, error: Exception) -> Response:
    return Response.json(500, {"message": f"the test server failed: {error!r}"})


class LoopbackServer:
    """A threaded HTTP(S) server on the loopback interface.

    :param tls: serve HTTPS with a self-signed certificate generated at start
        (:attr:`cert_path` is what a client trusts).
    :param host: ``127.0.0.1`` (default), ``localhost`` or ``::1``; nothing else.
    :param port: ``0`` (default) picks a free port.
    :param guard: called before faults and routing; a response it returns is the answer.
    :param default_headers: called for every answer; its headers are added to each.
    :param json_content_type: the content type of fault bodies.
    :param not_found: the answer when no route matches.
    :param on_error: the answer when a handler raises (the server never crashes on it).
    :param server_header: the ``Server`` header's value.
    :param common_name: the certificate's subject.
    """

    def __init__(self, *, tls: bool = False, host: str = "127.0.0.1", port: int = 0,
                 guard: Callable[[Request], Response | None] | None = None,
                 default_headers: Callable[[], Mapping[str, str]] | None = None,
                 json_content_type: str = JSON,
                 not_found: RouteHandler = _not_found,
                 on_error: Callable[[Request, Exception], Response] = _internal_error,
                 server_header: str = "crm-connect-loopback",
                 common_name: str = "crm-connect loopback server") -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"a loopback server only listens on the loopback interface, "
                             f"not {host!r}")
        self.tls = tls
        self.host = host
        self.port = port
        self.guard = guard
        self.default_headers = default_headers
        self.json_content_type = json_content_type
        self.not_found = not_found
        self.on_error = on_error
        self.server_header = server_header
        self.common_name = common_name
        self.faults = FaultBook()
        self.cert_path: Path | None = None
        self._routes: list[_Route] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None

    # -- routes -------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: RouteHandler) -> None:
        """Send requests of ``method`` (``"*"``: any) whose whole path matches the regex
        ``pattern`` to ``handler``; routes are tried in the order they were added."""
        self._routes.append(_Route(method.upper(), re.compile(pattern), handler))

    def resolve(self, request: Request) -> RouteHandler:
        """The handler for ``request`` (:attr:`not_found` when no route matches)."""
        for route in self._routes:
            if route.method not in ("*", request.method):
                continue
            match = route.pattern.fullmatch(request.path)
            if match is not None:
                request.match = match
                return route.handler
        return self.not_found

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening (idempotent); :attr:`url` is valid from now on."""
        if self._httpd is not None:
            return self
        context: ssl.SSLContext | None = None
        if self.tls:
            self._tmp = Path(tempfile.mkdtemp(prefix="crm-connect-loopback-"))
            cert, key = write_self_signed(self._tmp, self.common_name)
            self.cert_path = cert
            context = server_context(cert, key)
        family = socket.AF_INET6 if self.host == "::1" else socket.AF_INET
        server_class = type("_BoundHTTPServer", (_HTTPServer,), {"address_family": family})
        httpd: _HTTPServer = server_class((self.host, self.port), _Handler)
        httpd.loopback = self
        httpd.ssl_context = context
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,),
                                        name="loopback-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and remove the certificate files."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS), without a trailing slash."""
        if self._httpd is None:
            raise RuntimeError("the loopback server is not running; use it as a context manager")
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    # -- the request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, oldest first (``Authorization`` redacted)."""
        return self.faults.entries

    def request_count(self, path: str | None = None, method: str | None = None,
                      status: int | None = None) -> int:
        """Requests logged whose path matches the regex ``path`` (and method/status if given)."""
        return self.faults.count(path, method, status)

    def clear_log(self) -> None:
        """Empty the request log."""
        self.faults.clear_log()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    loopback: LoopbackServer
    ssl_context: ssl.SSLContext | None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is None:
            return sock, address
        # the TLS handshake happens in the handler's thread: a slow client blocks nobody
        return self.ssl_context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets, cut bodies and failed handshakes are what this server is for


class _Abort(Exception):
    """Stop answering: the connection was reset or cut on purpose."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def version_string(self) -> str:
        return self.server.loopback.server_header

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        loopback = self.server.loopback
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(method, self.path, split.path, split.query, self.headers, body)
        self._request = request
        self._settled = False
        self._position = loopback.faults.log(method, split.path, split.query,
                                             headers=dict(self.headers.items()), body=body)
        try:
            response = loopback.guard(request) if loopback.guard is not None else None
            if response is None:
                response = self._answer(loopback, request)
            if response is not None:
                self._send(request, response)
        except _Abort:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True  # the client gave up (a timeout): nothing to do
        finally:
            self._settle(0)

    def _settle(self, status: int) -> None:
        """Record the answer in the log before its body goes out (a client that has read
        the answer finds it logged)."""
        if self._settled:
            return
        self._settled = True
        request = self._request
        label = request.label or (request.fault.label if request.fault else None)
        self.server.loopback.faults.settle(self._position, status, label)

    def _answer(self, loopback: LoopbackServer, request: Request) -> Response | None:
        fault = loopback.faults.take(request.method, request.path)
        request.fault = fault
        if fault is not None:
            if fault.effect is not None:
                fault.effect(request)
            if fault.kind == FaultKind.RESET:
                self._reset()
            if fault.kind == FaultKind.STATUS:
                return self._fault_response(loopback, fault)
            if fault.kind == FaultKind.SLOW:
                time.sleep(fault.seconds)
        handler = loopback.resolve(request)
        try:
            return handler(request)
        except _Abort:
            raise
        except Exception as error:  # a handler bug still gets an answer
            request.mark(f"error: {error!r}")
            return loopback.on_error(request, error)

    @staticmethod
    def _fault_response(loopback: LoopbackServer, fault: Fault) -> Response:
        if isinstance(fault.body, bytes):
            return Response(fault.status, fault.body, "application/octet-stream",
                            dict(fault.headers))
        return Response(fault.status, json.dumps(fault.body).encode(),
                        loopback.json_content_type, dict(fault.headers))

    def _send(self, request: Request, response: Response) -> None:
        loopback = self.server.loopback
        cut = request.fault is not None and request.fault.kind == FaultKind.TRUNCATED
        self._settle(response.status)
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        extra = dict(loopback.default_headers()) if loopback.default_headers else {}
        for name, value in {**extra, **response.headers}.items():
            self.send_header(name, value)
        if isinstance(response.body, bytes):
            self._send_whole(request, response.body, cut)
        else:
            self._send_chunked(response.body, cut)

    def _send_whole(self, request: Request, body: bytes, cut: bool) -> None:
        self.send_header("Content-Length", str(len(body)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if cut and len(body) > 1:
            self.wfile.write(body[: len(body) // 2])
            self._cut()
        fault = request.fault
        if fault is not None and fault.kind == FaultKind.DRIP:
            for position in range(len(body)):
                self.wfile.write(body[position:position + 1])
                self.wfile.flush()
                time.sleep(fault.seconds)
            return
        self.wfile.write(body)

    def _send_chunked(self, chunks: Iterable[bytes], cut: bool) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if not chunk:
                continue
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            if cut:
                self._cut()
        self.wfile.write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """Drop the connection mid-body."""
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Abort()

    def _reset(self) -> None:
        """Answer nothing: SO_LINGER 0 turns the close into a TCP reset."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()
        raise _Abort()
