"""A loopback stub answering the HubSpot endpoints the transport calls with canned real
payloads, built on the core's loopback server kit (its fault book injects the faults): enough
to prove the client speaks HubSpot's wire format through hubspot-api-client (the full
synthetic portal is ``crm_connect_hubspot.sandbox``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crm_connect.testing import faultbook
from crm_connect.testing.server import LoopbackServer, Request, Response

EXPIRED = {"status": "error",
           "message": "The OAuth token used to make this call expired 0 second(s) ago.",
           "correlationId": "019cd9fe-d093-7d4f-99bc-45975fdcf7c6",
           "category": "EXPIRED_AUTHENTICATION"}


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
    answers ``archived=true`` lists, which are empty otherwise); :meth:`fault` queues an
    answer for the next request whose path contains a fragment."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    access_token: str = "token-0"
    refresh_answer: tuple[int, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    refreshes: int = 0
    server: LoopbackServer | None = None

    def requests_to(self, fragment: str) -> list[Seen]:
        return [item for item in self.seen if fragment in item.path]

    def fault(self, fragment: str, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        assert self.server is not None
        self.server.faults.add(faultbook.status(status, body, headers=headers),
                               path=re.escape(fragment), count=1)

    # -- answering ----------------------------------------------------------------------------

    def guard(self, request: Request) -> Response | None:
        """Log the request; answer the token endpoint and stale tokens before faults."""
        kind = request.headers.get("Content-Type", "") or ""
        body: Any = request.body.decode() if request.body else None
        if request.body and "json" in kind:
            body = request.json()
        elif request.body and "form" in kind:
            body = request.form()
        self.seen.append(Seen(request.method, request.path, request.params, body,
                              request.headers.get("Authorization", "") or ""))
        if request.path == "/oauth/v1/token" and request.method == "POST":
            self.refreshes += 1
            if self.refresh_answer is not None:
                return Response.json(*self.refresh_answer)
            self.access_token = f"token-{self.refreshes}"
            return Response.json(200, {"access_token": self.access_token,
                                       "token_type": "bearer", "expires_in": 1800,
                                       "refresh_token": (body or {}).get("refresh_token")})
        if request.bearer() != self.access_token:
            return Response.json(401, EXPIRED)
        return None

    def answer(self, request: Request) -> Response:
        archived = (request.params.get("archived") or [""])[0].lower() == "true"
        for (method, pattern), (status, payload) in self.routes.items():
            if method != request.method or pattern.endswith("#archived") != archived:
                continue
            if re.fullmatch(pattern.removesuffix("#archived"), request.path):
                return Response.json(status, payload, self.headers)
        if archived:  # no archived records unless a route says so
            return Response.json(200, {"results": []}, self.headers)
        return Response.json(404, {"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": f"no route {request.method} {request.path}"})


@contextmanager
def serve(stub: Stub) -> Iterator[Stub]:
    with LoopbackServer(guard=stub.guard) as server:
        for method in ("GET", "POST"):
            server.route(method, r"/.*", stub.answer)
        stub.server, stub.url = server, server.url
        yield stub


