"""A loopback HTTP stub answering the HubSpot endpoints the transport calls, with canned real
payloads and scripted faults: enough to prove the client speaks HubSpot's wire format through
hubspot-api-client (the full synthetic portal is ``crm_connect_hubspot.sandbox``)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str


@dataclass
class Stub:
    """Routes ``(method, path regex) -> (status, body)`` (a regex ending ``#archived``
    answers ``archived=true`` lists, which are empty otherwise); ``faults`` answer first, in
    order, for the first request whose path contains their key."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    faults: list[tuple[str, int, Any, dict[str, str]]] = field(default_factory=list)
    access_token: str = "token-0"
    refresh_answer: tuple[int, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    refreshes: int = 0

    def requests_to(self, fragment: str) -> list[Seen]:
        return [item for item in self.seen if fragment in item.path]


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "")
            body: Any = raw.decode() if raw else None
            if raw and "json" in kind:
                body = json.loads(raw)
            elif raw and "form" in kind:
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            stub.seen.append(Seen(method, parts.path, parse_qs(parts.query), body,
                                  self.headers.get("Authorization", "")))
            for index, (fragment, status, payload, headers) in enumerate(stub.faults):
                if fragment in parts.path:
                    del stub.faults[index]
                    self._send(status, payload, headers)
                    return
            if parts.path == "/oauth/v1/token" and method == "POST":
                stub.refreshes += 1
                if stub.refresh_answer is not None:
                    self._send(*stub.refresh_answer, {})
                    return
                stub.access_token = f"token-{stub.refreshes}"
                self._send(200, {"access_token": stub.access_token, "token_type": "bearer",
                                 "refresh_token": (body or {}).get("refresh_token"),
                                 "expires_in": 1800}, {})
                return
            if self.headers.get("Authorization") != f"Bearer {stub.access_token}":
                self._send(401, {"status": "error", "message": "The OAuth token used to "
                                 "make this call expired 0 second(s) ago.",
                                 "correlationId": "019cd9fe-d093-7d4f-99bc-45975fdcf7c6",
                                 "category": "EXPIRED_AUTHENTICATION"}, {})
                return
            archived = (parse_qs(parts.query).get("archived") or [""])[0].lower() == "true"
            for (route_method, pattern), (status, payload) in stub.routes.items():
                if route_method != method or pattern.endswith("#archived") != archived:
                    continue
                if re.fullmatch(pattern.removesuffix("#archived"), parts.path):
                    self._send(status, payload, stub.headers)
                    return
            if archived:  # no archived records unless a route says so
                self._send(200, {"results": []}, stub.headers)
                return
            self._send(404, {"status": "error", "message": f"no route {method} {parts.path}",
                             "category": "OBJECT_NOT_FOUND"}, {})

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serve(stub: Stub) -> Iterator[Stub]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield stub
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
