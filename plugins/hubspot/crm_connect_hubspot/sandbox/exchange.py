"""The request and answer the sandbox's endpoint logic works on, independent of any server.

An :class:`ApiRequest` is what a handler reads (method, path, query, headers, JSON or form body);
an :class:`ApiResponse` is what it answers (status, headers, JSON body).  A server turns its own
requests into these and back (see :mod:`.server`); tests call the endpoint logic directly.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ApiRequest", "ApiResponse", "correlation_id", "error_response"]

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def correlation_id() -> str:
    """A fresh correlation id, as HubSpot puts in every error body and answer header."""
    with _counter_lock:
        n = next(_counter)
    return str(uuid.UUID(int=(0x019CE0F9 << 96) | n, version=4))


@dataclass
class ApiRequest:
    """A parsed HTTP request.

    :param target: the request line's target as sent (path and query), for the URL length.
    :param body: the parsed JSON body, or the form fields of a form-encoded body.
    """

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    target: str = ""

    @classmethod
    def build(cls, method: str, target: str, headers: Mapping[str, str] | None = None,
              raw_body: bytes = b"") -> ApiRequest:
        """Parse a raw request: the target's query, a JSON or form-encoded body."""
        path, _, query = target.partition("?")
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        body: Any = None
        if raw_body:
            kind = lowered.get("content-type", "")
            if "x-www-form-urlencoded" in kind:
                body = {name: values[0] for name, values
                        in parse_qs(raw_body.decode(), keep_blank_values=True).items()}
            else:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    body = _Unparsable(raw_body.decode(errors="replace"))
        return cls(method.upper(), path, parse_qs(query, keep_blank_values=True), lowered, body,
                   target or path)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        """Every value of a repeatable, comma-separable query parameter."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def bearer(self) -> str | None:
        value = self.header("Authorization") or ""
        return value[7:].strip() if value[:7].lower() == "bearer " else None

    def json_object(self) -> dict[str, Any] | None:
        """The body when it is a JSON object, else ``None``."""
        return self.body if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class _Unparsable:
    text: str


@dataclass
class ApiResponse:
    """What an endpoint answers: a status, headers and a JSON body (``None``: no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(status: int, message: str, category: str | None = None, *,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> ApiResponse:
    """HubSpot's error body: ``{"status": "error", "message", "correlationId", "category"}``."""
    body: dict[str, Any] = {"status": "error", "message": message,
                            "correlationId": correlation_id()}
    if category is not None:
        body["category"] = category
    body.update(extra)
    return ApiResponse(status, body, dict(headers or {}))
