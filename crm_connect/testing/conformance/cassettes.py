"""Scan recorded HTTP exchanges (vcrpy cassettes) for secrets that were not scrubbed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CASSETTE_SUFFIXES", "scan_cassettes"]

CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")

_PLACEHOLDER = r"(?!REDACTED|FILTERED|DUMMY|dummy|\*\*\*|<[A-Za-z_ -]+>|XXX)"
_TOKEN_FIELDS = (r"access_token|refresh_token|id_token|session_id|sessionId|api_key|apikey|"
                 r"hapikey|client_secret|password|private_key|secret|token")
_PATTERNS = [
    (re.compile(rf"\bBearer\s+{_PLACEHOLDER}[A-Za-z0-9._~+/=-]{{8,}}"), "a bearer token"),
    (re.compile(rf"(?im)^\s*['\"]?(authorization|x-api-key|x-auth-token|cookie|set-cookie)"
                rf"['\"]?\s*:\s*(?:\n\s*-\s*)?['\"]?{_PLACEHOLDER}[^\s'\"\]]{{4,}}"),
     "an authorization or cookie header"),
    (re.compile(rf"(?i)\\?[\"']({_TOKEN_FIELDS})\\?[\"']\s*:\s*\\?[\"']{_PLACEHOLDER}"
                r"[^\"'\\]{4,}"), "a token field"),
    (re.compile(rf"(?i)(?:^|[?&\s])({_TOKEN_FIELDS})={_PLACEHOLDER}[^&\s'\"]{{4,}}"),
     "a token in a query string or form"),
    (re.compile(rf"(?i)<(?:\w+:)?(sessionId|password)>{_PLACEHOLDER}[^<]{{4,}}<"),
     "a session id or password element"),
]


def scan_cassettes(folder: Path, secrets: Mapping[str, str]) -> tuple[int, list[str]]:
    """How many cassettes ``folder`` holds, and each secret found in them.

    A secret is one of the connection's secret values (named by field, never shown), an
    ``Authorization`` or cookie header, a bearer token, or a token-like field in a body, a
    form or a query string that is not a placeholder (``REDACTED``, ``FILTERED``, ...).
    """
    if not folder.is_dir():
        return 0, [f"the cassettes folder {folder} does not exist"]
    paths = sorted(path for path in folder.rglob("*")
                   if path.is_file() and path.suffix in CASSETTE_SUFFIXES)
    if not paths:
        return 0, [f"no cassette (*.yaml, *.json) in {folder}"]
    problems: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            problems.append(f"{path.name} cannot be read ({exc.strerror})")
            continue
        name = path.relative_to(folder)
        for field, value in secrets.items():
            if len(value) >= 4 and value in text:
                problems.append(f"{name} holds the connection's secret {field!r}")
        for pattern, what in _PATTERNS:
            found = pattern.search(text)
            if found is not None:
                line = text.count("\n", 0, found.start()) + 1
                problems.append(f"{name}, line {line}, holds {what}")
    return len(paths), problems
