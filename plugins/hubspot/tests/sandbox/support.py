"""Helpers for the sandbox tests: the reference payloads, a fake clock, one-call requests."""

from __future__ import annotations

import json
from typing import Any

from crm_connect_hubspot.sandbox import ApiRequest, ApiResponse, SandboxApi
from hs_support import reference


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, start: float = 1_777_593_600.0) -> None:  # 2026-05-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def call(api: SandboxApi, method: str, target: str, body: Any = None, *,
         token: str | None = None, form: dict[str, str] | None = None) -> ApiResponse:
    """Send one request to the sandbox's endpoint logic, with the private app token unless
    ``token`` is given (``""``: none)."""
    headers = {}
    bearer = api.tokens.credentials.access_token if token is None else token
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    raw = b""
    if form is not None:
        from urllib.parse import urlencode
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        raw = urlencode(form).encode()
    elif body is not None:
        headers["Content-Type"] = "application/json"
        raw = json.dumps(body).encode()
    return api.handle(ApiRequest.build(method, target, headers, raw))


def missing_keys(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where ``ours`` lacks a key ``theirs`` has, or holds another JSON type (null matches
    anything: HubSpot leaves values empty freely).  Lists compare their first items."""
    problems: list[str] = []
    if theirs is None or ours is None:
        return problems
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: object expected, got {type(ours).__name__}"]
        for key, value in theirs.items():
            if key.startswith("_"):
                continue
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            elif key != "properties":
                problems += missing_keys(ours[key], value, f"{path}.{key}")
        return problems
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: array expected, got {type(ours).__name__}"]
        if theirs and ours:
            problems += missing_keys(ours[0], theirs[0], f"{path}[0]")
        return problems
    if type(ours) is not type(theirs) and not (isinstance(ours, int | float)
                                               and isinstance(theirs, int | float)
                                               and not isinstance(ours, bool)):
        problems.append(f"{path}: {type(theirs).__name__} expected, got {type(ours).__name__}")
    return problems


def assert_shaped_like(ours: Any, reference_name: str) -> None:
    """``ours`` has every key of the reference payload, with its JSON types."""
    theirs = reference(reference_name)
    if isinstance(theirs, dict) and "_provenance" in theirs:  # a quoted body: {status, body}
        theirs = theirs["body"]
    problems = missing_keys(ours, theirs)
    assert problems == [], f"differs from {reference_name}: {problems}"
