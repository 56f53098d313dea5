"""How the plugin's cassettes are recorded: the VCR options and the scrubbers that keep tokens,
passwords and session ids out of them (shared by ``test_cassettes.py`` and
``test_conformance_cassettes.py``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "REDACTED"
_SECRET_FORM_FIELDS = {"password", "client_secret", "assertion", "refresh_token", "code",
                       "client_assertion"}
_SECRET_JSON_FIELDS = ("access_token", "refresh_token", "id_token", "signature")
_SOAP_SECRETS = re.compile(r"<((?:\w+:)?(?:password|sessionId))>[^<]*</\1>")


def _scrub_text(text: str) -> str:
    text = _SOAP_SECRETS.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
    for field in _SECRET_JSON_FIELDS:
        text = re.sub(rf'("{field}"\s*:\s*)"[^"]*"', rf'\1"{REDACTED}"', text)
    return text


def _as_text(body: Any) -> str | None:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return body if isinstance(body, str) else None


def scrub_request(request: Any) -> Any:
    text = _as_text(request.body)
    if text:
        if "=" in text and not text.lstrip().startswith(("<", "{", "[")):
            pairs = [(key, REDACTED if key in _SECRET_FORM_FIELDS else value)
                     for key, value in parse_qsl(text, keep_blank_values=True)]
            text = urlencode(pairs)
        request.body = _scrub_text(text).encode("utf-8")
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", {})
    text = _as_text(body.get("string"))
    if text is not None:
        body["string"] = _scrub_text(text).encode("utf-8")
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "authorization"):
            headers[name] = [REDACTED]
    return response



def vcr_options() -> dict[str, Any]:
    """VCR options: secrets scrubbed at record time; requests match on method, path and query
    (a sandbox's port changes from run to run, a real org's host is not the replaying one)."""
    return {
        "filter_headers": [("authorization", REDACTED), ("cookie", REDACTED)],
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "match_on": ["method", "path", "query"],
        "decode_compressed_response": True,
    }
