"""TEMPORARY: a bare HTTP transport for the sandbox until the core's loopback server kit
(crm_connect.testing.server) lands; then :mod:`.server` serves through the kit and this module
goes away."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .api import SandboxApi
from .exchange import ApiRequest


def serve(api: SandboxApi, host: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve ``api`` on ``host:port`` in a thread; returns the URL and a function to stop."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = ApiRequest.build(self.command, self.path, dict(self.headers.items()), raw)
            response = api.handle(request)
            body = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{httpd.server_address[1]}", stop
