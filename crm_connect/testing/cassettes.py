"""Recording a plugin's HTTP traffic into cassettes (vcrpy / pytest-recording) with no secret.

A plugin's ``conftest.py`` returns :func:`scrubbing_vcr_config` from its ``vcr_config`` fixture,
naming where its vendor carries secrets; everything else (Authorization and cookie headers,
``Set-Cookie`` answers, bodies that are not text) is handled the same way for every plugin::

    @pytest.fixture(scope="module")
    def vcr_config() -> dict[str, Any]:
        return scrubbing_vcr_config(form_fields={"client_secret", "refresh_token"},
                                    json_fields=("access_token", "refresh_token"))

Secrets are replaced at record time, so they never reach the file; the conformance suite's
``cassettes_hold_no_secret`` check then proves none is left.  Requests match on method, path
and query by default: a loopback sandbox's port changes from run to run, and a recording made
against a real account replays against any host.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["REDACTED", "Scrubber", "scrubbing_vcr_config"]

REDACTED = "REDACTED"


def _as_text(body: Any) -> str | None:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return body if isinstance(body, str) else None


class Scrubber:
    """Replaces secrets in recorded requests and answers.

    :param form_fields: form-encoded body fields whose values are secret (``password``).
    :param json_fields: JSON keys whose string values are secret, in any body (``access_token``).
    :param text_patterns: ``(regular expression, replacement)`` pairs for other spellings,
        applied with :func:`re.sub` (a SOAP ``<sessionId>``:
        ``(r"<(sessionId)>[^<]*</\\1>", r"<\\1>REDACTED</\\1>")``).
    """

    def __init__(self, *, form_fields: Collection[str] = (), json_fields: Iterable[str] = (),
                 text_patterns: Iterable[tuple[str, str]] = ()) -> None:
        self.form_fields = frozenset(form_fields)
        self._json = [re.compile(rf'("{re.escape(name)}"\s*:\s*)"[^"]*"')
                      for name in json_fields]
        self._patterns = [(re.compile(pattern), replacement)
                          for pattern, replacement in text_patterns]

    def text(self, text: str) -> str:
        """``text`` with every secret it spells replaced by ``REDACTED``."""
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        for pattern in self._json:
            text = pattern.sub(rf'\1"{REDACTED}"', text)
        return text

    def request(self, request: Any) -> Any:
        """vcrpy's ``before_record_request``."""
        text = _as_text(request.body)
        if text:
            if "=" in text and not text.lstrip().startswith(("<", "{", "[")):
                pairs = [(key, REDACTED if key in self.form_fields else value)
                         for key, value in parse_qsl(text, keep_blank_values=True)]
                text = urlencode(pairs)
            request.body = self.text(text).encode("utf-8")
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy's ``before_record_response``."""
        body = response.get("body", {})
        text = _as_text(body.get("string"))
        if text is not None:
            body["string"] = self.text(text).encode("utf-8")
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in ("set-cookie", "authorization"):
                headers[name] = [REDACTED]
        return response


def scrubbing_vcr_config(*, form_fields: Collection[str] = (), json_fields: Iterable[str] = (),
                         text_patterns: Iterable[tuple[str, str]] = (),
                         headers: Iterable[str] = ("authorization", "cookie"),
                         query_parameters: Iterable[str] = (),
                         match_on: Iterable[str] = ("method", "path", "query"),
                         ) -> dict[str, Any]:
    """vcrpy options (pytest-recording's ``vcr_config``) that keep secrets out of cassettes:
    the named headers and query parameters filtered, request and answer bodies scrubbed by a
    :class:`Scrubber`, compressed answers stored decoded so the scrubbing can read them."""
    scrubber = Scrubber(form_fields=form_fields, json_fields=json_fields,
                        text_patterns=text_patterns)
    return {
        "filter_headers": [(name, REDACTED) for name in headers],
        "filter_query_parameters": [(name, REDACTED) for name in query_parameters],
        "before_record_request": scrubber.request,
        "before_record_response": scrubber.response,
        "match_on": list(match_on),
        "decode_compressed_response": True,
    }
